"""When has the arm settled after an action? (pure; no robot, no ROS)

A receding-horizon loop must observe the world after the last action finished: observe, plan,
act, settle, observe. `MotionTracker` turns the state stream into that "settled" event. A
commanded motion counts as settled once franky no longer runs it (or it never started and the
arm is at its target, or a start grace passed), the gripper is idle, and the end effector moved
less than `tolerance_m` over the last `window_s` of robot time. The settle is stamped with the
wall clock (ROS time) of the sample that completed it, so a camera frame stamped later shows the
arm at rest. A rejected action never moves the arm: it is answered at once, and the last settle
stamp stays what it was.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vjepa2_ros.config import require, require_in
from vjepa2_ros.robot.safety import measured_speed, runaway_reason

MotionOutcome = Literal["moving", "settled", "rejected"]


@dataclass
class SettleConfig:
    """How still is still (config/robot.yaml `settle.*`)."""

    window_s: float = 0.1  # robot-clock seconds the arm must stay within tolerance_m
    tolerance_m: float = 0.0005  # end-effector travel allowed over window_s (5 mm/s)
    target_tolerance_m: float = 0.003  # "at the target" for a motion that ended before it was seen
    start_grace_s: float = 1.0  # a motion not seen running this long after the command has ended

    def __post_init__(self) -> None:
        require_in("settle.window_s", self.window_s, 2.0, "s")
        require_in("settle.tolerance_m", self.tolerance_m, 0.01, "m")
        require_in("settle.target_tolerance_m", self.target_tolerance_m, 0.02, "m")
        require_in("settle.start_grace_s", self.start_grace_s, 10.0, "s")


@dataclass(frozen=True)
class MotionStatus:
    """What the bridge publishes on /franka/motion.

    outcome: "moving" (an action's motion runs), "settled" (it ended and the arm is still) or
    "rejected" (the newest action was refused; the arm did not move). action_stamp: stamp of the
    action this refers to (None before the first). settled_at: wall-clock time (s) at which the
    arm was last seen settled (None before the first settle; while moving, the previous one).
    """

    outcome: MotionOutcome
    action_stamp: float | None
    settled_at: float | None


class MotionTracker:
    """Follows one commanded motion at a time from command to settle."""

    def __init__(self, config: SettleConfig | None = None) -> None:
        self.config = config or SettleConfig()
        self._window: collections.deque = collections.deque()
        self.reset(None)

    def reset(self, now: float | None) -> None:
        """A fresh connection: no motion, settled now (when known)."""
        self._moving = False
        self._outcome: MotionOutcome = "settled"
        self._action_stamp: float | None = None
        self._settled_at = now
        self._target = None
        self._commanded_at = 0.0
        self._seen_running = False
        self._window.clear()

    @property
    def moving(self) -> bool:
        return self._moving

    def status(self) -> MotionStatus:
        return MotionStatus(self._outcome, self._action_stamp, self._settled_at)

    def commanded(self, action_stamp: float | None, target_xyz, now: float) -> None:
        """A motion was sent to the robot (an action, or homing with no stamp/target)."""
        self._moving = True
        self._outcome = "moving"
        if action_stamp is not None:
            self._action_stamp = action_stamp
        self._target = None if target_xyz is None else np.asarray(target_xyz, float)[:3]
        self._commanded_at = now
        self._seen_running = False
        self._window.clear()

    def rejected(self, action_stamp: float | None) -> None:
        """An action was refused: the arm did not move, the planner may go on at once."""
        if action_stamp is not None:
            self._action_stamp = action_stamp
        if not self._moving:
            self._outcome = "rejected"

    def sample(
        self, robot_t: float, now: float, xyz, running: bool, gripper_busy: bool = False
    ) -> bool:
        """Feed one state sample; returns True when this sample completed a settle."""
        cfg = self.config
        xyz = np.asarray(xyz, float)[:3]
        self._window.append((robot_t, xyz))
        while self._window and robot_t - self._window[0][0] > cfg.window_s:
            self._window.popleft()
        if not self._moving:
            return False
        if running:
            self._seen_running = True
            return False
        ended = (
            self._seen_running
            or (
                self._target is not None
                and float(np.linalg.norm(xyz - self._target)) <= cfg.target_tolerance_m
            )
            or now - self._commanded_at > cfg.start_grace_s
        )
        if not ended or gripper_busy or not self._still(robot_t):
            return False
        self._moving = False
        self._outcome = "settled"
        self._settled_at = now
        return True

    def _still(self, robot_t: float) -> bool:
        if len(self._window) < 2 or robot_t - self._window[0][0] < 0.8 * self.config.window_s:
            return False  # not yet a full window of samples
        points = np.array([p for _, p in self._window])
        return float(np.ptp(points, axis=0).max()) <= self.config.tolerance_m


class RunawayMonitor:
    """Measured end-effector speed over a short window, on the robot's own clock.

    libfranka stamps every state with the robot's time (franky-sim: simulated time). Host read
    times are not the arm's: a read thread delayed by the machine makes two samples look closer
    in time than they were (a false alarm), and a simulator running slower than real time makes
    a real jump look slow (a missed one). The speed is taken between the newest sample and the
    newest one at least `window_s` older: over a single 1 kHz tick, a millimetre of controller
    jitter would read as 1 m/s, while a runaway (metres per second) still moves centimetres
    within the window.
    """

    def __init__(self, max_speed_m_s: float, window_s: float = 0.02) -> None:
        require(max_speed_m_s > 0, f"max measured speed must be > 0, got {max_speed_m_s}")
        require(window_s > 0, f"speed window must be > 0 s, got {window_s}")
        self.max_speed_m_s = max_speed_m_s
        self.window_s = window_s
        self.reset()

    def reset(self) -> None:
        self._samples: collections.deque = collections.deque()
        self.peak_m_s = 0.0

    def update(self, xyz, robot_t: float) -> str:
        """Feed a sample; returns why the arm is not following its commands ("" when fine)."""
        if not math.isfinite(robot_t):
            return ""
        samples = self._samples
        if samples and robot_t <= samples[-1][0]:
            if robot_t < samples[-1][0]:  # a new connection restarted the robot clock
                samples.clear()
            else:  # the same sample again
                return ""
        samples.append((robot_t, np.asarray(xyz, float)[:3]))
        while len(samples) > 2 and robot_t - samples[1][0] >= self.window_s:
            samples.popleft()  # keep the newest sample at least window_s old
        t0, xyz0 = samples[0]
        if robot_t - t0 < self.window_s:
            return ""
        speed = measured_speed(xyz0, t0, samples[-1][1], robot_t)
        self.peak_m_s = max(self.peak_m_s, speed)
        return runaway_reason(xyz0, t0, samples[-1][1], robot_t, self.max_speed_m_s)
