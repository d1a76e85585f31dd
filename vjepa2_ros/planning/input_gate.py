"""Whether a planning cycle may run on the inputs it has, and if not, why.

A receding-horizon planner must never act on a frozen camera: each cycle needs a latent newer than
the one the previous cycle used and younger than a limit, a fresh end-effector state, and an
active goal. The reason string is what the planner reports on diagnostics and the log.
"""

from __future__ import annotations

from dataclasses import dataclass

from vjepa2_ros.config import require


@dataclass
class InputLimits:
    max_latent_age_s: float = 1.5  # camera latent older than this (source image stamp) -> skip
    max_state_age_s: float = 0.5  # end-effector state older than this -> skip
    require_new_latent: bool = True  # never plan twice on the same camera frame

    def __post_init__(self) -> None:
        require(self.max_latent_age_s > 0, "max_latent_age_s must be > 0 seconds")
        require(self.max_state_age_s > 0, "max_state_age_s must be > 0 seconds")


@dataclass(frozen=True)
class CycleInputs:
    """Stamps (seconds, ROS clock) of the newest inputs; None where nothing arrived yet."""

    now: float
    latent_stamp: float | None
    state_stamp: float | None
    goal_present: bool
    enabled: bool
    last_used_latent_stamp: float | None = None


def skip_reason(inputs: CycleInputs, limits: InputLimits) -> str:
    """Empty string when the cycle may plan; otherwise a short, specific reason."""
    if not inputs.enabled:
        return "disabled"
    if not inputs.goal_present:
        return "no goal latent"
    if inputs.latent_stamp is None:
        return "no camera latent yet"
    if inputs.state_stamp is None:
        return "no end-effector state yet"
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
        return "no new camera latent since the last cycle"
    state_age = inputs.now - inputs.state_stamp
    if state_age > limits.max_state_age_s:
        return f"stale robot state: newest ee_state is {state_age:.2f} s old (> {limits.max_state_age_s} s)"
    return ""
