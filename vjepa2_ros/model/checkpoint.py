"""Loading and checking V-JEPA 2-AC checkpoints in the released format.

The file is a dict with `encoder` and `predictor` state dicts whose keys may carry `module.`
and/or `backbone.` prefixes. We strip them, compare every key and shape with the model the
spec builds, and name every problem. Loading is memory-light: `torch.load(mmap=True)` keeps
the file's tensors on disk pages, the model is built on the meta device, and each tensor is
cast and moved on its own before `load_state_dict(assign=True)` adopts it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from vjepa2_ros.model.config import enable_tf32
from vjepa2_ros.model.presets import (
    PRESETS,
    EncoderSize,
    ModelSpec,
    PredictorSize,
    spec_from_name,
)
from vjepa2_ros.model.world_model import WorldModel

PREFIXES = ("module.", "backbone.")
SECTIONS = ("encoder", "predictor")
# Encoder entries only the self-supervised pretraining used; reported, never loaded.
PRETRAIN_ONLY_ENCODER = ("pos_embed", "mask_token", "norms_block.")
HEAD_DIM = 64  # not stored in weights; every V-JEPA 2 model uses 64 (see presets.py)
DEFAULT_IMG_SIZE = 256  # the released model's input; weights do not store it
DEFAULT_MAX_STEPS = 32


class CheckpointError(ValueError):
    """The checkpoint cannot be used; the message names the file and every problem."""


@dataclass
class Report:
    """What `vjepa2-checkpoint inspect` prints."""

    path: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    preset: str | None = None  # the preset whose keys and shapes the file matches
    spec: ModelSpec | None = None  # sizes matched or inferred
    params: dict[str, int] = field(default_factory=dict)  # section -> parameter count
    tensors: dict[str, int] = field(default_factory=dict)
    dtypes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        lines = [f"checkpoint: {self.path}"]
        for name in SECTIONS:
            if name in self.params:
                lines.append(
                    f"  {name}: {self.tensors[name]} tensors, {self.params[name] / 1e6:,.2f} M parameters"
                )
        if self.dtypes:
            lines.append(f"  dtypes: {', '.join(self.dtypes)}")
        if self.preset:
            lines.append(f"  matches preset: {self.preset}")
        elif self.spec is not None and self.spec.name == "inferred":
            e, p = self.spec.encoder, self.spec.predictor
            lines.append(
                "  matches no preset; inferred sizes: "
                f"patch {self.spec.patch_size}, tubelet {self.spec.tubelet}, "
                f"encoder {e.dim}-d x {e.depth} blocks x {e.heads} heads (mlp {e.mlp_hidden}), "
                f"predictor {p.dim}-d x {p.depth} blocks x {p.heads} heads (mlp {p.mlp_hidden})"
            )
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  PROBLEM: {p}" for p in self.problems]
        lines.append(
            "OK: loadable" if self.ok else f"NOT LOADABLE: {len(self.problems)} problem(s)"
        )
        return "\n".join(lines)


def strip_prefixes(key: str) -> str:
    """'module.backbone.blocks.0...' -> 'blocks.0...'."""
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
                changed = True
    return key


def read_checkpoint(path: str | Path) -> dict[str, dict[str, torch.Tensor]]:
    """{'encoder': {...}, 'predictor': {...}} with stripped keys, tensors memory-mapped."""
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(
            f"checkpoint {path} does not exist: download vjepa2-ac-vitg.pt and pass its path"
        )
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is not a file")
    if path.stat().st_size == 0:
        raise CheckpointError(
            f"checkpoint {path} is empty (0 bytes): the download or copy did not finish; "
            "download it again"
        )
    try:
        data = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):
            raise CheckpointError(_unreadable(path, exc)) from None
        try:  # legacy (non-zip) serialisation cannot be memory-mapped
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc2:
            raise CheckpointError(_unreadable(path, exc2)) from None
    except Exception as exc:
        raise CheckpointError(_unreadable(path, exc)) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(data).__name__}, not a dict")
    out: dict[str, dict[str, torch.Tensor]] = {}
    for name in SECTIONS:
        section = data.get(name)
        if not isinstance(section, dict):
            top = ", ".join(sorted(map(str, data))) or "none"
            raise CheckpointError(
                f"checkpoint {path} has no {name!r} state dict (top-level keys: {top}); "
                "expected the released V-JEPA 2-AC format"
            )
        cleaned: dict[str, torch.Tensor] = {}
        for key, value in section.items():
            short = strip_prefixes(str(key))
            if short in cleaned:
                raise CheckpointError(f"checkpoint {path}: {name} key {short!r} appears twice")
            if not isinstance(value, torch.Tensor):
                raise CheckpointError(
                    f"checkpoint {path}: {name} entry {key!r} is a {type(value).__name__}, not a tensor"
                )
            cleaned[short] = value
        out[name] = cleaned
    return out


def _unreadable(path: Path, exc: BaseException) -> str:
    size = path.stat().st_size
    return (
        f"checkpoint {path} ({size:,} bytes) cannot be read: it is truncated, corrupt or not a "
        f"PyTorch file; download it again ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
    )


def expected_shapes(spec: ModelSpec) -> dict[str, dict[str, tuple[int, ...]]]:
    """Key -> shape per section for the model `spec` builds (on the meta device, no memory)."""
    model = WorldModel.build(spec, device="meta")
    return {
        "encoder": {k: tuple(v.shape) for k, v in model.encoder.state_dict().items()},
        "predictor": {k: tuple(v.shape) for k, v in model.predictor.state_dict().items()},
    }


def _tolerated(section: str, key: str) -> bool:
    return section == "encoder" and key.startswith(PRETRAIN_ONLY_ENCODER)


def compare(
    spec: ModelSpec, weights: dict[str, dict[str, torch.Tensor]]
) -> tuple[list[str], list[str]]:
    """(problems, notes): every missing, unexpected or mis-shaped key, by name."""
    problems: list[str] = []
    notes: list[str] = []
    want = expected_shapes(spec)
    for name in SECTIONS:
        have = weights[name]
        for key, shape in want[name].items():
            if key not in have:
                problems.append(f"{name}: missing key {key} (expected shape {shape})")
            elif tuple(have[key].shape) != shape:
                problems.append(
                    f"{name}: key {key} has shape {tuple(have[key].shape)}, "
                    f"the {spec.name} model expects {shape}"
                )
            elif not have[key].is_floating_point():
                problems.append(f"{name}: key {key} has non-float dtype {have[key].dtype}")
        for key in have:
            if key in want[name]:
                continue
            if _tolerated(name, key):
                notes.append(f"{name}: ignoring pretraining-only key {key}")
            else:
                problems.append(f"{name}: unexpected key {key} {tuple(have[key].shape)}")
    return problems, notes


def _block_count(keys: list[str], prefix: str) -> int:
    pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.")
    found = {int(m.group(1)) for k in keys if (m := pattern.match(k))}
    return max(found) + 1 if found else 0


def _mode(values: list[int]) -> int:
    return Counter(values).most_common(1)[0][0]


def infer_spec(weights: dict[str, dict[str, torch.Tensor]]) -> ModelSpec:
    """Sizes from tensor shapes; a preset if they match one, else `inferred` (img 256)."""
    enc, pred = weights["encoder"], weights["predictor"]
    for section, key in (
        ("encoder", "patch_embed.proj.weight"),
        ("predictor", "predictor_embed.weight"),
        ("predictor", "action_encoder.weight"),
        ("predictor", "state_encoder.weight"),
    ):
        if key not in weights[section]:
            raise CheckpointError(f"cannot infer model sizes: {section} has no key {key}")
    e_dim, _, tubelet, patch, _ = enc["patch_embed.proj.weight"].shape
    p_dim = pred["predictor_embed.weight"].shape[0]
    e_mlp = [v.shape[0] for k, v in enc.items() if re.match(r"^blocks\.\d+\.mlp\.fc1\.weight$", k)]
    p_mlp = [
        v.shape[0]
        for k, v in pred.items()
        if re.match(r"^predictor_blocks\.\d+\.mlp\.fc1\.weight$", k)
    ]
    if not e_mlp or not p_mlp:
        raise CheckpointError("cannot infer model sizes: no transformer blocks found")
    for what, dim in (("encoder", e_dim), ("predictor", p_dim)):
        if dim % HEAD_DIM:
            raise CheckpointError(
                f"cannot infer {what} heads: width {dim} is not a multiple of head size {HEAD_DIM}"
            )
    extr = pred.get("extrinsics_encoder.weight")
    spec = ModelSpec(
        name="inferred",
        img_size=DEFAULT_IMG_SIZE,
        patch_size=int(patch),
        tubelet=int(tubelet),
        encoder=EncoderSize(
            int(e_dim), _block_count(list(enc), "blocks"), int(e_dim) // HEAD_DIM, _mode(e_mlp)
        ),
        predictor=PredictorSize(
            int(p_dim),
            _block_count(list(pred), "predictor_blocks"),
            int(p_dim) // HEAD_DIM,
            _mode(p_mlp),
            DEFAULT_MAX_STEPS,
        ),
        action_dim=int(pred["action_encoder.weight"].shape[1]),
        state_dim=int(pred["state_encoder.weight"].shape[1]),
        extrinsics_dim=int(extr.shape[1]) if extr is not None else 6,
    )
    for preset in PRESETS.values():
        as_inferred = replace(
            preset,
            name="inferred",
            img_size=DEFAULT_IMG_SIZE,
            predictor=replace(preset.predictor, max_steps=DEFAULT_MAX_STEPS),
        )
        if as_inferred == spec:
            return preset
    return spec


def _resolve_spec(weights, preset: str | ModelSpec | None) -> ModelSpec:
    if isinstance(preset, ModelSpec):
        return preset
    if isinstance(preset, str):
        return spec_from_name(preset)
    return infer_spec(weights)


def _count(section: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() for t in section.values())


def non_finite(
    weights: dict[str, dict[str, torch.Tensor]], limit: int = 5, sections=SECTIONS
) -> list[str]:
    """Tensors holding NaN or inf (a corrupt or diverged checkpoint), named, at most `limit`."""
    bad = [
        f"{name}.{key}"
        for name in sections
        for key, t in weights[name].items()
        if t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]
    if not bad:
        return []
    more = f" and {len(bad) - limit} more" if len(bad) > limit else ""
    return [
        f"{len(bad)} tensor(s) hold NaN or inf ({', '.join(bad[:limit])}{more}): the file is "
        "corrupt or the training diverged; use another checkpoint"
    ]


def inspect_checkpoint(path: str | Path, preset: str | ModelSpec | None = None) -> Report:
    """Check a file without building the model; problems are collected, not raised."""
    report = Report(path=str(path))
    try:
        weights = read_checkpoint(path)
        report.params = {n: _count(weights[n]) for n in SECTIONS}
        report.tensors = {n: len(weights[n]) for n in SECTIONS}
        report.dtypes = sorted(
            {str(t.dtype).removeprefix("torch.") for s in weights.values() for t in s.values()}
        )
        spec = _resolve_spec(weights, preset)
    except CheckpointError as exc:
        report.problems.append(str(exc))
        return report
    report.spec = spec
    if spec.name == "inferred":
        report.notes.append(
            f"image size is not stored in the weights; assuming {DEFAULT_IMG_SIZE} px"
        )
    problems, notes = compare(spec, weights)
    report.problems += problems + non_finite(weights)
    report.notes += notes
    if not report.problems and PRESETS.get(spec.name) == spec:
        report.preset = spec.name
    elif spec.name != "inferred":
        report.notes.append(f"checked against the {spec.name} sizes")
    return report


def load_weights(
    model: WorldModel, weights: dict[str, dict[str, Any]], device, dtype, parts=SECTIONS
) -> WorldModel:
    """Adopt `weights` (checked beforehand) into a meta-device model, one tensor at a time.

    Only `parts` are materialised; the others stay on the meta device (no memory).
    """
    for name in parts:
        module = getattr(model, name)
        wanted = module.state_dict().keys()
        state = {k: weights[name][k].to(device=device, dtype=dtype) for k in wanted}
        module.load_state_dict(state, strict=True, assign=True)
    return model.eval()


def load_world_model(
    path: str | Path,
    preset: str | ModelSpec | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    parts=SECTIONS,
) -> WorldModel:
    """WorldModel with the checkpoint's weights on `device` in `dtype`; CheckpointError if unusable.

    `preset` None infers the sizes (a preset when they match one); a name or a ModelSpec
    requires the file to match it exactly. `parts`: the halves to load ("encoder",
    "predictor"); a node that runs one leaves the other on the meta device (ViT-g's encoder is
    2 GB in bf16 that the planner never uses).
    """
    weights = read_checkpoint(path)
    spec = _resolve_spec(weights, preset)
    problems, _ = compare(spec, weights)
    problems += non_finite(weights, sections=parts)
    if problems:
        listed = "\n  ".join(problems)
        raise CheckpointError(
            f"checkpoint {path} does not fit the {spec.name} model ({len(problems)} problem(s)):\n  {listed}"
        )
    model = WorldModel.build(spec, device="meta", dtype=dtype)
    return load_weights(model, weights, device, dtype, parts)


def world_model_from_config(
    cfg, seed: int = 0, default_dir: Path | None = None, parts=SECTIONS
) -> WorldModel:
    """The model a node runs for a ModelConfig: its checkpoint, or seeded random `small` weights.

    A `small` preset without a checkpoint runs with random weights (frozen random ViT features
    already give a usable energy bowl, see ENVIRONMENT.md); `vitg-ac` without one is an error.
    """
    path = cfg.checkpoint_path(default_dir)
    if torch.device(cfg.device).type == "cuda":
        enable_tf32()
    if path is not None:
        return load_world_model(
            path, preset=cfg.preset, device=cfg.device, dtype=cfg.torch_dtype, parts=parts
        )
    if cfg.preset != "small":
        raise CheckpointError(
            f"preset {cfg.preset} needs the released checkpoint: download vjepa2-ac-vitg.pt into "
            "models/ or set the checkpoint parameter to its path"
        )
    return WorldModel.build(spec_from_name(cfg.preset), cfg.device, cfg.torch_dtype, seed=seed)
