"""launch_testing test of pick_place.launch.py with use_sim:=true.

Runs in a ROS 2 Jazzy/Kilted install (`colcon test` or `launch_test`); skipped here because the
launch, launch_ros and launch_testing packages are not installable from PyPI (ENVIRONMENT.md).
"""

import os
import time
import unittest

import pytest

pytest.importorskip(
    "launch_testing", reason="launch_testing needs a ROS 2 install (not available from PyPI)"
)
pytest.importorskip(
    "launch_ros", reason="launch_ros needs a ROS 2 install (not available from PyPI)"
)

import launch_testing
import launch_testing.actions
import launch_testing.asserts
import rclpy
from ament_index_python.packages import get_package_share_directory
from launch.launch_description_sources import PythonLaunchDescriptionSource
from sensor_msgs.msg import Image, JointState

import launch
from vjepa2_ros import interfaces as names


@pytest.mark.launch_test
def generate_test_description():
    launch_file = os.path.join(
        get_package_share_directory("vjepa2_ros"), "launch", "pick_place.launch.py"
    )
    return launch.LaunchDescription(
        [
            launch.actions.IncludeLaunchDescription(
                PythonLaunchDescriptionSource(launch_file),
                launch_arguments={"use_sim": "true", "preset": "small", "device": "cpu"}.items(),
            ),
            launch_testing.actions.ReadyToTest(),
        ]
    )


class TestPickPlaceGraph(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node("pick_place_launch_test")

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def _wait_for_message(self, msg_type, topic, timeout=60.0):
        received = []
        sub = self.node.create_subscription(msg_type, topic, received.append, 10)
        deadline = time.monotonic() + timeout
        while not received and time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.1)
        self.node.destroy_subscription(sub)
        self.assertTrue(received, f"no message on {topic} within {timeout} s")
        return received[0]

    def test_camera_latent_and_state_flow(self):
        self._wait_for_message(Image, names.CAMERA_IMAGE)
        self._wait_for_message(JointState, names.EE_STATE)
        latent = self._wait_for_message(Image, names.LATENT, timeout=120.0)
        self.assertEqual(latent.encoding, "32FC1")

    def test_nodes_are_up(self):
        deadline = time.monotonic() + 30.0
        expected = {"sim_camera", "franka_bridge", "camera_encoder", "goal_server", "planner"}
        seen = set()
        while time.monotonic() < deadline and not expected <= seen:
            rclpy.spin_once(self.node, timeout_sec=0.2)
            seen = set(self.node.get_node_names())
        self.assertTrue(expected <= seen, f"missing nodes: {expected - seen}")


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_exit_codes(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])
