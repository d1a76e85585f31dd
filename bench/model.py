"""World-model forward latency, throughput and achieved TFLOP/s (FLOPs counted analytically).

CPU default:   python bench/model.py                       (preset small, float32)
GPU:           python bench/model.py --device cuda --preset vitg-ac --dtype bfloat16
Random weights: speed does not depend on their values.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from vjepa2_ros.model.config import DTYPES
from vjepa2_ros.model.presets import ModelSpec, spec_from_name
from vjepa2_ros.model.world_model import WorldModel


def block_flops(tokens: int, dim: int, mlp: int) -> float:
    """Matmul FLOPs of one transformer block (2 per multiply-add; attention counted in full)."""
    linear = 2 * tokens * dim * (3 * dim + dim + 2 * mlp)
    attention = 2 * 2 * tokens * tokens * dim
    return float(linear + attention)


def encoder_flops(spec: ModelSpec) -> float:
    n, e = spec.tokens_per_frame, spec.encoder
    patch = 2 * n * e.dim * 3 * spec.tubelet * spec.patch_size**2
    return patch + e.depth * block_flops(n, e.dim, e.mlp_hidden)


def predictor_flops(spec: ModelSpec, steps: int) -> float:
    n, p, de = spec.tokens_per_frame, spec.predictor, spec.encoder.dim
    embed = 2 * steps * n * de * p.dim
    blocks = p.depth * block_flops(steps * (n + 2), p.dim, p.mlp_hidden)
    proj = 2 * n * p.dim * de  # last step only (WorldModel.predict)
    return embed + blocks + proj


def timeit(fn, device: str, repeats: int, warmup: int) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    ap.add_argument("--frames", type=int, default=4, help="encoder batch (frames)")
    ap.add_argument(
        "--candidates", type=int, nargs="+", default=[100, 400], help="predictor batches"
    )
    ap.add_argument("--steps", type=int, nargs="+", default=[1, 2], help="context steps T")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = spec_from_name(args.preset)
    dtype = DTYPES[args.dtype]
    model = WorldModel.build(spec, args.device, dtype)
    n, d = spec.tokens_per_frame, spec.encoder.dim
    where = (
        torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else f"CPU x{torch.get_num_threads()} threads"
    )
    print(f"preset {spec.name}, {args.dtype}, {where}, torch {torch.__version__}")
    n_enc = sum(p.numel() for p in model.encoder.parameters()) / 1e6
    n_pred = sum(p.numel() for p in model.predictor.parameters()) / 1e6
    print(f"params: encoder {n_enc:.2f} M, predictor {n_pred:.2f} M; tokens/frame {n}, dim {d}")

    frames = torch.randint(
        0, 256, (args.frames, spec.img_size, spec.img_size, 3), dtype=torch.uint8
    )
    frames = frames.to(args.device)
    with torch.inference_mode():
        sec = timeit(lambda: model.encode(frames), args.device, args.repeats, args.warmup)
    fl = encoder_flops(spec) * args.frames
    print(
        f"encoder  batch {args.frames:4d}: {sec * 1e3:9.2f} ms  {args.frames / sec:9.1f} frames/s  "
        f"{fl / sec / 1e12:7.3f} TFLOP/s"
    )
    g = torch.Generator(device=args.device).manual_seed(0)
    for steps in args.steps:
        for b in args.candidates:
            z = torch.randn(b, steps * n, d, device=args.device, dtype=dtype, generator=g)
            a = torch.randn(b, steps, 7, device=args.device, generator=g) * 0.05
            s = torch.randn(b, steps, 7, device=args.device, generator=g)
            with torch.inference_mode():
                sec = timeit(
                    lambda z=z, a=a, s=s: model.predict(z, a, s),
                    args.device,
                    args.repeats,
                    args.warmup,
                )
            fl = predictor_flops(spec, steps) * b
            print(
                f"predictor T={steps} batch {b:4d}: {sec * 1e3:9.2f} ms  {b / sec:9.1f} samples/s  "
                f"{fl / sec / 1e12:7.3f} TFLOP/s"
            )


if __name__ == "__main__":
    main()
