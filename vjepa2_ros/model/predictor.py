"""The V-JEPA 2-AC action-conditioned predictor.

Per time step t the sequence holds [action_t, state_t, frame_t tokens]; attention is
block-causal over steps (a token of step t sees every token of steps <= t). Frame tokens get 3D
RoPE at (t, h, w); action and state tokens rotate only the time segment, at t (their h and w
segments get position 0, i.e. no rotation, which is exactly the reference's "unrotated").
The tokens of step t predict frame t + 1.
"""

from __future__ import annotations

import torch
from torch import nn

from vjepa2_ros.model.presets import ModelSpec
from vjepa2_ros.model.rope import grid_positions, rope_tables, signed_sin
from vjepa2_ros.model.vit import Block

COND_TOKENS = 2  # action, state (the released model does not use extrinsics)


def block_causal_mask(steps: int, per_step: int, device=None) -> torch.Tensor:
    """Boolean [L, L] (True = may attend), L = steps * per_step, block lower-triangular."""
    step = torch.arange(steps * per_step, device=device) // per_step
    return step[None, :] <= step[:, None]


class ACPredictor(nn.Module):
    """(frame latents [B, T*N, De], actions [B, T, 7], states [B, T, 7]) -> [B, T*N, De]."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        size = spec.predictor
        self.spec = spec
        self.predictor_embed = nn.Linear(spec.encoder.dim, size.dim)
        self.action_encoder = nn.Linear(spec.action_dim, size.dim)
        self.state_encoder = nn.Linear(spec.state_dim, size.dim)
        self.extrinsics_encoder = nn.Linear(spec.extrinsics_dim, size.dim)  # unused, loaded
        self.predictor_blocks = nn.ModuleList(
            Block(size.dim, size.heads, size.mlp_hidden, spec.ln_eps) for _ in range(size.depth)
        )
        self.predictor_norm = nn.LayerNorm(size.dim, eps=spec.ln_eps)
        self.predictor_proj = nn.Linear(size.dim, spec.encoder.dim)
        self._cache: dict[tuple, tuple] = {}

    def layout(self, steps: int, device, dtype):
        """RoPE tables and mask for `steps` steps, built once per (steps, device, dtype).

        Kept outside any compiled region: a compiled forward that reads this dict would guard
        on it and recompile whenever it grows.
        """
        key = (steps, str(device), dtype)
        if key not in self._cache:
            g = self.spec.grid
            n = g * g
            per_step = COND_TOKENS + n
            t, h, w = grid_positions(steps, g, g, device)
            t = t.view(steps, n)
            h = h.view(steps, n)
            w = w.view(steps, n)
            tc = torch.arange(steps, device=device, dtype=torch.float32)[:, None].expand(
                steps, COND_TOKENS
            )
            zc = torch.zeros(steps, COND_TOKENS, device=device)
            t_all = torch.cat((tc, t), 1).flatten()
            h_all = torch.cat((zc, h), 1).flatten()
            w_all = torch.cat((zc, w), 1).flatten()
            head_dim = self.spec.predictor.dim // self.spec.predictor.heads
            cos, sin = rope_tables(t_all, h_all, w_all, head_dim, self.spec.rope_base, dtype)
            sin = signed_sin(sin)
            # One step: everyone sees everyone, so no mask and SDPA may use fused kernels.
            mask = None if steps == 1 else block_causal_mask(steps, per_step, device)
            self._cache[key] = (cos, sin, mask)
        return self._cache[key]

    _layout = layout  # the name older callers use

    def step_layout(self, step: int, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """RoPE rows (cos, sin) of the tokens of time step `step` alone (KV-cached rollouts)."""
        key = ("step", step, str(device), dtype)
        if key not in self._cache:
            cos, sin, _ = self.layout(step + 1, device, dtype)
            rows = slice(step * (COND_TOKENS + self.spec.tokens_per_frame), None)
            self._cache[key] = (cos[rows].contiguous(), sin[rows].contiguous())
        return self._cache[key]

    def _check(self, tokens: torch.Tensor, actions: torch.Tensor, states: torch.Tensor) -> None:
        b, length, _ = tokens.shape
        n = self.spec.tokens_per_frame
        steps = actions.shape[1]
        if length != steps * n:
            raise ValueError(
                f"predictor got {length} context tokens for {steps} steps; expected "
                f"{steps} x {n} tokens per frame = {steps * n}"
            )
        if states.shape[:2] != actions.shape[:2] or actions.shape[0] != b:
            raise ValueError(
                f"actions {tuple(actions.shape)} and states {tuple(states.shape)} must both be "
                f"[B={b}, T={steps}, 7]"
            )
        if steps > self.spec.predictor.max_steps:
            raise ValueError(
                f"predictor takes at most {self.spec.predictor.max_steps} steps, got {steps}"
            )

    def forward(
        self,
        tokens: torch.Tensor,
        actions: torch.Tensor,
        states: torch.Tensor,
        last_step_only: bool = False,
    ) -> torch.Tensor:
        self._check(tokens, actions, states)
        return self.forward_with_layout(tokens, actions, states, None, last_step_only)

    def forward_with_layout(
        self,
        tokens: torch.Tensor,
        actions: torch.Tensor,
        states: torch.Tensor,
        layout: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None,
        last_step_only: bool = False,
    ) -> torch.Tensor:
        """forward() with the (cos, sin, mask) of `layout()` given: pure tensor code to compile.

        None looks the layout up in the activations' dtype (what forward() does).
        """
        b = tokens.shape[0]
        n = self.spec.tokens_per_frame
        steps = actions.shape[1]
        x = self.predictor_embed(tokens).view(b, steps, n, -1)
        a = self.action_encoder(actions.to(x.dtype)).unsqueeze(2)
        s = self.state_encoder(states.to(x.dtype)).unsqueeze(2)
        x = torch.cat((a, s, x), dim=2).flatten(1, 2)
        cos, sin, mask = layout if layout is not None else self.layout(steps, x.device, x.dtype)
        for blk in self.predictor_blocks:
            x = blk(x, cos, sin, mask)
        x = x.view(b, steps, COND_TOKENS + n, -1)[:, :, COND_TOKENS:]
        if last_step_only:
            x = x[:, -1]
        x = self.predictor_proj(self.predictor_norm(x.flatten(1, 2) if not last_step_only else x))
        return x

    def forward_step_cached(
        self,
        frame: torch.Tensor,
        action: torch.Tensor,
        state: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        past: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """One more time step given the keys/values of the earlier ones: the KV-cached rollout.

        frame [1 or B, N, De] is the newest frame (broadcast over the batch), action and state
        [B, 1, 7] its step's action and state, cos/sin the step's RoPE rows (step_layout),
        `past` per block the roped keys and values [B, heads, L, hd] of all earlier steps (None
        for the first). Block-causal attention lets this step's tokens see every earlier token
        and their own step, and nothing else exists yet: no mask, so SDPA may use flash
        attention. Earlier steps' outputs cannot change (they never see later steps), so this
        equals forward() on the whole context up to float rounding. Returns this step's
        predicted next frame [B, N, De] (before normalize_reps) and the grown keys/values.
        """
        b = action.shape[0]
        n = self.spec.tokens_per_frame
        x = self.predictor_embed(frame).expand(b, n, -1)
        a = self.action_encoder(action.to(x.dtype))
        s = self.state_encoder(state.to(x.dtype))
        x = torch.cat((a, s, x), dim=1)
        grown = []
        for i, blk in enumerate(self.predictor_blocks):
            x, k, v = blk.forward_kv(x, cos, sin, *(past[i] if past is not None else (None, None)))
            grown.append((k, v))
        return self.predictor_proj(self.predictor_norm(x[:, COND_TOKENS:])), grown
