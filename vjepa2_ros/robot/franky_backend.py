"""`FrankaBackend`: the franky calls the bridge makes, behind a small honest API.

Every franky/libfranka exception becomes `RobotError` carrying libfranka's reason, so the node
can report it and stay up. Motions are asynchronous (franky runs the 1 kHz loop in its own
thread); a new Cartesian target takes over a running one seamlessly. Targets are absolute poses
computed by the safety filter from the measured pose plus the base-frame delta: franky's
`ReferenceType.Relative` composes in the end-effector frame and relative to the pose at motion
start, so an absolute target is the only way the workspace check is exactly what runs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from vjepa2_ros.robot.config import RobotConfig
from vjepa2_ros.robot.gripper import GripperCommand, closedness_from_width
from vjepa2_ros.robot.pose import matrix_to_pose, pose_to_matrix


class RobotError(RuntimeError):
    """The robot refused or aborted a command, or cannot be reached; the message says why."""


@dataclass(frozen=True)
class RobotSample:
    """One state read: model-convention ee state, joints, gripper width, raw 4x4 pose."""

    ee_state: np.ndarray  # [x y z roll pitch yaw gripper-closedness]
    joint_positions: np.ndarray  # [7] rad
    gripper_width: float  # m (nan without a gripper)
    ee_matrix: np.ndarray  # 4x4 base -> end effector


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
        self._lock = threading.Lock()  # serialises motion commands (stop is never blocked)

    @property
    def connected(self) -> bool:
        return self._robot is not None

    def connect(self) -> None:
        """Connect and apply dynamics, speed limits and collision behaviour from the config."""
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
            raise RobotError(
                f"cannot connect to the robot at {cfg.robot_ip}: {_reason(exc)}"
            ) from exc
        self._robot, self._gripper = robot, gripper

    def _require(self):
        if self._robot is None:
            raise RobotError(f"not connected to the robot at {self.config.robot_ip}")
        return self._robot

    def read_state(self) -> RobotSample:
        """The current state in the model's conventions."""
        robot = self._require()
        try:
            state = robot.state
            matrix = np.asarray(state.O_T_EE.matrix, dtype=np.float64)
            joints = np.asarray(state.q, dtype=np.float64).reshape(7)
            width = float(self._gripper.width) if self._gripper is not None else float("nan")
        except Exception as exc:
            raise RobotError(f"reading the robot state failed: {_reason(exc)}") from exc
        closedness = (
            closedness_from_width(width, self.config.gripper.max_width_m)
            if np.isfinite(width)
            else 0.0
        )
        ee_state = np.concatenate([matrix_to_pose(matrix), [closedness]])
        return RobotSample(ee_state, joints, width, matrix)

    def move_to(self, target_pose: np.ndarray) -> None:
        """Start an asynchronous Cartesian motion to the absolute [x y z roll pitch yaw] target."""
        franky = _franky()
        robot = self._require()
        motion = franky.CartesianMotion(
            franky.Affine(pose_to_matrix(np.asarray(target_pose)[:6])),
            franky.ReferenceType.Absolute,
        )
        with self._lock:
            try:
                robot.move(motion, asynchronous=True)
            except Exception as exc:
                raise RobotError(f"motion refused: {_reason(exc)}") from exc

    def poll(self) -> bool:
        """Whether a motion is running; raises RobotError if the last motion failed."""
        robot = self._require()
        try:
            robot.poll_motion()
            return bool(robot.is_in_control)
        except Exception as exc:
            if "preempted" in str(exc):  # our own stop(): not an error
                return False
            raise RobotError(f"motion aborted: {_reason(exc)}") from exc

    def stop(self) -> None:
        """Halt any running motion now (libfranka preempts the control loop)."""
        robot = self._require()
        try:
            robot.stop()
        except Exception as exc:
            raise RobotError(f"stop failed: {_reason(exc)}") from exc
        try:
            robot.join_motion(timeout=1.0)
        except Exception as exc:
            if "preempted" not in str(exc):
                raise RobotError(f"motion aborted: {_reason(exc)}") from exc

    def recover(self) -> None:
        """libfranka's automatic error recovery (clears reflexes after a collision)."""
        robot = self._require()
        try:
            ok = robot.recover_from_errors()
        except Exception as exc:
            raise RobotError(f"error recovery failed: {_reason(exc)}") from exc
        if not ok:
            raise RobotError("error recovery failed: the robot still reports errors")

    def home(self) -> None:
        """Stop, then move in joint space to `safety.home_joints`; blocks until there."""
        franky = _franky()
        robot = self._require()
        self.stop()  # franky cannot switch from a Cartesian to a joint motion mid-flight
        with self._lock:
            try:
                robot.move(
                    franky.JointMotion(list(self.config.safety.home_joints)), asynchronous=True
                )
                finished = robot.join_motion(timeout=self.config.home_timeout_s)
            except Exception as exc:
                raise RobotError(f"homing failed: {_reason(exc)}") from exc
        if not finished:
            raise RobotError(f"homing did not finish within {self.config.home_timeout_s} s")

    def gripper(self, command: GripperCommand) -> None:
        """Open, or close with a grasp, without waiting for the fingers."""
        if self._gripper is None:
            return
        cfg = self.config.gripper
        try:
            if command == "open":
                self._gripper_future = self._gripper.move_async(cfg.max_width_m, cfg.speed_m_s)
            else:
                # Width 0 with a wide outer tolerance: succeeds on whatever object is in the hand.
                self._gripper_future = self._gripper.grasp_async(
                    0.0, cfg.speed_m_s, cfg.grasp_force_n, 0.005, cfg.max_width_m
                )
        except Exception as exc:
            raise RobotError(f"gripper {command} failed: {_reason(exc)}") from exc

    def disconnect(self) -> None:
        """Stop motion and drop the connection (the node's shutdown)."""
        if self._robot is not None:
            try:
                self._robot.stop()
                self._robot.join_motion(timeout=1.0)
            except Exception:
                pass  # shutting down: the motion is gone either way
        self._robot = None
        self._gripper = None
