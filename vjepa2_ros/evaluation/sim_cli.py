"""vjepa2-sim-eval: seeded reach / pick-place episodes in the sim, scored on ground truth.

    vjepa2-sim-eval --task reach --episodes 20 --budget fast --out runs/sim_eval
    vjepa2-sim-eval --task pick-place --episodes 10 --budget fast
    vjepa2-sim-eval --landscape --out runs/landscape      # energy landscape PNG + JSON

Runs on the core (SimCell + franky + WorldModel + CEMPlanner), no ROS graph. Prints one line
per episode and the success rate; writes <out>/<task>_<budget>.json.
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
    p.add_argument("--out", default="runs/sim_eval")
    p.add_argument("--landscape", action="store_true", help="write the energy landscape instead")
    p.add_argument("--verbose", action="store_true", help="print every cycle")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from vjepa2_ros.evaluation.landscape import plot_landscape
    from vjepa2_ros.evaluation.sim_episodes import SimEvalConfig, SimEvaluator
    from vjepa2_ros.model.checkpoint import world_model_from_config
    from vjepa2_ros.model.config import ModelConfig
    from vjepa2_ros.planning.budgets import load_budget
    from vjepa2_ros.robot.franky_backend import RobotError

    torch.set_num_threads(max(1, torch.get_num_threads()))
    try:
        overrides = {"host": args.host} if args.host else {}
        if args.max_cycles is not None:
            overrides["max_cycles"] = args.max_cycles
        cfg = SimEvalConfig.load(args.config, **overrides)
        cem = load_budget(args.budget)
        model_cfg = ModelConfig(preset=args.preset, checkpoint=args.checkpoint)
        model = world_model_from_config(model_cfg)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"vjepa2-sim-eval: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    source = model_cfg.checkpoint_path() or "random init"
    print(f"vjepa2-sim-eval: model {args.preset} ({source}), budget {args.budget}: {cem}")
    log = print if args.verbose else None
    with SimEvaluator(model, cem, cfg) as ev:
        if args.landscape:
            land = ev.landscape(args.seed)
            png = out / f"landscape_seed{args.seed}.png"
            plot_landscape(land, png, f"energy over (dx, dy), goal at {land.goal_offset * 100} cm")
            (out / f"landscape_seed{args.seed}.json").write_text(json.dumps(land.as_dict()))
            print(
                f"landscape: argmin {land.argmin * 100} cm, goal {land.goal_offset * 100} cm; {png}"
            )
            return 0
        results = []
        errors: list[dict] = []
        t0 = time.monotonic()
        for k in range(args.episodes):
            try:
                result = ev.run(args.task, args.seed + k, log=log)
            except RobotError as exc:  # counted as a failure, named in the output
                print(f"{args.task} seed {args.seed + k:3d}: ERROR {exc}", flush=True)
                errors.append({"seed": args.seed + k, "error": str(exc)})
                ev.rig.reconnect()
                continue
            results.append(result)
            print(result.line(), flush=True)
    wins = sum(r.success for r in results)
    total = len(results) + len(errors)
    rate = wins / max(1, total)
    cycles = [len(r.history) for r in results] or [0]
    latency = [h.latency_ms for r in results for h in r.history]
    summary = {
        "task": args.task,
        "budget": args.budget,
        "cem": asdict(cem),
        "checkpoint": str(source),
        "episodes": total,
        "errors": errors,
        "successes": wins,
        "success_rate": rate,
        "mean_cycles": sum(cycles) / len(cycles),
        "mean_plan_latency_ms": sum(latency) / max(1, len(latency)),
        "wall_s": time.monotonic() - t0,
        "config": asdict(cfg),
        "results": [asdict(r) for r in results],
    }
    path = out / f"{args.task}_{args.budget}.json"
    path.write_text(json.dumps(summary, indent=1))
    print(
        f"{args.task} / {args.budget}: success {wins}/{total} = {rate:.0%} "
        f"({len(errors)} robot errors), "
        f"mean cycles {summary['mean_cycles']:.1f}, plan latency "
        f"{summary['mean_plan_latency_ms']:.0f} ms; {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
