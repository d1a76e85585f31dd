"""`vjepa2-train`: post-train the AC predictor on recorded bags (frozen encoder).

    vjepa2-train                                  # config/train.yaml, data in runs/collect
    vjepa2-train --data runs/collect --steps 1500 --export models/vjepa2_ac_small.pt
    vjepa2-train --resume                         # continue <output_dir>/latest.pt
    vjepa2-train --device cuda --dtype bfloat16   # GPU

Writes <output_dir>/latest.pt (released format + optimiser state, resumable) every
checkpoint_every steps, and with --export a slim released-format file (no optimiser state) that
`load_world_model` and the planner read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vjepa2_ros.config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vjepa2-train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="train.yaml", help="YAML with a `train` section")
    p.add_argument("--data", nargs="+", help="bags or folders of bags (overrides train.data)")
    p.add_argument("--out", help="output folder (overrides train.output_dir)")
    p.add_argument("--steps", type=int, help="optimiser steps (overrides train.steps)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--device", help="cpu, cuda or cuda:N")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"))
    p.add_argument("--init", help="released-format start weights (train.init_checkpoint)")
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        default=None,
        help="resume from PATH (default: <output_dir>/latest.pt)",
    )
    p.add_argument("--export", help="also write the trained model, without optimiser state, here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from vjepa2_ros.data.episodes import DatasetError, load_dataset
    from vjepa2_ros.train.trainer import Trainer, load_train_config

    overrides = {
        key: value
        for key, value in {
            "data": args.data,
            "output_dir": args.out,
            "steps": args.steps,
            "batch_size": args.batch_size,
            "device": args.device,
            "dtype": args.dtype,
            "init_checkpoint": args.init,
            "seed": args.seed,
            "progress": False if args.no_progress else None,
        }.items()
        if value is not None
    }
    if "steps" in overrides:
        overrides.setdefault("warmup_steps", max(0, overrides["steps"] // 20))
    try:
        cfg = load_train_config(args.config, **overrides)
        latest = Path(cfg.output_dir) / "latest.pt"
        episodes = load_dataset(cfg.data, cfg.dataset)
        frames = sum(len(e) for e in episodes)
        print(f"vjepa2-train: {len(episodes)} episodes, {frames} frames from {', '.join(cfg.data)}")
        trainer = Trainer(cfg)
        if args.resume is not None:
            path = latest if args.resume == "auto" else Path(args.resume)
            trainer.resume(path)
            print(f"vjepa2-train: resumed from {path} at step {trainer.step}")
        data = trainer.prepare(episodes)
        trainer.train(data, checkpoint=latest)
        trainer.save(latest)
        if args.export:
            trainer.save(args.export, with_optimizer=False)
            print(f"vjepa2-train: exported {args.export}")
    except (ConfigError, DatasetError, FileNotFoundError) as exc:
        print(f"vjepa2-train: {exc}", file=sys.stderr)
        return 2
    last = trainer.history[-1] if trainer.history else {"loss": float("nan")}
    print(
        f"vjepa2-train: step {trainer.step}, loss {last['loss']:.4f}, "
        f"{getattr(trainer, 'elapsed_s', 0.0):.0f} s; checkpoint {latest}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
