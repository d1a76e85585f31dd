"""`make demo`: the whole pipeline in simulation, on a laptop, ending with a verdict.

Runs the node graph of vjepa2_ros/graph.py (the nodes and config files, with the sim cell's
config/cell_sim.yaml, that `ros2 launch vjepa2_ros pick_place.launch.py use_sim:=true` starts;
the simulator and the bridge as their own processes) plus a recorder, renders image sub-goals in
the sim and sends them to the goal server the way a user script would (/vjepa2/goal/add),
prints one line per planning cycle and writes a run folder with a rosbag (MCAP), a summary and
an evaluation report.

The verdict is the sim's ground truth. `task: reach` (config/demo.yaml): a sub-goal is reached
when the end effector is within `success_m` of its target when the goal server leaves it; the
exit status is 0 only when every sub-goal was reached. `task: pick-place`
(config/demo_pick_place.yaml, `make demo DEMO=pick_place`): the seeded pick-place episode of
`vjepa2-sim-eval --graph` (sub-goals above the cup, grasping it, holding it at its target),
scored by stage (above, grasped, lifted, placed); the exit status is 0 only when the cup ends
within `success_m` of its target. The demo never clears a safety stop: a latched stop or error
ends the run as a failure, with the reason.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from vjepa2_ros import interfaces as names
from vjepa2_ros.config import from_mapping, load_yaml, require
from vjepa2_ros.planning.input_gate import routine

# Nodes that run as their own process, as under ros2 launch: the simulator's 1 kHz physics loop
# and the bridge's state stream must not wait for the planner's GIL, and the planner must not
# wait for the recorder's and the driver's 100 Hz callbacks (measured: 8-10 s per `fast` plan
# in this process, ~5 s in its own).
PROCESSES = ("sim_camera", "franka_bridge", "planner")
TASKS = ("reach", "pick-place")


@dataclass
class DemoConfig:
    seed: int = 0
    task: str = "reach"
    # Sub-goal end-effector positions relative to the start pose (the sim cell's home), metres.
    subgoal_offsets: list[list[float]] = field(
        default_factory=lambda: [[0.0, 0.12, 0.0], [0.10, 0.0, -0.06]]
    )
    # Ground truth. reach: the end effector this close to a sub-goal at its end; pick-place: the
    # cup this close to its target at the end.
    success_m: float = 0.03
    ready_timeout_s: float = 180.0
    episode_timeout_s: float = 420.0
    run_dir: str = "runs"
    evaluate: bool = True
    overrides: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require(
            self.task in TASKS,
            f"demo task {self.task!r} is not supported; use {' or '.join(TASKS)}",
        )
        require(len(self.subgoal_offsets) >= 1, "the demo needs at least 1 sub-goal")
        require(
            all(len(o) == 3 for o in self.subgoal_offsets),
            "each subgoal_offsets row is [dx, dy, dz] in metres",
        )
        require(0 < self.success_m <= 0.2, "success_m must be in (0, 0.2] metres")


def load_demo_config(path: str = "demo.yaml") -> DemoConfig:
    return from_mapping(DemoConfig, load_yaml(path).get("demo", {}), f"{path}:demo")


class CyclePrinter:
    """One line per planning cycle, or per changed reason it is held back (the waits every
    cycle goes through, for the arm to settle and a fresh frame, are not printed)."""

    def __init__(self, total_subgoals: int) -> None:
        self.total = total_subgoals
        self.latencies_ms: list[float] = []
        self._last_skip = None
        self.t0 = time.monotonic()

    def on_diagnostics(self, msg) -> None:
        from vjepa2_ros.nodes.conversions import diagnostic_values

        v = diagnostic_values(msg, names.PLANNER_STATUS_NAME)
        if v is None:
            return
        head = f"[{time.monotonic() - self.t0:6.1f} s] cycle {v.get('cycle', '?'):>3}"
        sub = int(v.get("subgoal", -1))
        if sub >= 0:
            head += f" | sub-goal {sub + 1}/{self.total}"
        skip = v.get("skipped")
        if skip:
            if skip != self._last_skip and not routine(skip):
                print(f"{head} | waiting: {skip}", flush=True)
                self._last_skip = skip
            return
        self._last_skip = None
        latency = float(v["latency_ms"])
        self.latencies_ms.append(latency)
        print(
            f"{head} | energy {float(v['energy']):.4f} | {latency:6.0f} ms | observed "
            f"{float(v['settle_to_observation_ms']):4.0f} ms after the settle | action "
            f"{v.get('action', '')}",
            flush=True,
        )


def _reach(driver, config: DemoConfig, targets: list) -> None:
    """Sub-goals at `subgoal_offsets` from the start pose; returns when the goal server is done
    with them (or the arm latched)."""
    start = driver.s.ee_state.copy()
    for k, offset in enumerate(config.subgoal_offsets):
        target = start[:6].copy()
        target[:3] += np.asarray(offset)
        targets.append(target[:3])
        # The sim renders the scene with the arm at the target and sends it to the goal
        # server on /vjepa2/goal/add, as a user's script would.
        driver.add_goal(k, target, truth={"ee": target[:3]})
        print(f"sub-goal {k + 1}: end effector at {np.round(target[:3], 3).tolist()}")
    driver.wait(
        lambda: (
            driver.s.goal_done
            or len(driver.s.progress) >= len(targets)
            or driver.s.arm_state in ("stopped", "error")
        ),
        config.episode_timeout_s,
        "end of the sub-goals",
    )


def _pick_place(driver, config: DemoConfig):
    """The seeded pick-place episode of `vjepa2-sim-eval --graph` (config/sim_eval.yaml's
    sub-goal geometry), with the demo's success bar; never recovers a latched arm."""
    import dataclasses

    from vjepa2_ros.evaluation.sim_episodes import SimEvalConfig
    from vjepa2_ros.shell import graph_episodes

    cfg = dataclasses.replace(SimEvalConfig.load(), place_success_m=config.success_m)
    print(f"pick-place, seed {config.seed}: above the cup, grasp it, hold it at its target")
    return graph_episodes.pick_place(
        driver, config.seed, cfg, log=print, operator=False, timeout_s=config.episode_timeout_s
    )


def run(config: DemoConfig, out_root: Path) -> dict:
    from diagnostic_msgs.msg import DiagnosticArray

    from vjepa2_ros.config import node_parameters
    from vjepa2_ros.graph import SIM_CELL, node_spec
    from vjepa2_ros.nodes.recorder import RecorderNode
    from vjepa2_ros.shell.episode import EpisodeError, GraphEpisodeDriver
    from vjepa2_ros.shell.runner import GraphRunner

    run_dir = out_root / datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=False)
    overrides = {name: dict(values) for name, values in config.overrides.items()}
    overrides.setdefault("sim_camera", {})["seed"] = config.seed
    print(f"vjepa2_ros demo: run folder {run_dir}", flush=True)
    started = time.monotonic()
    failure = ""
    targets: list[np.ndarray] = []
    with GraphRunner() as runner:
        recorder_params = node_parameters("recorder.yaml", "recorder")
        recorder_params.update(output_dir=str(run_dir), bag_name="bag")
        runner.add(
            "recorder",
            RecorderNode(context=runner.context, parameter_overrides=recorder_params),
        )
        runner.start_graph(use_sim=True, overrides=overrides, processes=PROCESSES)
        driver = GraphEpisodeDriver(runner)
        from vjepa2_ros.evaluation.sim_episodes import PICK_PLACE_SUBGOALS

        pick_place = config.task == "pick-place"
        printer = CyclePrinter(
            len(PICK_PLACE_SUBGOALS) if pick_place else len(config.subgoal_offsets)
        )
        driver.node.create_subscription(
            DiagnosticArray, names.PLANNER_DIAGNOSTICS, printer.on_diagnostics, 10
        )
        runner.spin_in_background()
        episode = None
        try:
            driver.wait_ready(config.ready_timeout_s)
            print(f"graph ready after {time.monotonic() - started:.1f} s", flush=True)
            driver.ensure_armed(operator=False)
            if config.task == "pick-place":
                episode = _pick_place(driver, config)
            else:
                _reach(driver, config, targets)
            if driver.s.arm_state in ("stopped", "error"):
                failure = (
                    f"the arm is {driver.s.arm_state} "
                    f"({driver.s.bridge.get('safety_event', '')}): a person must check it; "
                    "the demo never clears a safety stop"
                )
        except EpisodeError as exc:
            failure = str(exc)
        finally:
            with contextlib.suppress(EpisodeError):
                driver.set_bool(names.PLANNER_ENABLE, False)
        planner = node_parameters([*node_spec("planner").files, SIM_CELL], "planner")
        planner.update(overrides.get("planner", {}))
        budget = planner["budget"]
        model = f"{planner['model.preset']} ({planner['model.checkpoint'] or 'models/ default'})"
        progress = {p.index: p for p in driver.s.progress}
        safety_events = driver.safety_events()
        final_truth = driver.s.ee_truth

    if episode is not None:  # pick-place: one bar, the cup at its target (ground truth)
        subgoals = [
            {
                "index": 0,
                "target_cup": np.round(episode.goal, 4).tolist(),
                "reached": bool(episode.success),
                "error_m": round(episode.final_distance_m, 4),
                "cycles": episode.cycles,
            }
        ]
    else:
        subgoals = [_reach_outcome(k, t, progress.get(k), config) for k, t in enumerate(targets)]
    success = bool(subgoals) and all(s["reached"] for s in subgoals) and not failure
    summary = {
        "run_dir": str(run_dir),
        "task": config.task,
        "seed": config.seed,
        "model": model,
        "commit": git_commit(),
        "budget": budget,
        "verdict": "success" if success else "failure",
        "failure": failure,
        "success_m": config.success_m,
        "wall_time_s": round(time.monotonic() - started, 1),
        "planning_cycles": len(printer.latencies_ms),
        "latency_ms_p50": float(np.median(printer.latencies_ms)) if printer.latencies_ms else None,
        "subgoals": subgoals,
        "stages": episode.stages if episode is not None else {},
        "safety_events": safety_events,
        "automatic_recoveries": 0,
        "final_ee": None if final_truth is None else np.round(final_truth, 4).tolist(),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _reach_outcome(k: int, target, p, config: DemoConfig) -> dict:
    """A reach sub-goal's verdict from the goal server's progress record `p` (None: never ended)."""
    error = p.truth_error_m if p is not None else math.nan
    return {
        "index": k,
        "target_ee": np.round(target, 4).tolist(),
        "reached": bool(p is not None and error <= config.success_m),
        "error_m": None if math.isnan(error) else round(error, 4),
        "cycles": p.cycles if p is not None else None,
        "reached_by_arrival_rule": bool(p.reached) if p is not None else False,
        "final_energy": p.energy if p is not None else None,
    }


def git_commit() -> str:
    """The checkout's commit (with "+changes" when the tree is dirty), or "" outside git."""
    import subprocess

    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return ""
    return commit + ("+changes" if dirty else "")


def print_verdict(summary: dict) -> None:
    print("\n=== verdict (sim ground truth) ===")
    if summary["stages"]:
        reached = " ".join(f"{k} {'yes' if v else 'NO'}," for k, v in summary["stages"].items())
        print(f"pick-place stages: {reached.rstrip(',')}")
    for s in summary["subgoals"]:
        error = "n/a" if s["error_m"] is None else f"{s['error_m'] * 100:.1f} cm"
        tag = "REACHED" if s["reached"] else "NOT REACHED"
        what = "cup at its target" if "target_cup" in s else f"sub-goal {s['index'] + 1}"
        print(
            f"{what}: {tag:11s} error {error} (bar {summary['success_m'] * 100:.0f} cm), "
            f"{s['cycles']} cycles"
        )
    if summary["failure"]:
        print(f"run failed: {summary['failure']}")
    events = ", ".join(f"{k} x{n}" for k, n in summary["safety_events"].items()) or "none"
    print(f"safety events: {events}")
    print(f"verdict: {summary['verdict'].upper()} ({summary['wall_time_s']:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="demo.yaml", help="demo config (config/ or a path)")
    parser.add_argument("--out", default=None, help="runs folder (default: the config's run_dir)")
    args = parser.parse_args(argv)
    config = load_demo_config(args.config)
    summary = run(config, Path(args.out or config.run_dir))
    if config.evaluate:
        from vjepa2_ros.evaluation.cli import main as evaluate

        evaluate(
            [
                str(Path(summary["run_dir"]) / "bag"),
                "--out",
                str(Path(summary["run_dir"]) / "report"),
            ]
        )
    print_verdict(summary)
    return 0 if summary["verdict"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
