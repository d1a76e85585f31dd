"""The bridge's safety filter: every action passes here before anything reaches the robot.

`SafetyFilter.check` is pure (no robot, no clock, no ROS): given the action, its stamp, the time
now and the measured end-effector state, it returns a `Verdict` saying whether to execute, what
to execute (possibly clipped to the workspace) and a short event string for diagnostics.
Rejections (`rejected: ...`) never move the arm; clipping (`clipped: workspace`) is only done in
`workspace_mode: clip`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from vjepa2_ros.config import require
from vjepa2_ros.pose.arrays import apply_delta, rotation_angle, tilt_and_twist, turn_toward

ORIENTATION_EPS_RAD = 1e-6  # turning back towards the limits is always allowed
ACTION_SIZE = 7  # dx dy dz droll dpitch dyaw dgripper
STATE_SIZE = 7  # x y z roll pitch yaw gripper


# Sane upper bounds for every limit: a value above them is a typo or a unit error, never a
# setting (the Franka's own Cartesian limits: 1.7 m/s, 2.5 rad/s).
LIMIT_UPPER_BOUNDS: dict[str, float] = {
    "max_translation_m": 0.2,
    "max_rotation_rad": 1.0,
    "max_speed_m_s": 1.0,
    "max_angular_speed_rad_s": 2.5,
    "max_action_age_s": 5.0,
    "max_state_age_s": 1.0,
    "max_measured_speed_m_s": 3.0,
    "watchdog_timeout_s": 10.0,
    "measured_speed_window_s": 0.2,
    "max_tilt_rad": math.pi,
}
# Any workspace box must lie inside this one (m, base frame): the FR3 reaches 0.855 m.
WORKSPACE_BOUNDS = (np.array([-0.9, -0.9, -0.2]), np.array([0.9, 0.9, 1.2]))


@dataclass
class SafetyConfig:
    """Limits applied to every action (config/robot.yaml `safety.*`)."""

    # m, base frame; well inside the FR3's reach (near its edges franky-sim's arm went unstable)
    workspace_min: tuple[float, float, float] = (0.30, -0.35, 0.10)
    workspace_max: tuple[float, float, float] = (0.75, 0.35, 0.65)
    workspace_mode: Literal["clip", "reject"] = "clip"
    # Clipped targets stay this far inside the box, so the controller's tracking overshoot
    # (~1-2 mm in franky-sim) does not carry the arm past the edge.
    workspace_clip_margin_m: float = 0.002
    max_translation_m: float = 0.10  # norm of one action's xyz delta
    max_rotation_rad: float = 0.35  # angle of one action's rotation delta
    max_speed_m_s: float = 0.25  # end-effector translation speed cap (motion generator limit)
    max_angular_speed_rad_s: float = 1.0
    max_action_age_s: float = 0.5  # older (or this far in the future) stamps are stale
    max_state_age_s: float = 0.1  # newest successful state read older than this: reject actions
    max_measured_speed_m_s: float = 1.0  # measured end effector faster than this: stop and latch
    measured_speed_window_s: float = 0.02  # ... over at least this much robot time
    watchdog_timeout_s: float = 2.0  # motion still running this long (robot clock): stop it
    # Absolute orientation limits around a reference hand orientation: "tool_down" (the fixed
    # `tool_down_rpy`) or "start" (the orientation when the arm was armed). The tool axis stays
    # within `max_tilt_rad` of the reference's, and the twist about it within `yaw_range_rad`.
    # A target beyond a limit is rejected unless it turns the hand back towards the limit.
    orientation_reference: Literal["tool_down", "start"] = "tool_down"  # limits around which hand
    tool_down_rpy: tuple[float, float, float] = (math.pi, 0.0, 0.0)  # the tool_down reference
    max_tilt_rad: float = 0.6  # tool axis within this cone around the reference's
    yaw_range_rad: tuple[float, float] = (-1.6, 1.6)  # twist about the reference tool axis
    home_joints: tuple[float, float, float, float, float, float, float] = (
        0.0,
        0.0,
        0.0,
        -1.57,
        0.0,
        1.57,
        0.785,
    )

    def __post_init__(self) -> None:
        lo, hi = np.asarray(self.workspace_min), np.asarray(self.workspace_max)
        require(
            bool(np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo < hi)),
            f"safety.workspace_min {list(self.workspace_min)} must be below workspace_max "
            f"{list(self.workspace_max)} on every axis (metres, base frame)",
        )
        require(
            bool(np.all(lo >= WORKSPACE_BOUNDS[0]) and np.all(hi <= WORKSPACE_BOUNDS[1])),
            f"safety.workspace_min/max {list(self.workspace_min)} .. {list(self.workspace_max)} "
            f"reach beyond {list(WORKSPACE_BOUNDS[0])} .. {list(WORKSPACE_BOUNDS[1])} m, outside "
            "any Franka's reach: check the units (metres) and the frame (robot base)",
        )
        for name, upper in LIMIT_UPPER_BOUNDS.items():
            value = getattr(self, name)
            require(
                np.isfinite(value) and 0 < value <= upper,
                f"safety.{name} must be > 0 and <= {upper}, got {value}",
            )
        ylo, yhi = self.yaw_range_rad
        require(
            -math.pi <= ylo < yhi <= math.pi,
            f"safety.yaw_range_rad must be [min, max] within [-pi, pi], got {list(self.yaw_range_rad)}",
        )
        require(
            all(np.isfinite(v) for v in self.tool_down_rpy),
            f"safety.tool_down_rpy must be 3 finite angles (rad), got {self.tool_down_rpy}",
        )
        require(
            0.0 <= self.workspace_clip_margin_m < float(np.min(hi - lo)) / 2,
            f"safety.workspace_clip_margin_m must be >= 0 and under half the box's smallest "
            f"side, got {self.workspace_clip_margin_m}",
        )
        require(
            all(np.isfinite(q) for q in self.home_joints),
            f"safety.home_joints must be 7 finite joint angles (rad), got {self.home_joints}",
        )


@dataclass(frozen=True)
class Verdict:
    """What to do with one action.

    ok: execute it. action: the 7-D action to execute (clipped in clip mode), None when rejected.
    target: the absolute end-effector target [x y z roll pitch yaw gripper] the action leads to
    (gripper = target closedness in [0, 1]), None when rejected. event: "" for a clean action,
    "clipped: workspace" or "rejected: <reason>".
    """

    ok: bool
    action: np.ndarray | None = None
    target: np.ndarray | None = None
    event: str = ""
    detail: str = field(default="", compare=False)  # a sentence for the log

    @staticmethod
    def reject(reason: str, detail: str) -> Verdict:
        return Verdict(ok=False, event=f"rejected: {reason}", detail=detail)


class SafetyFilter:
    """Checks actions against `SafetyConfig`; remembers the stamp of the last executed action."""

    def __init__(self, config: SafetyConfig) -> None:
        self.config = config
        self._lo = np.asarray(config.workspace_min, dtype=np.float64)
        self._hi = np.asarray(config.workspace_max, dtype=np.float64)
        self.last_executed_stamp: float | None = None
        self.reference_rpy = np.asarray(config.tool_down_rpy, dtype=np.float64)
        # The orientation the last executed target asked for: the next target turns from it,
        # not from the measured one. Tracking errors and contacts (the hand on the cup, the
        # box) turn the measured hand a little each motion; composed from the measured pose
        # they added up (2.5 rad over 26 collection episodes). None: the measured one.
        self.held_rpy: np.ndarray | None = None

    def set_start_orientation(self, rpy) -> None:
        """With `orientation_reference: start`, limits are taken around this orientation."""
        if self.config.orientation_reference == "start":
            self.reference_rpy = np.asarray(rpy, dtype=np.float64)[:3].copy()

    def orientation_excess(self, rpy) -> tuple[float, float]:
        """(tilt beyond max_tilt_rad, twist outside yaw_range_rad), radians; 0 when inside."""
        tilt, twist = tilt_and_twist(self.reference_rpy, rpy)
        lo, hi = self.config.yaw_range_rad
        return max(0.0, tilt - self.config.max_tilt_rad), max(0.0, lo - twist, twist - hi)

    def commit(self, stamp: float, target=None) -> None:
        """Record that the action stamped `stamp` was sent to the robot (out-of-order guard),
        and hold its target's orientation for the next action."""
        self.last_executed_stamp = stamp
        if target is not None:
            self.held_rpy = np.asarray(target, dtype=np.float64)[3:6].copy()

    def release_orientation(self) -> None:
        """Compose the next action from the measured orientation (connect, arm, home)."""
        self.held_rpy = None

    def check(
        self, action, stamp: float, now: float, current_state, state_age: float = 0.0
    ) -> Verdict:
        """Decide on one action. `stamp` and `now` in seconds on the same clock.

        `state_age`: seconds since `current_state` was read from the robot. A delta applied to a
        pose older than `max_state_age_s` could go anywhere, so such actions are rejected.
        """
        cfg = self.config
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        state = np.asarray(current_state, dtype=np.float64).reshape(-1)
        if action.size != ACTION_SIZE:
            return Verdict.reject(
                "length",
                f"action has {action.size} values, expected {ACTION_SIZE} "
                "(dx dy dz droll dpitch dyaw gripper)",
            )
        if not np.all(np.isfinite(action)):
            kind = "nan" if np.any(np.isnan(action)) else "inf"
            return Verdict.reject(kind, f"action contains {kind}: {action.tolist()}")
        if state.size != STATE_SIZE or not np.all(np.isfinite(state)):
            return Verdict.reject("state", f"robot state unusable: {state.tolist()}")
        if not state_age <= cfg.max_state_age_s:  # also catches nan
            return Verdict.reject(
                "stale state",
                f"the newest robot state is {state_age:.3f} s old (limit "
                f"safety.max_state_age_s = {cfg.max_state_age_s} s): state reads are failing "
                "or lagging, a delta from that pose could go anywhere",
            )
        if not np.isfinite(stamp):
            return Verdict.reject("stale", "action stamp is not a finite time")
        age = now - stamp
        if age > cfg.max_action_age_s:
            return Verdict.reject(
                "stale",
                f"action is {age:.3f} s old (limit safety.max_action_age_s = "
                f"{cfg.max_action_age_s} s); stamp actions with the current time",
            )
        if age < -cfg.max_action_age_s:
            return Verdict.reject(
                "future",
                f"action stamp is {-age:.3f} s in the future: are the clocks synchronised?",
            )
        if self.last_executed_stamp is not None and stamp <= self.last_executed_stamp:
            return Verdict.reject(
                "out-of-order",
                f"action stamp {stamp:.6f} is not newer than the last executed "
                f"{self.last_executed_stamp:.6f}",
            )
        translation = float(np.linalg.norm(action[:3]))
        if translation > cfg.max_translation_m:
            return Verdict.reject(
                "oversize translation",
                f"action moves {translation:.4f} m, limit safety.max_translation_m = "
                f"{cfg.max_translation_m} m",
            )
        angle = rotation_angle(action[3:6])
        if angle > cfg.max_rotation_rad:
            return Verdict.reject(
                "oversize rotation",
                f"action turns {angle:.4f} rad, limit safety.max_rotation_rad = "
                f"{cfg.max_rotation_rad} rad",
            )

        start = state[:6].copy()
        if self.held_rpy is not None:  # back to the held orientation, one action's turn at most
            start[3:6] = turn_toward(state[3:6], self.held_rpy, cfg.max_rotation_rad)
        target_pose = apply_delta(start, action[:6])
        if np.any(action[3:6]):
            now_tilt, now_twist = self.orientation_excess(state[3:6])
            tilt, twist = self.orientation_excess(target_pose[3:6])
            if tilt > now_tilt + ORIENTATION_EPS_RAD or twist > now_twist + ORIENTATION_EPS_RAD:
                return Verdict.reject(
                    "orientation",
                    f"the hand would turn {math.degrees(tilt):.1f} deg past "
                    f"safety.max_tilt_rad = {cfg.max_tilt_rad} or {math.degrees(twist):.1f} deg "
                    f"outside safety.yaw_range_rad = {list(cfg.yaw_range_rad)} (reference "
                    f"{cfg.orientation_reference})",
                )
        event = ""
        detail = ""
        outside = bool(np.any(target_pose[:3] < self._lo) or np.any(target_pose[:3] > self._hi))
        if outside:
            where = f"target {np.round(target_pose[:3], 4).tolist()} outside the workspace box"
            if cfg.workspace_mode == "reject":
                return Verdict.reject("workspace", where)
            margin = cfg.workspace_clip_margin_m
            target_pose[:3] = np.clip(target_pose[:3], self._lo + margin, self._hi - margin)
            action = action.copy()
            action[:3] = target_pose[:3] - state[:3]
            if float(np.linalg.norm(action[:3])) > cfg.max_translation_m:
                return Verdict.reject(
                    "workspace", f"{where}; the clipped move is larger than max_translation_m"
                )
            event, detail = "clipped: workspace", f"{where}; clipped to the box"
        closedness = float(np.clip(state[6] + action[6], 0.0, 1.0))
        target = np.concatenate([target_pose, [closedness]])
        return Verdict(ok=True, action=action, target=target, event=event, detail=detail)


def measured_speed(previous_xyz, previous_t: float, xyz, t: float) -> float | None:
    """End-effector speed (m/s) between two samples; None when no time passed between them."""
    dt = t - previous_t
    if not dt > 0:
        return None
    return float(np.linalg.norm(np.asarray(xyz, float) - np.asarray(previous_xyz, float))) / dt


def runaway_reason(previous_xyz, previous_t: float, xyz, t: float, max_speed_m_s: float) -> str:
    """Why two state samples show an arm that is not following its commands ("" when fine).

    Commanded motion is capped far below `max_speed_m_s`; a measured speed above it means a
    controller or simulation running away, a collision or a corrupt state read. Stop, do not steer.
    Times are the robot's own clock where there is one (see motion.RunawayMonitor).
    """
    speed = measured_speed(previous_xyz, previous_t, xyz, t)
    if speed is None or speed <= max_speed_m_s:
        return ""
    return (
        f"measured end-effector speed {speed:.2f} m/s over {(t - previous_t) * 1e3:.0f} ms exceeds "
        f"safety.max_measured_speed_m_s = {max_speed_m_s} m/s: the arm is not following its "
        "commands"
    )
