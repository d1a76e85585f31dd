"""Has the arm arrived at the goal? A rule calibrated per model from scored episodes.

The planner's energy alone does not say "arrived": with the committed small model, only 9 of 19
held-out arrivals (<= 3 cm) had an energy below 0.09, and 4 cycles fell below it while still
more than 3 cm away. Two signals together do better: the energy of the plan, and how far the
plan wants to move (a model that believes it is at the goal plans a small step). `ArrivalRule`
says "arrived" when both are under thresholds; `calibrate` picks the thresholds from cycles
with a known ground-truth distance (sim episodes: `vjepa2-sim-eval` JSON), keeping the false
"arrived" rate under a bound. The rule is stored beside the checkpoint it was calibrated for
(`<checkpoint>.arrival.yaml`), so a model carries its own rule; a model without one never
reports arrival (sub-goals then advance on their cycle budget or by hand).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import yaml

from vjepa2_ros.config import ConfigError, from_mapping, require

SUFFIX = ".arrival.yaml"


@dataclass
class ArrivalRule:
    """`arrived` when the plan's energy <= energy_threshold and its step <= max_step_m."""

    energy_threshold: float = 0.0  # 0: uncalibrated, never "arrived"
    max_step_m: float = 0.05  # norm of the planned xyz move
    # How it was calibrated (documentation; not used by `arrived`).
    tolerance_m: float = 0.03
    precision: float = math.nan  # fraction of "arrived" cycles within tolerance_m
    recall: float = math.nan  # fraction of within-tolerance cycles called "arrived"
    cycles: int = 0
    source: str = ""

    def __post_init__(self) -> None:
        require(self.energy_threshold >= 0, "arrival energy_threshold must be >= 0 (0 = never)")
        require(self.max_step_m > 0, "arrival max_step_m must be > 0 m")

    @property
    def calibrated(self) -> bool:
        return self.energy_threshold > 0

    def arrived(self, energy: float, step_m: float) -> bool:
        return self.calibrated and energy <= self.energy_threshold and step_m <= self.max_step_m

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(
            "# Arrival rule for the checkpoint beside this file (vjepa2-calibrate; see\n"
            "# vjepa2_ros/planning/arrival.py). Re-run the calibration after retraining.\n"
            + yaml.safe_dump({"arrival": asdict(self)}, sort_keys=False)
        )
        return path


def rule_path(checkpoint: str | Path) -> Path:
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + SUFFIX)


def load_rule(checkpoint: str | Path | None) -> ArrivalRule:
    """The rule stored beside `checkpoint`; an uncalibrated rule when there is none."""
    if checkpoint is None:
        return ArrivalRule()
    path = rule_path(checkpoint)
    if not path.is_file():
        return ArrivalRule()
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return from_mapping(ArrivalRule, data.get("arrival") or {}, str(path))


@dataclass(frozen=True)
class ScoredCycle:
    """One planning cycle with the ground-truth distance of the observation it planned on."""

    energy: float
    step_m: float
    distance_m: float


def calibrate(
    cycles: list[ScoredCycle],
    tolerance_m: float = 0.03,
    min_precision: float = 0.95,
    source: str = "",
) -> ArrivalRule:
    """The thresholds with the most arrivals found among those with precision >= min_precision.

    Candidates: every observed energy and step value (so the rule is exact on the data).
    Raises ConfigError when no threshold reaches the precision (the model cannot tell arrival).
    """
    require(len(cycles) >= 10, f"calibration needs >= 10 scored cycles, got {len(cycles)}")
    energy = np.array([c.energy for c in cycles])
    step = np.array([c.step_m for c in cycles])
    near = np.array([c.distance_m for c in cycles]) <= tolerance_m
    require(near.any(), f"no cycle within {tolerance_m} m of its goal: nothing to calibrate on")
    best = None
    for s in np.unique(np.concatenate([step, [np.inf]])):
        small = step <= s
        order = np.argsort(energy)
        e_sorted = energy[order]
        hits = np.cumsum((near & small)[order])
        calls = np.cumsum(small[order])
        valid = calls > 0
        precision = np.where(valid, hits / np.maximum(calls, 1), 0.0)
        ok = valid & (precision >= min_precision)
        if not ok.any():
            continue
        k = int(np.flatnonzero(ok)[np.argmax(hits[ok])])
        key = (int(hits[k]), -float(s))
        if best is None or key > best[0]:
            best = (key, float(e_sorted[k]), float(s), float(precision[k]))
    if best is None:
        raise ConfigError(
            f"no energy/step thresholds reach {min_precision:.0%} precision for arrival within "
            f"{tolerance_m} m on these {len(cycles)} cycles: the model cannot tell arrival yet"
        )
    (hits, _), threshold, max_step, precision = best
    return ArrivalRule(
        energy_threshold=threshold,
        max_step_m=max_step if math.isfinite(max_step) else float(step.max()),
        tolerance_m=tolerance_m,
        precision=precision,
        recall=hits / int(near.sum()),
        cycles=len(cycles),
        source=source,
    )
