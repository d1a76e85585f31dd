"""The bridge's pure safety core: every rejection and clip case, the gripper hysteresis, config."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vjepa2_ros.config import ConfigError, from_mapping
from vjepa2_ros.nodes.params import node_parameters, unflatten
from vjepa2_ros.pose.arrays import apply_delta, matrix_to_pose, pose_to_matrix, rotation_angle
from vjepa2_ros.robot.config import RobotConfig
from vjepa2_ros.robot.gripper import (
    GripperConfig,
    GripperHysteresis,
    closedness_from_width,
)
from vjepa2_ros.robot.safety import SafetyConfig, SafetyFilter
from vjepa2_ros.robot.state_monitor import ReadFailure, StateMonitor

NOW = 1000.0
# The sim's start pose: hand pointing down (roll pi), half-open gripper.
STATE = np.array([0.55, 0.0, 0.52, math.pi, 0.0, 0.0, 0.5])


def make(**overrides) -> SafetyFilter:
    return SafetyFilter(SafetyConfig(**overrides))


def action(dx=0.0, dy=0.0, dz=0.0, droll=0.0, dpitch=0.0, dyaw=0.0, g=0.0) -> np.ndarray:
    return np.array([dx, dy, dz, droll, dpitch, dyaw, g])


def test_valid_action_gives_absolute_target():
    v = make().check(action(dx=0.03, dy=-0.02, dz=0.01, g=0.2), NOW - 0.05, NOW, STATE)
    assert v.ok and v.event == ""
    np.testing.assert_allclose(v.target[:3], [0.58, -0.02, 0.53])
    np.testing.assert_allclose(v.action, action(dx=0.03, dy=-0.02, dz=0.01, g=0.2))
    assert v.target[6] == pytest.approx(0.7)  # closedness 0.5 + 0.2


def test_rotation_delta_is_left_multiplied_in_base_frame():
    v = make().check(action(dyaw=0.2), NOW, NOW, STATE)
    assert v.ok
    expected = pose_to_matrix([0, 0, 0, 0, 0, 0.2])[:3, :3] @ pose_to_matrix(STATE[:6])[:3, :3]
    np.testing.assert_allclose(pose_to_matrix(v.target[:6])[:3, :3], expected, atol=1e-12)


@pytest.mark.parametrize(
    ("bad", "event"),
    [
        (np.zeros(6), "rejected: length"),
        (np.zeros(8), "rejected: length"),
        (np.zeros(0), "rejected: length"),
        (action(dx=float("nan")), "rejected: nan"),
        (action(g=float("nan")), "rejected: nan"),
        (action(dy=float("inf")), "rejected: inf"),
        (action(droll=-float("inf")), "rejected: inf"),
    ],
)
def test_malformed_actions_are_rejected(bad, event):
    v = make().check(bad, NOW, NOW, STATE)
    assert not v.ok and v.event == event and v.action is None and v.target is None
    assert v.detail  # a sentence for the log


def test_unusable_state_rejects():
    state = STATE.copy()
    state[2] = float("nan")
    assert make().check(action(dx=0.01), NOW, NOW, state).event == "rejected: state"


@pytest.mark.parametrize(
    ("stamp", "event"),
    [
        (NOW - 0.51, "rejected: stale"),
        (0.0, "rejected: stale"),  # unstamped message
        (NOW + 0.6, "rejected: future"),
        (float("nan"), "rejected: stale"),
    ],
)
def test_stale_and_future_stamps(stamp, event):
    v = make(max_action_age_s=0.5).check(action(dx=0.01), stamp, NOW, STATE)
    assert not v.ok and v.event == event


def test_stamp_within_age_limit_passes():
    assert make(max_action_age_s=0.5).check(action(dx=0.01), NOW - 0.49, NOW, STATE).ok


def test_out_of_order_and_repeated_stamps():
    f = make()
    assert f.check(action(dx=0.01), NOW - 0.1, NOW, STATE).ok
    f.commit(NOW - 0.1)
    assert f.check(action(dx=0.01), NOW - 0.2, NOW, STATE).event == "rejected: out-of-order"
    assert f.check(action(dx=0.01), NOW - 0.1, NOW, STATE).event == "rejected: out-of-order"
    assert f.check(action(dx=0.01), NOW - 0.05, NOW, STATE).ok


def test_check_does_not_commit():
    f = make()
    f.check(action(dx=0.01), NOW, NOW, STATE)
    assert f.last_executed_stamp is None


def test_the_next_target_keeps_the_executed_orientation_not_the_measured_one():
    # A contact tilted the hand 0.1 rad after the last target: a translation-only action goes
    # back to the held orientation (so tilts never add up); a 0.6 rad one comes back at most
    # max_rotation_rad per action; a released hold composes from the measured pose again.
    f = make(max_rotation_rad=0.35)
    first = f.check(action(dx=0.01), NOW, NOW, STATE)
    f.commit(NOW, first.target)
    tilted = STATE.copy()
    tilted[4] = 0.1
    v = f.check(action(dx=0.01), NOW + 1, NOW + 1, tilted)
    np.testing.assert_allclose(v.target[3:6], first.target[3:6], atol=1e-9)
    np.testing.assert_allclose(v.target[:3], tilted[:3] + np.array([0.01, 0.0, 0.0]))
    tilted[4] = 0.6
    v = f.check(action(dx=0.01), NOW + 2, NOW + 2, tilted)
    np.testing.assert_allclose(v.target[4], 0.6 - 0.35, atol=1e-9)
    f.release_orientation()
    v = f.check(action(dx=0.01), NOW + 3, NOW + 3, tilted)
    np.testing.assert_allclose(v.target[3:6], tilted[3:6], atol=1e-9)


def test_oversize_translation_is_rejected_not_scaled():
    f = make(max_translation_m=0.05)
    v = f.check(action(dx=0.04, dy=0.03, dz=0.01), NOW, NOW, STATE)  # norm 0.051
    assert v.event == "rejected: oversize translation" and v.target is None
    assert f.check(action(dx=0.03, dy=0.03, dz=0.01), NOW, NOW, STATE).ok  # norm 0.0436


def test_oversize_rotation_is_rejected():
    f = make(max_rotation_rad=0.3)
    v = f.check(action(droll=0.2, dpitch=0.25), NOW, NOW, STATE)
    assert v.event == "rejected: oversize rotation"
    assert f.check(action(dyaw=0.29), NOW, NOW, STATE).ok


def test_workspace_clip_keeps_target_inside_box():
    f = make(workspace_min=(0.3, -0.4, 0.1), workspace_max=(0.6, 0.4, 0.6))
    v = f.check(action(dx=0.08, dz=0.02), NOW, NOW, STATE)
    assert v.ok and v.event == "clipped: workspace"
    # Clipped 2 mm (workspace_clip_margin_m) inside the box's x edge at 0.6.
    np.testing.assert_allclose(v.target[:3], [0.598, 0.0, 0.54])
    np.testing.assert_allclose(v.action[:3], [0.048, 0.0, 0.02], atol=1e-12)


def test_workspace_reject_mode_never_moves():
    f = make(workspace_max=(0.6, 0.4, 0.6), workspace_mode="reject")
    v = f.check(action(dx=0.08), NOW, NOW, STATE)
    assert not v.ok and v.event == "rejected: workspace" and v.target is None


def test_workspace_clip_rejects_when_the_clipped_move_would_be_too_large():
    far_outside = STATE.copy()
    far_outside[0] = 1.2  # e.g. moved by hand far beyond the box
    v = make(workspace_max=(0.6, 0.4, 0.6)).check(action(dx=-0.01), NOW, NOW, far_outside)
    assert v.event == "rejected: workspace"


def test_gripper_target_is_clipped_to_unit_interval():
    assert make().check(action(g=0.9), NOW, NOW, STATE).target[6] == 1.0
    assert make().check(action(g=-0.9), NOW, NOW, STATE).target[6] == 0.0


def test_safety_config_validation_messages():
    with pytest.raises(ConfigError, match="workspace_min"):
        SafetyConfig(workspace_min=(0.5, 0, 0), workspace_max=(0.4, 1, 1))
    with pytest.raises(ConfigError, match="max_translation_m"):
        SafetyConfig(max_translation_m=0.0)
    with pytest.raises(ConfigError, match="workspace_mode"):
        from_mapping(SafetyConfig, {"workspace_mode": "wrap"})


def test_hysteresis_opens_closes_and_holds_in_dead_band():
    h = GripperHysteresis(GripperConfig(delta_threshold=0.25))
    assert h.decide(0.2) is None  # dead band, nothing commanded yet
    assert h.decide(0.3) == "close"
    assert h.decide(0.9) is None  # already closing
    assert h.decide(0.0) is None  # holding: "keep" actions never open the hand (a held cup
    assert h.decide(-0.2) is None  # reads closedness ~0.25, which a target rule would open)
    assert h.decide(-0.3) == "open"
    assert h.decide(0.24) is None
    assert h.decide(0.25) == "close"  # the planner's smallest non-zero gripper value
    h.reset()
    assert h.decide(0.8) == "close"


def test_gripper_config_and_width_mapping():
    with pytest.raises(ConfigError, match="delta_threshold"):
        GripperConfig(delta_threshold=1.5)
    assert closedness_from_width(0.08, 0.08) == 0.0
    assert closedness_from_width(0.0, 0.08) == 1.0
    assert closedness_from_width(0.02, 0.08) == pytest.approx(0.75)
    assert closedness_from_width(0.09, 0.08) == 0.0


def test_pose_round_trip_and_rotation_angle():
    pose = np.array([0.4, -0.1, 0.3, 3.0, 0.2, -0.7])
    np.testing.assert_allclose(matrix_to_pose(pose_to_matrix(pose)), pose, atol=1e-12)
    assert rotation_angle([0.0, 0.0, 0.3]) == pytest.approx(0.3)
    np.testing.assert_allclose(apply_delta(pose, np.zeros(6)), pose, atol=1e-12)


def test_robot_yaml_loads_into_robot_config():
    cfg = from_mapping(RobotConfig, unflatten(node_parameters("robot.yaml", "franka_bridge")))
    assert cfg.safety.workspace_mode in ("clip", "reject")
    assert cfg.state_rate_hz >= 50
    with pytest.raises(ConfigError, match="state_rate_hz"):
        RobotConfig(state_rate_hz=20.0)
    with pytest.raises(ConfigError, match="robot_ip"):
        RobotConfig(robot_ip=" ")


def test_stale_state_rejects_and_fresh_state_passes():
    f = make(max_state_age_s=0.1)
    v = f.check(action(dx=0.01), NOW, NOW, STATE, state_age=0.25)
    assert not v.ok and v.event == "rejected: stale state" and v.target is None
    assert "max_state_age_s" in v.detail
    assert f.check(action(dx=0.01), NOW, NOW, STATE, state_age=math.inf).event == (
        "rejected: stale state"
    )
    assert f.check(action(dx=0.01), NOW, NOW, STATE, state_age=math.nan).event == (
        "rejected: stale state"
    )
    assert f.check(action(dx=0.01), NOW, NOW, STATE, state_age=0.05).ok
    with pytest.raises(ConfigError, match="max_state_age_s"):
        SafetyConfig(max_state_age_s=0.0)


def test_state_monitor_idle_failures_are_counted_and_throttled_not_latched():
    m = StateMonitor(log_period_s=1.0)
    assert m.age(0.0) == math.inf
    m.succeeded(10.0)
    first = m.failed(10.1, motion_running=False)
    assert first == ReadFailure(latch=False, log=True, suppressed=0)
    quiet = [m.failed(10.1 + 0.01 * i, motion_running=False) for i in range(1, 50)]
    assert not any(d.log or d.latch for d in quiet)
    again = m.failed(11.2, motion_running=False)
    assert again.log and not again.latch and again.suppressed == 49
    assert m.failures == 51 and m.consecutive == 51
    assert m.age(11.2) == pytest.approx(1.2)  # the newest good read stays the reference
    assert m.succeeded(11.3) == 51 and m.consecutive == 0 and m.age(11.35) == pytest.approx(0.05)


def test_state_monitor_failure_during_motion_latches_and_always_logs():
    m = StateMonitor(log_period_s=10.0)
    m.failed(0.0, motion_running=False)  # uses up the log period
    d = m.failed(0.1, motion_running=True)
    assert d.latch and d.log
    m.reset()
    assert m.age(5.0) == math.inf and m.failures == 2


def test_runaway_speed_is_caught_and_normal_motion_is_not():
    from vjepa2_ros.robot.safety import runaway_reason

    # 5 mm in 10 ms = 0.5 m/s: within the 1 m/s limit.
    assert runaway_reason([0.5, 0.0, 0.5], 1.00, [0.505, 0.0, 0.5], 1.01, 1.0) == ""
    # 6 cm in 10 ms = 6 m/s: a runaway, named with its speed and the setting to look at.
    reason = runaway_reason([0.5, 0.0, 0.5], 1.00, [0.5, 0.06, 0.5], 1.01, 1.0)
    assert "6.00 m/s" in reason and "max_measured_speed_m_s" in reason
    # No time between samples: no verdict (never divide by zero).
    assert runaway_reason([0, 0, 0], 1.0, [1, 1, 1], 1.0, 1.0) == ""
