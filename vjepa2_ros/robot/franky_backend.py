"""`FrankaBackend`: the franky calls the bridge makes, behind a small honest API.

Every franky/libfranka exception becomes `RobotError` carrying libfranka's reason, so the node
can report it and stay up. Motions are asynchronous (franky runs the 1 kHz loop in its own
thread); a new Cartesian target takes over a running one seamlessly. Targets are absolute poses
computed by the safety filter from the measured pose plus the base-frame delta: franky's
`ReferenceType.Relative` composes in the end-effector frame and relative to the pose at motion
start, so an absolute target is the only way the workspace check is exactly what runs.

Connection lifetime: libfranka (and franky-sim) serve one client at a time, and a franky `Robot`
or `Gripper` keeps its connection until the Python object is destroyed. A second connection
while the first object is still alive blocks forever inside libfranka. So the franky objects live
only in this class (never in locals that an exception traceback could keep), `disconnect` waits
for calls in flight, drops them and checks they are really gone, and `connect` runs in a worker
thread with a timeout, so a robot that never answers cannot freeze the caller.
"""

from __future__ import annotations

import ctypes
import gc
import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np

from vjepa2_ros.pose.arrays import matrix_to_pose, pose_to_matrix
from vjepa2_ros.robot.config import RobotConfig
from vjepa2_ros.robot.gripper import GripperCommand, closedness_from_width

STOP_JOIN_TIMEOUT_S = 1.0  # a preempted motion ends within one control cycle; this is slack
STOP_ANSWER_S = STOP_JOIN_TIMEOUT_S + 1.0  # a stop unanswered this long: the robot is gone
DISCONNECT_WAIT_S = 5.0  # longest franky call (a state read that times out) a disconnect waits for


def _keep_forever(obj) -> None:
    """Never destroy `obj`, not even when the interpreter exits.

    A franky gripper future's destructor joins its command's thread, and a grasp whose server
    died never ends: a module-level list of them is cleared at interpreter exit, which then
    blocks the process for good (a bridge that ignored SIGINT and SIGTERM until SIGKILL, its
    sim gone first). One reference nobody owns keeps it out of every collection.
    """
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


class RobotError(RuntimeError):
    """The robot refused or aborted a command, or cannot be reached; the message says why."""


@dataclass(frozen=True)
class RobotSample:
    """One state read: model-convention ee state, joints, gripper width, raw 4x4 pose."""

    ee_state: np.ndarray  # [x y z roll pitch yaw gripper-closedness]
    joint_positions: np.ndarray  # [7] rad
    gripper_width: float  # m (nan without a gripper)
    ee_matrix: np.ndarray  # 4x4 base -> end effector
    robot_time: float = float("nan")  # s, the robot's own clock (libfranka state time; sim time)


def _franky():
    try:
        import franky
    except ImportError as exc:  # pragma: no cover - franky is in the project venv
        raise RobotError(
            "franky is not installed: pip install franky-control (see README)"
        ) from exc
    return franky


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.removeprefix("libfranka: ")


class FrankaBackend:
    """One arm (and optional Franka Hand) over franky. Not a ROS object."""

    def __init__(self, config: RobotConfig) -> None:
        self.config = config
        self._robot = None
        self._gripper = None
        self._gripper_future = None
        self._gripper_width = float("nan")  # newest read_gripper() value (m)
        self._gripper_pending: GripperCommand | None = None  # waits for the running command
        self._lock = threading.Lock()  # serialises motion commands (stop is never blocked)
        self._calls = 0  # franky calls in flight (disconnect waits for them)
        self._idle = threading.Condition()
        self._connector: threading.Thread | None = None
        self._connected_pair: tuple | None = None  # (robot, gripper) from the connect thread
        self._connect_error: BaseException | None = None

    @property
    def connected(self) -> bool:
        return self._robot is not None

    @property
    def connect_pending(self) -> bool:
        """A connect attempt is still waiting for the robot's answer."""
        return self._connector is not None and self._connector.is_alive()

    def _open(self) -> None:
        """Runs in the connect thread: build and configure Robot and Gripper."""
        franky = _franky()
        cfg = self.config
        realtime = franky.RealtimeConfig.Ignore if cfg.use_sim else franky.RealtimeConfig.Enforce
        try:
            robot = franky.Robot(cfg.robot_ip, realtime_config=realtime)
            robot.relative_dynamics_factor = cfg.relative_dynamics_factor
            # franky scales its limits by the relative dynamics factor: cap the product.
            factor = cfg.relative_dynamics_factor
            for limit, cap in (
                (robot.translation_velocity_limit, cfg.safety.max_speed_m_s),
                (robot.rotation_velocity_limit, cfg.safety.max_angular_speed_rad_s),
            ):
                limit.set(min(limit.max, cap / factor))
            robot.set_collision_behavior(list(cfg.torque_threshold_nm), list(cfg.force_threshold_n))
            gripper = franky.Gripper(cfg.robot_ip) if cfg.gripper.enabled else None
        except Exception as exc:
            self._connect_error = RobotError(_reason(exc))
            return
        self._connected_pair = (robot, gripper)

    def connect(self) -> None:
        """Connect and apply dynamics, speed limits and collision behaviour from the config.

        Waits at most `connect_timeout_s`; a connect still unanswered stays pending and the next
        call picks up its result (no second connection is opened meanwhile).
        """
        cfg = self.config
        if self._robot is not None:
            return
        if not self.connect_pending:
            self._connected_pair, self._connect_error = None, None
            self._connector = threading.Thread(
                target=self._open, name="franky-connect", daemon=True
            )
            self._connector.start()
        self._connector.join(cfg.connect_timeout_s)
        if self._connector.is_alive():
            raise RobotError(
                f"cannot connect to the robot at {cfg.robot_ip}: no answer within "
                f"{cfg.connect_timeout_s} s (is another client connected to it?)"
            )
        pair, error = self._connected_pair, self._connect_error
        self._connector, self._connected_pair, self._connect_error = None, None, None
        if pair is None:
            raise RobotError(f"cannot connect to the robot at {cfg.robot_ip}: {error}")
        self._robot, self._gripper = pair
        self._gripper_width = float("nan")
        if self._gripper is not None:
            self.read_gripper()

    def _use(self):
        """Count a franky call in flight; raises RobotError when not connected."""
        return _InFlight(self)

    def read_gripper(self) -> float:
        """Read the finger width (m, nan without a gripper); later samples carry it.

        Separate from `read_state`: each libfranka read waits for the next state packet, and
        the fingers move slowly, so the gripper is read at a lower rate than the arm.
        """
        with self._use():
            if self._gripper is None:
                return float("nan")
            try:
                self._gripper_width = float(self._gripper.width)
            except Exception as exc:
                raise RobotError(f"reading the gripper state failed: {_reason(exc)}") from exc
        return self._gripper_width

    def read_state(self) -> RobotSample:
        """The arm's current state in the model's conventions (gripper: newest read_gripper)."""
        with self._use():
            try:
                state = self._robot.state
                matrix = np.asarray(state.O_T_EE.matrix, dtype=np.float64)
                joints = np.asarray(state.q, dtype=np.float64).reshape(7)
                robot_time = float(state.time.to_sec())
            except Exception as exc:
                raise RobotError(f"reading the robot state failed: {_reason(exc)}") from exc
        width = self._gripper_width
        closedness = (
            closedness_from_width(width, self.config.gripper.max_width_m)
            if np.isfinite(width)
            else 0.0
        )
        ee_state = np.concatenate([matrix_to_pose(matrix), [closedness]])
        return RobotSample(ee_state, joints, width, matrix, robot_time)

    def move_to(self, target_pose: np.ndarray) -> None:
        """Start an asynchronous Cartesian motion to the absolute [x y z roll pitch yaw] target."""
        franky = _franky()
        motion = franky.CartesianMotion(
            franky.Affine(pose_to_matrix(np.asarray(target_pose)[:6])),
            franky.ReferenceType.Absolute,
        )
        with self._use(), self._lock:
            try:
                self._robot.move(motion, asynchronous=True)
            except Exception as exc:
                raise RobotError(f"motion refused: {_reason(exc)}") from exc

    def poll(self) -> bool:
        """Whether a motion is running; raises RobotError if the last motion failed."""
        with self._use():
            try:
                self._robot.poll_motion()
                return bool(self._robot.is_in_control)
            except Exception as exc:
                if "preempted" in str(exc):  # our own stop(): not an error
                    return False
                raise RobotError(f"motion aborted: {_reason(exc)}") from exc

    def stop(self) -> None:
        """Halt any running motion now (libfranka preempts the control loop)."""
        with self._use():
            try:
                self._robot.stop()
            except Exception as exc:
                raise RobotError(f"stop failed: {_reason(exc)}") from exc
            try:
                self._robot.join_motion(timeout=STOP_JOIN_TIMEOUT_S)
            except Exception as exc:
                if "preempted" not in str(exc):
                    raise RobotError(f"motion aborted: {_reason(exc)}") from exc

    def recover(self) -> None:
        """libfranka's automatic error recovery (clears reflexes after a collision)."""
        with self._use():
            try:
                ok = self._robot.recover_from_errors()
            except Exception as exc:
                raise RobotError(f"error recovery failed: {_reason(exc)}") from exc
        if not ok:
            raise RobotError("error recovery failed: the robot still reports errors")

    def home(self) -> None:
        """Move in joint space to `safety.home_joints` (stopping a running motion first).

        franky cannot switch from a Cartesian to a joint motion mid-flight, so a running motion
        is stopped; an idle arm is not (franky-sim answers a stop that crosses the previous
        motion's end by preempting the next motion: "Move command preempted").
        """
        franky = _franky()
        if self.poll():
            self.stop()
        motion = franky.JointMotion(list(self.config.safety.home_joints))
        with self._use(), self._lock:
            try:
                self._robot.move(motion, asynchronous=True)
                finished = self._robot.join_motion(timeout=self.config.home_timeout_s)
            except Exception as exc:
                raise RobotError(f"homing failed: {_reason(exc)}") from exc
        if not finished:
            raise RobotError(f"homing did not finish within {self.config.home_timeout_s} s")

    def gripper(self, command: GripperCommand) -> bool:
        """Open, or close with a grasp, without waiting for the fingers.

        franky waits for the previous gripper command inside the next one, so a new command is
        only issued once the previous finished; until then it is kept (the newest wins) and
        `gripper_poll` issues it. Returns whether it was issued now.
        """
        with self._use():
            if self._gripper is None:
                return True
            if self._gripper_future is not None and not self._gripper_future.wait(0):
                self._gripper_pending = command
                return False
            self._gripper_pending = None
            cfg = self.config.gripper
            try:
                if command == "open":
                    self._gripper_future = self._gripper.move_async(cfg.max_width_m, cfg.speed_m_s)
                else:
                    # Width 0 with a wide outer tolerance: succeeds on any object in the hand.
                    self._gripper_future = self._gripper.grasp_async(
                        0.0, cfg.speed_m_s, cfg.grasp_force_n, 0.005, cfg.max_width_m
                    )
            except Exception as exc:
                raise RobotError(f"gripper {command} failed: {_reason(exc)}") from exc
        return True

    @property
    def gripper_busy(self) -> bool:
        """A gripper command is still running (a newer one may be waiting behind it)."""
        future = self._gripper_future
        return future is not None and not future.wait(0)

    @property
    def gripper_active(self) -> bool:
        """A gripper command is running or waiting behind the running one."""
        return self._gripper_pending is not None or self.gripper_busy

    def gripper_poll(self) -> GripperCommand | None:
        """Issue the kept gripper command once the previous one finished; returns it if issued."""
        command = self._gripper_pending
        if command is None or self.gripper_busy:
            return None
        return command if self.gripper(command) else None

    def halt(self, timeout_s: float = STOP_ANSWER_S) -> bool:
        """Stop motion without ever blocking the caller for longer than `timeout_s`.

        For shutdown: libfranka's stop waits for the robot's answer, which a frozen or vanished
        server never sends. Returns whether the robot answered (also True when not connected).
        """
        robot = self._robot
        if robot is None:
            return True

        def stop() -> None:
            try:
                robot.stop()
                robot.join_motion(timeout=STOP_JOIN_TIMEOUT_S)
            except Exception:
                pass  # shutting down: a motion that raised is gone either way

        stopper = threading.Thread(target=stop, name="franky-stop", daemon=True)
        stopper.start()
        stopper.join(timeout_s)
        return not stopper.is_alive()

    def disconnect(self, timeout_s: float = DISCONNECT_WAIT_S) -> None:
        """Stop motion, wait for franky calls in flight, drop the connection for good.

        Raises RobotError if the robot did not answer the stop (its connection is abandoned,
        never closed), or if a franky object is still referenced afterwards: its connection
        stays open and the next connect to the same robot would wait forever.
        """
        if self._robot is None:
            return
        if not self.halt():
            # Its objects stay referenced by the stop still waiting: never destroy them (their
            # destructors would wait for the same answer), and say so.
            _keep_forever((self._robot, self._gripper, self._gripper_future))
            with self._idle:
                self._robot, self._gripper, self._gripper_future = None, None, None
            raise RobotError(
                f"the robot at {self.config.robot_ip} did not answer the stop within "
                f"{STOP_ANSWER_S} s: its connection was abandoned; check the arm before "
                "reconnecting"
            )
        deadline = time.monotonic() + timeout_s
        future = self._gripper_future
        while future is not None and not future.wait(0) and time.monotonic() < deadline:
            time.sleep(0.01)
        if future is not None and not future.wait(0):
            # Destroying a running franky gripper future blocks until the command ends (maybe
            # never, with the GIL held): keep it and its Gripper alive for good instead.
            _keep_forever((self._gripper, future))
            self._gripper, self._gripper_future = None, None
        del future
        with self._idle:  # no new call can start while we hold it (see _InFlight)
            while self._calls and time.monotonic() < deadline:
                self._idle.wait(deadline - time.monotonic())
            busy = self._calls
            refs = [weakref.ref(o) for o in (self._robot, self._gripper) if o is not None]
            self._robot = None
            self._gripper = None
            self._gripper_future = None
        gc.collect()  # franky objects caught in reference cycles close now, not later
        alive = [r() for r in refs if r() is not None]
        if alive:
            names = ", ".join(type(o).__name__ for o in alive)
            del alive
            raise RobotError(
                f"the connection to {self.config.robot_ip} is still held ({names} referenced, "
                f"{busy} franky calls in flight): a new connection would block"
            )


class _InFlight:
    """Context manager for one franky call: counted, refused when not connected."""

    def __init__(self, backend: FrankaBackend) -> None:
        self._backend = backend

    def __enter__(self) -> None:
        b = self._backend
        with b._idle:
            if b._robot is None:
                raise RobotError(f"not connected to the robot at {b.config.robot_ip}")
            b._calls += 1

    def __exit__(self, *exc) -> None:
        b = self._backend
        with b._idle:
            b._calls -= 1
            b._idle.notify_all()
