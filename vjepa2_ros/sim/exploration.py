"""Scripted exploration for data collection: DROID-like random motion plus scripted grasps.

At 4 Hz the policy sends a 7-D action in the model's conventions (dx dy dz droll dpitch dyaw
dgripper): random translations of up to +-5 cm per axis that keep the end effector inside a
workspace box, gripper toggles now and then, and from time to time a scripted pick-and-place
of an object (above it, descend, close, lift, carry it 10-15 cm, lower it, release, retreat),
so that grasps, held objects and placements appear in the data, as the pick-and-place sub-goals
(above, grasped, at the target) show them. It is closed-loop on the measured state, so a
blocked or clipped motion does not derail a grasp.
Rotations stay 0: the planner plans position and gripper only (reference CEM).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vjepa2_ros.config import require

CLOSE, OPEN = 1.0, -1.0  # gripper deltas that drive the closedness target to 1 (closed) or 0


@dataclass(frozen=True)
class ExplorationConfig:
    rate_hz: float = 4.0  # DROID's and the model's frame rate
    max_delta_m: float = 0.05  # per-axis translation bound of one action
    workspace_min: tuple[float, float, float] = (0.30, -0.25, 0.05)  # metres, base frame
    workspace_max: tuple[float, float, float] = (0.70, 0.25, 0.45)
    gripper_toggle_prob: float = 0.1  # per random step
    # Per random step, when an object position is known: a pick-and-place takes ~20 of an
    # episode's 40 steps, so it should start early enough to finish.
    grasp_prob: float = 0.15
    approach_height_m: float = 0.12  # above the object before descending
    grasp_height_m: float = 0.02  # end-effector height above the object's origin at the grasp
    lift_m: float = 0.08  # carried this high above the grasp (clears the cup over the table)
    place_min_m: float = 0.10  # the object is put down this far from where it stood (as the
    place_max_m: float = 0.15  # pick-place evaluation's targets, config/sim_eval.yaml)
    waypoint_tolerance_m: float = 0.01
    phase_timeout_steps: int = 12  # give up a phase that does not converge (blocked motion)
    hold_steps: int = 2  # steps with zero motion while the gripper closes or opens

    def __post_init__(self) -> None:
        require(self.rate_hz > 0, "exploration rate_hz must be > 0")
        require(0 < self.max_delta_m <= 0.1, "exploration max_delta_m must be in (0, 0.1] m")
        require(
            all(lo < hi for lo, hi in zip(self.workspace_min, self.workspace_max)),
            "exploration workspace_min must be below workspace_max on every axis",
        )
        for name in ("gripper_toggle_prob", "grasp_prob"):
            require(0.0 <= getattr(self, name) <= 1.0, f"exploration {name} must be in [0, 1]")
        require(self.phase_timeout_steps >= 1 and self.hold_steps >= 1, "timeouts must be >= 1")
        require(
            0 < self.place_min_m <= self.place_max_m,
            "exploration place_min_m must be > 0 and <= place_max_m",
        )


def _up(height: float) -> np.ndarray:
    return np.array([0.0, 0.0, height])


class ExplorationPolicy:
    """`act(state, object_pos)` -> action [7]; seeded, deterministic for a seed and inputs."""

    def __init__(self, config: ExplorationConfig | None = None, seed: int = 0) -> None:
        self.config = config or ExplorationConfig()
        self.reset(seed)

    def reset(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self._plan: list[tuple[str, np.ndarray | None, float]] = []  # (phase, target xyz, dgripper)
        self._phase_steps = 0
        self.grasps_started = 0
        self.place_target: np.ndarray | None = None  # where the last pick-and-place puts it

    @property
    def phase(self) -> str:
        return self._plan[0][0] if self._plan else "explore"

    def start_grasp(self, object_pos: np.ndarray) -> None:
        """Queue the scripted pick-and-place of an object at `object_pos` (xyz, base frame)."""
        c = self.config
        obj = np.asarray(object_pos, dtype=np.float64)[:3]
        target = self._place_target(obj)
        grasp = self._inside(obj + _up(c.grasp_height_m))
        put = self._inside(target + _up(c.grasp_height_m))
        self._plan = [("approach", self._inside(obj + _up(c.approach_height_m)), OPEN)]
        self._plan += [("descend", grasp, 0.0)]
        self._plan += [("close", None, CLOSE)] * c.hold_steps
        self._plan += [("lift", self._inside(grasp + _up(c.lift_m)), 0.0)]
        self._plan += [("carry", self._inside(put + _up(c.lift_m)), 0.0), ("lower", put, 0.0)]
        self._plan += [("release", None, OPEN)] * c.hold_steps
        self._plan += [("retreat", self._inside(put + _up(c.approach_height_m)), 0.0)]
        self._phase_steps = 0
        self.grasps_started += 1
        self.place_target = target

    def _place_target(self, obj: np.ndarray) -> np.ndarray:
        """A spot 10-15 cm from `obj` whose grasp pose lies in the workspace (else `obj`)."""
        c = self.config
        for _ in range(20):
            angle = self.rng.uniform(-np.pi, np.pi)
            r = self.rng.uniform(c.place_min_m, c.place_max_m)
            target = obj + r * np.array([np.cos(angle), np.sin(angle), 0.0])
            grasp = target + _up(c.grasp_height_m)
            if np.array_equal(self._inside(grasp), grasp):
                return target
        return obj.copy()

    def act(self, state: np.ndarray, object_pos: np.ndarray | None = None) -> np.ndarray:
        """The next action for the measured state [x y z roll pitch yaw closedness]."""
        state = np.asarray(state, dtype=np.float64)
        if not self._plan and object_pos is not None and self.rng.random() < self.config.grasp_prob:
            self.start_grasp(object_pos)
        if self._plan:
            return self._scripted(state)
        return self._random(state)

    def _inside(self, xyz: np.ndarray) -> np.ndarray:
        return np.clip(xyz, self.config.workspace_min, self.config.workspace_max)

    def _toward(self, state: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Per-axis bounded step toward `target`, never leaving the workspace."""
        c = self.config
        step = np.clip(target - state[:3], -c.max_delta_m, c.max_delta_m)
        return self._inside(state[:3] + step) - state[:3]

    def _random(self, state: np.ndarray) -> np.ndarray:
        c = self.config
        target = state[:3] + self.rng.uniform(-c.max_delta_m, c.max_delta_m, 3)
        action = np.zeros(7)
        action[:3] = self._inside(target) - state[:3]
        action[:3] = np.clip(action[:3], -c.max_delta_m, c.max_delta_m)
        if self.rng.random() < c.gripper_toggle_prob:
            action[6] = OPEN if state[6] >= 0.5 else CLOSE
        return action

    def _scripted(self, state: np.ndarray) -> np.ndarray:
        _, target, grip = self._plan[0]
        action = np.zeros(7)
        action[6] = grip
        self._phase_steps += 1
        if target is None:  # a hold step: gripper only
            self._advance()
            return action
        action[:3] = self._toward(state, target)
        reached = np.linalg.norm(target - state[:3]) <= self.config.waypoint_tolerance_m
        if reached or self._phase_steps >= self.config.phase_timeout_steps:
            self._advance()
            if reached:  # already there: do the next phase's step now
                return self._scripted(state) if self._plan else action
        return action

    def _advance(self) -> None:
        self._plan.pop(0)
        self._phase_steps = 0
