"""vjepa2-sim-eval: seeded reach / pick-place episodes in the sim, scored on ground truth.

    vjepa2-sim-eval --task reach --episodes 20 --seed 700 --budget fast --out runs/sim_eval
    vjepa2-sim-eval --task reach --episodes 20 --seed 700 --graph     # through the node graph
    vjepa2-sim-eval --task pick-place --episodes 20 --seed 700 --budget fast [--graph]
    vjepa2-sim-eval --landscape --out runs/landscape      # energy landscape PNG + JSON

Core mode runs each cycle on the core (SimCell + arm controller + WorldModel + CEMPlanner, the
planner node's cycle gate). Graph mode (`--graph`) runs the same seeded episodes through the
real node graph that `make demo` and the launch file run (sim_camera and franka_bridge as
processes, DDS, camera_encoder, goal_server, planner), scored on the sim's ground truth after
every settled action (vjepa2_ros/shell/graph_episodes.py). Prints one line per episode, the
success rate with its 95% Wilson interval and the seeds (pick-place: also each stage's rate,
above / grasped / lifted / placed); writes <out>/<task>_<budget>[_graph].json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from vjepa2_ros.config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vjepa2-sim-eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=("reach", "pick-place"), default="reach")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode (k: seed + k)")
    p.add_argument("--budget", default="fast", help="CEM budget in config/budgets.yaml")
    p.add_argument("--checkpoint", default="", help="model file (default: models/ small)")
    p.add_argument("--preset", default="small")
    p.add_argument("--config", default="sim_eval.yaml", help="YAML with a `sim_eval` section")
    p.add_argument("--host", help="franky-sim address (overrides sim_eval.host)")
    p.add_argument("--max-cycles", type=int, help="reach cycles per episode (sim_eval.max_cycles)")
    p.add_argument(
        "--dwell-cycles", type=int, help="reach: cycles after success (calibration data)"
    )
    p.add_argument("--graph", action="store_true", help="run through the ROS node graph")
    p.add_argument("--out", default="runs/sim_eval")
    p.add_argument("--landscape", action="store_true", help="write the energy landscape instead")
    p.add_argument("--verbose", action="store_true", help="print every cycle")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from vjepa2_ros.evaluation.sim_episodes import SimEvalConfig
    from vjepa2_ros.planning.budgets import load_budget

    try:
        overrides = {"host": args.host} if args.host else {}
        if args.max_cycles is not None:
            overrides["max_cycles"] = args.max_cycles
        if args.dwell_cycles is not None:
            overrides["dwell_cycles"] = args.dwell_cycles
        cfg = SimEvalConfig.load(args.config, **overrides)
        cem = load_budget(args.budget)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"vjepa2-sim-eval: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = print if args.verbose else None
    seeds = [args.seed + k for k in range(args.episodes)]
    t0 = time.monotonic()
    if args.graph:
        if args.landscape:
            print(
                "vjepa2-sim-eval: --landscape runs on the core, not with --graph", file=sys.stderr
            )
            return 2
        results, errors, source = run_graph(args, cfg, seeds, log)
    else:
        results, errors, source = run_core(args, cfg, cem, seeds, log, out)
        if results is None:  # the landscape was written
            return 0
    return report(args, cfg, cem, results, errors, source, out, time.monotonic() - t0)


def run_core(args, cfg, cem, seeds, log, out):
    import torch

    from vjepa2_ros.evaluation.landscape import plot_landscape
    from vjepa2_ros.evaluation.sim_episodes import SimEvaluator
    from vjepa2_ros.model.checkpoint import world_model_from_config
    from vjepa2_ros.model.config import ModelConfig
    from vjepa2_ros.robot.franky_backend import RobotError

    torch.set_num_threads(max(1, torch.get_num_threads()))
    model_cfg = ModelConfig(preset=args.preset, checkpoint=args.checkpoint)
    model = world_model_from_config(model_cfg)
    source = str(model_cfg.checkpoint_path() or "random init")
    print(f"vjepa2-sim-eval (core): model {args.preset} ({source}), budget {args.budget}: {cem}")
    results, errors = [], []
    with SimEvaluator(model, cem, cfg) as ev:
        if args.landscape:
            land = ev.landscape(args.seed)
            png = out / f"landscape_seed{args.seed}.png"
            plot_landscape(land, png, f"energy over (dx, dy), goal at {land.goal_offset * 100} cm")
            (out / f"landscape_seed{args.seed}.json").write_text(json.dumps(land.as_dict()))
            print(f"landscape: argmin {land.argmin * 100} cm, goal {land.goal_offset * 100} cm")
            return None, None, source
        for seed in seeds:
            try:
                result = ev.run(args.task, seed, log=log)
            except (RobotError, RuntimeError, TimeoutError) as exc:  # a failure, named
                print(f"{args.task} seed {seed:3d}: ERROR {exc}", flush=True)
                errors.append({"seed": seed, "error": str(exc)})
                ev.rig.ensure_armed()
                continue
            results.append(result)
            print(result.line(), flush=True)
        errors += [{"recovery": r} for r in ev.rig.recoveries]
    return results, errors, source


def run_graph(args, cfg, seeds, log):
    from vjepa2_ros.shell import graph_episodes
    from vjepa2_ros.shell.episode import EpisodeError

    model = {"model.preset": args.preset, "model.checkpoint": args.checkpoint}  # both model nodes
    results, errors = [], []
    with graph_episodes.episode_graph(args.task, cfg, {"budget": args.budget}, model) as driver:
        print(f"vjepa2-sim-eval (graph): budget {args.budget}, model {args.preset}")
        for seed in seeds:
            try:
                result = graph_episodes.run(driver, args.task, seed, cfg, log)
            except EpisodeError as exc:
                print(f"{args.task} seed {seed:3d}: ERROR {exc}", flush=True)
                errors.append({"seed": seed, "error": str(exc)})
                continue
            results.append(result)
            print(result.line(), flush=True)
        errors += [{"recovery": r} for r in driver.recoveries]
        safety = driver.safety_events()
    if results:
        results[-1].safety_events = safety  # the bridge's counts over the whole run
    return results, errors, "graph"


def report(args, cfg, cem, results, errors, source, out: Path, wall_s: float) -> int:
    from vjepa2_ros.evaluation.sim_episodes import STAGES, wilson_interval

    failed_seeds = [e["seed"] for e in errors if "seed" in e]
    wins = sum(r.success for r in results)
    total = len(results) + len(failed_seeds)
    lo, hi = wilson_interval(wins, total)
    cycles = [r.cycles for r in results] or [0]
    stages = {}
    if args.task == "pick-place":  # per-stage rates over the same episodes
        for stage in STAGES:
            n = sum(bool(r.stages.get(stage)) for r in results)
            stages[stage] = {"reached": n, "rate": n / max(1, total)}
            stages[stage]["wilson95"] = list(wilson_interval(n, total))
    latency = [h.latency_ms for r in results for h in r.history]
    seeds = [args.seed + k for k in range(args.episodes)]
    summary = {
        "task": args.task,
        "mode": "graph" if args.graph else "core",
        "budget": args.budget,
        "cem": asdict(cem),
        "checkpoint": str(source),
        "seeds": seeds,
        "episodes": total,
        "errors": errors,
        "successes": wins,
        "success_rate": wins / max(1, total),
        "wilson95": [lo, hi],
        "stages": stages,
        "mean_cycles": sum(cycles) / len(cycles),
        "mean_plan_latency_ms": sum(latency) / max(1, len(latency)),
        "wall_s": wall_s,
        "config": asdict(cfg),
        "results": [asdict(r) for r in results],
    }
    suffix = "_graph" if args.graph else ""
    path = out / f"{args.task}_{args.budget}{suffix}.json"
    path.write_text(json.dumps(summary, indent=1))
    print(
        f"{args.task} / {args.budget} / {summary['mode']}: success {wins}/{total} = "
        f"{wins / max(1, total):.0%} (95% Wilson {lo:.0%}-{hi:.0%}), seeds {seeds[0]}-{seeds[-1]}, "
        f"{len(failed_seeds)} episode errors, mean cycles {summary['mean_cycles']:.1f}, plan "
        f"latency {summary['mean_plan_latency_ms']:.0f} ms; {path}"
    )
    for stage, v in stages.items():
        lo, hi = v["wilson95"]
        print(
            f"  {stage:8s} {v['reached']}/{total} = {v['rate']:.0%} (95% Wilson {lo:.0%}-{hi:.0%})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
