"""The world model the planner rolls out: encoder + AC predictor with layer-normalised latents.

`encode` turns camera frames into the latents that travel on /vjepa2/latent; `predict` is the
next latent for a whole batch of CEM candidates at once (the state update is the planner's:
vjepa2_ros/planning/rollout.py). The methods do not switch off autograd (post-training backpropagates through `predict`); planners
wrap calls in `torch.inference_mode()`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vjepa2_ros.model.predictor import ACPredictor
from vjepa2_ros.model.preprocess import preprocess_frames
from vjepa2_ros.model.presets import ModelSpec
from vjepa2_ros.model.vit import VideoEncoder


def normalize_reps(x: torch.Tensor) -> torch.Tensor:
    """Layer norm over channels without affine (the reference's normalize_reps)."""
    return F.layer_norm(x, (x.shape[-1],))


class WorldModel(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.tokens_per_frame = spec.tokens_per_frame
        self.embed_dim = spec.encoder.dim
        self.encoder = VideoEncoder(spec)
        self.predictor = ACPredictor(spec)

    @classmethod
    def build(
        cls,
        spec: ModelSpec,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        seed: int | None = 0,
    ) -> WorldModel:
        """Random initialisation (PyTorch defaults), deterministic for a given seed."""
        if str(device) == "meta":
            with torch.device("meta"):
                return cls(spec).to(dtype=dtype).eval()
        gen_state = torch.random.get_rng_state()
        try:
            if seed is not None:
                torch.manual_seed(seed)
            model = cls(spec)
        finally:
            torch.random.set_rng_state(gen_state)
        return model.to(device=device, dtype=dtype).eval()

    # Read off a LayerNorm of a loaded part: Linear weights may be FP8 tensor subclasses
    # (model/fp8.py), and a node that loads one half leaves the other on the meta device.
    def _norm_weight(self) -> torch.Tensor:
        weight = self.predictor.predictor_norm.weight
        return self.encoder.norm.weight if weight.is_meta else weight

    @property
    def device(self) -> torch.device:
        return self._norm_weight().device

    @property
    def dtype(self) -> torch.dtype:
        return self._norm_weight().dtype

    def encode_clip(self, clip: torch.Tensor) -> torch.Tensor:
        """Preprocessed clip [B, 3, tubelet, S, S] -> normalised latents [B, N, D]."""
        return normalize_reps(self.encoder(clip.to(self.device, self.dtype)))

    def encode(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 RGB frames [B, H, W, 3] (or [H, W, 3]) -> normalised latents [B, N, D].

        Each frame is its own tubelet (repeated), as at planning time in the reference.
        """
        if isinstance(frames, np.ndarray):
            frames = torch.from_numpy(np.ascontiguousarray(frames))
        clip = preprocess_frames(frames.to(self.device), self.spec.img_size, self.spec.tubelet)
        return self.encode_clip(clip)

    def predict(
        self, z_ctx: torch.Tensor, actions: torch.Tensor, states: torch.Tensor
    ) -> torch.Tensor:
        """Context latents [B, T*N, D] + actions, states [B, T, 7] -> next frame [B, N, D]."""
        out = self.predictor(
            z_ctx.to(self.dtype), actions.to(self.dtype), states.to(self.dtype), last_step_only=True
        )
        return normalize_reps(out)
