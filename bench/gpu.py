"""The GPU fast path's numbers in one command (issue #17): `make bench-gpu`.

    python3 bench/gpu.py --out runs/bench_gpu      # vitg-ac sizes, random weights, CUDA
    python3 bench/gpu.py --dry-run                 # the same sections on the CPU, small preset
    python3 bench/gpu.py --checkpoint models/vjepa2-ac-vitg.pt   # + FP8 check on real weights

Sections, in this order, each inside the time budget (`--time-budget`, default 500 s so the
whole run fits 10 minutes with imports and start-up); a section whose estimate does not fit what is left is
skipped and the JSON says why:
  env         device, part, SMs, driver, torch, CUDA, triton, torchao
  encoder     batch-1 encode latency: eager and under a CUDA graph (ms, TFLOP/s, max diff)
  predictor   801 candidates, horizon 1 (predictor + norm + energy): eager and compiled
  sdpa        the attention backends on the predictor's shapes (flash, efficient, cuDNN, math)
  plans       latency per action for each budget (paper, notebook, fast) and path:
                eager     bf16, KV cache (horizon >= 2)
                compiled  bf16, one compiled region per rollout step
                baseline  the unoptimised path: float32, no TF32, eager, no KV cache (scaled
                          from fewer iterations when the full budget would not fit)
                fp8       FP8 predictor GEMMs + compiled, marked accepted only if validated
              with TFLOP/s, MFU against the part's data-sheet peak, peak memory, compile time
              and graphs compiled during the timed plans (must be 0)
  validation  rank correlation, top-10 overlap and action difference, bf16 vs float32 and
              FP8 vs bf16, with the committed trained small model on the validation frames
              (and the released checkpoint with --checkpoint)
  summary     the issue's bar, each item PASS / FAIL / not measured
Writes <out>/gpu_<stamp>.json after every section and <out>/gpu_<stamp>.txt (the table).

Imports torch, numpy, yaml and the package's model and planning modules only: no ROS, MuJoCo
or franky (test_bench_gpu.py runs it with those imports blocked). Speed does not depend on the
weights' values, so the vitg-ac rows use random weights unless --checkpoint is given.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's package

import numpy as np
import torch

from bench.flops import plan_flops, step_flops
from bench.model import encoder_flops
from bench.peaks import DTYPE_NAMES, identify, peak_tflops
from vjepa2_ros.model.config import enable_tf32, resolve_dtype
from vjepa2_ros.model.cuda_graph import GraphedEncoder
from vjepa2_ros.model.fp8 import fp8_unavailable_reason, quantize_predictor_fp8
from vjepa2_ros.model.presets import ModelSpec, spec_from_name
from vjepa2_ros.model.world_model import WorldModel, normalize_reps
from vjepa2_ros.planning.budgets import load_budget
from vjepa2_ros.planning.cem import CEMConfig, CEMPlanner
from vjepa2_ros.planning.fast_rollout import RolloutEngine
from vjepa2_ros.planning.rollout import rollout_energies
from vjepa2_ros.pose.tensors import apply_action

ROOT = Path(__file__).resolve().parent.parent
STATE = np.array([0.55, 0.0, 0.35, -3.1, 0.0, 0.0, 0.0], dtype=np.float32)
BAR = {"paper_s": 2.0, "fast_s": 0.3, "encoder_ms": 3.0, "speedup": 5.0}
DRY_RUN_BUDGET = dict(samples=48, iterations=2)  # CPU: every path, seconds per plan


# ----------------------------------------------------------------------------- helpers
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int, warmup: int = 1) -> list[float]:
    """Seconds per call of fn() (synchronised), after `warmup` calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - t0)
    return out


def graphs_compiled() -> int:
    """Graphs dynamo compiled so far in this process (new ones in a timed loop = recompiles)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def driver_version() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def build_model(spec: ModelSpec, device: torch.device, dtype: torch.dtype, checkpoint: str):
    """The checkpoint's model, the committed small model, or random vitg-ac weights made on the
    device (seconds instead of a minute of CPU initialisation)."""
    from vjepa2_ros.model.checkpoint import load_world_model, world_model_from_config
    from vjepa2_ros.model.config import ModelConfig

    if checkpoint:
        return load_world_model(checkpoint, preset=spec.name, device=device, dtype=dtype)
    if spec.name == "small":
        name = {torch.float32: "float32", torch.bfloat16: "bfloat16"}[dtype]
        return world_model_from_config(ModelConfig("small", "", str(device), name))
    torch.manual_seed(0)
    with torch.device(device):
        model = WorldModel(spec)
    return model.to(dtype=dtype).eval()


def latents(model, spec: ModelSpec, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A current and a goal latent: layer-normalised noise (speed does not depend on them)."""
    g = torch.Generator().manual_seed(seed)
    shape = (spec.tokens_per_frame, spec.encoder.dim)
    z = normalize_reps(torch.randn(2, *shape, generator=g))
    return z[0].to(model.device, model.dtype), z[1].to(model.device)


# ----------------------------------------------------------------------------- the bench
class GpuBench:
    def __init__(self, args) -> None:
        self.args = args
        self.device = torch.device(args.device)
        self.cuda = self.device.type == "cuda"
        self.spec = spec_from_name(args.preset)
        self.dtype = resolve_dtype("auto", self.device)  # bf16 on CUDA, float32 on the CPU
        self.t0 = time.perf_counter()
        stamp = time.strftime("%Y%m%d_%H%M%S")
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        self.json_path = out / f"gpu_{stamp}.json"
        self.txt_path = out / f"gpu_{stamp}.txt"
        self.results: dict = {"args": vars(args), "bar": BAR, "sections": {}}
        self.model = None
        self.measured: dict[str, float] = {}  # timings later estimates are made from

    # -- bookkeeping
    def left(self) -> float:
        return self.args.time_budget - (time.perf_counter() - self.t0)

    def save(self) -> None:
        self.results["elapsed_s"] = round(time.perf_counter() - self.t0, 1)
        self.json_path.write_text(json.dumps(self.results, indent=2, default=str) + "\n")

    def section(self, name: str, fn, need_s: float) -> None:
        wanted = self.args.sections
        if wanted and name not in wanted:
            return
        left = self.left()
        if need_s > left:
            msg = f"skipped: needs ~{need_s:.0f} s, {left:.0f} s of the time budget left"
            self.results["sections"][name] = {"status": msg}
            print(f"[{name}] {msg}", flush=True)
            self.save()
            return
        print(f"[{name}] start ({left:.0f} s left)", flush=True)
        t0 = time.perf_counter()
        record: dict = {}
        self.results["sections"][name] = record
        try:
            fn(record)
            record.setdefault("status", "ok")
        except Exception as exc:  # one failed section must not lose the others
            record["status"] = f"error: {type(exc).__name__}: {exc}"
            record["traceback"] = traceback.format_exc(limit=8)
            print(record["traceback"], file=sys.stderr, flush=True)
        record["seconds"] = round(time.perf_counter() - t0, 1)
        print(f"[{name}] {record['status']} in {record['seconds']} s", flush=True)
        self.save()

    def budget(self, name: str, **overrides) -> CEMConfig:
        extra = dict(DRY_RUN_BUDGET) if self.args.dry_run else {}
        extra.update(overrides)
        return load_budget(name, **extra)

    # -- sections
    def env(self, rec: dict) -> None:
        rec.update(
            device=str(self.device),
            python=platform.python_version(),
            torch=torch.__version__,
            cuda=torch.version.cuda,
            preset=self.spec.name,
            dtype=str(self.dtype).removeprefix("torch."),
            checkpoint=self.args.checkpoint
            or ("models/vjepa2-ac-small.pt (trained)" if self.spec.name == "small" else "random"),
        )
        for mod in ("triton", "torchao", "numpy", "scipy"):
            try:
                rec[mod] = __import__(mod).__version__
            except Exception as exc:  # an absent optional package is a fact to report
                rec[mod] = f"not available ({type(exc).__name__})"
        if self.cuda:
            props = torch.cuda.get_device_properties(self.device)
            name = torch.cuda.get_device_name(self.device)
            part = identify(name, props.multi_processor_count)
            rec.update(
                name=name,
                part=part.name if part else "unknown (no data-sheet peak)",
                sms=props.multi_processor_count,
                memory_gb=round(props.total_memory / 2**30, 1),
                capability=f"{props.major}.{props.minor}",
                driver=driver_version(),
                peaks_tflops=vars(part) if part else None,
                fp8=fp8_unavailable_reason(self.device) or "available",
            )
        else:
            rec.update(name=platform.processor() or "cpu", threads=torch.get_num_threads())
            rec["fp8"] = fp8_unavailable_reason(self.device)
        self.model = build_model(self.spec, self.device, self.dtype, self.args.checkpoint)
        rec["model_params_m"] = round(sum(p.numel() for p in self.model.parameters()) / 1e6, 1)

    def encoder(self, rec: dict) -> None:
        s = self.spec.img_size
        frame = torch.randint(0, 256, (s, s, 3), dtype=torch.uint8, generator=torch.Generator())
        frame = frame.to(self.device)
        flops = encoder_flops(self.spec)
        with torch.inference_mode():
            eager = timed(lambda: self.model.encode(frame), self.device, self.args.encoder_reps, 3)
            ref = self.model.encode(frame)
        ms = statistics.median(eager) * 1e3
        rec["eager_ms"] = round(ms, 3)
        rec["eager_tflops"] = round(flops / (ms / 1e3) / 1e12, 2)
        if not self.cuda:
            rec["graph"] = "skipped: CUDA graphs need a GPU (GraphedEncoder falls back to eager)"
            return
        graphed = GraphedEncoder(self.model)
        times = timed(lambda: graphed.encode(frame), self.device, self.args.encoder_reps * 2, 3)
        gms = statistics.median(times) * 1e3
        rec["graph_ms"] = round(gms, 3)
        rec["graph_tflops"] = round(flops / (gms / 1e3) / 1e12, 2)
        rec["graph_max_abs_diff"] = float((graphed.encode(frame) - ref).abs().max())
        self.measured["encoder_ms"] = gms

    def predictor(self, rec: dict) -> None:
        cfg = self.budget("paper")
        batch = cfg.samples + 1
        z_now, z_goal = latents(self.model, self.spec, 0)
        state = torch.as_tensor(STATE, device=self.device)
        g = torch.Generator().manual_seed(0)
        acts = (0.05 * torch.randn(batch, 1, 7, generator=g)).to(self.device)
        flops = batch * step_flops(self.spec, 1, False)
        rec["candidates"] = batch
        rec["gflop_per_candidate"] = round(step_flops(self.spec, 1, False) / 1e9, 2)

        def plain():
            return rollout_energies(self.model, z_now, state, acts, z_goal, apply_action)

        with torch.inference_mode():
            t = statistics.median(timed(plain, self.device, self.args.repeats + 1))
            rec["eager_ms"] = round(t * 1e3, 2)
            rec["eager_tflops"] = round(flops / t / 1e12, 2)
            self.measured["predictor_eager_s"] = t
            if self.args.no_compile:
                rec["compiled"] = "skipped: --no-compile"
                return
            engine = RolloutEngine(self.model, compile=True, mode=self.args.compile_mode)
            t0 = time.perf_counter()
            e_comp = engine.energies(z_now, state, acts, z_goal, apply_action).energies
            sync(self.device)
            rec["compile_s"] = round(time.perf_counter() - t0, 1)
            self.measured["compile_s"] = rec["compile_s"]
            tc = statistics.median(
                timed(
                    lambda: engine.energies(z_now, state, acts, z_goal, apply_action),
                    self.device,
                    self.args.repeats + 1,
                )
            )
            rec["compiled_ms"] = round(tc * 1e3, 2)
            rec["compiled_tflops"] = round(flops / tc / 1e12, 2)
            rec["compiled_vs_eager_energy_max_abs_diff"] = float(
                (e_comp - plain().energies).abs().max()
            )

    def sdpa(self, rec: dict) -> None:
        import torch.nn.functional as F
        from torch.nn.attention import SDPBackend, sdpa_kernel

        p = self.spec.predictor
        hd = p.dim // p.heads
        per = self.spec.tokens_per_frame + 2
        paper = self.budget("paper").samples + 1
        notebook = self.budget("notebook").samples + 1
        # (queries, keys, mask) per attention shape the planner runs
        shapes = {
            "paper_h1": (paper, per, per, False),
            "notebook_step2_kv": (notebook, per, 2 * per, False),
            "notebook_step2_masked": (notebook, 2 * per, 2 * per, True),
        }
        backends = {
            "flash": SDPBackend.FLASH_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION,
            "cudnn": SDPBackend.CUDNN_ATTENTION,
            "math": SDPBackend.MATH,
        }
        g = torch.Generator().manual_seed(0)
        for shape_name, (b, lq, lk, masked) in shapes.items():
            q = torch.randn(b, p.heads, lq, hd, generator=g).to(self.device, self.dtype)
            k = torch.randn(b, p.heads, lk, hd, generator=g).to(self.device, self.dtype)
            v = torch.randn_like(k)
            mask = None
            if masked:
                step = torch.arange(lk, device=self.device) // per
                mask = step[None, :] <= step[:, None]
            row: dict = {"shape": [b, p.heads, lq, lk, hd], "mask": masked}
            with torch.inference_mode():
                for name, backend in backends.items():
                    try:
                        with sdpa_kernel([backend]):
                            t = timed(
                                lambda q=q, k=k, v=v, m=mask: F.scaled_dot_product_attention(
                                    q, k, v, attn_mask=m
                                ),
                                self.device,
                                self.args.repeats + 1,
                            )
                        row[f"{name}_ms"] = round(statistics.median(t) * 1e3, 3)
                    except RuntimeError as exc:
                        row[f"{name}_ms"] = "unsupported"
                        row[f"{name}_why"] = str(exc).splitlines()[0][:200]
                t = timed(
                    lambda q=q, k=k, v=v, m=mask: F.scaled_dot_product_attention(
                        q, k, v, attn_mask=m
                    ),
                    self.device,
                    self.args.repeats + 1,
                )
                row["default_ms"] = round(statistics.median(t) * 1e3, 3)
            rec[shape_name] = row
            del q, k, v

    def _plan_row(
        self,
        model,
        mode: str,
        name: str,
        cfg: CEMConfig,
        dtype_key: str,
        warmup: int = 1,
        repeats: int | None = None,
    ) -> dict:
        """Warm up (compiles), time `repeats` plans, and report one table row."""
        planner = CEMPlanner(model, cfg, device=self.device)
        z_now, z_goal = latents(model, self.spec, 1)
        with torch.inference_mode():
            t0 = time.perf_counter()
            for _ in range(warmup):
                planner.plan(z_now, STATE, z_goal)
            sync(self.device)
            warm = time.perf_counter() - t0
            graphs = graphs_compiled()
            if self.cuda:
                torch.cuda.reset_peak_memory_stats(self.device)
            times, result = [], None
            for _ in range(repeats or self.args.repeats):
                sync(self.device)
                t0 = time.perf_counter()
                result = planner.plan(z_now, STATE, z_goal)
                sync(self.device)
                times.append(time.perf_counter() - t0)
        d = result.diagnostics
        lat = statistics.median(times)
        flops = plan_flops(self.spec, cfg, d.predictor_forwards, cfg.kv_cache)
        peak, note = peak_tflops(self.device, dtype_key)
        row = {
            "mode": mode,
            "budget": name,
            "samples": cfg.samples,
            "iterations": cfg.iterations,
            "horizon": cfg.horizon,
            "kv_cache": cfg.kv_cache and cfg.horizon >= 2,
            "latency_s": round(lat, 4),
            "latency_min_s": round(min(times), 4),
            "warmup_s": round(warm, 2),
            "forwards": d.predictor_forwards,
            "tflop_per_plan": round(flops / 1e12, 3),
            "tflops": round(flops / lat / 1e12, 2),
            "peak_tflops": peak,
            "peak_note": note,
            "mfu_pct": round(100 * flops / lat / 1e12 / peak, 1) if peak == peak else None,
            "new_graphs_in_timed_plans": graphs_compiled() - graphs,
            "action": [round(float(a), 5) for a in result.action],
        }
        if self.cuda:
            row["peak_memory_gb"] = round(torch.cuda.max_memory_allocated(self.device) / 2**30, 2)
        return row

    def _plans(self, rec: dict, mode: str, model, dtype_key: str, **fast_path) -> None:
        rows = rec.setdefault("rows", [])
        for name in self.args.budgets:
            cfg = self.budget(name, **fast_path)
            need = self._estimate(mode, cfg)
            if need > self.left():
                rows.append(
                    {"mode": mode, "budget": name, "status": f"skipped: ~{need:.0f} s needed"}
                )
                continue
            rows.append(self._plan_row(model, mode, name, cfg, dtype_key))
            print(f"  {mode:<9} {name:<9} {rows[-1]['latency_s']:.3f} s", flush=True)
            self.save()

    def _estimate(self, mode: str, cfg: CEMConfig) -> float:
        """Rough seconds for warm-up + timed plans, from the predictor section's timings."""
        per_call = self.measured.get("predictor_eager_s", 1.0)
        scale = (cfg.samples + 1) / (self.budget("paper").samples + 1)
        steps = cfg.horizon * (cfg.horizon + 1) / 2 if mode == "baseline" else cfg.horizon
        plan = cfg.iterations * per_call * scale * steps
        if mode == "baseline":
            plan *= 1.0 if not self.cuda else 12.0  # float32 without TF32 on an H100
        # Graphs still to compile: horizon >= 2 adds two; FP8 weights need their own.
        graphs = 0
        if mode == "compiled" and cfg.horizon >= 2:
            graphs = 2
        elif mode == "fp8" and not self.args.no_compile:
            graphs = min(cfg.horizon, 2)
        compile_s = self.measured.get("compile_s", 60.0)
        return graphs * compile_s + (1 + self.args.repeats) * plan

    def plans_eager(self, rec: dict) -> None:
        self._plans(rec, "eager", self.model, DTYPE_NAMES[self.dtype], kv_cache=True)

    def plans_compiled(self, rec: dict) -> None:
        self._plans(
            rec,
            "compiled",
            self.model,
            DTYPE_NAMES[self.dtype],
            kv_cache=True,
            compile=True,
            compile_mode=self.args.compile_mode,
        )

    def baseline(self, rec: dict) -> None:
        """float32, no TF32, eager, uncached: the package before issue #17 (its defaults)."""
        model = build_model(self.spec, self.device, torch.float32, self.args.checkpoint)
        precision = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("highest")
        rows = rec.setdefault("rows", [])
        try:
            for name in self.args.budgets:
                full = self.budget(name, kv_cache=False)
                per_iter = self._estimate("baseline", full) / (1 + self.args.repeats)
                per_iter /= full.iterations
                # One timed plan, no warm-up (eager: nothing to compile; the GPU is warm), of
                # the whole iterations that fit a third of the time left, at least one.
                fit = int(self.left() / 3 / max(per_iter, 1e-3))
                iters = max(1, min(full.iterations, fit))
                cfg = self.budget(name, kv_cache=False, iterations=iters)
                row = self._plan_row(model, "baseline", name, cfg, "fp32", warmup=0, repeats=1)
                if iters < full.iterations:  # iterations cost the same: scale to the budget
                    factor = full.iterations / iters
                    row["measured_iterations"] = iters
                    row["iterations"] = full.iterations
                    row["latency_s"] = round(row["latency_s"] * factor, 3)
                    row["latency_min_s"] = round(row["latency_min_s"] * factor, 3)
                    row["scaled_from_iterations"] = iters
                    row["tflop_per_plan"] = round(row["tflop_per_plan"] * factor, 3)
                rows.append(row)
                print(f"  baseline  {name:<9} {row['latency_s']:.3f} s", flush=True)
                self.save()
        finally:
            torch.set_float32_matmul_precision(precision)
            del model
            if self.cuda:
                torch.cuda.empty_cache()

    def validation(self, rec: dict) -> None:
        from vjepa2_ros.planning.precision import validate

        overrides = dict(DRY_RUN_BUDGET) if self.args.dry_run else {}
        cases = 1 if self.args.dry_run else 0
        dev = str(self.device)
        pairs = [("float32", "bfloat16")]
        reason = fp8_unavailable_reason(self.device)
        if reason is None:
            pairs.append(("bfloat16", "fp8"))
        else:
            rec["fp8"] = f"not validated: {reason}"
        for ref, cand in pairs:
            report = validate(
                "small", "", dev, ref, cand, "paper", (0,), None, None, cases, **overrides
            )
            rec[f"small_{cand}_vs_{ref}"] = {
                "passed": report.passed,
                "summary": report.summary(),
                "cases": [vars(c) for c in report.cases],
            }
            print("  " + report.summary(), flush=True)
        if self.args.checkpoint and reason is None and self.spec.name == "vitg-ac":
            report = validate(
                "vitg-ac", self.args.checkpoint, dev, "bfloat16", "fp8", "paper", (0,), None
            )
            rec["vitg_fp8_vs_bfloat16"] = {"passed": report.passed, "summary": report.summary()}
        else:
            rec["vitg_fp8_vs_bfloat16"] = (
                "not run: the released checkpoint is not on this machine (--checkpoint)"
            )
        small = rec.get("small_fp8_vs_bfloat16", {}).get("passed")
        vitg = rec["vitg_fp8_vs_bfloat16"]
        self.results["fp8_accepted"] = vitg["passed"] if isinstance(vitg, dict) else small

    def fp8(self, rec: dict) -> None:
        reason = fp8_unavailable_reason(self.device)
        if reason:
            rec["status"] = f"skipped: {reason}"
            return
        accepted = self.results.get("fp8_accepted")
        rec["accepted"] = accepted
        rec["converted_layers"] = len(quantize_predictor_fp8(self.model))  # in place, last
        compiled = not self.args.no_compile
        try:
            self._plans(
                rec,
                "fp8",
                self.model,
                "fp8",
                kv_cache=True,
                compile=compiled,
                compile_mode=self.args.compile_mode,
            )
        except Exception as exc:  # compiled FP8 failing must still leave eager FP8 numbers
            if not compiled:
                raise
            rec["compiled_error"] = f"{type(exc).__name__}: {exc}"[:500]
            self._plans(rec, "fp8", self.model, "fp8", kv_cache=True, compile=False)

    # -- summary
    def summary(self, rec: dict) -> None:
        sections = self.results["sections"]
        rows = [
            r
            for key in ("plans_eager", "plans_compiled", "baseline", "fp8")
            for r in sections.get(key, {}).get("rows", [])
            if "latency_s" in r
        ]
        fp8_ok = bool(self.results.get("fp8_accepted"))
        best: dict[str, dict] = {}
        for r in rows:
            if r["mode"] == "baseline" or (r["mode"] == "fp8" and not fp8_ok):
                continue
            if r["budget"] not in best or r["latency_s"] < best[r["budget"]]["latency_s"]:
                best[r["budget"]] = r
        base = {r["budget"]: r for r in rows if r["mode"] == "baseline"}
        judge = self.cuda and not self.args.dry_run  # the bar is about a GPU
        bar: dict = {}
        for key, budget in (("paper_s", "paper"), ("fast_s", "fast")):
            r = best.get(budget)
            note = f"best accepted path: {r and r['mode']}"
            bar[key] = _verdict(r and r["latency_s"], BAR[key], note, judge)
        bar["encoder_ms"] = _verdict(
            self.measured.get("encoder_ms"), BAR["encoder_ms"], "CUDA graph, batch 1", judge
        )
        speedups = {
            b: round(base[b]["latency_s"] / best[b]["latency_s"], 2) for b in best if b in base
        }
        rec["speedup_vs_baseline"] = speedups
        if "paper" in speedups:
            ok = "PASS" if speedups["paper"] >= BAR["speedup"] else "FAIL"
            bar["speedup"] = (
                f"{ok if judge else 'measured'}: paper {speedups['paper']}x (bar >= 5x)"
            )
        else:
            bar["speedup"] = "not measured"
        bar["mfu"] = {b: r.get("mfu_pct") for b, r in best.items()}
        if self.args.dry_run or not self.cuda:
            bar = {
                "note": "CPU dry run: the bar is for an H100 and was not measured here",
                "dry_run_values": bar,
            }
        rec["bar"] = bar
        self.results["bar_result"] = bar
        self.txt_path.write_text(self.table())
        print(self.table(), flush=True)

    def table(self) -> str:
        s = self.results["sections"]
        env = s.get("env", {})
        lines = [
            f"# bench/gpu.py  {env.get('name')} ({env.get('part', 'cpu')}), driver "
            f"{env.get('driver')}, torch {env.get('torch')}, CUDA {env.get('cuda')}, "
            f"{env.get('preset')} {env.get('dtype')}, {env.get('checkpoint')}",
        ]
        enc = s.get("encoder", {})
        if "eager_ms" in enc:
            graph = f"{enc['graph_ms']} ms" if "graph_ms" in enc else enc.get("graph")
            lines.append(f"encoder batch 1: eager {enc['eager_ms']} ms, CUDA graph {graph}")
        pred = s.get("predictor", {})
        if "eager_ms" in pred:
            lines.append(
                f"predictor {pred['candidates']} candidates (H=1): eager {pred['eager_ms']} ms "
                f"({pred['eager_tflops']} TFLOP/s), compiled {pred.get('compiled_ms')} ms "
                f"({pred.get('compiled_tflops')} TFLOP/s, compile {pred.get('compile_s')} s)"
            )
        for name, row in s.get("sdpa", {}).items():
            if isinstance(row, dict):
                cells = ", ".join(f"{k[:-3]} {v}" for k, v in row.items() if k.endswith("_ms"))
                lines.append(f"sdpa {name} {row['shape']}: {cells}")
        lines.append(
            "mode      budget     N    it H  latency_s  TFLOP/s  MFU%   peak_GB  warmup_s  new_graphs"
        )
        for key in ("baseline", "plans_eager", "plans_compiled", "fp8"):
            for r in s.get(key, {}).get("rows", []):
                if "latency_s" not in r:
                    lines.append(f"{r['mode']:<9} {r['budget']:<9} {r['status']}")
                    continue
                scaled = (
                    f" (scaled from {r['scaled_from_iterations']} it)"
                    if "scaled_from_iterations" in r
                    else ""
                )
                lines.append(
                    f"{r['mode']:<9} {r['budget']:<9} {r['samples']:>4} {r['iterations']:>3} "
                    f"{r['horizon']:>1}  {r['latency_s']:>9.3f}  {r['tflops']:>7.2f}  "
                    f"{r['mfu_pct'] if r['mfu_pct'] is not None else 'n/a':>5}  "
                    f"{r.get('peak_memory_gb', '-'):>7}  {r['warmup_s']:>8.1f}  "
                    f"{r['new_graphs_in_timed_plans']:>10}{scaled}"
                )
        val = s.get("validation", {})
        for key, v in val.items():
            if isinstance(v, dict) and "summary" in v:
                lines.append(f"validation {key}: {v['summary']}")
            elif key not in ("status", "seconds"):
                lines.append(f"validation {key}: {v}")
        bar = s.get("summary", {}).get("bar", {})
        for key, v in bar.get("dry_run_values", bar).items():
            prefix = "dry run (not the bar)" if "dry_run_values" in bar else "bar"
            lines.append(f"{prefix} {key}: {v}")
        if "note" in bar:
            lines.append(f"note: {bar['note']}")
        skipped = [f"{k}: {v['status']}" for k, v in s.items() if v.get("status", "ok") != "ok"]
        lines += [f"not run: {x}" for x in skipped]
        return "\n".join(lines) + "\n"

    def run(self) -> int:
        a = self.args
        self.section("env", self.env, 30)
        if self.model is None:
            print("no model: nothing else can run", file=sys.stderr)
            return 2
        self.section("encoder", self.encoder, 20)
        self.section("predictor", self.predictor, 30 if a.no_compile else 150)
        self.section("sdpa", self.sdpa, 20)
        self.section("plans_eager", self.plans_eager, 15)
        if not a.no_compile:
            self.section("plans_compiled", self.plans_compiled, 15)
        self.section("baseline", self.baseline, 30)
        self.section("validation", self.validation, 20)
        self.section("fp8", self.fp8, 60)
        self.section("summary", self.summary, 0)
        self.save()
        print(f"wrote {self.json_path} and {self.txt_path}")
        return 0


def _verdict(value, bar: float, note: str, judge: bool = True) -> str:
    if value is None:
        return "not measured"
    verdict = ("PASS" if value <= bar else "FAIL") if judge else "measured"
    return f"{verdict}: {value:.3f} (bar <= {bar}; {note})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dry-run", action="store_true", help="CPU, small preset, small budgets")
    p.add_argument("--preset", default=None, help="default: vitg-ac (small with --dry-run)")
    p.add_argument("--device", default=None, help="default: cuda (cpu with --dry-run)")
    p.add_argument("--checkpoint", default="", help="released weights (FP8 validation on them)")
    p.add_argument("--budgets", default="fast,paper,notebook", help="config/budgets.yaml names")
    p.add_argument("--repeats", type=int, default=None, help="timed plans (default 2; dry 1)")
    p.add_argument("--encoder-reps", type=int, default=20)
    p.add_argument(
        "--compile-mode",
        default="default",
        choices=["default", "max-autotune-no-cudagraphs", "max-autotune", "reduce-overhead"],
    )
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--time-budget", type=float, default=500.0, help="seconds for all sections")
    p.add_argument("--sections", default="", help="comma list to run only these (tests)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--out", default=str(ROOT / "runs" / "bench_gpu"))
    args = p.parse_args(argv)
    args.preset = args.preset or ("small" if args.dry_run else "vitg-ac")
    args.device = args.device or ("cpu" if args.dry_run else "cuda")
    args.repeats = args.repeats or (1 if args.dry_run else 2)
    args.budgets = [b for b in args.budgets.split(",") if b]
    args.sections = [s for s in args.sections.split(",") if s]
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            print("bench/gpu.py: no CUDA device; use --dry-run for the CPU", file=sys.stderr)
            return 2
        enable_tf32()
    return GpuBench(args).run()


if __name__ == "__main__":
    raise SystemExit(main())
