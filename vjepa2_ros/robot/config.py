"""`RobotConfig`: everything the Franka bridge reads from config/robot.yaml, validated."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vjepa2_ros.config import require
from vjepa2_ros.interfaces import BASE_FRAME
from vjepa2_ros.robot.gripper import GripperConfig
from vjepa2_ros.robot.motion import SettleConfig
from vjepa2_ros.robot.safety import SafetyConfig


@dataclass
class RobotConfig:
    """Connection, dynamics, collision behaviour, state publishing, safety and gripper."""

    robot_ip: str = "127.0.0.2"  # FR3/Panda FCI address, or the franky-sim host with use_sim
    use_sim: bool = True  # franky-sim: no realtime kernel needed
    # Arm on the first connection (the sim). A real arm starts disarmed: actions are refused
    # until /franka/arm. Stops and errors always disarm; only /franka/arm arms again.
    auto_arm: bool = False
    relative_dynamics_factor: float = 0.2  # scales franky's velocity/acceleration/jerk limits
    # Collision behaviour (libfranka set_collision_behavior): contact beyond these stops the arm.
    torque_threshold_nm: tuple[float, float, float, float, float, float, float] = (
        20.0,
        20.0,
        18.0,
        18.0,
        16.0,
        14.0,
        12.0,
    )
    force_threshold_n: tuple[float, float, float, float, float, float] = (
        20.0,
        20.0,
        20.0,
        25.0,
        25.0,
        25.0,
    )
    state_rate_hz: float = 100.0  # /franka/ee_state, /franka/ee_pose, /joint_states
    gripper_rate_hz: float = 20.0  # finger width reads (each read waits for a state packet)
    diagnostics_rate_hz: float = 2.0
    reconnect_period_s: float = 2.0  # retry interval while the robot is unreachable
    connect_timeout_s: float = 5.0  # a connect unanswered this long is reported (and kept pending)
    # At start-up the robot (or the simulator, launched beside the bridge) may not answer yet:
    # failed connects in this window are one "waiting" line, not errors.
    connect_quiet_s: float = 30.0
    state_error_log_period_s: float = 2.0  # failed state reads while idle: one log line per period
    rejection_log_period_s: float = (
        2.0  # repeated rejected actions: one log line per kind and period
    )
    state_reconnect_after_s: float = 3.0  # no good state read for this long while idle: reconnect
    home_timeout_s: float = 15.0
    shutdown_timeout_s: float = 5.0  # destroy_node waits this long for callbacks and franky calls
    base_frame: str = BASE_FRAME  # franka_description's root link (interfaces.BASE_FRAME)
    joint_prefix: str = "fr3"  # joint names <prefix>_joint1..7, <prefix>_finger_joint1..2
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    gripper: GripperConfig = field(default_factory=GripperConfig)
    settle: SettleConfig = field(default_factory=SettleConfig)

    def __post_init__(self) -> None:
        require(bool(self.robot_ip.strip()), "robot_ip is empty: set the robot's FCI address")
        require(
            0.0 < self.relative_dynamics_factor <= 1.0,
            f"relative_dynamics_factor must be in (0, 1], got {self.relative_dynamics_factor}",
        )
        require(
            all(np.isfinite(t) and t > 0 for t in self.torque_threshold_nm),
            f"torque_threshold_nm must be 7 positive values (Nm), got {self.torque_threshold_nm}",
        )
        require(
            all(np.isfinite(f) and f > 0 for f in self.force_threshold_n),
            f"force_threshold_n must be 6 positive values (N), got {self.force_threshold_n}",
        )
        require(
            50.0 <= self.state_rate_hz <= 1000.0,
            f"state_rate_hz must be in [50, 1000] (the planner needs fresh state), got "
            f"{self.state_rate_hz}",
        )
        for name, upper in (
            ("diagnostics_rate_hz", 100.0),
            ("gripper_rate_hz", 100.0),
            ("reconnect_period_s", 60.0),
            ("connect_timeout_s", 60.0),
            ("connect_quiet_s", 600.0),
            ("state_error_log_period_s", 600.0),
            ("rejection_log_period_s", 600.0),
            ("state_reconnect_after_s", 60.0),
            ("home_timeout_s", 120.0),
            ("shutdown_timeout_s", 60.0),
        ):
            value = getattr(self, name)
            require(0 < value <= upper, f"{name} must be > 0 and <= {upper}, got {value}")
        require(
            all(t <= 100.0 for t in self.torque_threshold_nm)
            and all(f <= 200.0 for f in self.force_threshold_n),
            "torque_threshold_nm (<= 100 Nm) and force_threshold_n (<= 200 N) above the Franka's "
            "useful range: check the units",
        )

    @property
    def joint_names(self) -> list[str]:
        return [f"{self.joint_prefix}_joint{i}" for i in range(1, 8)]

    @property
    def finger_names(self) -> list[str]:
        return [f"{self.joint_prefix}_finger_joint{i}" for i in (1, 2)]
