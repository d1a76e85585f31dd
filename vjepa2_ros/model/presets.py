"""Model sizes: the released V-JEPA 2-AC (`vitg-ac`) and a `small` one that plans on a laptop CPU.

Weights do not store the image size or the predictor's step capacity, so a spec carries them.
All sizes keep head_dim 64: the 3D RoPE split (20 dims each for t, h, w, 4 unrotated) is what
the released weights were trained with, and the golden fixture uses it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vjepa2_ros.config import ConfigError, require


@dataclass(frozen=True)
class EncoderSize:
    dim: int
    depth: int
    heads: int
    mlp_hidden: int

    def __post_init__(self) -> None:
        require(self.dim > 0 and self.depth > 0 and self.heads > 0, "encoder sizes must be > 0")
        require(
            self.dim % self.heads == 0,
            f"encoder dim {self.dim} not divisible by heads {self.heads}",
        )


@dataclass(frozen=True)
class PredictorSize:
    dim: int
    depth: int
    heads: int
    mlp_hidden: int
    max_steps: int  # block-causal mask capacity (time steps the predictor accepts)

    def __post_init__(self) -> None:
        require(self.dim > 0 and self.depth > 0 and self.heads > 0, "predictor sizes must be > 0")
        require(
            self.dim % self.heads == 0,
            f"predictor dim {self.dim} not divisible by heads {self.heads}",
        )
        require(self.max_steps >= 1, "predictor max_steps must be >= 1")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    img_size: int
    patch_size: int
    tubelet: int
    encoder: EncoderSize
    predictor: PredictorSize
    action_dim: int = 7
    state_dim: int = 7
    extrinsics_dim: int = 6  # the released predictor carries an unused extrinsics_encoder
    ln_eps: float = 1e-6
    rope_base: float = 10000.0
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        require(self.patch_size > 0 and self.img_size > 0, "img_size and patch_size must be > 0")
        require(
            self.img_size % self.patch_size == 0,
            f"img_size {self.img_size} must be a multiple of patch_size {self.patch_size}",
        )
        require(self.tubelet >= 1, "tubelet must be >= 1")

    @property
    def grid(self) -> int:
        """Patches per image side."""
        return self.img_size // self.patch_size

    @property
    def tokens_per_frame(self) -> int:
        return self.grid * self.grid


PRESETS: dict[str, ModelSpec] = {
    # Released V-JEPA 2-AC: ViT-g/16 encoder at 256 px, 300 M AC predictor (VJEPA2_AC.md).
    "vitg-ac": ModelSpec(
        name="vitg-ac",
        img_size=256,
        patch_size=16,
        tubelet=2,
        encoder=EncoderSize(dim=1408, depth=40, heads=22, mlp_hidden=6144),
        predictor=PredictorSize(dim=1024, depth=24, heads=16, mlp_hidden=4096, max_steps=32),
    ),
    # CPU planning: 128 px -> 64 tokens per frame keeps a horizon-2 rollout of hundreds of CEM
    # candidates under a second on 2 cores; 4 encoder blocks give usable untrained features
    # (ENVIRONMENT.md), a 3-block 128-d predictor is small enough to post-train in minutes.
    # Encoder and predictor share the width so the predictor can start as an exact copy of the
    # frame (vjepa2_ros/train/init.py) instead of learning the copy through a bottleneck.
    "small": ModelSpec(
        name="small",
        img_size=128,
        patch_size=16,
        tubelet=2,
        encoder=EncoderSize(dim=128, depth=4, heads=2, mlp_hidden=512),
        predictor=PredictorSize(dim=128, depth=3, heads=2, mlp_hidden=512, max_steps=8),
    ),
}


def spec_from_name(name: str) -> ModelSpec:
    """The preset called `name`; a ConfigError lists the presets otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}"
        ) from None
