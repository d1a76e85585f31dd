"""goal_server over real DDS: sources, services and the energy rule that advances sub-goals."""

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import Image
from std_msgs.msg import Bool, Int32
from std_srvs.srv import Trigger

from vjepa2_ros import interfaces as names
from vjepa2_ros.nodes.conversions import image_from_array, rgb_from_image
from vjepa2_ros.nodes.goal_server import GoalServerNode
from vjepa2_ros.nodes.qos import LATCHED
from vjepa2_ros.planning.goal_images import save_rgb

pytestmark = pytest.mark.ros


def solid(value):
    return np.full((32, 48, 3), value, np.uint8)


class Client:
    """A test node listening to the goal server's outputs and calling its services."""

    def __init__(self, ros):
        self.ros = ros
        self.node = ros.node("goal_client")
        self.goals, self.indices, self.done = [], [], []
        self.node.create_subscription(Image, names.GOAL_IMAGE, self.goals.append, LATCHED)
        self.node.create_subscription(
            Int32, names.GOAL_INDEX, lambda m: self.indices.append(m.data), LATCHED
        )
        self.node.create_subscription(
            Bool, names.GOAL_DONE, lambda m: self.done.append(m.data), LATCHED
        )
        self.add_pub = self.node.create_publisher(Image, names.GOAL_ADD, 10)
        self.cam_pub = self.node.create_publisher(Image, names.CAMERA_IMAGE, 10)
        self.diag_pub = self.node.create_publisher(DiagnosticArray, names.PLANNER_DIAGNOSTICS, 10)

    def call(self, service):
        client = self.node.create_client(Trigger, service)
        assert client.wait_for_service(timeout_sec=5)
        future = client.call_async(Trigger.Request())
        self.ros.wait_for(future.done, what=f"{service} response")
        return future.result()

    def energy(self, energy, goal_stamp_ns):
        status = DiagnosticStatus(name=names.PLANNER_STATUS_NAME)
        status.values = [
            KeyValue(key="energy", value=str(energy)),
            KeyValue(key="skipped", value=""),
            KeyValue(key="goal_stamp_ns", value=str(goal_stamp_ns)),
        ]
        self.diag_pub.publish(DiagnosticArray(status=[status]))


def stamp_ns(msg):
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def test_folder_topic_capture_next_clear_and_energy_advance(ros, tmp_path):
    save_rgb(tmp_path / "01.png", solid(10))
    save_rgb(tmp_path / "02.png", solid(20))
    server = ros.add(
        GoalServerNode(
            context=ros.context,
            parameter_overrides={
                "goal_dir": str(tmp_path),
                "policy.energy_threshold": 0.3,
                "policy.stable_cycles": 2,
                "policy.max_cycles": 50,
            },
        )
    )
    c = Client(ros)
    ros.wait_for(lambda: c.goals and c.indices, what="latched active goal")
    assert c.indices[-1] == 0
    np.testing.assert_array_equal(rgb_from_image(c.goals[-1]), solid(10))

    # An image sent on the add topic (bgr8 from a script) becomes sub-goal 2.
    ros.wait_for(lambda: c.add_pub.get_subscription_count() > 0, what="add topic discovery")
    c.add_pub.publish(image_from_array(solid(30)[..., ::-1].copy(), "bgr8"))
    ros.wait_for(lambda: len(server.sequence.goals) == 3, what="topic goal")

    # Capture without a camera frame fails with a reason; with one it appends sub-goal 3.
    response = c.call(names.GOAL_CAPTURE)
    assert not response.success and "no camera frame" in response.message
    ros.wait_for(lambda: c.cam_pub.get_subscription_count() > 0, what="camera discovery")
    c.cam_pub.publish(image_from_array(solid(40), "rgb8"))
    ros.wait_for(lambda: server._latest_frame is not None, what="camera frame")
    assert c.call(names.GOAL_CAPTURE).success
    assert [g.source for g in server.sequence.goals] == [
        "folder:01.png",
        "folder:02.png",
        "topic",
        "capture",
    ]
    np.testing.assert_array_equal(server.sequence.goals[3].image, solid(40))

    # Energy for the active goal under the threshold twice -> sub-goal 1; stale goal ids ignored.
    first = stamp_ns(c.goals[-1])
    c.energy(0.1, first - 1)
    c.energy(0.1, first)
    c.energy(0.1, first)
    ros.wait_for(lambda: c.indices[-1] == 1, what="advance to sub-goal 1")
    np.testing.assert_array_equal(rgb_from_image(c.goals[-1]), solid(20))
    assert server.sequence.outcomes[0].reached and server.sequence.outcomes[0].cycles == 2

    assert c.call(names.GOAL_NEXT).success
    ros.wait_for(lambda: c.indices[-1] == 2, what="next")
    np.testing.assert_array_equal(rgb_from_image(c.goals[-1]), solid(30))

    assert c.call(names.GOAL_CLEAR).success
    ros.wait_for(lambda: c.indices[-1] == -1, what="clear")
    assert not server.sequence.goals


def test_all_done_is_reported(ros):
    server = ros.add(
        GoalServerNode(
            context=ros.context,
            parameter_overrides={"policy.max_cycles": 2, "interactive_marker": False},
        )
    )
    c = Client(ros)
    ros.wait_for(lambda: c.add_pub.get_subscription_count() > 0, what="discovery")
    c.add_pub.publish(image_from_array(solid(5), "rgb8"))
    ros.wait_for(lambda: c.indices and c.indices[-1] == 0, what="goal active")
    ros.wait_for(lambda: c.goals, what="goal image")
    goal = stamp_ns(c.goals[-1])
    c.energy(0.9, goal)
    c.energy(0.9, goal)
    ros.wait_for(lambda: c.done and c.done[-1], what="done")
    assert c.indices[-1] == -1
    assert not server.sequence.outcomes[0].reached
