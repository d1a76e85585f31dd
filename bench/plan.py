"""CEM planning speed per named budget: latency per action, predictor throughput, TFLOP/s, MFU.

    PYTHONPATH=$PWD python -m bench.plan --preset small --device cpu
    PYTHONPATH=$PWD python -m bench.plan --preset vitg-ac --device cuda --dtype bfloat16
    PYTHONPATH=$PWD python -m bench.plan --quality      # accuracy per budget on a synthetic bowl

Random weights (speed does not depend on them). FLOPs are counted analytically from the model
spec (matmuls and attention; norms, RoPE and GELU are left out), so MFU is a lower bound.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/plan.py` too

from bench import flops
from bench.peaks import peak_tflops  # one MFU table with bench/gpu.py
from vjepa2_ros.model.presets import ModelSpec, spec_from_name
from vjepa2_ros.model.world_model import WorldModel
from vjepa2_ros.planning.budgets import load_budget
from vjepa2_ros.planning.cem import CEMConfig, CEMPlanner
from vjepa2_ros.pose.tensors import apply_action

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
STATE = np.array([0.58, 0.0, 0.25, -3.07, 0.03, -1.91, 0.0])


def predictor_flops(spec: ModelSpec, steps: int, last_step_only: bool = True) -> float:
    """FLOPs of one predictor forward for one candidate with `steps` context frames."""
    n = spec.tokens_per_frame
    p, e = spec.predictor, spec.encoder.dim
    tokens = steps * (n + 2)
    embed = 2 * steps * n * e * p.dim + 2 * 2 * steps * spec.action_dim * p.dim
    per_token = 2 * (3 * p.dim * p.dim + p.dim * p.dim + 2 * p.dim * p.mlp_hidden)
    attention = 2 * 2 * tokens * tokens * p.dim  # QK^T and AV over all heads, full (masked) grid
    blocks = p.depth * (tokens * per_token + attention)
    out_tokens = n if last_step_only else steps * n
    return float(embed + blocks + 2 * out_tokens * p.dim * e)


def plan_flops(spec: ModelSpec, cfg: CEMConfig, forwards_by_step: int) -> float:
    """Total predictor FLOPs of one plan() from its candidate count per horizon step.

    Counts what runs: with the KV cache (horizon >= 2) later steps process one step's tokens.
    """
    return flops.plan_flops(spec, cfg, forwards_by_step * cfg.horizon, cfg.kv_cache)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def overrides(pairs: list[str]) -> dict:
    """--set samples=4 --set iterations=1 -> CEMConfig field overrides (ints, floats, bools)."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        out[key] = yaml.safe_load(value)
    return out


def bench_speed(args) -> None:
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    spec = spec_from_name(args.preset)
    model = WorldModel.build(spec, device=device, dtype=dtype)
    gen = torch.Generator(device="cpu").manual_seed(0)
    shape = (spec.tokens_per_frame, spec.encoder.dim)
    z_now = F.layer_norm(torch.randn(shape, generator=gen), shape[-1:]).to(device, dtype)
    z_goal = F.layer_norm(torch.randn(shape, generator=gen), shape[-1:]).to(device, dtype)
    peak, peak_note = peak_tflops(device, dtype)
    print(f"preset {spec.name}, device {device}, dtype {args.dtype}, torch {torch.__version__}")
    print(
        f"peak {peak:.2f} TFLOP/s ({peak_note}); per-forward {predictor_flops(spec, 1) / 1e9:.2f} GFLOP at H=1"
    )
    header = (
        "budget      N    it  H  latency_ms(med)  min_ms  fwd/plan  fwd/s      TFLOP/s  MFU  (med)"
    )
    print(header)
    for name in args.budgets.split(","):
        fast_path = dict(compile=args.compile, compile_mode=args.compile_mode)
        cfg = load_budget(name, chunk_size=args.chunk_size, **fast_path, **overrides(args.set))
        planner = CEMPlanner(model, cfg, device=device)
        for _ in range(args.warmup):
            planner.plan(z_now, STATE, z_goal)
        times = []
        for _ in range(args.repeats):
            synchronize(device)
            t0 = time.perf_counter()
            res = planner.plan(z_now, STATE, z_goal)
            synchronize(device)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        d = res.diagnostics
        per_step = d.predictor_forwards // cfg.horizon
        flops = plan_flops(spec, cfg, per_step)
        tflops = flops / med / 1e12
        print(
            f"{name:<10} {cfg.samples:>4} {cfg.iterations:>4} {cfg.horizon:>2}  "
            f"{med * 1e3:>14.1f}  {min(times) * 1e3:>6.1f}  {d.predictor_forwards:>8}  "
            f"{d.predictor_forwards / med:>9.0f}  {tflops:>7.3f}  {100 * tflops / peak:5.1f}%"
        )
    if device.type == "cpu":
        print(f"load avg after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


class _Bowl:
    """Synthetic world model with a known optimum (as in test/test_cem.py)."""

    def __init__(self, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.w = torch.randn(16, 32, 4, generator=g, dtype=torch.float64)

    def latent(self, s: torch.Tensor) -> torch.Tensor:
        f = torch.cat([10.0 * s[..., :3], s[..., 6:]], -1).double()
        return torch.einsum("ncf,...f->...nc", self.w, f).float()

    def predict(self, z_ctx, actions, states):
        return self.latent(apply_action(states[:, -1], actions[:, -1]))


def bench_quality(args) -> None:
    """Error to the closed-form optimum per budget over seeds (H=1 budgets only)."""
    print("budget     seeds  xyz_err_mm(med/max)  grip_err(med/max)  forwards")
    for name in args.budgets.split(","):
        cfg = load_budget(name)
        if cfg.horizon != 1:
            print(f"{name:<10} skipped: the H={cfg.horizon} optimum is not unique on the bowl")
            continue
        xyz, grip = [], []
        for seed in range(args.quality_seeds):
            rng = np.random.default_rng(seed)
            target = np.r_[rng.uniform(-0.04, 0.04, 3), 0, 0, 0, rng.uniform(0.3, 0.6)]
            world = _Bowl(seed)
            s = torch.tensor(STATE, dtype=torch.float32)
            goal = apply_action(s, torch.tensor(target, dtype=torch.float32))
            planner = CEMPlanner(world, load_budget(name, seed=seed))
            res = planner.plan(world.latent(s), STATE, world.latent(goal))
            xyz.append(1e3 * np.abs(res.action[:3] - target[:3]).max())
            grip.append(abs(res.action[6] - target[6]))
        print(
            f"{name:<10} {len(xyz):>5}  {np.median(xyz):8.2f} / {max(xyz):6.2f}  "
            f"{np.median(grip):8.4f} / {max(grip):6.4f}  {res.diagnostics.predictor_forwards:>8}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", default="small", choices=["small", "vitg-ac"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    p.add_argument("--budgets", default="paper,notebook,fast")
    p.add_argument("--repeats", type=int, default=5, help="timed plans per budget (median)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--chunk-size", type=int, default=0, help="candidates per predictor call")
    p.add_argument(
        "--compile", action="store_true", help="compiled rollout steps (CEMConfig.compile; GPU)"
    )
    p.add_argument(
        "--compile-mode",
        default="max-autotune-no-cudagraphs",
        help="torch.compile mode; reduce-overhead / max-autotune add CUDA graphs",
    )
    p.add_argument("--set", action="append", default=[], help="CEMConfig override key=value")
    p.add_argument("--quality", action="store_true", help="accuracy on a synthetic bowl instead")
    p.add_argument("--quality-seeds", type=int, default=10)
    args = p.parse_args()
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
    if args.quality:
        bench_quality(args)
    else:
        bench_speed(args)


if __name__ == "__main__":
    main()
