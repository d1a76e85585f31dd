"""ModelConfig: which world model a node runs (preset, checkpoint, device, dtype).

One value per setting: config/model.yaml sets the `model.*` parameters of every node that runs
the model (its `/**` section), and both the camera_encoder's and the planner's configs nest this
dataclass as `model`, so the two always run the same model. dtype `auto` is bfloat16 on a
GPU (the released model's inference precision, 2x float32's tensor-core rate) and float32 on
the CPU (bf16 matmuls are slow there and the small model's tests compare float32 numbers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from vjepa2_ros.config import require
from vjepa2_ros.model.presets import PRESETS
from vjepa2_ros.paths import models_dir

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}

# Where `checkpoint: ""` looks, per preset (models/ of the package).
DEFAULT_CHECKPOINTS: dict[str, str] = {
    "vitg-ac": "vjepa2-ac-vitg.pt",
    "small": "vjepa2-ac-small.pt",
}

_DEVICE_RE = re.compile(r"^(cpu|cuda(:\d+)?)$")

DtypeName = Literal["auto", "float32", "bfloat16", "float16"]


# Presets that `auto` keeps in float32 on CUDA: validated to plan differently in bfloat16. With
# the committed small model (vjepa2-validate-precision, paper budget, 4 sim frame pairs x 2
# seeds: docs/precision_small_bf16_vs_fp32.json) bf16 shifts the returned action by 1.2-7.0 mm
# (float32 seed to seed: <= 0.15 mm), and a 128-d model gains nothing from bf16.
FLOAT32_PRESETS = ("small",)


def resolve_dtype(name: str, device: str | torch.device, preset: str = "") -> torch.dtype:
    """The torch dtype for a configured name.

    `auto`: bfloat16 on CUDA (float32 for FLOAT32_PRESETS), float32 elsewhere.
    """
    if name == "auto":
        cuda = torch.device(device).type == "cuda"
        return torch.bfloat16 if cuda and preset not in FLOAT32_PRESETS else torch.float32
    if name not in DTYPES:
        raise ValueError(f"dtype {name!r} is not valid; use auto or one of: {', '.join(DTYPES)}")
    return DTYPES[name]


def enable_tf32() -> None:
    """Let float32 matmuls on CUDA use TF32 tensor cores (10-bit mantissa, 8x the FP32 rate).

    Only float32 work is affected (bf16 runs are unchanged); cuDNN convolutions already default
    to TF32. The energy and pose math are elementwise float32 and do not change. Called whenever
    a model is placed on a GPU.
    """
    torch.set_float32_matmul_precision("high")


@dataclass
class ModelConfig:
    preset: str = "small"
    checkpoint: str = ""  # empty: models/<default for the preset>, random init for small if absent
    device: str = "cpu"
    dtype: DtypeName = "auto"  # auto: bfloat16 on cuda, float32 on cpu

    def __post_init__(self) -> None:
        require(
            self.preset in PRESETS,
            f"model preset {self.preset!r} is unknown; choose one of: {', '.join(sorted(PRESETS))}",
        )
        require(
            bool(_DEVICE_RE.match(self.device)),
            f"model device {self.device!r} is not valid; use cpu, cuda or cuda:N",
        )
        require(
            self.dtype == "auto" or self.dtype in DTYPES,
            f"model dtype {self.dtype!r} is not valid; use auto or one of: {', '.join(DTYPES)}",
        )

    @property
    def torch_dtype(self) -> torch.dtype:
        return resolve_dtype(self.dtype, self.device, self.preset)

    def checkpoint_path(self, default_dir: Path | None = None) -> Path | None:
        """The checkpoint to load: the configured path, else the preset's file in models/ if present."""
        if self.checkpoint:
            return Path(self.checkpoint).expanduser()
        default = (default_dir or models_dir()) / DEFAULT_CHECKPOINTS[self.preset]
        return default if default.is_file() else None


@dataclass
class CameraEncoderConfig:
    """The camera_encoder node: its model plus how it shares the CPU (config/camera_encoder.yaml)."""

    model: ModelConfig = field(default_factory=ModelConfig)  # config/model.yaml, shared
    torch_threads: int = 1  # CPU threads for encoding (0: torch's default)
    nice: int = 10  # scheduling priority (0..19): physics and robot control go first
    # Drop frames captured while the arm moves (franka_bridge's /franka/motion): the planner
    # only plans on frames captured after the arm settled, so encoding them is wasted work.
    skip_while_moving: bool = True

    def __post_init__(self) -> None:
        require(0 <= self.torch_threads <= 256, "torch_threads must be 0 (default) or 1..256")
        require(0 <= self.nice <= 19, f"nice must be in 0..19, got {self.nice}")
