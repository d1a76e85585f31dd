"""goal_server over real DDS: sources, services and the honest rule that advances sub-goals."""

import math

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image, JointState, TimeReference
from std_msgs.msg import Bool, Int32, String
from std_srvs.srv import Trigger

from vjepa2_ros import interfaces as names
from vjepa2_ros.nodes.conversions import (
    image_from_array,
    named_values,
    rgb_from_image,
    sec_to_stamp,
    vector_to_msg,
)
from vjepa2_ros.nodes.goal_server import GoalServerNode
from vjepa2_ros.nodes.qos import LATCHED, LATCHED_HISTORY
from vjepa2_ros.planning.goal_images import save_rgb

pytestmark = pytest.mark.ros


def solid(value):
    return np.full((32, 48, 3), value, np.uint8)


class Client:
    """A test node listening to the goal server's outputs and calling its services."""

    def __init__(self, ros):
        self.ros = ros
        self.node = ros.node("goal_client")
        self.goals, self.indices, self.done, self.progress = [], [], [], []
        self.node.create_subscription(Image, names.GOAL_IMAGE, self.goals.append, LATCHED)
        self.node.create_subscription(
            Int32, names.GOAL_INDEX, lambda m: self.indices.append(m.data), LATCHED
        )
        self.node.create_subscription(
            Bool, names.GOAL_DONE, lambda m: self.done.append(m.data), LATCHED
        )
        self.node.create_subscription(
            JointState,
            names.GOAL_PROGRESS,
            lambda m: self.progress.append(named_values(m, names.PROGRESS_NAMES)),
            LATCHED_HISTORY,
        )
        self.add_pub = self.node.create_publisher(Image, names.GOAL_ADD, 10)
        self.cam_pub = self.node.create_publisher(Image, names.CAMERA_IMAGE, 10)
        self.cycle_pub = self.node.create_publisher(JointState, names.PLANNER_CYCLE, 10)
        self.arm_pub = self.node.create_publisher(String, names.ARM_STATE, LATCHED)
        self.motion_pub = self.node.create_publisher(TimeReference, names.MOTION, LATCHED)
        self.truth_pub = self.node.create_publisher(JointState, names.SIM_GROUND_TRUTH, 10)
        self.goal_truth_pub = self.node.create_publisher(
            JointState, names.SIM_GOAL_TRUTH, LATCHED_HISTORY
        )

    def call(self, service):
        client = self.node.create_client(Trigger, service)
        assert client.wait_for_service(timeout_sec=5)
        future = client.call_async(Trigger.Request())
        self.ros.wait_for(future.done, what=f"{service} response")
        return future.result()

    def cycle(self, energy, goal_stamp_ns, arrived=True):
        """A planner cycle report (/vjepa2/planner/cycle) against the goal stamped so."""
        values = dict.fromkeys(names.CYCLE_NAMES, 0.0)
        values.update(energy=energy, arrived=float(arrived))
        stamp = Time(sec=goal_stamp_ns // 10**9, nanosec=goal_stamp_ns % 10**9)
        self.cycle_pub.publish(vector_to_msg(list(values.values()), names.CYCLE_NAMES, stamp))

    def arm(self, state: str):
        self.arm_pub.publish(String(data=state))

    def moved(self, action_stamp_s: float):
        """The bridge reports an executed action settled."""
        msg = TimeReference(source="settled")
        msg.time_ref = sec_to_stamp(action_stamp_s)
        msg.header.stamp = sec_to_stamp(action_stamp_s + 0.5)
        self.motion_pub.publish(msg)


def stamp_ns(msg):
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def test_folder_topic_capture_next_clear_and_honest_advance(ros, tmp_path):
    save_rgb(tmp_path / "01.png", solid(10))
    save_rgb(tmp_path / "02.png", solid(20))
    server = ros.add(
        GoalServerNode(
            context=ros.context,
            parameter_overrides={
                "goal_dir": str(tmp_path),
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
    ros.wait_for(lambda: server.has_camera_frame, what="camera frame")
    assert c.call(names.GOAL_CAPTURE).success
    assert [g.source for g in server.sequence.goals] == [
        "folder:01.png",
        "folder:02.png",
        "topic",
        "capture",
    ]
    np.testing.assert_array_equal(server.sequence.goals[3].image, solid(40))

    # Arrival twice for the active goal, arm healthy and moved -> sub-goal 1; the sim's ground
    # truth is in the report. Stale goal ids are ignored.
    first = stamp_ns(c.goals[-1])
    c.arm("armed")
    ros.wait_for(lambda: server._arm_state == "armed", what="arm state")
    c.moved(first * 1e-9 + 1.0)
    ros.wait_for(lambda: server.sequence._moved, what="motion noted")
    c.goal_truth_pub.publish(vector_to_msg([0, 0.5, 0.1, 0.3], ["index", "ee.x", "ee.y", "ee.z"]))
    truth = [
        0.5,
        0.12,
        0.3,
        1,
        0,
        0,
        0,
        0.4,
        0.1,
        0.05,
        1,
        0,
        0,
        0,
        0.6,
        0.0,
        0.05,
        1,
        0,
        0,
        0,
        0.08,
    ]
    from vjepa2_ros.nodes.sim_camera import GROUND_TRUTH_NAMES

    c.truth_pub.publish(vector_to_msg(truth, GROUND_TRUTH_NAMES))
    ros.wait_for(lambda: server._ee_truth is not None and server._goal_truths, what="truths")
    c.cycle(0.1, first - 1)
    c.cycle(0.1, first)
    c.cycle(0.1, first)
    ros.wait_for(lambda: c.indices[-1] == 1, what="advance to sub-goal 1")
    np.testing.assert_array_equal(rgb_from_image(c.goals[-1]), solid(20))
    assert server.sequence.outcomes[0].reached and server.sequence.outcomes[0].cycles == 2
    ros.wait_for(lambda: c.progress, what="progress report")
    assert c.progress[0]["index"] == 0 and c.progress[0]["reached"] == 1.0
    assert c.progress[0]["truth_error_m"] == pytest.approx(0.02, abs=1e-9)

    # The bridge latches an error: arrival cycles no longer count; the budget ends it honestly.
    c.arm("error")
    ros.wait_for(lambda: server._arm_state == "error", what="error state")
    second = stamp_ns(c.goals[-1])
    c.moved(second * 1e-9 + 1.0)
    for _ in range(3):
        c.cycle(0.01, second)
    ros.wait_for(
        lambda: server.sequence.active is not None and server.sequence._cycles == 3, what="cycles"
    )
    assert c.indices[-1] == 1 and len(server.sequence.outcomes) == 1

    # Sub-goal 1 moves the cup: its truth names the hand's and the cup's targets, and it is
    # judged on the cup (3 cm off; the hand is exactly at its target).
    keys = ["index", "ee.x", "ee.y", "ee.z", "cup.x", "cup.y", "cup.z"]
    c.goal_truth_pub.publish(vector_to_msg([1, 0.5, 0.12, 0.3, 0.43, 0.1, 0.05], keys))
    ros.wait_for(lambda: 1 in server._goal_truths, what="sub-goal 1 truth")
    assert c.call(names.GOAL_NEXT).success
    ros.wait_for(lambda: c.indices[-1] == 2, what="next")
    np.testing.assert_array_equal(rgb_from_image(c.goals[-1]), solid(30))
    ros.wait_for(lambda: len(c.progress) == 2, what="sub-goal 1 progress")
    assert c.progress[1]["truth_error_m"] == pytest.approx(0.03, abs=1e-9)

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
    c.cycle(0.9, goal, arrived=False)
    c.cycle(0.9, goal, arrived=False)
    ros.wait_for(lambda: c.done and c.done[-1], what="done")
    assert c.indices[-1] == -1
    assert not server.sequence.outcomes[0].reached
    ros.wait_for(lambda: c.progress, what="progress report")
    assert c.progress[0]["reached"] == 0.0 and c.progress[0]["cycles"] == 2
    assert math.isnan(c.progress[0]["truth_error_m"])  # no ground truth outside the sim


def test_each_sub_goal_hands_its_gripper_schedule_to_the_planner(ros):
    """gripper_schedules (sub-goal order; later ones: gripper_default) go out on
    /vjepa2/goal/gripper with the active goal's stamp; `ros2 param set` changes them live, and a
    bad schedule is refused with the reason."""
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    server = ros.add(
        GoalServerNode(
            context=ros.context,
            parameter_overrides={"interactive_marker": False, "gripper_schedules": "hold,close"},
        )
    )
    c = Client(ros)
    schedules = []
    c.node.create_subscription(TimeReference, names.GOAL_GRIPPER, schedules.append, LATCHED)
    ros.wait_for(lambda: c.add_pub.get_subscription_count() > 0, what="discovery")
    for value in (5, 6, 7):
        c.add_pub.publish(image_from_array(solid(value), "rgb8"))
    ros.wait_for(lambda: len(server.sequence.goals) == 3, what="three sub-goals")
    ros.wait_for(lambda: c.goals and schedules, what="goal and schedule")
    seen = []
    for index in range(3):
        ros.wait_for(lambda i=index: c.indices[-1] == i, what=f"sub-goal {index}")
        ros.wait_for(
            lambda: schedules and c.goals and stamp_ns(schedules[-1]) == stamp_ns(c.goals[-1]),
            what="the schedule of the active goal",
        )
        seen.append(schedules[-1].source)
        if index < 2:
            assert c.call(names.GOAL_NEXT).success
    assert seen == ["hold", "close", "free"]

    client = c.node.create_client(SetParameters, "/goal_server/set_parameters")
    assert client.wait_for_service(timeout_sec=5)

    def set_schedules(text):
        pv = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=text)
        request = SetParameters.Request(parameters=[Parameter(name="gripper_schedules", value=pv)])
        future = client.call_async(request)
        ros.wait_for(future.done, what="set_parameters answer")
        return future.result().results[0]

    bad = set_schedules("hold,squeeze")
    assert not bad.successful and "squeeze" in bad.reason and "close@1" in bad.reason
    assert set_schedules("hold,hold,open@1").successful
    ros.wait_for(lambda: schedules[-1].source == "open@1", what="republished for the active goal")
    assert stamp_ns(schedules[-1]) == stamp_ns(c.goals[-1])
