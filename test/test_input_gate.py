"""The planner never plans on missing, frozen, stale or pre-settle inputs, and says why."""

import numpy as np
import pytest

from vjepa2_ros.config import ConfigError
from vjepa2_ros.planning.input_gate import (
    CycleGate,
    CycleInputs,
    InputLimits,
    StateHistory,
    routine,
    skip_reason,
)
from vjepa2_ros.robot.motion import MotionStatus

LIMITS = InputLimits(max_latent_age_s=1.0, max_state_age_s=0.5, require_new_latent=True)


def inputs(**kw):
    base = dict(
        now=100.0,
        latent_stamp=99.8,
        state_stamp=99.9,
        goal_present=True,
        enabled=True,
        last_used_latent_stamp=99.5,
        matched_state_stamp=99.8,
    )
    base.update(kw)
    return CycleInputs(**base)


def test_fresh_inputs_plan():
    assert skip_reason(inputs(), LIMITS) == ""


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"enabled": False}, "disabled"),
        ({"goal_present": False}, "no goal latent"),
        ({"latent_stamp": None}, "no camera latent yet"),
        ({"state_stamp": None}, "no end-effector state yet"),
        ({"latent_stamp": 98.5}, "stale camera: newest latent is 1.50 s old (> 1.0 s)"),
        ({"last_used_latent_stamp": 99.8}, "no new camera latent since the last cycle"),
        ({"state_stamp": 99.0}, "stale robot state: newest ee_state is 1.00 s old (> 0.5 s)"),
    ],
)
def test_each_problem_has_its_reason(change, reason):
    assert skip_reason(inputs(**change), LIMITS) == reason
    # Only the loop's own rhythm is routine (no log line); every fault above is not.
    assert routine(reason) == (reason in ("disabled", "no new camera latent since the last cycle"))


def test_same_latent_allowed_when_not_required():
    limits = InputLimits(max_latent_age_s=1.0, max_state_age_s=0.5, require_new_latent=False)
    assert skip_reason(inputs(last_used_latent_stamp=99.8), limits) == ""


def test_limits_validated():
    with pytest.raises(ConfigError, match="max_latent_age_s"):
        InputLimits(max_latent_age_s=0)


def test_a_frame_without_a_state_near_its_stamp_is_not_planned_on():
    reason = skip_reason(inputs(matched_state_stamp=None), LIMITS)
    assert reason.startswith("no end-effector state within 50 ms of the camera frame")


# ---- the settle gate: observe only after the last action settled ---------------------------
SENT = 99.0  # the planner's last action


def settled(at, action=SENT, outcome="settled"):
    return MotionStatus(outcome, action, at)


def test_waits_for_the_settle_report_of_its_own_last_action():
    # The bridge still reports an older action: wait.
    older = settled(98.5, action=98.0)
    reason = skip_reason(inputs(motion=older, last_action_stamp=SENT), LIMITS)
    assert reason == "waiting for the arm to settle after the last action"
    # No report at all for long: say which node to look at.
    reason = skip_reason(inputs(now=120.0, motion=None, last_action_stamp=SENT), LIMITS)
    assert "no motion report for the last action after 21.0 s" in reason
    assert "franka_bridge" in reason


def test_a_moving_arm_is_never_observed():
    moving = MotionStatus("moving", SENT, 98.0)
    assert skip_reason(inputs(motion=moving, last_action_stamp=SENT), LIMITS) == (
        "waiting for the arm to settle (moving)"
    )


def test_a_frame_captured_before_the_settle_is_never_planned_on():
    # Settled at 99.85; the newest frame (99.8) was captured while the arm still moved.
    motion = settled(99.85)
    reason = skip_reason(inputs(motion=motion, last_action_stamp=SENT), LIMITS)
    assert reason == "waiting for a camera frame captured after the arm settled"
    # ... and when no frame ever comes after the settle, the reason names the camera.
    late = skip_reason(
        inputs(now=101.45, latent_stamp=99.8, motion=motion, last_action_stamp=SENT), LIMITS
    )
    assert "no camera frame captured since the arm settled 1.6 s ago" in late
    # A frame captured after the settle passes.
    ok = inputs(latent_stamp=99.9, matched_state_stamp=99.9, motion=motion, last_action_stamp=SENT)
    assert skip_reason(ok, LIMITS) == ""


def test_a_rejected_action_lets_the_planner_go_on_from_the_previous_settle():
    rejected = MotionStatus("rejected", SENT, 98.0)  # the arm did not move; settled at 98.0
    assert skip_reason(inputs(motion=rejected, last_action_stamp=SENT), LIMITS) == ""


def test_someone_elses_motion_is_waited_for_too():
    # The planner has not acted, but another client's motion settled at 99.85.
    assert skip_reason(inputs(motion=settled(99.85, action=99.5)), LIMITS) == (
        "waiting for a camera frame captured after the arm settled"
    )


def test_the_settle_gate_can_be_switched_off_for_drivers_without_motion_reports():
    limits = InputLimits(max_latent_age_s=1.0, require_settle=False)
    assert skip_reason(inputs(motion=None, last_action_stamp=SENT), limits) == ""


def test_cycle_gate_remembers_observation_and_action():
    gate = CycleGate(LIMITS)
    common = dict(now=100.0, newest_state_stamp=99.95, goal_present=True)
    assert gate.check(observation_stamp=99.8, matched_state_stamp=99.8, **common) == ""
    gate.planned(99.8)
    gate.acted(99.9)
    # Same frame again, and no settle report for the action yet.
    assert gate.check(observation_stamp=99.8, matched_state_stamp=99.8, **common) == (
        "waiting for the arm to settle after the last action"
    )
    motion = MotionStatus("settled", 99.9, 99.97)
    assert (
        gate.check(observation_stamp=99.8, matched_state_stamp=99.8, motion=motion, **common)
        == "waiting for a camera frame captured after the arm settled"
    )
    assert (
        gate.check(observation_stamp=99.99, matched_state_stamp=99.99, motion=motion, **common)
        == ""
    )


def test_state_history_pairs_a_frame_with_the_state_at_its_stamp():
    h = StateHistory(horizon_s=1.0)
    for k in range(200):  # 100 Hz for 2 s; only the last second is kept
        h.add(10.0 + k * 0.01, [k, 0, 0])
    stamp, state = h.at(11.503, tolerance_s=0.05)
    assert stamp == pytest.approx(11.50) and state[0] == 150
    assert h.at(10.2, tolerance_s=0.05) is None  # older than the horizon
    assert h.at(12.5, tolerance_s=0.05) is None  # newer than any state
    assert h.newest_stamp == pytest.approx(11.99)
    h.add(5.0, [0, 0, 0])  # out of order: ignored
    np.testing.assert_array_equal(h.at(11.99, 0.001)[1], [199, 0, 0])
