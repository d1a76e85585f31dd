"""An ordered list of image sub-goals and the rule that advances through it.

Pure logic behind the goal_server node: goals are added (camera snapshot, image topic, folder,
RViz menu), one is active, and the planner's cycles decide when to move on. A sub-goal is
reached when the model's calibrated arrival rule (vjepa2_ros/planning/arrival.py, evaluated by
the planner) holds for K consecutive cycles, each planned while the arm was healthy (not in
error, stopped, disconnected or disarmed), and only once the arm has actually moved since the
sub-goal became active; otherwise the per-sub-goal cycle budget runs out (given up, reported as
such). Cycles are attributed to a goal by its id, so a cycle planned against the previous goal's
latent never counts for the new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from vjepa2_ros.config import require

Image = TypeVar("Image")


MAX_STABLE_CYCLES = 100  # the most arrival cycles a policy may ask for (in effect: never)


@dataclass
class SubgoalPolicy:
    """When to leave a sub-goal."""

    stable_cycles: int = 2  # consecutive "arrived" cycles that count as reached
    max_cycles: int = 30  # per-sub-goal cycle budget; 0 = unlimited

    def __post_init__(self) -> None:
        require(
            1 <= self.stable_cycles <= MAX_STABLE_CYCLES,
            f"stable_cycles must be in 1..{MAX_STABLE_CYCLES}",
        )
        require(0 <= self.max_cycles <= 10_000, "max_cycles must be in 0..10000 (0 = unlimited)")


@dataclass
class Subgoal(Generic[Image]):
    goal_id: int  # unique for the server's lifetime; planners echo it back with their energy
    image: Image
    source: str  # "capture", "topic", "folder:<name>", ...


@dataclass
class SubgoalOutcome:
    index: int
    goal_id: int
    reached: bool
    cycles: int
    last_energy: float | None
    truth_error_m: float | None = None  # sim: end effector (or object) to its target, when known


@dataclass
class SubgoalSequence(Generic[Image]):
    """Ordered sub-goals with an active index (-1 when none is active or all are done)."""

    policy: SubgoalPolicy = field(default_factory=SubgoalPolicy)
    goals: list[Subgoal[Image]] = field(default_factory=list)
    index: int = -1
    outcomes: list[SubgoalOutcome] = field(default_factory=list)
    _next_id: int = 0
    _cycles: int = 0
    _below: int = 0
    _moved: bool = False  # the arm executed a motion since this sub-goal became active
    _last_energy: float | None = None
    finished: bool = False

    @property
    def active(self) -> Subgoal[Image] | None:
        return self.goals[self.index] if 0 <= self.index < len(self.goals) else None

    def add(self, image: Image, source: str) -> Subgoal[Image]:
        """Append a sub-goal; the first one added (or one after all were done) becomes active."""
        goal = Subgoal(self._next_id, image, source)
        self._next_id += 1
        self.goals.append(goal)
        if self.active is None:
            self._activate(len(self.goals) - 1)
        return goal

    def clear(self) -> None:
        self.goals.clear()
        self.outcomes.clear()
        self.finished = False
        self._activate(-1)

    def next(self) -> bool:
        """Skip to the next sub-goal; False when there is none (the sequence finishes)."""
        return self._advance(reached=False)

    def previous(self) -> bool:
        if self.index <= 0:
            return False
        self._activate(self.index - 1)
        return True

    def restart(self) -> bool:
        """Back to the first sub-goal (RViz 'Start' after a finished run)."""
        if not self.goals:
            return False
        self.outcomes.clear()
        self.finished = False
        self._activate(0)
        return True

    def note_motion(self) -> None:
        """The arm executed and settled a motion while the active sub-goal was active."""
        if self.active is not None:
            self._moved = True

    def record_cycle(
        self, goal_id: int, energy: float, arrived: bool, arm_ok: bool = True
    ) -> str | None:
        """Feed one planning cycle; returns "reached", "budget" or None (stay).

        `arrived`: the planner's calibrated arrival rule held for this cycle. `arm_ok`: the arm
        was healthy (armed or moving) when the cycle was planned. A cycle only counts towards
        "reached" when both hold and the arm has moved since the sub-goal became active.
        """
        goal = self.active
        if goal is None or goal.goal_id != goal_id:
            return None
        self._cycles += 1
        self._last_energy = energy
        counts = arrived and arm_ok and self._moved
        self._below = self._below + 1 if counts else 0
        if self._below >= self.policy.stable_cycles:
            self._advance(reached=True)
            return "reached"
        if self.policy.max_cycles and self._cycles >= self.policy.max_cycles:
            self._advance(reached=False)
            return "budget"
        return None

    def _advance(self, reached: bool) -> bool:
        goal = self.active
        if goal is None:
            return False
        self.outcomes.append(
            SubgoalOutcome(self.index, goal.goal_id, reached, self._cycles, self._last_energy)
        )
        if self.index + 1 < len(self.goals):
            self._activate(self.index + 1)
            return True
        self.finished = True
        self._activate(-1)
        return False

    def _activate(self, index: int) -> None:
        self.index = index
        self._cycles = 0
        self._below = 0
        self._moved = False
        self._last_energy = None
        if index >= 0:
            self.finished = False
