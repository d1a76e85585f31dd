"""ArmController: the one path from an action to the arm, and the latches around it (no ROS).

The Franka bridge, the synchronous sim rig and the data collectors all drive the arm through
this class, so they share one safety filter, one state machine and one error policy.

States (`ArmState`):
    disconnected  no robot connection (retried)           -> disarmed | armed (auto_arm, once)
    disarmed      connected, actions refused              -> armed (arm)
    armed         connected, actions accepted             -> moving (an action) | disarmed
    moving        an action's motion runs                 -> armed (it settled)
    stopped       /franka/stop latched                    -> disarmed (recover)
    error         a robot error or a guard fired, latched -> disarmed (recover)

Latches (stopped, error) survive disconnects, reconnects and robot restarts: only `recover()`
clears them, and it leaves the arm disarmed; only `arm()` arms it. A stop is accepted and latched
while the robot is unreachable. Every refused action is counted and logged at most once per kind
and `rejection_log_period_s`, so a flood of bad actions cannot starve the state stream.

One exception to "a failed motion latches": franky's trajectory generator (Ruckig) sometimes
cannot plan a target ("Motion planner failed with error code -111"). The robot then never
executes the motion and reports no error of its own; the action is refused (counted, logged)
and the arm stays armed, as if the safety filter had rejected it.
"""

from __future__ import annotations

import collections
import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vjepa2_ros.interfaces import BRIDGE_EVENT_PREFIX, BRIDGE_KEYS
from vjepa2_ros.robot.config import RobotConfig
from vjepa2_ros.robot.franky_backend import FrankaBackend, RobotError, RobotSample
from vjepa2_ros.robot.gripper import GripperHysteresis
from vjepa2_ros.robot.motion import MotionStatus, MotionTracker, RunawayMonitor
from vjepa2_ros.robot.safety import SafetyFilter
from vjepa2_ros.robot.state_monitor import StateMonitor

Log = Callable[[str, str], None]  # (level: "info" | "warning" | "error", message)


class ArmState(str, enum.Enum):
    DISCONNECTED = "disconnected"
    DISARMED = "disarmed"
    ARMED = "armed"
    MOVING = "moving"
    STOPPED = "stopped"
    ERROR = "error"


LATCHED = (ArmState.STOPPED, ArmState.ERROR)
MOTION_PLANNER_FAILURE = "Motion planner failed"  # franky: the target could not be planned
HINTS = {
    ArmState.DISCONNECTED: "waiting for the robot",
    ArmState.DISARMED: "call /franka/arm",
    ArmState.STOPPED: "call /franka/recover, then /franka/arm",
    ArmState.ERROR: "call /franka/recover, then /franka/arm",
}


@dataclass(frozen=True)
class Answer:
    """A service's honest answer."""

    success: bool
    message: str


@dataclass(frozen=True)
class ArmStatus:
    """A consistent snapshot for diagnostics and the arm-state topic."""

    state: ArmState
    connected: bool
    reason: str  # why latched / why disconnected ("" when fine)
    event: str  # newest safety event ("clipped: workspace", "rejected: nan", ...)
    actions_executed: int
    actions_rejected: int
    state_read_failures: int
    state_failing: int  # failed reads in a row
    state_age_s: float
    motion: MotionStatus
    peak_speed_m_s: float  # highest measured speed since the last connect (robot clock)
    event_counts: dict[str, int]  # every safety event so far, by kind

    @property
    def summary(self) -> str:
        """One line for humans (the diagnostics message)."""
        if self.state_failing and self.state in (ArmState.ARMED, ArmState.DISARMED):
            return f"state reads failing ({self.state_failing} in a row)"
        return f"{self.state.value}: {self.reason}" if self.reason else self.state.value

    def values(self) -> dict[str, str]:
        """The bridge's diagnostics key/values (interfaces.BRIDGE_KEYS, then event counts)."""
        age = self.state_age_s
        values = {
            "state": self.state.value,
            "connected": str(self.connected).lower(),
            "safety_event": self.event,
            "actions_executed": str(self.actions_executed),
            "actions_rejected": str(self.actions_rejected),
            "state_read_failures": str(self.state_read_failures),
            "state_age_ms": f"{age * 1e3:.1f}" if np.isfinite(age) else "inf",
            "peak_speed_m_s": f"{self.peak_speed_m_s:.3f}",
        }
        assert tuple(values) == BRIDGE_KEYS, "interfaces.BRIDGE_KEYS and ArmStatus disagree"
        for kind, count in sorted(self.event_counts.items()):
            values[BRIDGE_EVENT_PREFIX + kind] = str(count)
        return values


@dataclass(frozen=True)
class Outcome:
    """What happened to one action: executed (event "" or "clipped: ...") or rejected."""

    executed: bool
    event: str
    detail: str = ""


class RateLimitedLog:
    """At most one line per kind and period: the first at once, later ones as a count."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def due(self, kind: str, now: float) -> int | None:
        """None: stay quiet (counted). Otherwise log now; the value is how many were kept back."""
        last = self._last.get(kind)
        if last is not None and now - last < self.period_s:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return None
        self._last[kind] = now
        return self._suppressed.pop(kind, 0)


def _robot_clock(sample: RobotSample, now_m: float) -> float:
    """The robot's own clock (libfranka state time; sim time), the monotonic `now_m` where the
    robot reports none: speeds and the watchdog are timed on it, since a slowed simulation
    moves the arm no further per robot second."""
    return sample.robot_time if np.isfinite(sample.robot_time) else now_m


class ArmController:
    """One arm behind `backend` (franky, or a fake in unit tests). Thread-safe.

    `clock`: seconds on the clock actions are stamped with (ROS time in the bridge); settle
    stamps use it too, so a camera frame can be compared with them. `monotonic`: for ages and
    timeouts. `log(level, message)`: where events go.
    """

    def __init__(
        self,
        config: RobotConfig,
        backend=None,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        log: Log | None = None,
    ) -> None:
        self.config = config
        self.backend = backend if backend is not None else FrankaBackend(config)
        self.clock = clock
        self.monotonic = monotonic
        self._log = log or (lambda level, message: None)
        self.safety = SafetyFilter(config.safety)
        self.gripper_logic = GripperHysteresis(config.gripper)
        self.monitor = StateMonitor(config.state_error_log_period_s)
        self.runaway = RunawayMonitor(
            config.safety.max_measured_speed_m_s, config.safety.measured_speed_window_s
        )
        self.motion = MotionTracker(config.settle)
        self._rejection_log = RateLimitedLog(config.rejection_log_period_s)
        self._lock = threading.RLock()
        self._latch: tuple[ArmState, str] | None = None
        self._armed = False
        self._auto_arm_pending = config.auto_arm
        self._homing = False
        self._halts_asked = 0  # stop() and disarm halts so far: a homing compares before/after
        self._halt_reason = ""  # why the newest of them was asked for
        self._connected_at = monotonic()
        self._created_at = monotonic()
        self._connect_error = ""
        self._reported_error = ""  # the connect failure last logged as an error
        self._read_error = ""
        self._last_sample: RobotSample | None = None
        self._last_action_at: float | None = None  # robot clock of the newest executed action
        self._running = False  # franky runs a motion (newest poll)
        self.event = ""
        self.actions_executed = 0
        self.actions_rejected = 0
        self.event_counts: collections.Counter[str] = collections.Counter()

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> ArmState:
        with self._lock:
            if self._latch is not None:
                return self._latch[0]
            if not self.backend.connected:
                return ArmState.DISCONNECTED
            if not self._armed:
                return ArmState.DISARMED
            if self.motion.moving or self._homing:
                return ArmState.MOVING
            return ArmState.ARMED

    @property
    def last_sample(self) -> RobotSample | None:
        return self._last_sample

    def status(self) -> ArmStatus:
        with self._lock:
            state = self.state
            if self._latch is not None:
                reason = self._latch[1]
            elif state is ArmState.DISCONNECTED:
                reason = self._connect_error
            else:
                reason = ""
            return ArmStatus(
                state=state,
                connected=self.backend.connected,
                reason=reason,
                event=self.event,
                actions_executed=self.actions_executed,
                actions_rejected=self.actions_rejected,
                state_read_failures=self.monitor.failures,
                state_failing=self.monitor.consecutive,
                state_age_s=self.monitor.age(self.monotonic()),
                motion=self.motion.status(),
                peak_speed_m_s=self.runaway.peak_m_s,
                event_counts=dict(self.event_counts),
            )

    def _latch_as(self, kind: ArmState, reason: str, count_as: str) -> None:
        """Latch stopped/error (an error is never downgraded to a stop) and disarm."""
        with self._lock:
            self.event_counts[count_as] += 1
            if self._latch is None or (kind is ArmState.ERROR and self._latch[0] is not kind):
                self._latch = (kind, reason)
                self._log(
                    "error" if kind is ArmState.ERROR else "warning", f"{kind.value}: {reason}"
                )
            self._armed = False
            self.event = reason

    # ------------------------------------------------------------------ connection
    def connect(self) -> bool:
        """Try once to connect; True when connected. Never clears a latch."""
        if self.backend.connected:
            return True
        try:
            self.backend.connect()
        except RobotError as exc:
            quiet = self.monotonic() - self._created_at < self.config.connect_quiet_s
            if quiet and not self._connect_error:
                self._log("info", f"waiting for the robot at {self.config.robot_ip}")
            elif not quiet and str(exc) != self._reported_error:
                self._reported_error = str(exc)
                self._log(
                    "error",
                    f"{exc}; retrying every {self.config.reconnect_period_s} s (check robot_ip, "
                    "the FCI mode in Desk, or start the simulator)",
                )
            self._connect_error = str(exc)
            return False
        with self._lock:
            self._connect_error = self._reported_error = ""
            self.gripper_logic.reset()
            self.monitor.reset()
            self.runaway.reset()
            self.safety.release_orientation()
            self.motion.reset(self.clock())
            self._running = False
            self._last_action_at = None
            self._connected_at = self.monotonic()
            if self._latch is not None:
                self._log(
                    "info", f"reconnected; still {self._latch[0].value}: {HINTS[self._latch[0]]}"
                )
            elif self._auto_arm_pending:
                self._auto_arm_pending = False
                self._arm_now()
                self._log("info", "connected to the robot; armed (auto_arm)")
            else:
                self._log("info", "connected to the robot; disarmed: call /franka/arm")
        return True

    def disconnect(self, timeout_s: float | None = None) -> None:
        """Stop any motion and release the connection (latches stay)."""
        with self._lock:
            self._armed = False
        self.backend.disconnect(timeout_s or self.config.shutdown_timeout_s)

    def _drop_connection(self, reason: str) -> None:
        self._log(
            "error",
            f"no robot state for {self.config.state_reconnect_after_s} s ({reason}): reconnecting",
        )
        try:
            self.backend.disconnect(self.config.shutdown_timeout_s)
        except RobotError as err:
            self._log("error", str(err))
        with self._lock:
            self.monitor.reset()
            if self._armed:
                self._armed = False  # a lost connection disarms; only an operator arms again
                self._log("warning", "connection lost: disarmed")
            self._connect_error = f"reconnecting: {reason}"

    # ------------------------------------------------------------------ state stream
    def tick(self) -> RobotSample | None:
        """One state read: guards (runaway, watchdog, motion errors) and settle tracking.

        Called at `state_rate_hz` by the state loop. Returns the sample to publish, or None.
        """
        if not self.backend.connected:
            return None
        try:
            sample = self.backend.read_state()
        except RobotError as exc:
            self._on_read_failure(exc)
            return None
        now_m, now = self.monotonic(), self.clock()
        failed_before = self.monitor.succeeded(now_m)
        if failed_before:
            self._log("info", f"state reads recovered after {failed_before} failures")
        self._last_sample = sample
        robot_t = _robot_clock(sample, now_m)
        runaway = self.runaway.update(sample.ee_state[:3], robot_t)
        if runaway and self._latch is None:
            self._halt()
            self._latch_as(ArmState.ERROR, runaway, "runaway")
        try:
            running = self.backend.poll()
        except RobotError as exc:
            running = False
            if MOTION_PLANNER_FAILURE in str(exc):
                self._refuse_motion(str(exc))
            else:
                self._latch_as(ArmState.ERROR, str(exc), "robot error")
        with self._lock:
            self._running = running
            last = self._last_action_at
        timeout = self.config.safety.watchdog_timeout_s
        if running and not self._homing and last is not None and robot_t - last > timeout:
            self._halt()
            self.event = f"watchdog: no action for {timeout} s"
            self.event_counts["watchdog"] += 1
            self._log("warning", f"motion stopped: {self.event}")
        with self._lock:
            self.motion.sample(
                robot_t,
                now,
                sample.ee_state[:3],
                running or self._homing,
                self.backend.gripper_busy,
            )
        return sample

    def _refuse_motion(self, reason: str) -> None:
        """The robot never executed the newest motion (not a robot error): refuse, stay armed."""
        with self._lock:
            self.actions_rejected += 1
            self.event = "refused: motion planner"
            self.event_counts[self.event] += 1
        self._log("warning", f"{self.event}: {reason}; the arm holds its pose")

    def _on_read_failure(self, exc: RobotError) -> None:
        """Idle: count, log throttled, keep reading. Moving: stop and latch `error`."""
        now_m = self.monotonic()
        with self._lock:
            moving = self._running or self.motion.moving
        decision = self.monitor.failed(now_m, moving)
        self._read_error = str(exc)
        if decision.latch:
            self._halt()
            self._latch_as(
                ArmState.ERROR, f"state read failed during a motion: {exc}", "state lost"
            )
            with self._lock:
                self._running = False
                self.motion.reset(self.clock())
        elif (
            min(self.monitor.age(now_m), now_m - self._connected_at)
            > self.config.state_reconnect_after_s
        ):
            # libfranka does not recover from some network errors ("Net Exception" on every
            # read): a fresh connection does. A latch stays latched across it.
            self._drop_connection(str(exc))
        elif decision.log:
            more = f" (+{decision.suppressed} more)" if decision.suppressed else ""
            self._log(
                "warning",
                f"{exc}{more}; {self.monitor.failures} failed reads so far, still trying; actions "
                f"are rejected while the state is older than safety.max_state_age_s = "
                f"{self.config.safety.max_state_age_s} s",
            )

    def poll_gripper(self) -> None:
        """Finger width read and a kept gripper command issued once the previous one ended."""
        if not self.backend.connected:
            return
        try:
            self.backend.read_gripper()
            issued = self.backend.gripper_poll()
            if issued:
                self._log("info", f"gripper {issued} (waited for the previous command)")
        except RobotError as exc:  # the arm's samples keep the previous width
            self._log("warning", str(exc))

    # ------------------------------------------------------------------ actions
    def submit(self, action, stamp: float, parse_error: str = "") -> Outcome:
        """Check one action (stamped `stamp`, clock seconds) and execute it or refuse it.

        `parse_error`: the message could not be read as an action (no arm motion, one line).
        """
        with self._lock:
            state = self.state
            if state in (ArmState.ARMED, ArmState.MOVING) and self._homing:
                return self._reject(stamp, "rejected: homing", "the arm is homing")
            if state not in (ArmState.ARMED, ArmState.MOVING):
                return self._reject(
                    stamp, f"rejected: {state.value}", f"the arm is {state.value}: {HINTS[state]}"
                )
            if parse_error:
                return self._reject(stamp, "rejected: length", f"bad action message: {parse_error}")
            sample = self._last_sample
            if sample is None:
                return self._reject(stamp, "rejected: no state", "no robot state read yet")
            verdict = self.safety.check(
                action, stamp, self.clock(), sample.ee_state, self.monitor.age(self.monotonic())
            )
            if not verdict.ok:
                return self._reject(stamp, verdict.event, verdict.detail)
            try:
                self.backend.move_to(verdict.target)
                command = self.gripper_logic.decide(float(action[6]))
                if command is not None:
                    self.backend.gripper(command)
            except RobotError as exc:
                self.gripper_logic.reset()
                self._latch_as(ArmState.ERROR, str(exc), "robot error")
                self.motion.rejected(stamp)
                return Outcome(False, "rejected: robot error", str(exc))
            self.safety.commit(stamp, verdict.target)
            self.motion.commanded(stamp, verdict.target[:3], self.clock())
            self._last_action_at = _robot_clock(sample, self.monotonic())
            self.actions_executed += 1
            self.event = verdict.event
            if verdict.event:
                self.event_counts[verdict.event] += 1
        if verdict.event:
            self._log("warning", f"{verdict.event}: {verdict.detail}")
        return Outcome(True, verdict.event, verdict.detail)

    def _reject(self, stamp: float, event: str, detail: str) -> Outcome:
        self.actions_rejected += 1
        self.event = event
        self.event_counts[event] += 1
        self.motion.rejected(stamp if np.isfinite(stamp) else None)
        kept_back = self._rejection_log.due(event, self.monotonic())
        if kept_back is not None:
            more = f" (+{kept_back} more since the last report)" if kept_back else ""
            self._log("warning", f"{event}: {detail}; the arm was not moved{more}")
        return Outcome(False, event, detail)

    # ------------------------------------------------------------------ operator commands
    def _halt(self) -> bool:
        """Preempt any motion now; False when the robot did not confirm."""
        if not self.backend.connected:
            return False
        try:
            self.backend.stop()
        except RobotError as exc:
            self._log("error", f"stop failed: {exc}")
            return False
        with self._lock:
            self._running = False
            self._last_action_at = None
        return True

    def stop(self, reason: str = "stopped: /franka/stop") -> Answer:
        """Latch `stopped` (also while disconnected) and halt the arm."""
        self._ask_halt("stopped (/franka/stop)")  # first: a homing it preempts knows why
        self._halt()  # first, before any lock: nothing may delay the halt
        with self._lock:
            already = self._latch
            self._latch_as(ArmState.STOPPED, reason, "stop")
        halted = self._halt()  # again: an action may have started between the two
        latched = self.state.value
        if not self.backend.connected:
            return Answer(
                True, f"{latched} (latched while disconnected); {HINTS[ArmState.STOPPED]}"
            )
        if not halted:
            return Answer(
                False, f"{latched}, but the robot did not confirm the stop: check the arm"
            )
        prefix = f"{latched} (was already {already[0].value})" if already else "stopped"
        return Answer(True, f"{prefix}; actions are refused until /franka/recover and /franka/arm")

    def _ask_halt(self, reason: str) -> None:
        self._halt_reason = reason
        self._halts_asked += 1

    def recover(self) -> Answer:
        """Clear the latch after libfranka's error recovery; the arm stays disarmed."""
        if not self.backend.connected:
            return Answer(False, "not connected to the robot: recover once it is reachable")
        if self._homing:
            return Answer(False, "homing is still running: stop it first")
        try:
            self.backend.recover()
        except RobotError as exc:
            self._latch_as(ArmState.ERROR, str(exc), "robot error")
            return Answer(False, str(exc))
        with self._lock:
            self._latch = None
            self._armed = False
            self.event = ""
            self.gripper_logic.reset()
            self._last_action_at = None
            self.runaway.reset()
        self._log("info", "recovered; disarmed: call /franka/arm to accept actions")
        return Answer(True, "recovered; disarmed: call /franka/arm to accept actions")

    def arm(self, on: bool = True) -> Answer:
        """Accept actions (on) or refuse them (off; a running motion is stopped)."""
        with self._lock:
            if not on:
                was = self._armed
                self._armed = False
            else:
                state = self.state
                if state in LATCHED or state is ArmState.DISCONNECTED:
                    return Answer(False, f"cannot arm: the arm is {state.value}; {HINTS[state]}")
                self._auto_arm_pending = False
                self._arm_now()
        if not on:
            if was:
                self._ask_halt("disarmed (/franka/arm false)")
                self._halt()
            self._log("info", "disarmed: actions are refused")
            return Answer(True, "disarmed: actions are refused until /franka/arm")
        self._log("info", "armed: accepting actions")
        return Answer(True, "armed: accepting actions")

    def _arm_now(self) -> None:
        self._armed = True
        self.safety.release_orientation()
        sample = self._last_sample
        if sample is not None:
            self.safety.set_start_orientation(sample.ee_state[3:6])

    def home(self) -> Answer:
        """Joint motion to `safety.home_joints` (blocking). Needs an armed arm.

        Honest about interruptions: a stop or a guard during homing ends it as a failure.
        """
        with self._lock:
            state = self.state
            if state is not ArmState.ARMED:
                hint = (
                    "wait for the motion to settle"
                    if state is ArmState.MOVING
                    else HINTS.get(state, "")
                )
                return Answer(False, f"cannot home: the arm is {state.value}; {hint}")
            self._homing = True
            halts_before = self._halts_asked
            self.motion.commanded(None, None, self.clock())
        self._log("info", f"homing to {list(self.config.safety.home_joints)}")
        error = ""
        try:
            self.backend.home()
            self.backend.gripper("open")
        except RobotError as exc:
            error = str(exc)
        with self._lock:
            self._homing = False
            self.safety.release_orientation()
            self.gripper_logic.reset()
            self.gripper_logic.last = "open" if not error else None
            latch = self._latch
        if latch is not None:
            return Answer(False, f"homing interrupted: {latch[0].value} ({latch[1]})")
        if self._halts_asked != halts_before:  # preempted by a stop (still latching) or disarm
            return Answer(False, f"homing interrupted: {self._halt_reason}")
        if error:
            self._latch_as(ArmState.ERROR, error, "robot error")
            return Answer(False, error)
        return Answer(True, "at home")


class StateLoop:
    """Calls `controller.tick()` at `rate_hz` on an absolute schedule in its own thread.

    `on_sample(sample)` runs for each good read (publishing, in the bridge). A tick that comes
    late (another thread held the GIL, the machine is busy) is made up at once, so jitter does
    not lower the rate; behind by more than `MAX_BACKLOG` periods (a stall) it restarts the
    schedule instead of bursting through the backlog.
    """

    # Periods. On a loaded 2-core box (an action flood, the simulator, the flooder) single ticks
    # came up to ~50 ms late; a made-up tick is a fresh read (libfranka waits for the next 1 kHz
    # packet), so catching up costs a few ms and keeps the stream's rate.
    MAX_BACKLOG = 5

    def __init__(
        self, controller: ArmController, rate_hz: float, on_sample=None, log: Log | None = None
    ):
        self.controller = controller
        self.period = 1.0 / rate_hz
        self.on_sample = on_sample
        self._log = log or (lambda level, message: None)
        self._errors = RateLimitedLog(controller.config.state_error_log_period_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="arm-state", daemon=True)

    def start(self) -> StateLoop:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set():
            try:
                sample = self.controller.tick()
                if sample is not None and self.on_sample is not None:
                    self.on_sample(sample)
            except Exception as exc:  # never let the state stream die silently
                kept_back = self._errors.due(type(exc).__name__, time.monotonic())
                if kept_back is not None:
                    self._log("error", f"state loop: {exc!r} (+{kept_back} more)")
            next_t += self.period
            delay = next_t - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            elif delay < -self.MAX_BACKLOG * self.period:
                next_t = time.monotonic()
