"""3D rotary position embedding as the released V-JEPA 2 weights use it (tiled sin/cos).

Per head of size hd, d = 2 * ((hd // 3) // 2) dims rotate with each of t, h, w (segments
[0, d), [d, 2d), [2d, 3d)); the rest are left alone. Within a segment of size d at position p:
f_i = p / base^(i / (d/2)); cos/sin are TILED [f_0..f_{d/2-1}, f_0..f_{d/2-1}] (the released
model's quirk) and y pairs adjacent dims: y[2k] = -x[2k+1], y[2k+1] = x[2k]; out = x*cos + y*sin.

We turn this into one [L, hd] cos/sin table per sequence layout, so applying RoPE is two
multiply-adds over the whole q/k tensor; unrotated dims get cos = 1, sin = 0, which is exact.
"""

from __future__ import annotations

import torch


def rope_segment_dim(head_dim: int) -> int:
    """Dims per rotated axis (20 for head_dim 64)."""
    return 2 * ((head_dim // 3) // 2)


def _segment(pos: torch.Tensor, d: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [L, d] for positions pos [L] (float32), tiled layout."""
    omega = torch.arange(d // 2, dtype=torch.float32, device=pos.device) / (d / 2.0)
    omega = 1.0 / base**omega
    freq = pos.to(torch.float32)[:, None] * omega[None, :]
    return freq.cos().repeat(1, 2), freq.sin().repeat(1, 2)


def rope_tables(
    t: torch.Tensor,
    h: torch.Tensor,
    w: torch.Tensor,
    head_dim: int,
    base: float = 10000.0,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin tables [L, head_dim] for per-token positions t, h, w [L] (float)."""
    d = rope_segment_dim(head_dim)
    cos_parts, sin_parts = [], []
    for pos in (t, h, w):
        c, s = _segment(pos, d, base)
        cos_parts.append(c)
        sin_parts.append(s)
    rest = head_dim - 3 * d
    if rest > 0:
        cos_parts.append(torch.ones(t.shape[0], rest, device=t.device))
        sin_parts.append(torch.zeros(t.shape[0], rest, device=t.device))
    return torch.cat(cos_parts, -1).to(dtype), torch.cat(sin_parts, -1).to(dtype)


def rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """y[..., 2k] = -x[..., 2k+1], y[..., 2k+1] = x[..., 2k]."""
    return torch.stack((-x[..., 1::2], x[..., 0::2]), dim=-1).flatten(-2)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [..., L, hd] with tables [L, hd]: x*cos + rotate_pairs(x)*sin."""
    return x * cos + rotate_pairs(x) * sin


def signed_sin(sin: torch.Tensor) -> torch.Tensor:
    """sin with rotate_pairs' minus folded in (even dims negated), for `apply_rope_fast`."""
    sign = torch.ones(sin.shape[-1], dtype=sin.dtype, device=sin.device)
    sign[0::2] = -1
    return sin * sign


def apply_rope_fast(x: torch.Tensor, cos: torch.Tensor, sin_signed: torch.Tensor) -> torch.Tensor:
    """Same numbers as apply_rope with one pair-swap copy instead of stack + neg."""
    swapped = x.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)
    return x * cos + swapped * sin_signed


def grid_positions(
    steps: int, grid_h: int, grid_w: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(t, h, w) float positions of steps*grid_h*grid_w tokens in row-major (t, h, w) order."""
    ids = torch.arange(steps * grid_h * grid_w, device=device)
    per_frame = grid_h * grid_w
    t = ids // per_frame
    h = (ids % per_frame) // grid_w
    w = (ids % per_frame) % grid_w
    return t.float(), h.float(), w.float()
