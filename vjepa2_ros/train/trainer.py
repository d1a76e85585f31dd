"""AC post-training: frozen encoder, predictor trained with the paper's losses, resumable.

The encoder never changes, so every frame is encoded once and its layer-normalised latent is
cached (memory and disk); a training step is then predictor-only, which is what makes CPU
training of the `small` model take minutes. Optimiser and schedule follow the reference
(AdamW, no weight decay on biases and norms, warmup from start_lr), with the issue's linear
warmup + cosine decay and optional gradient clipping.

Checkpoints are the released format ("encoder", "predictor" state dicts) plus "opt", "step",
"epoch", "train_config" and "preset", so `load_world_model` reads them and `resume` continues
exactly: the LR is a function of the step and batch k is drawn from a generator seeded with
(seed, k), so an interrupted run resumed from its checkpoint gives the uninterrupted result.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from vjepa2_ros.config import ConfigError, load_section, require
from vjepa2_ros.data.episodes import DatasetConfig, Episode
from vjepa2_ros.model.config import DTYPES
from vjepa2_ros.model.presets import ModelSpec, spec_from_name
from vjepa2_ros.model.world_model import WorldModel
from vjepa2_ros.train.init import copy_init
from vjepa2_ros.train.losses import ac_losses


@dataclass
class TrainConfig:
    """config/train.yaml section `train` (the committed small model: config/train_small.yaml)."""

    preset: str = "small"
    init_checkpoint: str = ""  # start weights (released format); empty: seeded random init
    # From-scratch predictor start: "copy" (vjepa2_ros/train/init.py: starts as the copy
    # baseline, action/state encoders scaled to the data) or "default" (PyTorch init).
    predictor_init: Literal["copy", "default"] = "copy"
    data: list[str] = field(default_factory=lambda: ["runs/collect"])  # bags or folders of bags
    output_dir: str = "runs/train"
    cache_dir: str = ""  # frozen-encoder latent cache; empty: <output_dir>/latents
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    frames_per_clip: int = 4  # paper: 8 frames at 4 fps
    auto_steps: int = 2  # rollout length of the second loss (paper: 2)
    batch_size: int = 16
    steps: int = 1500
    warmup_steps: int = 75
    start_lr: float = 7.5e-5  # reference start_lr
    lr: float = 4.25e-4  # reference peak lr
    final_lr: float = 0.0
    weight_decay: float = 0.04
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    device: str = "cpu"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"  # autocast dtype of the predictor
    seed: int = 0
    encode_batch: int = 32  # frames per frozen-encoder call while caching latents
    checkpoint_every: int = 250  # steps between latest.pt saves (and at the end)
    progress: bool = True

    def __post_init__(self) -> None:
        spec_from_name(self.preset)  # ConfigError listing presets
        require(
            self.predictor_init in ("copy", "default"),
            f"train predictor_init {self.predictor_init!r}: use copy or default",
        )
        require(self.frames_per_clip >= 2, "train frames_per_clip must be >= 2")
        require(
            1 <= self.auto_steps <= self.frames_per_clip - 1,
            f"train auto_steps must be in 1..frames_per_clip-1 = {self.frames_per_clip - 1}",
        )
        require(self.batch_size >= 1 and self.steps >= 1, "train batch_size and steps must be >= 1")
        require(0 <= self.warmup_steps <= self.steps, "train warmup_steps must be in 0..steps")
        require(
            self.lr > 0 and self.start_lr >= 0 and self.final_lr >= 0,
            "train learning rates must be >= 0 (lr > 0)",
        )
        require(self.weight_decay >= 0 and self.grad_clip >= 0, "weight_decay, grad_clip >= 0")
        require(
            self.encode_batch >= 1 and self.checkpoint_every >= 1,
            "encode_batch, checkpoint_every >= 1",
        )
        require(
            self.device == "cpu" or self.device.startswith("cuda"),
            f"train device {self.device!r}: use cpu, cuda or cuda:N",
        )


def load_train_config(path: str | Path = "train.yaml", **overrides) -> TrainConfig:
    """TrainConfig from `path` (section `train`), then keyword overrides (validated again)."""
    cfg = load_section(TrainConfig, path, "train")
    if overrides:
        data = asdict(cfg)
        data.update(overrides)
        data["dataset"] = (
            DatasetConfig(**data["dataset"])
            if isinstance(data["dataset"], dict)
            else data["dataset"]
        )
        data["betas"] = tuple(data["betas"])
        cfg = TrainConfig(**data)
    return cfg


def lr_at(step: int, cfg: TrainConfig) -> float:
    """LR of optimiser step `step` (0-based): linear warmup start_lr -> lr, cosine to final_lr."""
    if step < cfg.warmup_steps:
        return cfg.start_lr + (cfg.lr - cfg.start_lr) * step / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.final_lr + 0.5 * (cfg.lr - cfg.final_lr) * (1.0 + math.cos(math.pi * progress))


class ClipData:
    """Cached latents, states and actions of all episodes, sampled as fixed-length clips.

    Everything is concatenated frame-wise so a batch is one gather, not a loop over samples.
    """

    def __init__(
        self,
        latents: torch.Tensor,
        states: torch.Tensor,
        actions: torch.Tensor,
        lengths: list[int],
        frames_per_clip: int,
    ) -> None:
        self.latents = latents  # [F, N, D]
        self.states = states  # [F, 7]
        self.actions = actions  # [F, 7]: action from frame f to f+1 (0 at episode ends)
        self.frames_per_clip = frames_per_clip
        starts, offset = [], 0
        for n in lengths:
            if n >= frames_per_clip:
                starts.append(torch.arange(offset, offset + n - frames_per_clip + 1))
            offset += n
        if not starts:
            raise ConfigError(
                f"no episode has frames_per_clip={frames_per_clip} frames; record longer "
                "episodes or lower train.frames_per_clip"
            )
        self.starts = torch.cat(starts)  # global index of every valid clip start

    def __len__(self) -> int:
        return len(self.starts)

    def batch(self, step: int, batch_size: int, seed: int, device) -> tuple[torch.Tensor, ...]:
        """Batch `step`: z [B, T*N, D], actions [B, T-1, 7], states [B, T, 7] (deterministic)."""
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
        pick = self.starts[torch.randint(len(self.starts), (batch_size,), generator=gen)]
        idx = pick[:, None] + torch.arange(self.frames_per_clip)[None]  # [B, T]
        z = self.latents[idx].flatten(1, 2)
        return (
            z.to(device, torch.float32),
            self.actions[idx[:, :-1]].to(device, torch.float32),
            self.states[idx].to(device, torch.float32),
        )


def _digest(*arrays) -> str:
    h = hashlib.sha1()
    for a in arrays:
        if isinstance(a, torch.Tensor):
            a = a.detach().to("cpu", torch.float32).contiguous().numpy()
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


@torch.no_grad()
def encode_episodes(
    model: WorldModel,
    episodes: list[Episode],
    frames_per_clip: int,
    encode_batch: int,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> ClipData:
    """Encode every frame once with the frozen encoder (disk-cached by encoder + data digest)."""
    from tqdm import tqdm

    key = _digest(
        *[p for p in model.encoder.state_dict().values()],
        *[e.frames[:, ::7, ::7] for e in episodes],
        *[e.states for e in episodes],
    )
    path = Path(cache_dir) / f"latents_{key}.pt" if cache_dir else None
    lengths = [len(e) for e in episodes]
    if path is not None and path.is_file():
        latents = torch.load(path, map_location="cpu", weights_only=True)
    else:
        frames = np.concatenate([e.frames for e in episodes])
        chunks = []
        for i in tqdm(range(0, len(frames), encode_batch), desc="encode", disable=not progress):
            chunks.append(model.encode(frames[i : i + encode_batch]).float().cpu())
        latents = torch.cat(chunks)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save(latents, tmp)
            tmp.replace(path)
    states = torch.from_numpy(np.concatenate([e.states for e in episodes])).float()
    actions = torch.from_numpy(
        np.concatenate(
            [np.concatenate([e.actions, np.zeros((1, 7), np.float32)]) for e in episodes]
        )
    ).float()
    return ClipData(latents, states, actions, lengths, frames_per_clip)


def _param_groups(predictor: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices only; none on biases and norm gains (reference init_opt)."""
    decay, no_decay = [], []
    for name, p in predictor.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if name.endswith("bias") or p.ndim == 1 else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


class Trainer:
    """Post-trains `model.predictor` on `data`; `spec` overrides the preset (tests use tiny sizes)."""

    def __init__(
        self, cfg: TrainConfig, model: WorldModel | None = None, spec: ModelSpec | None = None
    ) -> None:
        self.cfg = cfg
        self.device = torch.device(cfg.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"train device {cfg.device!r} asked for, but CUDA is not available")
        # Only a predictor this trainer initialised at random gets the copy init (before the
        # first step; resume() cancels it); a model handed in or from init_checkpoint keeps its
        # weights.
        self._copy_init_pending = (
            model is None and not cfg.init_checkpoint and cfg.predictor_init == "copy"
        )
        if model is None:
            model = self._initial_model(spec)
        self.model = model.to(self.device, torch.float32)
        self.model.encoder.requires_grad_(False).eval()
        self.model.predictor.train()
        self.optimizer = torch.optim.AdamW(
            _param_groups(self.model.predictor, cfg.weight_decay),
            lr=lr_at(0, cfg),
            betas=tuple(cfg.betas),
            eps=cfg.eps,
        )
        self.step = 0
        self.history: list[dict[str, float]] = []

    def _initial_model(self, spec: ModelSpec | None) -> WorldModel:
        if self.cfg.init_checkpoint:
            from vjepa2_ros.model.checkpoint import load_world_model

            return load_world_model(self.cfg.init_checkpoint, preset=spec or self.cfg.preset)
        return WorldModel.build(spec or spec_from_name(self.cfg.preset), seed=self.cfg.seed)

    # -- data --------------------------------------------------------------------------------
    def prepare(self, episodes: list[Episode]) -> ClipData:
        cache = self.cfg.cache_dir or str(Path(self.cfg.output_dir) / "latents")
        return encode_episodes(
            self.model,
            episodes,
            self.cfg.frames_per_clip,
            self.cfg.encode_batch,
            cache,
            progress=self.cfg.progress,
        )

    def _start_weights(self, data: ClipData) -> None:
        """A from-scratch run's copy init, once, before its first step (needs the data's spread)."""
        if self._copy_init_pending:
            self._copy_init_pending = False
            copy_init(self.model.predictor, data.actions, data.states, self.cfg.seed)

    # -- optimisation ------------------------------------------------------------------------
    def _predict_all(self, z, actions, states):
        return self.model.predictor(z, actions, states)

    def train_step(self, data: ClipData) -> dict[str, float]:
        cfg = self.cfg
        self._start_weights(data)
        lr = lr_at(self.step, cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        z, actions, states = data.batch(self.step, cfg.batch_size, cfg.seed, self.device)
        amp = cfg.dtype != "float32"
        with torch.autocast(self.device.type, dtype=DTYPES[cfg.dtype], enabled=amp):
            terms = ac_losses(
                self._predict_all, z, actions, states, self.model.tokens_per_frame, cfg.auto_steps
            )
        self.optimizer.zero_grad(set_to_none=True)
        terms.total.float().backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.predictor.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.step += 1
        # One host sync per optimiser step, for the progress bar and history.
        values = (
            torch.stack((terms.total, terms.teacher_forcing, terms.rollout)).detach().float().cpu()
        )
        row = {
            "step": self.step,
            "loss": float(values[0]),
            "tf": float(values[1]),
            "rollout": float(values[2]),
            "lr": lr,
        }
        self.history.append(row)
        return row

    def train(
        self, data: ClipData, until: int | None = None, checkpoint: str | Path | None = None
    ) -> list[dict]:
        """Run optimiser steps until step `until` (default cfg.steps), saving `checkpoint` on the way."""
        from tqdm import tqdm

        until = self.cfg.steps if until is None else min(until, self.cfg.steps)
        bar = tqdm(
            total=until,
            initial=self.step,
            desc="train",
            disable=not self.cfg.progress,
            dynamic_ncols=True,
        )
        t0 = time.monotonic()
        while self.step < until:
            row = self.train_step(data)
            bar.update(1)
            bar.set_postfix(
                loss=f"{row['loss']:.4f}",
                tf=f"{row['tf']:.4f}",
                ar=f"{row['rollout']:.4f}",
                lr=f"{row['lr']:.2e}",
            )
            if checkpoint is not None and (
                self.step % self.cfg.checkpoint_every == 0 or self.step == until
            ):
                self.save(checkpoint)
        bar.close()
        self.elapsed_s = time.monotonic() - t0
        return self.history

    # -- checkpoints -------------------------------------------------------------------------
    def state(self, with_optimizer: bool = True) -> dict:
        """The released format plus what resuming needs (all weights_only-loadable)."""
        out = {
            "encoder": {k: v.detach().cpu() for k, v in self.model.encoder.state_dict().items()},
            "predictor": {
                k: v.detach().cpu() for k, v in self.model.predictor.state_dict().items()
            },
            "step": self.step,
            "epoch": self.step,  # the reference counts epochs; our unit of progress is the step
            "preset": self.model.spec.name,
            "train_config": _plain(asdict(self.cfg)),
            "loss": self.history[-1]["loss"] if self.history else float("nan"),
        }
        if with_optimizer:
            out["opt"] = self.optimizer.state_dict()
        return out

    def save(self, path: str | Path, with_optimizer: bool = True) -> Path:
        """Write atomically (temp file, then rename), so an interrupted save never leaves a bad file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(self.state(with_optimizer), tmp)
        tmp.replace(path)
        return path

    def resume(self, path: str | Path) -> None:
        """Continue from a checkpoint written by `save`: weights, optimiser state and step."""
        data = torch.load(path, map_location="cpu", weights_only=True)
        missing = [k for k in ("encoder", "predictor", "opt", "step") if k not in data]
        if missing:
            raise ConfigError(
                f"cannot resume from {path}: it lacks {', '.join(missing)} (a released or "
                "exported model has no optimiser state; use it as train.init_checkpoint instead)"
            )
        self.model.encoder.load_state_dict(data["encoder"])
        self.model.predictor.load_state_dict(data["predictor"])
        self.optimizer.load_state_dict(data["opt"])
        self.step = int(data["step"])
        self._copy_init_pending = False  # the checkpoint's weights are the start


def _plain(value):
    """Tuples -> lists so the saved config is plain data (weights_only-loadable, YAML-able)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
