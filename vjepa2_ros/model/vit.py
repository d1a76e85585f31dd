"""The V-JEPA 2 ViT pieces: RoPE attention, pre-norm block, and the video encoder.

Parameter names follow the released checkpoint (`patch_embed.proj`, `blocks.N.attn.qkv`, ...),
so a stripped state dict loads with strict key checking. Attention goes through
`scaled_dot_product_attention`; a None mask lets PyTorch pick its fused kernels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vjepa2_ros.model.presets import ModelSpec
from vjepa2_ros.model.rope import apply_rope_fast, grid_positions, rope_tables, signed_sin


class RopeAttention(nn.Module):
    """Multi-head self-attention with RoPE on q and k (tables given per call)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim, bias=True)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,  # signed (rope.signed_sin)
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = apply_rope_fast(qkv[:2], cos, sin).unbind(0)  # q and k in one pass, never v
        v = qkv[2]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))

    def forward_kv(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        past_k: torch.Tensor | None = None,
        past_v: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Attention of x's tokens over cached keys/values plus their own, without a mask.

        Returns the output and the keys/values to cache (past + x's, roped), each [B, H, L, hd].
        """
        b, n, c = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = apply_rope_fast(qkv[:2], cos, sin).unbind(0)
        v = qkv[2]
        if past_k is not None:
            k = torch.cat((past_k, k), dim=2)
            v = torch.cat((past_v, v), dim=2)
        else:  # own storage: a view would keep the whole qkv buffer alive in the cache
            k, v = k.clone(), v.contiguous()
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c)), k, v


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x += attn(LN1(x)); x += mlp(LN2(x))."""

    def __init__(self, dim: int, heads: int, mlp_hidden: int, eps: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = RopeAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, mlp_hidden)

    def forward(self, x, cos, sin, attn_mask=None):
        x = x + self.attn(self.norm1(x), cos, sin, attn_mask)
        return x + self.mlp(self.norm2(x))

    def forward_kv(self, x, cos, sin, past_k=None, past_v=None):
        """forward() over cached keys/values (RopeAttention.forward_kv); returns (x, k, v)."""
        h, k, v = self.attn.forward_kv(self.norm1(x), cos, sin, past_k, past_v)
        x = x + h
        return x + self.mlp(self.norm2(x)), k, v


class PatchEmbed3D(nn.Module):
    """Tubelet x patch x patch Conv3d; tokens come out in (t, h, w) row-major order."""

    def __init__(self, dim: int, patch: int, tubelet: int) -> None:
        super().__init__()
        self.proj = nn.Conv3d(
            3, dim, kernel_size=(tubelet, patch, patch), stride=(tubelet, patch, patch)
        )

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.proj(clip).flatten(2).transpose(1, 2)


class VideoEncoder(nn.Module):
    """ViT with 3D RoPE and no absolute position embedding: clip [B,3,F,S,S] -> [B, F/tub*g*g, D]."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        size = spec.encoder
        self.spec = spec
        self.patch_embed = PatchEmbed3D(size.dim, spec.patch_size, spec.tubelet)
        self.blocks = nn.ModuleList(
            Block(size.dim, size.heads, size.mlp_hidden, spec.ln_eps) for _ in range(size.depth)
        )
        self.norm = nn.LayerNorm(size.dim, eps=spec.ln_eps)
        self._rope_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def _rope(self, steps: int, gh: int, gw: int, device, dtype):
        key = (steps, gh, gw, str(device), dtype)
        if key not in self._rope_cache:
            t, h, w = grid_positions(steps, gh, gw, device)
            # Positions are in units of the model's grid (scale 1 at the native image size).
            h = h * (self.spec.grid / gh)
            w = w * (self.spec.grid / gw)
            head_dim = self.spec.encoder.dim // self.spec.encoder.heads
            cos, sin = rope_tables(t, h, w, head_dim, self.spec.rope_base, dtype)
            self._rope_cache[key] = (cos, signed_sin(sin))
        return self._rope_cache[key]

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        if clip.ndim != 5 or clip.shape[1] != 3:
            raise ValueError(f"encoder input must be [B, 3, F, H, W], got {tuple(clip.shape)}")
        x = self.patch_embed(clip)
        steps = clip.shape[2] // self.spec.tubelet
        gh, gw = clip.shape[3] // self.spec.patch_size, clip.shape[4] // self.spec.patch_size
        cos, sin = self._rope(steps, gh, gw, x.device, x.dtype)
        for blk in self.blocks:
            x = blk(x, cos, sin)
        return self.norm(x)
