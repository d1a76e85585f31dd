"""launch_testing: `pick_place.launch.py use_sim:=true goal_dir:=...` reaches its sub-goal.

The real launch stack (../shared/ros-launch on machines without ROS; a ROS 2 install elsewhere)
starts the whole graph as users launch it, each node its own process. The goal folder holds one
goal image rendered in the sim: the arm's start pose (the cell's home) moved 12 cm along y. The
test publishes that target on /sim/goal_truth and asserts, from the outside, that
- every node comes up and camera frames, robot state and latents flow;
- the goal server ends the sub-goal with the end effector within 3 cm of the target (sim ground
  truth, /vjepa2/goal/progress);
- no sub-goal is ever reported reached while the bridge is in error, stopped or disconnected.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
import unittest
from pathlib import Path

import pytest
from ament_prefix import SKIP_REASON, launch_env, launch_stack_available, make_prefix
from franky_sim_server import free_loopback_host

if not launch_stack_available():
    pytest.skip(SKIP_REASON, allow_module_level=True)

import launch_testing
import launch_testing.actions
import launch_testing.asserts
import numpy as np
import rclpy
from launch.actions import IncludeLaunchDescription, SetEnvironmentVariable
from launch.launch_description_sources import PythonLaunchDescriptionSource
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String

import launch
from vjepa2_ros import interfaces as names
from vjepa2_ros.nodes.conversions import named_values, vector_to_msg
from vjepa2_ros.nodes.qos import LATCHED, LATCHED_HISTORY

pytestmark = [pytest.mark.ros, pytest.mark.sim]
OFFSET = np.array([0.0, 0.12, 0.0])  # the sub-goal: 12 cm along y from the start pose
SUCCESS_M = 0.03
WORK = Path(tempfile.mkdtemp(prefix="vjepa2_launch_"))
HOST = free_loopback_host()


def render_goal_folder() -> np.ndarray:
    """Render the goal image in a private cell (another host); returns the target position."""
    from vjepa2_ros.planning.goal_images import save_rgb
    from vjepa2_ros.sim.cell import SimCell
    from vjepa2_ros.sim.config import SimConfig

    with SimCell(SimConfig(host=free_loopback_host())) as c:
        start = c.ee_state()
        target = start[:3] + OFFSET
        image = c.render_goal(arm_pose=np.concatenate([target, start[3:6]]))
    (WORK / "goals").mkdir(exist_ok=True)
    save_rgb(WORK / "goals" / "01_left.png", image)
    return target


TARGET = render_goal_folder()
PREFIX = make_prefix(WORK)
os.environ.update(launch_env(PREFIX))


@pytest.mark.launch_test
def generate_test_description():
    from ament_index_python.packages import get_package_share_directory

    launch_file = os.path.join(
        get_package_share_directory("vjepa2_ros"), "launch", "pick_place.launch.py"
    )
    return launch.LaunchDescription(
        [
            SetEnvironmentVariable("AMENT_PREFIX_PATH", os.environ["AMENT_PREFIX_PATH"]),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(launch_file),
                launch_arguments={
                    "use_sim": "true",
                    "sim_host": HOST,
                    "goal_dir": str(WORK / "goals"),
                    "preset": "small",
                    "device": "cpu",
                }.items(),
            ),
            launch_testing.actions.ReadyToTest(),
        ]
    )


class TestPickPlaceGraph(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = Node("pick_place_launch_test")
        cls.arm_states: list[str] = []
        cls.progress: list[dict] = []
        cls.reached_while_unhealthy: list[tuple] = []
        cls.node.create_subscription(String, names.ARM_STATE, cls._on_arm, LATCHED)
        cls.node.create_subscription(
            JointState, names.GOAL_PROGRESS, cls._on_progress, LATCHED_HISTORY
        )
        cls.truth_pub = cls.node.create_publisher(JointState, names.SIM_GOAL_TRUTH, LATCHED_HISTORY)

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    @classmethod
    def _on_arm(cls, msg):
        cls.arm_states.append(msg.data)

    @classmethod
    def _on_progress(cls, msg):
        values = named_values(msg, names.PROGRESS_NAMES)
        cls.progress.append(values)
        state = cls.arm_states[-1] if cls.arm_states else ""
        if values["reached"] > 0.5 and state in ("error", "stopped", "disconnected"):
            cls.reached_while_unhealthy.append((values, state))

    def spin_until(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.1)
        self.assertTrue(predicate(), f"no {what} within {timeout:.0f} s")

    def first_message(self, msg_type, topic: str, timeout: float):
        received = []
        sub = self.node.create_subscription(msg_type, topic, received.append, 10)
        try:
            self.spin_until(lambda: received, timeout, f"message on {topic}")
        finally:
            self.node.destroy_subscription(sub)
        return received[0]

    def test_1_nodes_up_and_data_flowing(self):
        expected = {"sim_camera", "franka_bridge", "camera_encoder", "goal_server", "planner"}
        self.spin_until(
            lambda: expected <= set(self.node.get_node_names()), 60.0, "node of the graph"
        )
        self.first_message(Image, names.CAMERA_IMAGE, 60.0)
        self.first_message(JointState, names.EE_STATE, 60.0)
        latent = self.first_message(Image, names.LATENT, 120.0)
        self.assertEqual(latent.encoding, "32FC1")

    def test_2_the_sub_goal_is_reached_by_ground_truth(self):
        values = [0.0, *TARGET]  # index 0: the folder's only sub-goal
        truth = vector_to_msg(values, ["index", "ee.x", "ee.y", "ee.z"], None, names.BASE_FRAME)
        self.truth_pub.publish(truth)
        self.spin_until(lambda: self.progress, 400.0, "end of the sub-goal")
        outcome = self.progress[0]
        error = outcome["truth_error_m"]
        self.assertFalse(math.isnan(error), "the goal server saw no ground truth")
        self.assertLessEqual(
            error, SUCCESS_M, f"the sub-goal ended {error * 100:.1f} cm from its target: {outcome}"
        )
        self.assertEqual(self.reached_while_unhealthy, [])
        self.assertNotIn("error", self.arm_states)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_every_process_exits_cleanly(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0])
