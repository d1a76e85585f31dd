"""planner node over real DDS: one action per settled observation, frozen camera, pause."""

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Log
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import Image, JointState, TimeReference
from std_srvs.srv import SetBool

from vjepa2_ros import interfaces as names
from vjepa2_ros.data.messages import named_values
from vjepa2_ros.model.presets import spec_from_name
from vjepa2_ros.model.world_model import WorldModel
from vjepa2_ros.nodes.conversions import (
    ACTION_NAMES,
    STATE_NAMES,
    diagnostic_values,
    latent_to_msg,
    msg_to_vector,
    vector_to_msg,
)
from vjepa2_ros.nodes.planner import PlannerNode
from vjepa2_ros.nodes.qos import LATCHED
from vjepa2_ros.planning.input_gate import WAIT_GRIPPER

pytestmark = pytest.mark.ros
TINY_BUDGET = "tiny:\n  samples: 16\n  iterations: 2\n  horizon: 1\n  topk: 4\n"


def tiny_planner(ros, tmp_path, budgets_yaml: str, **overrides):
    """The small model and a planner node on budget `tiny` from `budgets_yaml`, spun by `ros`."""
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(budgets_yaml)
    model = WorldModel.build(spec_from_name("small"), "cpu", torch.float32, seed=0)
    params = {"budget": "tiny", "budgets_file": str(budgets), **overrides}
    return model, ros.add(
        PlannerNode(context=ros.context, world_model=model, parameter_overrides=params)
    )


class PlannerProbe:
    """A test node around a planner: the actions and diagnostics it publishes, and publishers
    for its camera latents, robot state and goal latent."""

    def __init__(self, ros, name: str) -> None:
        self.node = probe = ros.node(name)
        self.actions, self.diags = [], []
        probe.create_subscription(JointState, names.ACTION, self.actions.append, 50)
        probe.create_subscription(
            DiagnosticArray,
            names.PLANNER_DIAGNOSTICS,
            lambda m: self.diags.append(diagnostic_values(m, names.PLANNER_STATUS_NAME)),
            50,
        )
        self.latent_pub = probe.create_publisher(Image, names.LATENT, 10)
        self.state_pub = probe.create_publisher(JointState, names.EE_STATE, 10)
        self.goal_pub = probe.create_publisher(Image, names.GOAL_LATENT, LATCHED)


def test_one_action_per_settled_observation_frozen_camera_and_pause(ros, tmp_path):
    """Lock-step with a fake bridge: one action per frame captured after the settle, none
    on a frozen camera, none while paused. No sleeps decide the outcome: every wait polls."""
    model, planner = tiny_planner(
        ros, tmp_path, TINY_BUDGET, rate_hz=10.0, max_latent_age_s=2.0, max_state_age_s=2.0
    )
    io = PlannerProbe(ros, "planner_probe")
    probe, actions, diags = io.node, io.actions, io.diags
    latent_pub, state_pub, goal_pub = io.latent_pub, io.state_pub, io.goal_pub
    cycles, logs = [], []
    # /rosout keeps its history (transient local): the planner's first lines predate the probe.
    rosout_qos = QoSProfile(depth=1000, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    probe.create_subscription(Log, "/rosout", logs.append, rosout_qos)
    probe.create_subscription(JointState, names.PLANNER_CYCLE, cycles.append, 50)
    motion_pub = probe.create_publisher(TimeReference, names.MOTION, LATCHED)
    ros.wait_for(lambda: latent_pub.get_subscription_count() > 0, what="discovery")
    ros.wait_for(lambda: motion_pub.get_subscription_count() > 0, what="discovery")
    # ...and the other way: the planner sees the probe's readers before its first report.
    for topic in (names.ACTION, names.PLANNER_CYCLE, names.PLANNER_DIAGNOSTICS):
        ros.wait_for(lambda t=topic: planner.count_subscribers(t) > 0, what=f"{topic} reader")

    n, d = model.tokens_per_frame, model.embed_dim
    rng = np.random.default_rng(0)
    goal_pub.publish(latent_to_msg(rng.standard_normal((n, d)).astype(np.float32)))
    state = [0.45, 0.0, 0.4, np.pi, 0.0, 0.0, 0.0]

    def observe():
        """A frame (and the state at its stamp) captured now."""
        now = probe.get_clock().now()
        state_pub.publish(vector_to_msg(state, STATE_NAMES, stamp=now))
        latent_pub.publish(latent_to_msg(rng.standard_normal((n, d)).astype(np.float32), now))
        return now

    def settle(action_msg):
        """The bridge: the action executed and the arm settled now."""
        msg = TimeReference(source="settled")
        msg.time_ref = action_msg.header.stamp
        msg.header.stamp = probe.get_clock().now().to_msg()
        motion_pub.publish(msg)

    def skipped_since(k, reason):
        return any(v and v["skipped"] == reason for v in diags[k:])

    def planned_reports():
        return [v for v in diags if v and not v["skipped"]]

    # Three lock-step cycles: each frame after the settle gives exactly one action.
    for k in range(3):
        ros.wait_for(lambda k=k: len(actions) == k, what="no extra action")
        observe()
        ros.wait_for(lambda k=k: len(actions) == k + 1, 30, f"action {k + 1}")
        # Its report is on diagnostics after the action: every report from here on comes from
        # a later cycle (an earlier settle wait cannot be mistaken for this one).
        ros.wait_for(lambda k=k: len(planned_reports()) == k + 1, 10, f"report {k + 1}")
        seen = len(diags)
        # Until the bridge reports this action settled, nothing is planned, whatever arrives.
        observe()
        ros.wait_for(
            lambda s=seen: skipped_since(s, "waiting for the arm to settle after the last action"),
            what="settle wait",
        )
        assert len(actions) == k + 1
        settle(actions[-1])
    for msg in actions:
        a = msg_to_vector(msg, ACTION_NAMES)
        assert np.all(np.isfinite(a)) and np.all(np.abs(a[:3]) <= 0.05 + 1e-9)
        assert np.all(a[3:6] == 0.0)  # rotation is not planned by default
    planned = planned_reports()
    assert len(planned) == 3 and all(float(v["energy"]) > 0 for v in planned)
    assert {v["budget"] for v in planned} == {"tiny"}
    ros.wait_for(lambda: len(cycles) == 3, 10, "three typed cycle reports (goal server input)")
    # Cycles are numbered by plans, not by the skips between them (the settle waits above).
    assert [int(v["cycle"]) for v in planned] == [1, 2, 3]
    assert [named_values(m, names.CYCLE_NAMES)["cycle"] for m in cycles] == [1.0, 2.0, 3.0]
    assert planner.checks > planner.cycles == 3
    # The settle and fresh-frame waits of every cycle are on diagnostics, not in the log; a
    # fault is, once (at start there was no goal yet).
    warnings = [m.msg for m in logs if m.name == "planner" and m.level >= Log.WARN]
    assert warnings.count("cycle 1 skipped: no goal latent") == 1, warnings
    assert not [w for w in warnings if "waiting" in w or "no new camera" in w], warnings

    # The camera freezes: the last frame was captured before the last settle. No action, and
    # diagnostics say why, cycle after cycle.
    seen, checks = len(diags), planner.checks
    ros.wait_for(lambda: planner.checks >= checks + 3, what="three more checks")
    assert len(actions) == 3
    assert skipped_since(seen, "waiting for a camera frame captured after the arm settled")

    # Paused through the service (no cycle in flight: the last one is answered): fresh,
    # settled inputs do not produce actions.
    client = probe.create_client(SetBool, names.PLANNER_ENABLE)
    assert client.wait_for_service(timeout_sec=5)
    future = client.call_async(SetBool.Request(data=False))
    ros.wait_for(future.done, what="enable response")
    seen = len(diags)
    observe()
    ros.wait_for(lambda: skipped_since(seen, "disabled"), what="disabled skip")
    assert len(actions) == 3


def test_ros2_param_set_changes_the_next_plan_and_read_only_ones_are_refused(ros, tmp_path):
    """What `ros2 param set /planner budget tiny2` does: the next plan runs that budget."""
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    model, planner = tiny_planner(
        ros,
        tmp_path,
        TINY_BUDGET + TINY_BUDGET.replace("tiny:", "tiny2:"),
        max_latent_age_s=5.0,
        max_state_age_s=5.0,
        require_settle=False,
    )
    probe = ros.node("param_probe")
    diags = []
    probe.create_subscription(
        DiagnosticArray,
        names.PLANNER_DIAGNOSTICS,
        lambda m: diags.append(diagnostic_values(m, names.PLANNER_STATUS_NAME)),
        50,
    )
    client = probe.create_client(SetParameters, "/planner/set_parameters")
    assert client.wait_for_service(timeout_sec=10)

    def set_param(name, value):
        pv = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
        future = client.call_async(
            SetParameters.Request(parameters=[Parameter(name=name, value=pv)])
        )
        ros.wait_for(future.done, what="set_parameters answer")
        return future.result().results[0]

    assert set_param("budget", "tiny2").successful
    assert planner.config.budget == "tiny2"
    bad = set_param("budget", "turbo")
    assert not bad.successful and "known budgets" in bad.reason
    assert planner.config.budget == "tiny2"
    read_only = set_param("model.preset", "vitg-ac")
    assert not read_only.successful  # read-only: refused, not silently ignored
    assert planner.get_parameter("model.preset").value == "small"

    # The next plan runs the new budget.
    latent_pub = probe.create_publisher(Image, names.LATENT, 10)
    state_pub = probe.create_publisher(JointState, names.EE_STATE, 10)
    goal_pub = probe.create_publisher(Image, names.GOAL_LATENT, LATCHED)
    ros.wait_for(lambda: latent_pub.get_subscription_count() > 0, what="discovery")
    n, d = model.tokens_per_frame, model.embed_dim
    rng = np.random.default_rng(1)
    goal_pub.publish(latent_to_msg(rng.standard_normal((n, d)).astype(np.float32)))
    now = probe.get_clock().now()
    state_pub.publish(vector_to_msg([0.45, 0, 0.4, np.pi, 0, 0, 0], STATE_NAMES, stamp=now))
    latent_pub.publish(latent_to_msg(rng.standard_normal((n, d)).astype(np.float32), now))
    ros.wait_for(lambda: any(v and not v["skipped"] for v in diags), 30, "a plan")
    assert next(v for v in diags if v and not v["skipped"])["budget"] == "tiny2"


def test_each_plan_follows_the_sub_goal_gripper_schedule(ros, tmp_path):
    """/vjepa2/goal/gripper (from the goal server, stamped with the goal): the plan waits for
    the schedule of the goal it plans against, then every action carries its fixed delta."""
    model, _ = tiny_planner(
        ros,
        tmp_path,
        TINY_BUDGET,
        max_latent_age_s=5.0,
        max_state_age_s=5.0,
        require_settle=False,
    )
    io = PlannerProbe(ros, "gripper_probe")
    probe, actions, diags = io.node, io.actions, io.diags
    latent_pub, state_pub, goal_pub = io.latent_pub, io.state_pub, io.goal_pub
    gripper_pub = probe.create_publisher(TimeReference, names.GOAL_GRIPPER, LATCHED)
    for pub in (latent_pub, goal_pub, gripper_pub):
        ros.wait_for(lambda p=pub: p.get_subscription_count() > 0, what="discovery")
    n, d = model.tokens_per_frame, model.embed_dim
    rng = np.random.default_rng(2)

    def goal(schedule: str, schedule_stamp=None):
        stamp = probe.get_clock().now().to_msg()
        msg = TimeReference(source=schedule)
        msg.header.stamp = schedule_stamp or stamp
        gripper_pub.publish(msg)
        goal_pub.publish(latent_to_msg(rng.standard_normal((n, d)).astype(np.float32), stamp))

    def observe_and_plan(k: int) -> np.ndarray:
        now = probe.get_clock().now()
        state_pub.publish(vector_to_msg([0.45, 0, 0.4, np.pi, 0, 0, 0.3], STATE_NAMES, stamp=now))
        latent_pub.publish(latent_to_msg(rng.standard_normal((n, d)).astype(np.float32), now))
        ros.wait_for(lambda: len(actions) == k, 30, f"action {k}")
        return msg_to_vector(actions[-1], ACTION_NAMES)

    # The schedule received belongs to another goal: no plan, and diagnostics say why.
    goal("close", schedule_stamp=probe.get_clock().now().to_msg())
    seen = len(diags)
    now = probe.get_clock().now()
    state_pub.publish(vector_to_msg([0.45, 0, 0.4, np.pi, 0, 0, 0.3], STATE_NAMES, stamp=now))
    latent_pub.publish(latent_to_msg(rng.standard_normal((n, d)).astype(np.float32), now))
    ros.wait_for(lambda: any(v and v["skipped"] == WAIT_GRIPPER for v in diags[seen:]), what="wait")
    assert not actions
    goal("close")
    assert observe_and_plan(1)[6] == 1.0
    goal("hold")
    assert [observe_and_plan(k)[6] for k in (2, 3)] == [0.0, 0.0]
