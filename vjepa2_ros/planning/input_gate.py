"""Whether a planning cycle may run on the inputs it has, and if not, why.

Receding horizon, as in the paper: observe, plan, act, settle, observe. A cycle plans only on
an observation (a camera latent, stamped with its source frame's capture time) that

- is newer than the one the previous cycle used (never plan twice on one observation),
- was captured after the arm settled from the last action (the bridge's /franka/motion says when),
  so the world the plan starts from is the world as it is, not as it was one action earlier,
- is younger than a limit, with a fresh end-effector state and an active goal.

The same rules gate the core evaluation's cycles (vjepa2_ros/evaluation/sim_episodes.py) and the
planner node's. The reason string is what the planner reports on diagnostics and the log.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass

import numpy as np

from vjepa2_ros.config import require
from vjepa2_ros.robot.motion import MotionStatus

STAMP_EPS_S = 1e-6  # stamps travel as float seconds: equal within this

DISABLED = "disabled"
WAIT_ACTION = "waiting for the arm to settle after the last action"
WAIT_MOVING = "waiting for the arm to settle (moving)"
WAIT_FRAME = "waiting for a camera frame captured after the arm settled"
NO_NEW_LATENT = "no new camera latent since the last cycle"
WAIT_GRIPPER = "waiting for the sub-goal's gripper schedule (/vjepa2/goal/gripper)"
# Not faults: the loop's own rhythm (act, settle, observe), which every cycle passes through,
# and a pause the operator asked for (the planner logs that once itself). Reported on
# diagnostics, not as warnings (see `routine`).
ROUTINE_SKIPS = frozenset(
    {WAIT_ACTION, WAIT_MOVING, WAIT_FRAME, NO_NEW_LATENT, WAIT_GRIPPER, DISABLED}
)


def routine(reason: str) -> bool:
    """A skip that is not a fault: no log line (every cycle waits to settle; a pause was asked)."""
    return reason in ROUTINE_SKIPS


@dataclass
class InputLimits:
    max_latent_age_s: float = 1.5  # camera latent older than this (source image stamp) -> skip
    max_state_age_s: float = 0.5  # end-effector state older than this -> skip
    require_new_latent: bool = True  # never plan twice on the same camera frame
    # Plan only on a frame captured after the arm settled from the last action (needs a robot
    # driver that publishes /franka/motion, as franka_bridge does).
    require_settle: bool = True
    settle_timeout_s: float = 15.0  # no settle report this long after an action: say so
    state_match_s: float = 0.05  # the state paired with a frame is at most this far from its stamp

    def __post_init__(self) -> None:
        require(self.max_latent_age_s > 0, "max_latent_age_s must be > 0 seconds")
        require(self.max_state_age_s > 0, "max_state_age_s must be > 0 seconds")
        require(self.settle_timeout_s > 0, "settle_timeout_s must be > 0 seconds")
        require(self.state_match_s > 0, "state_match_s must be > 0 seconds")


@dataclass(frozen=True)
class CycleInputs:
    """Stamps (seconds, ROS clock) of the newest inputs; None where nothing arrived yet."""

    now: float
    latent_stamp: float | None
    state_stamp: float | None
    goal_present: bool
    enabled: bool
    last_used_latent_stamp: float | None = None
    motion: MotionStatus | None = None  # None: no robot driver reported yet
    last_action_stamp: float | None = None  # stamp of the newest action this planner published
    matched_state_stamp: float | None = None  # the state paired with the latent's frame


def skip_reason(inputs: CycleInputs, limits: InputLimits) -> str:
    """Empty string when the cycle may plan; otherwise a short, specific reason."""
    if not inputs.enabled:
        return DISABLED
    if not inputs.goal_present:
        return "no goal latent"
    if inputs.latent_stamp is None:
        return "no camera latent yet"
    if inputs.state_stamp is None:
        return "no end-effector state yet"
    if limits.require_settle:
        reason = _settle_reason(inputs, limits)
        if reason:
            return reason
    latent_age = inputs.now - inputs.latent_stamp
    if latent_age > limits.max_latent_age_s:
        return (
            f"stale camera: newest latent is {latent_age:.2f} s old (> {limits.max_latent_age_s} s)"
        )
    if (
        limits.require_new_latent
        and inputs.last_used_latent_stamp is not None
        and inputs.latent_stamp <= inputs.last_used_latent_stamp
    ):
        return NO_NEW_LATENT
    state_age = inputs.now - inputs.state_stamp
    if state_age > limits.max_state_age_s:
        return f"stale robot state: newest ee_state is {state_age:.2f} s old (> {limits.max_state_age_s} s)"
    if inputs.matched_state_stamp is None:
        return (
            f"no end-effector state within {limits.state_match_s * 1e3:.0f} ms of the camera "
            "frame's stamp (are the camera and the robot on one clock?)"
        )
    return ""


def _settle_reason(inputs: CycleInputs, limits: InputLimits) -> str:
    motion, sent = inputs.motion, inputs.last_action_stamp
    if sent is not None and (
        motion is None or motion.action_stamp is None or motion.action_stamp < sent - STAMP_EPS_S
    ):
        waited = inputs.now - sent
        if waited > limits.settle_timeout_s:
            return (
                f"no motion report for the last action after {waited:.1f} s: is franka_bridge "
                "running (/franka/motion)?"
            )
        return WAIT_ACTION
    if motion is None:
        return ""
    if motion.outcome == "moving":
        return WAIT_MOVING
    settled = motion.settled_at
    if settled is not None and inputs.latent_stamp <= settled + STAMP_EPS_S:
        since = inputs.now - settled
        if since > limits.max_latent_age_s:
            return (
                f"no camera frame captured since the arm settled {since:.1f} s ago: is the camera "
                "publishing, and are its stamps on this machine's clock?"
            )
        return WAIT_FRAME
    return ""


class StateHistory:
    """The recent end-effector states by stamp: the state at a camera frame's capture time."""

    def __init__(self, horizon_s: float = 3.0) -> None:
        self.horizon_s = horizon_s
        self._stamps: deque[float] = deque()
        self._values: deque[np.ndarray] = deque()

    def add(self, stamp: float, values) -> None:
        if self._stamps and stamp < self._stamps[-1]:
            return  # out of order: keep the history sorted
        self._stamps.append(stamp)
        self._values.append(np.asarray(values, dtype=np.float64))
        while self._stamps and self._stamps[0] < stamp - self.horizon_s:
            self._stamps.popleft()
            self._values.popleft()

    @property
    def newest_stamp(self) -> float | None:
        return self._stamps[-1] if self._stamps else None

    def at(self, stamp: float, tolerance_s: float) -> tuple[float, np.ndarray] | None:
        """The state nearest to `stamp` if one lies within `tolerance_s`, else None."""
        if not self._stamps:
            return None
        stamps = list(self._stamps)
        i = bisect.bisect_left(stamps, stamp)
        best = min(
            (j for j in (i - 1, i) if 0 <= j < len(stamps)), key=lambda j: abs(stamps[j] - stamp)
        )
        if abs(stamps[best] - stamp) > tolerance_s:
            return None
        return stamps[best], self._values[best]


class CycleGate:
    """The bookkeeping of one receding-horizon loop: which observation and action came last.

    The planner node and the core evaluation both run their cycles through it: `check` before
    planning (the reason to skip, or ""), `planned` with the observation used, `acted` with the
    stamp of the action sent.
    """

    def __init__(self, limits: InputLimits) -> None:
        self.limits = limits
        self.last_observation: float | None = None
        self.last_action: float | None = None

    def check(
        self,
        now: float,
        observation_stamp: float | None,
        newest_state_stamp: float | None,
        matched_state_stamp: float | None,
        goal_present: bool,
        enabled: bool = True,
        motion: MotionStatus | None = None,
    ) -> str:
        return skip_reason(
            CycleInputs(
                now=now,
                latent_stamp=observation_stamp,
                state_stamp=newest_state_stamp,
                goal_present=goal_present,
                enabled=enabled,
                last_used_latent_stamp=self.last_observation,
                motion=motion,
                last_action_stamp=self.last_action,
                matched_state_stamp=matched_state_stamp,
            ),
            self.limits,
        )

    def planned(self, observation_stamp: float) -> None:
        self.last_observation = observation_stamp

    def acted(self, action_stamp: float) -> None:
        self.last_action = action_stamp
