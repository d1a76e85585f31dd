"""Is a faster precision safe to plan with? Compare two precisions on the same inputs.

CEM only needs the energies' order, not their values, so the test is about decisions:
- rank correlation (Spearman) of the energies of the same N candidates (the budget's first
  iteration, same seed),
- overlap of the top-10 elites of those candidates,
- difference of the returned action when the whole search runs in each precision (same seed).
Each model encodes the frames itself (the encoder runs in the model's dtype in deployment too);
frames, states, candidates and seeds are shared.

Only trained weights and real inputs say anything: on random ViT-g weights bf16 already moves
energies (2e-4) by more than candidates differ (5e-5), yet that tells nothing about a trained
model, whose energies spread far more. The frames are the sim views the committed small model
was trained on (models/validation_frames.npz) or a user's own (`--frames`).

    vjepa2-validate-precision --preset small --reference float32 --candidate bfloat16
    vjepa2-validate-precision --preset vitg-ac --device cuda --reference bfloat16 \\
        --candidate fp8 --out models/fp8_validation.json

A passing FP8 report is what `fp8_validation` (planner config) asks for: the planner converts
the predictor to FP8 only for the weights (fingerprint) and GPU model the report was made on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from vjepa2_ros.config import ConfigError
from vjepa2_ros.paths import models_dir

PRECISIONS = ("float32", "bfloat16", "float16", "fp8")
VALIDATION_FRAMES = "validation_frames.npz"


@dataclass
class Thresholds:
    """What a candidate precision must keep (the GPU bar: FP8 vs bf16, issue #17)."""

    min_top10_overlap: int = 9  # of the reference's 10 lowest-energy candidates
    max_action_diff_mm: float = 1.0  # returned xyz action, Euclidean
    min_spearman: float = 0.9  # rank correlation of all N energies

    def __post_init__(self) -> None:
        if not 0 <= self.min_top10_overlap <= 10:
            raise ConfigError(f"min_top10_overlap must be in [0, 10], got {self.min_top10_overlap}")
        if self.max_action_diff_mm < 0:
            raise ConfigError(f"max_action_diff_mm must be >= 0, got {self.max_action_diff_mm}")
        if not -1.0 <= self.min_spearman <= 1.0:
            raise ConfigError(f"min_spearman must be in [-1, 1], got {self.min_spearman}")


@dataclass
class CaseResult:
    case: int  # index of the frame pair
    seed: int
    spearman: float
    top10_overlap: int
    action_diff_mm: float
    gripper_diff: float
    energy_max_abs_diff: float
    energy_spread: float  # std of the reference energies over the N candidates
    action_reference: list[float]
    action_candidate: list[float]


@dataclass
class PrecisionReport:
    reference: str
    candidate: str
    preset: str
    checkpoint: str
    fingerprint: str  # model.fp8.weights_fingerprint of the predictor
    device: str
    device_name: str
    torch: str
    budget: str
    samples: int
    iterations: int
    horizon: int
    thresholds: Thresholds
    shared_latents: bool = False  # True: only the predictor's precision differed
    cases: list[CaseResult] = field(default_factory=list)
    seconds: float = 0.0
    passed: bool = False
    reasons: list[str] = field(default_factory=list)

    def judge(self) -> PrecisionReport:
        """Set `passed` and `reasons` from the worst case against the thresholds."""
        t = self.thresholds
        reasons = []
        if not self.cases:
            reasons.append("no cases were compared")
        else:
            if self.worst_top10 < t.min_top10_overlap:
                reasons.append(f"top-10 overlap {self.worst_top10}/10 < {t.min_top10_overlap}/10")
            if self.worst_action_mm > t.max_action_diff_mm:
                reasons.append(
                    f"action differs by {self.worst_action_mm:.3f} mm > {t.max_action_diff_mm} mm"
                )
            if self.worst_spearman < t.min_spearman:
                reasons.append(f"rank correlation {self.worst_spearman:.4f} < {t.min_spearman}")
        self.reasons = reasons
        self.passed = not reasons
        return self

    @property
    def worst_top10(self) -> int:
        return min(c.top10_overlap for c in self.cases)

    @property
    def worst_action_mm(self) -> float:
        return max(c.action_diff_mm for c in self.cases)

    @property
    def worst_spearman(self) -> float:
        return min(c.spearman for c in self.cases)

    def summary(self) -> str:
        verdict = "PASS" if self.passed else "FAIL: " + "; ".join(self.reasons)
        latents = ", shared latents" if self.shared_latents else ""
        return (
            f"{self.candidate} vs {self.reference} ({self.preset}, {self.device_name}{latents}, budget "
            f"{self.budget}, {len(self.cases)} cases): Spearman >= {self.worst_spearman:.4f}, "
            f"top-10 >= {self.worst_top10}/10, action <= {self.worst_action_mm:.3f} mm: {verdict}"
        )

    def table(self) -> str:
        rows = [
            "case seed  spearman  top10  action_mm  gripper  energy_maxdiff  energy_std",
        ]
        for c in self.cases:
            rows.append(
                f"{c.case:>4} {c.seed:>4}  {c.spearman:8.5f}  {c.top10_overlap:>3}/10"
                f"  {c.action_diff_mm:9.4f}  {c.gripper_diff:7.4f}  {c.energy_max_abs_diff:14.3e}"
                f"  {c.energy_spread:10.3e}"
            )
        return "\n".join(rows)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> PrecisionReport:
        data = json.loads(Path(path).read_text())
        data["thresholds"] = Thresholds(**data["thresholds"])
        data["cases"] = [CaseResult(**c) for c in data["cases"]]
        return cls(**data)


def load_validation_frames(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Frame pairs + start states: frames_now, frames_goal [K, H, W, 3] uint8, states_now [K, 7]."""
    path = Path(path) if path else models_dir() / VALIDATION_FRAMES
    if not path.is_file():
        raise ConfigError(
            f"validation frames not found: {path}; render them with "
            "scripts/make_validation_frames.py or pass --frames with your own npz"
        )
    with np.load(path) as data:
        frames = {k: data[k] for k in ("frames_now", "frames_goal", "states_now")}
    k = frames["frames_now"].shape[0]
    if frames["frames_goal"].shape[0] != k or frames["states_now"].shape != (k, 7):
        raise ConfigError(
            f"{path}: frames_now, frames_goal and states_now [K, 7] must hold the same K cases"
        )
    return frames


def load_model(preset: str, checkpoint: str, device: str, precision: str):
    """The world model in `precision` (fp8: bfloat16 with the predictor's GEMMs in FP8)."""
    from vjepa2_ros.model.checkpoint import world_model_from_config
    from vjepa2_ros.model.config import ModelConfig

    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    dtype = "bfloat16" if precision == "fp8" else precision
    model = world_model_from_config(ModelConfig(preset, checkpoint, device, dtype))
    if precision == "fp8":
        from vjepa2_ros.model.fp8 import quantize_predictor_fp8

        quantize_predictor_fp8(model)
    return model


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho (average ranks for ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def compare_models(
    reference, candidate, frames: dict, config, seeds, shared_latents: bool = False
) -> list[CaseResult]:
    """Per frame pair and seed: energies of the same candidates, and the returned actions.

    shared_latents: both plan on the reference model's latents, so only the predictor's
    precision differs (otherwise each model encodes the frames itself, as deployed).
    """
    from vjepa2_ros.planning.cem import CEMPlanner

    results = []
    for case in range(frames["frames_now"].shape[0]):
        state = frames["states_now"][case]
        encoders = (("ref", reference), ("cand", reference if shared_latents else candidate))
        with torch.inference_mode():
            latents = {
                name: (m.encode(frames["frames_now"][case]), m.encode(frames["frames_goal"][case]))
                for name, m in encoders
            }
        for seed in seeds:
            cfg = replace(config, seed=int(seed))
            planners = {
                "ref": CEMPlanner(reference, cfg, device=reference.device),
                "cand": CEMPlanner(candidate, cfg, device=candidate.device),
            }
            ref_planner = planners["ref"]
            gen = torch.Generator(device=ref_planner.device).manual_seed(int(seed))
            samples = ref_planner.sample(ref_planner.initial_mean(), ref_planner.initial_std(), gen)
            energies, actions = {}, {}
            for name, planner in planners.items():
                z_now, z_goal = latents[name]
                energies[name] = planner.score(z_now[0], state, z_goal[0], samples).cpu().numpy()
                actions[name] = planner.plan(z_now[0], state, z_goal[0]).action
            e_ref, e_cand = energies["ref"], energies["cand"]
            top_ref = set(np.argsort(e_ref, kind="stable")[:10].tolist())
            top_cand = set(np.argsort(e_cand, kind="stable")[:10].tolist())
            a_ref, a_cand = actions["ref"], actions["cand"]
            results.append(
                CaseResult(
                    case=case,
                    seed=int(seed),
                    spearman=rank_correlation(e_ref, e_cand),
                    top10_overlap=len(top_ref & top_cand),
                    action_diff_mm=float(np.linalg.norm(a_ref[:3] - a_cand[:3]) * 1e3),
                    gripper_diff=float(abs(a_ref[6] - a_cand[6])),
                    energy_max_abs_diff=float(np.abs(e_ref - e_cand).max()),
                    energy_spread=float(e_ref.std()),
                    action_reference=a_ref.round(6).tolist(),
                    action_candidate=a_cand.round(6).tolist(),
                )
            )
    return results


def validate(
    preset: str = "small",
    checkpoint: str = "",
    device: str = "cpu",
    reference: str = "float32",
    candidate: str = "bfloat16",
    budget: str = "paper",
    seeds: tuple[int, ...] = (0,),
    frames_path: str | None = None,
    thresholds: Thresholds | None = None,
    cases: int = 0,
    shared_latents: bool = False,
    **cem_overrides,
) -> PrecisionReport:
    """Load both precisions of one checkpoint and compare them (see the module docstring)."""
    from vjepa2_ros.model.fp8 import weights_fingerprint
    from vjepa2_ros.planning.budgets import load_budget

    t0 = time.perf_counter()
    frames = load_validation_frames(frames_path)
    if cases:
        frames = {k: v[:cases] for k, v in frames.items()}
    config = load_budget(budget, **cem_overrides)
    ref_model = load_model(preset, checkpoint, device, reference)
    fingerprint = weights_fingerprint(ref_model)
    cand_model = load_model(preset, checkpoint, device, candidate)
    dev = torch.device(device)
    report = PrecisionReport(
        reference=reference,
        candidate=candidate,
        preset=preset,
        checkpoint=str(checkpoint or _default_checkpoint(preset)),
        fingerprint=fingerprint,
        device=str(dev),
        device_name=device_name(dev),
        torch=torch.__version__,
        budget=budget,
        samples=config.samples,
        iterations=config.iterations,
        horizon=config.horizon,
        thresholds=thresholds or Thresholds(),
        shared_latents=shared_latents,
    )
    report.cases = compare_models(ref_model, cand_model, frames, config, seeds, shared_latents)
    report.seconds = round(time.perf_counter() - t0, 1)
    return report.judge()


def _default_checkpoint(preset: str) -> str:
    from vjepa2_ros.model.config import ModelConfig

    path = ModelConfig(preset).checkpoint_path()
    return str(path) if path else f"random init (no {preset} checkpoint found)"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"


def require_fp8_validation(path: str | Path, model) -> PrecisionReport:
    """The passing FP8-vs-bf16 report at `path` for `model`'s weights on its GPU, or ConfigError."""
    from vjepa2_ros.model.fp8 import weights_fingerprint

    path = Path(path).expanduser()
    how = (
        "run vjepa2-validate-precision --reference bfloat16 --candidate fp8 --device cuda "
        f"--checkpoint <your checkpoint> --out {path}"
    )
    if not path.is_file():
        raise ConfigError(f"FP8 needs a validation report, and {path} does not exist: {how}")
    try:
        report = PrecisionReport.load(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a validation report ({exc}): {how}") from exc
    if (report.reference, report.candidate) != ("bfloat16", "fp8"):
        raise ConfigError(
            f"{path} compares {report.candidate} with {report.reference}, not fp8 with bfloat16"
        )
    if not report.passed:
        raise ConfigError(f"{path}: FP8 failed its validation ({'; '.join(report.reasons)})")
    if report.fingerprint != weights_fingerprint(model):
        raise ConfigError(f"{path} validated other weights than this checkpoint's: {how}")
    here = device_name(torch.device(model.device))
    if report.device_name != here:
        raise ConfigError(f"{path} was validated on {report.device_name}, this is {here}: {how}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="vjepa2-validate-precision",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--preset", default="small")
    parser.add_argument("--checkpoint", default="", help="default: models/ file of the preset")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--reference", default="float32", choices=PRECISIONS)
    parser.add_argument("--candidate", default="bfloat16", choices=PRECISIONS)
    parser.add_argument("--budget", default="paper", help="config/budgets.yaml name")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--samples", type=int, default=None, help="override the budget's N")
    parser.add_argument("--iterations", type=int, default=None, help="override its iterations")
    parser.add_argument("--frames", default=None, help="npz with frames_now/goal, states_now")
    parser.add_argument("--cases", type=int, default=0, help="first K frame pairs (0: all)")
    parser.add_argument(
        "--shared-latents",
        action="store_true",
        help="plan both on the reference's latents: only the predictor's precision differs",
    )
    parser.add_argument("--out", default=None, help="write the report as JSON here")
    parser.add_argument("--min-top10", type=int, default=Thresholds.min_top10_overlap)
    parser.add_argument("--max-action-mm", type=float, default=Thresholds.max_action_diff_mm)
    parser.add_argument("--min-spearman", type=float, default=Thresholds.min_spearman)
    args = parser.parse_args(argv)
    try:
        report = validate(
            args.preset,
            args.checkpoint,
            args.device,
            args.reference,
            args.candidate,
            args.budget,
            tuple(args.seeds),
            args.frames,
            Thresholds(args.min_top10, args.max_action_mm, args.min_spearman),
            args.cases,
            args.shared_latents,
            **{k: v for k in ("samples", "iterations") if (v := getattr(args, k)) is not None},
        )
    except (ConfigError, RuntimeError) as exc:
        print(f"vjepa2-validate-precision: {exc}", file=sys.stderr)
        return 2
    print(report.table())
    print(report.summary())
    if args.out:
        report.save(args.out)
        print(f"wrote {args.out}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
