"""A recorded run -> sub-goal segments and their metrics (success, cycles, time, energy, latency).

A bag is one episode. `/vjepa2/goal/index` splits it: a message with index i >= 0 starts
sub-goal i, the next index message (or -1, or the end of the bag) ends it. All times are bag
receive times. Per segment:
- cycles: planner diagnostics (`vjepa2/planner`) with `skipped` == "" in the segment;
- final energy: `energy` of the last planned cycle; latency p50/p95 over its `latency_ms`;
- control rate: /vjepa2/action messages per second of the segment;
- safety events: `franka_bridge` statuses with a non-empty `safety_event` (a status repeated
  unchanged, same event and counters, counts once);
- success: the last /sim/goal_truth vs the last /sim/ground_truth at the segment end: objects
  (cup, box) within place_tolerance_m of their targets (pick-and-place), else the end effector
  within reach_tolerance_m of its target (reach); None where either is missing.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from vjepa2_ros import interfaces as names
from vjepa2_ros.config import require
from vjepa2_ros.data import topics as T
from vjepa2_ros.data.bag import Bag, BagError
from vjepa2_ros.data.messages import diagnostic_values

OBJECTS = ("cup", "box")
REQUIRED_TOPICS = (names.GOAL_INDEX, names.PLANNER_DIAGNOSTICS)
EVAL_READ_TOPICS = tuple(T.EVAL_TOPICS)


@dataclass
class EvalConfig:
    """Success thresholds (the paper's: reach 3 cm, pick-and-place 5 cm)."""

    reach_tolerance_m: float = 0.03
    place_tolerance_m: float = 0.05

    def __post_init__(self) -> None:
        require(self.reach_tolerance_m > 0, "reach_tolerance_m must be > 0 metres")
        require(self.place_tolerance_m > 0, "place_tolerance_m must be > 0 metres")


@dataclass
class Cycle:
    """One planner diagnostics status."""

    stamp_ns: int
    cycle: int
    subgoal: int
    energy: float
    best_energy: float
    latency_ms: float
    budget: str
    skipped: str


@dataclass
class Metrics:
    """One table row: a sub-goal segment, or a whole episode (subgoal == "all")."""

    episode: str
    subgoal: str
    task: str  # reach, pick_place, or "" without ground truth
    success: bool | None
    error_m: float | None  # distance to target at the end (worst object for pick-and-place)
    cycles: int
    time_s: float
    final_energy: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    control_rate_hz: float
    safety_events: int
    safety_reasons: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Segment:
    subgoal: int
    start_ns: int
    end_ns: int
    last: bool  # the final segment includes messages at end_ns

    def holds(self, stamp: int) -> bool:
        return self.start_ns <= stamp < self.end_ns or (self.last and stamp == self.end_ns)


@dataclass
class EvaluatedBag:
    """An evaluated bag: rows per sub-goal and the episode row, plus series for the plots."""

    name: str
    bag: Bag
    segments: list[Segment]
    rows: list[Metrics]
    summary: Metrics
    cycles: list[Cycle]
    ee_path: np.ndarray  # [N, 2] x, y of the end effector (empty if not recorded)
    ee_targets: np.ndarray  # [M, 2] goal-truth x, y targets (ee or objects)
    notes: list[str] = field(default_factory=list)


def _float(value: str | None) -> float:
    try:
        return float(value) if value not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _int(value: str | None, default: int = -1) -> int:
    try:
        return int(float(value)) if value not in (None, "") else default
    except ValueError:
        return default


def planner_cycles(bag: Bag) -> list[Cycle]:
    """Every planner status in the bag, in time order."""
    cycles = []
    for stamp, msg in bag.messages.get(names.PLANNER_DIAGNOSTICS, []):
        kv = diagnostic_values(msg, names.PLANNER_STATUS_NAME)
        if kv is not None:
            cycles.append(
                Cycle(
                    stamp,
                    _int(kv.get("cycle")),
                    _int(kv.get("subgoal")),
                    _float(kv.get("energy")),
                    _float(kv.get("best_energy")),
                    _float(kv.get("latency_ms")),
                    kv.get("budget", ""),
                    kv.get("skipped", ""),
                )
            )
    return cycles


def safety_events(bag: Bag) -> list[tuple[int, str]]:
    """(stamp, reason) of each new bridge safety event; unchanged repeats count once."""
    events, previous = [], None
    for stamp, msg in bag.messages.get(names.DIAGNOSTICS, []):
        kv = diagnostic_values(msg, names.BRIDGE_STATUS_NAME)
        if kv is not None:
            key = (
                kv.get("safety_event", ""),
                kv.get("actions_executed"),
                kv.get("actions_rejected"),
            )
            if key[0] and key != previous:
                events.append((stamp, key[0]))
            previous = key
    return events


def split_segments(bag: Bag) -> list[Segment]:
    """Sub-goal segments from /vjepa2/goal/index (a repeated index extends its segment)."""
    switches = [(t, int(m.data)) for t, m in bag.messages.get(names.GOAL_INDEX, [])]
    end = bag.end_ns()
    segments: list[Segment] = []
    for k, (stamp, index) in enumerate(switches):
        stop = switches[k + 1][0] if k + 1 < len(switches) else end
        if index < 0:
            continue
        if segments and segments[-1].subgoal == index and segments[-1].end_ns == stamp:
            segments[-1].end_ns = stop
        else:
            segments.append(Segment(index, stamp, stop, last=False))
    if segments and segments[-1].end_ns == end:
        segments[-1].last = True
    return segments


def named(msg) -> dict[str, float]:
    """A named-vector JointState as {name: value}."""
    return {n: float(v) for n, v in zip(msg.name, msg.position)}


def _latest(stamped: list[tuple[int, Any]], stamps: list[int], at_ns: int):
    """The last message received at or before at_ns, or None."""
    i = bisect.bisect_right(stamps, at_ns)
    return stamped[i - 1][1] if i else None


def _position(values: dict[str, float], body: str) -> np.ndarray | None:
    keys = [f"{body}.{a}" for a in "xyz"]
    if not all(k in values for k in keys):
        return None
    return np.array([values[k] for k in keys])


def score(goal: dict[str, float] | None, truth: dict[str, float] | None, cfg: EvalConfig):
    """(task, success, error_m) of ground truth `truth` against targets `goal`."""
    if not goal or not truth:
        return "", None, None
    objects = [b for b in OBJECTS if _position(goal, b) is not None]
    if objects:
        task, tol, bodies = "pick_place", cfg.place_tolerance_m, objects
    elif _position(goal, "ee") is not None:
        task, tol, bodies = "reach", cfg.reach_tolerance_m, ["ee"]
    else:
        return "", None, None
    errors = []
    for body in bodies:
        where = _position(truth, body)
        if where is None:
            return task, None, None
        errors.append(float(np.linalg.norm(where - _position(goal, body))))
    error = max(errors)
    return task, error <= tol, error


def _percentiles(values: list[float]) -> tuple[float | None, float | None]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None, None
    p50, p95 = np.percentile(finite, [50, 95])
    return float(p50), float(p95)


def _metrics(name, label, window, cycles, events, action_stamps, truth_at, cfg) -> Metrics:
    start, end, holds = window
    planned = [c for c in cycles if holds(c.stamp_ns) and c.skipped == ""]
    time_s = (end - start) / 1e9
    actions = sum(1 for t in action_stamps if holds(t))
    reasons = [r for t, r in events if holds(t)]
    counted = {r: reasons.count(r) for r in dict.fromkeys(reasons)}
    task, success, error = score(*truth_at(end), cfg)
    p50, p95 = _percentiles([c.latency_ms for c in planned])
    final = planned[-1].energy if planned and math.isfinite(planned[-1].energy) else None
    return Metrics(
        episode=name,
        subgoal=label,
        task=task,
        success=success,
        error_m=error,
        cycles=len(planned),
        time_s=time_s,
        final_energy=final,
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        control_rate_hz=actions / time_s if time_s > 0 else 0.0,
        safety_events=len(reasons),
        safety_reasons=", ".join(f"{r} x{n}" for r, n in counted.items()),
    )


def evaluate_bag(bag: Bag, cfg: EvalConfig | None = None, name: str | None = None) -> EvaluatedBag:
    """Split a bag into sub-goals and compute each one's metrics and the episode's."""
    cfg = cfg or EvalConfig()
    name = name or bag.name
    segments = split_segments(bag)
    if not segments:
        raise BagError(
            f"{bag.path}: /vjepa2/goal/index never named a sub-goal (no index >= 0): "
            "no goal was active during the recording"
        )
    cycles = planner_cycles(bag)
    events = safety_events(bag)
    action_stamps = [t for t, _ in bag.messages.get(names.ACTION, [])]
    goals = bag.messages.get(names.SIM_GOAL_TRUTH, [])
    truths = bag.messages.get(names.SIM_GROUND_TRUTH, [])
    goal_stamps, truth_stamps = [t for t, _ in goals], [t for t, _ in truths]

    def truth_at(at_ns: int, subgoal: int):
        """The sub-goal's target (goal truths naming an `index` are matched to it) and the
        ground truth at `at_ns`."""
        indexed = [(t, g) for t, g in goals if "index" in g.name]
        if indexed:
            own = [(t, g) for t, g in indexed if int(named(g)["index"]) == subgoal and t <= at_ns]
            goal = own[-1][1] if own else None
        else:
            goal = _latest(goals, goal_stamps, at_ns)
        truth = _latest(truths, truth_stamps, at_ns)
        return (named(goal) if goal else None), (named(truth) if truth else None)

    rows = [
        _metrics(
            name,
            str(s.subgoal),
            (s.start_ns, s.end_ns, s.holds),
            cycles,
            events,
            action_stamps,
            lambda at, k=s.subgoal: truth_at(at, k),
            cfg,
        )
        for s in segments
    ]
    first, last = segments[0], segments[-1]

    def in_episode(t: int) -> bool:
        return any(s.holds(t) for s in segments)

    summary = _metrics(
        name,
        "all",
        (first.start_ns, last.end_ns, in_episode),
        cycles,
        events,
        action_stamps,
        lambda at: truth_at(at, last.subgoal),
        cfg,
    )
    summary.time_s = sum(r.time_s for r in rows)
    summary.control_rate_hz = (
        sum(r.control_rate_hz * r.time_s for r in rows) / summary.time_s if summary.time_s else 0.0
    )
    notes = [bag.recovered] if bag.recovered else []
    missing = [t for t in T.EVAL_TOPICS if not bag.messages.get(t)]
    if missing:
        notes.append("no messages on " + ", ".join(missing))
    if summary.task == "":
        notes.append("no /sim/goal_truth and /sim/ground_truth pair: success not scored")
    return EvaluatedBag(
        name,
        bag,
        segments,
        rows,
        summary,
        [c for c in cycles if in_episode(c.stamp_ns)],
        _ee_path(bag),
        _targets(goals),
        notes,
    )


def _ee_path(bag: Bag) -> np.ndarray:
    states = bag.messages.get(names.EE_STATE, [])
    if states:
        return np.array([[m.position[0], m.position[1]] for _, m in states], dtype=float)
    path = [named(m) for _, m in bag.messages.get(names.SIM_GROUND_TRUTH, [])]
    points = [[v["ee.x"], v["ee.y"]] for v in path if "ee.x" in v and "ee.y" in v]
    return np.array(points, dtype=float).reshape(-1, 2)


def _targets(goals: list[tuple[int, Any]]) -> np.ndarray:
    points = []
    for _, msg in goals:
        values = named(msg)
        for body in ("ee", *OBJECTS):
            if f"{body}.x" in values and f"{body}.y" in values:
                points.append([values[f"{body}.x"], values[f"{body}.y"]])
    return np.array(points, dtype=float).reshape(-1, 2)


@dataclass
class Aggregate:
    """A set of runs summarised for compare mode (one value per metric)."""

    label: str
    values: dict[str, float | None]


AGGREGATE_METRICS = (
    "episodes",
    "success_rate",
    "subgoal_success_rate",
    "cycles_per_subgoal",
    "time_per_episode_s",
    "final_energy",
    "latency_p50_ms",
    "latency_p95_ms",
    "control_rate_hz",
    "safety_events_per_episode",
)


def _mean(values: list[float | None]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def aggregate(label: str, episodes: list[EvaluatedBag]) -> Aggregate:
    """Success rates and means over a set of runs; latency percentiles over all their cycles."""
    rows = [r for e in episodes for r in e.rows]
    summaries = [e.summary for e in episodes]
    latencies = [c.latency_ms for e in episodes for c in e.cycles if c.skipped == ""]
    p50, p95 = _percentiles(latencies)
    total_time = sum(s.time_s for s in summaries)
    total_rate = sum(s.control_rate_hz * s.time_s for s in summaries)
    return Aggregate(
        label,
        {
            "episodes": float(len(episodes)),
            "success_rate": _mean(
                [None if s.success is None else float(s.success) for s in summaries]
            ),
            "subgoal_success_rate": _mean(
                [None if r.success is None else float(r.success) for r in rows]
            ),
            "cycles_per_subgoal": _mean([r.cycles for r in rows]),
            "time_per_episode_s": _mean([s.time_s for s in summaries]),
            "final_energy": _mean([s.final_energy for s in summaries]),
            "latency_p50_ms": p50,
            "latency_p95_ms": p95,
            "control_rate_hz": total_rate / total_time if total_time else None,
            "safety_events_per_episode": _mean([s.safety_events for s in summaries]),
        },
    )
