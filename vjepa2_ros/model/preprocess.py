"""Camera frames -> the normalised 2-frame tubelet the encoder eats, exactly as the reference.

Centred square crop (side min(H, W), offset (long - side) // 2), bilinear resize without
antialias in float 0..255, ImageNet normalisation in 0..255 units, frame repeated `tubelet` times.
Batched and on the frames' own device, so a GPU camera pipeline never round-trips to the host.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _as_tensor(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    if not isinstance(frames, torch.Tensor):
        raise TypeError(
            f"frames must be a numpy array or torch tensor, got {type(frames).__name__}"
        )
    if frames.dtype != torch.uint8:
        raise ValueError(f"frames must be uint8 RGB (0..255), got dtype {frames.dtype}")
    if frames.ndim == 3:
        frames = frames.unsqueeze(0)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(
            f"frames must be [H, W, 3] or [B, H, W, 3] RGB, got shape {tuple(frames.shape)}"
        )
    if frames.shape[1] < 1 or frames.shape[2] < 1:
        raise ValueError(f"frames have an empty side: shape {tuple(frames.shape)}")
    return frames


_NORM: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def _norm_constants(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """ImageNet mean and std x 255 [1, 3, 1, 1] on `device`, made once: a host-to-device copy
    per frame would also be illegal inside a CUDA graph capture (model/cuda_graph.py)."""
    key = str(device)
    if key not in _NORM:
        with torch.inference_mode(False):  # plain tensors, usable in and out of inference mode
            mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1) * 255.0
            std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1) * 255.0
        _NORM[key] = (mean, std)
    return _NORM[key]


def center_square_crop(frames: torch.Tensor) -> torch.Tensor:
    """[B, H, W, C] -> [B, S, S, C] with S = min(H, W), centred on the long axis."""
    h, w = frames.shape[1], frames.shape[2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return frames[:, top : top + side, left : left + side]


def preprocess_frames(
    frames: np.ndarray | torch.Tensor, img_size: int, tubelet: int = 2
) -> torch.Tensor:
    """uint8 RGB [B, H, W, 3] (or [H, W, 3]) -> float32 [B, 3, tubelet, img_size, img_size]."""
    x = center_square_crop(_as_tensor(frames))
    x = x.permute(0, 3, 1, 2).to(torch.float32)  # [B, 3, S, S], 0..255
    if x.shape[-1] != img_size:
        x = F.interpolate(
            x, size=(img_size, img_size), mode="bilinear", align_corners=False, antialias=False
        )
    mean, std = _norm_constants(x.device)
    x = (x - mean) / std
    return x.unsqueeze(2).expand(-1, -1, tubelet, -1, -1).contiguous()
