"""What a plan may do with the gripper: the reference cem()'s `axis` pin and `close_gripper`.

The reference planner samples the gripper delta like the arm's motion, and an image goal decides
it. Where the goal image hardly shows the hand (a grasp at 128 px changes ~0.2% of the pixels,
README "Evaluating in the sim"), the caller fixes it per sub-goal, as the reference notebook's
cem() allows: `close_gripper=k` sets the delta of every horizon step >= k to +1 (close), and an
`axis` entry pins a dimension to a value at every step. Modes:

- `free`  the reference default: the gripper delta is sampled and chosen by the energy.
- `hold`  delta 0 at every step: the hand keeps its state (axis {gripper: 0}).
- `close` delta +1 from step `from_step` on (close_gripper = from_step), sampled before it.
- `open`  delta -1 from step `from_step` on (the release counterpart).
- `close_in_place`, `open_in_place`: as close / open, with the arm's motion pinned to 0 at those
  steps (axis {x: 0, y: 0, z: 0}): the fingers shut where the hand is, as a scripted grasp does,
  instead of wherever the plan's motion takes them while they close.

In every other mode the motion is planned by the world model against the goal image. A mode
may also name the motion axes its plans move along, after a slash (`hold/z`: the gripper held,
x and y pinned to 0, z planned): a straight descent to a grasp whose hand is already above the
object, where one exterior camera confuses "down" with "towards the camera" (both move the hand
down the image; bench/step_precision.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vjepa2_ros.config import require

MODES = ("free", "hold", "close", "open", "close_in_place", "open_in_place")
GRIPPER = 6  # the gripper delta's index in an action [dx dy dz droll dpitch dyaw gripper]
_DELTA = {"hold": 0.0, "close": 1.0, "open": -1.0}
AXES = "xyz"  # the motion axes a schedule may leave planned (indices 0-2 of an action)


@dataclass(frozen=True)
class GripperSchedule:
    mode: str = "free"
    from_step: int = 0  # close/open: first horizon step with the fixed delta
    axes: str = AXES  # the motion axes planned; the others are pinned to 0 at every step

    def __post_init__(self) -> None:
        require(
            self.mode in MODES,
            f"gripper schedule {self.mode!r} is unknown: use one of {', '.join(MODES)} "
            "(close and open may name their first horizon step: close@1)",
        )
        require(self.from_step >= 0, f"gripper from_step must be >= 0, got {self.from_step}")
        require(
            0 < len(self.axes) == len(set(self.axes)) and set(self.axes) <= set(AXES),
            f"schedule axes {self.axes!r}: name the planned motion axes once each, from "
            f"{AXES!r} (hold/z plans z only; use an _in_place mode to pin all three)",
        )

    @classmethod
    def parse(cls, text: str) -> GripperSchedule:
        """'free', 'hold', 'close', 'open', ..., 'close@1' (fixed from horizon step 1), with
        an optional '/axes' naming the motion axes planned ('hold/z')."""
        text = str(text).strip()
        rest, slash, axes = text.partition("/")
        mode, _, step = rest.strip().partition("@")
        require(
            not step or step.isdigit(),
            f"gripper schedule {text!r}: the step after '@' must be a horizon step (0, 1, ...)",
        )
        return cls(mode, int(step) if step else 0, axes.strip() if slash else AXES)

    @classmethod
    def parse_list(cls, text: str) -> list[GripperSchedule]:
        """Comma-separated schedules, one per sub-goal: 'hold,hold,close,hold' ('' = none)."""
        return [cls.parse(part) for part in str(text).split(",") if part.strip()]

    def __str__(self) -> str:
        text = f"{self.mode}@{self.from_step}" if self.from_step else self.mode
        return text if self.axes == AXES else f"{text}/{self.axes}"

    def fixed(self, horizon: int, device=None) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(mask [H, 7] bool, values [H, 7] float32): the action entries this schedule fixes,
        or None when it fixes none."""
        mask = torch.zeros(horizon, 7, dtype=torch.bool)
        values = torch.zeros(horizon, 7, dtype=torch.float32)
        for i, axis in enumerate(AXES):
            mask[:, i] = axis not in self.axes  # pinned to 0 at every step
        first = 0 if self.mode == "hold" else self.from_step
        if self.mode != "free" and first < horizon:
            steps = torch.arange(horizon) >= first
            mask[:, GRIPPER] = steps
            values[:, GRIPPER] = _DELTA[self.mode.removesuffix("_in_place")]
            if self.mode.endswith("_in_place"):
                mask[:, :3] |= steps[:, None]  # xyz pinned to 0 where the hand closes or opens
        if not mask.any():
            return None
        return mask.to(device), values.to(device)
