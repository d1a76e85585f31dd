"""Gripper command from the action's gripper value: thresholds with hysteresis (pure).

Semantics: the action carries a closedness delta (VJEPA2_AC.md: 0 open, 1 closed). The bridge
adds it to the measured closedness and clips to [0, 1]: that is the target closedness. A target
above `close_threshold` closes the gripper (a grasp), below `open_threshold` opens it; in between
the last command stands (hysteresis), so a hovering value never makes the gripper chatter. A
command is only issued when it differs from the last one sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vjepa2_ros.config import require, require_in

GripperCommand = Literal["open", "close"]


@dataclass
class GripperConfig:
    """Gripper settings (config/robot.yaml `gripper.*`)."""

    enabled: bool = True
    close_threshold: float = 0.6  # target closedness above this: close
    open_threshold: float = 0.4  # below this: open
    speed_m_s: float = 0.05
    grasp_force_n: float = 20.0
    max_width_m: float = 0.08  # width at closedness 0 (Franka Hand)

    def __post_init__(self) -> None:
        require(
            0.0 <= self.open_threshold < self.close_threshold <= 1.0,
            f"gripper.open_threshold ({self.open_threshold}) must be below close_threshold "
            f"({self.close_threshold}), both in [0, 1] (closedness)",
        )
        require_in("gripper.speed_m_s", self.speed_m_s, 0.2, "m/s")
        require_in("gripper.grasp_force_n", self.grasp_force_n, 140.0, "N (Franka Hand)")
        require_in("gripper.max_width_m", self.max_width_m, 0.2, "m")


def closedness_from_width(width_m: float, max_width_m: float) -> float:
    """Franka Hand width (m) -> closedness in [0, 1] (0 fully open)."""
    return float(min(1.0, max(0.0, 1.0 - width_m / max_width_m)))


class GripperHysteresis:
    """Turns target closedness values into open/close commands, each issued once."""

    def __init__(self, config: GripperConfig) -> None:
        self.config = config
        self.last: GripperCommand | None = None

    def decide(self, target_closedness: float) -> GripperCommand | None:
        """The command to send now, or None (in the dead band, or already commanded)."""
        if target_closedness > self.config.close_threshold:
            wanted: GripperCommand | None = "close"
        elif target_closedness < self.config.open_threshold:
            wanted = "open"
        else:
            wanted = None
        if wanted is None or wanted == self.last:
            return None
        self.last = wanted
        return wanted

    def reset(self) -> None:
        """Forget the last command (after a stop, reconnect or home)."""
        self.last = None
