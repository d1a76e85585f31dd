"""Gripper command from the action's gripper value: a dead band with hysteresis (pure).

Semantics: the action carries a closedness delta (VJEPA2_AC.md: 0 open, 1 closed; the planner
returns 0 or |delta| >= 0.25). The delta is the intent: at least `delta_threshold` closes the
gripper (a grasp), at most -`delta_threshold` opens it, in between the last command stands, so
a hovering value never makes the gripper chatter. Not the measured closedness plus the delta: a
Franka Hand holding a 6 cm cup reads closedness 0.25, so every "keep holding" action (delta 0)
would have opened the hand and dropped the cup. A command is only issued when it differs from
the last one sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from vjepa2_ros.config import require, require_in

GripperCommand = Literal["open", "close"]


@dataclass
class GripperConfig:
    """Gripper settings (config/robot.yaml `gripper.*`)."""

    enabled: bool = True
    delta_threshold: float = 0.25  # a closedness delta >= this closes, <= -this opens
    speed_m_s: float = 0.05
    grasp_force_n: float = 20.0
    max_width_m: float = 0.08  # width at closedness 0 (Franka Hand)

    def __post_init__(self) -> None:
        require(
            0.0 < self.delta_threshold < 1.0,
            f"gripper.delta_threshold must be in (0, 1) (a closedness delta), "
            f"got {self.delta_threshold}",
        )
        require_in("gripper.speed_m_s", self.speed_m_s, 0.2, "m/s")
        require_in("gripper.grasp_force_n", self.grasp_force_n, 140.0, "N (Franka Hand)")
        require_in("gripper.max_width_m", self.max_width_m, 0.2, "m")


def closedness_from_width(width_m: float, max_width_m: float) -> float:
    """Franka Hand width (m) -> closedness in [0, 1] (0 fully open; an unknown width stays nan)."""
    return float(np.clip(1.0 - width_m / max_width_m, 0.0, 1.0))


class GripperHysteresis:
    """Turns actions' closedness deltas into open/close commands, each issued once."""

    def __init__(self, config: GripperConfig) -> None:
        self.config = config
        self.last: GripperCommand | None = None

    def decide(self, delta: float) -> GripperCommand | None:
        """The command to send now, or None (in the dead band, or already commanded)."""
        if delta >= self.config.delta_threshold:
            wanted: GripperCommand | None = "close"
        elif delta <= -self.config.delta_threshold:
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
