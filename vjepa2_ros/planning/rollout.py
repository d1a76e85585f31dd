"""Autoregressive world-model rollout of many candidate action sequences at once.

Reference semantics: step h feeds the predictor the current frame plus the h frames it has
predicted so far (the context grows), the actions a_0..a_h and the states s_0..s_h, where
s_{i+1} = apply_action(s_i, a_i); the last frame it returns is the prediction after a_h. All
candidates of a chunk go through one predictor call per horizon step; chunks bound the memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from vjepa2_ros.planning.energy import l1_energy

if TYPE_CHECKING:
    from vjepa2_ros.model.presets import ModelSpec

ApplyAction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def default_apply_action() -> ApplyAction:
    """The package's pose math (vjepa2_ros.pose.tensors.apply_action), imported on first use."""
    from vjepa2_ros.pose.tensors import apply_action

    return apply_action


@dataclass
class RolloutOutput:
    latent: torch.Tensor  # [B, tokens, channels]: predicted frame after the last action
    states: torch.Tensor  # [B, H + 1, 7] float32: s_0 .. s_H


def rollout(
    world_model,
    z_now: torch.Tensor,
    state_now: torch.Tensor,
    actions: torch.Tensor,
    apply_action: ApplyAction,
) -> RolloutOutput:
    """Roll B candidate action sequences [B, H, 7] forward from one observation.

    z_now: [tokens, channels] latent of the current frame (its dtype is the predictor's dtype);
    state_now: [7] state. Pose math stays float32 whatever the predictor dtype, so a bf16 model
    does not round positions to bf16 (2 mm steps at 0.5 m).
    """
    if actions.dim() != 3 or actions.shape[-1] != 7:
        raise ValueError(f"actions must be [B, H, 7], got shape {tuple(actions.shape)}")
    batch, horizon, _ = actions.shape
    dtype = z_now.dtype
    actions = actions.float()
    states = [state_now.float().reshape(1, 7).expand(batch, 7)]
    frames = [z_now.unsqueeze(0).expand(batch, *z_now.shape)]
    z_next = frames[0]
    for h in range(horizon):
        if h > 0:
            states.append(apply_action(states[-1], actions[:, h - 1]))
        z_ctx = frames[0] if h == 0 else torch.cat(frames, dim=1)
        z_next = world_model.predict(
            z_ctx, actions[:, : h + 1].to(dtype), torch.stack(states, dim=1).to(dtype)
        )
        frames.append(z_next)
    states.append(apply_action(states[-1], actions[:, horizon - 1]))
    return RolloutOutput(latent=z_next, states=torch.stack(states, dim=1))


@dataclass
class RolloutCost:
    energies: torch.Tensor  # [B] float32, on the device
    predictor_calls: int  # batched predictor invocations
    predictor_forwards: int  # candidate-steps evaluated (sum of batch sizes over calls)


def rollout_energies(
    world_model,
    z_now: torch.Tensor,
    state_now: torch.Tensor,
    actions: torch.Tensor,
    z_goal: torch.Tensor,
    apply_action: ApplyAction,
    chunk_size: int = 0,
) -> RolloutCost:
    """L1 energy of the final predicted frame of each candidate, in chunks of `chunk_size`.

    chunk_size 0 rolls all candidates out together. Only the energies leave a chunk, so peak
    memory is that of one chunk's rollout; the Python loop runs over chunks, never candidates.
    """
    batch, horizon = actions.shape[0], actions.shape[1]
    step = batch if chunk_size <= 0 else chunk_size
    parts = []
    calls = 0
    for start in range(0, batch, step):
        out = rollout(world_model, z_now, state_now, actions[start : start + step], apply_action)
        parts.append(l1_energy(out.latent, z_goal))
        calls += horizon
    energies = parts[0] if len(parts) == 1 else torch.cat(parts)
    return RolloutCost(energies, calls, batch * horizon)


def bytes_per_candidate(
    spec: ModelSpec, horizon: int, dtype: torch.dtype, kv_cache: bool = False
) -> int:
    """Estimated peak activation bytes one candidate adds at the last (longest) rollout step.

    Conservative: counts the growing context, the residual stream, q/k/v, a materialised
    heads x L x L score matrix (the fused kernels need none) and the MLP hidden layer, x1.5.
    With `kv_cache` (horizon >= 2, planning/fast_rollout.py) the last step runs only its own
    tokens but holds every block's keys and values of the earlier steps: less compute, more
    memory.
    """
    b = torch.empty((), dtype=dtype).element_size()
    n, p, e = spec.tokens_per_frame, spec.predictor, spec.encoder.dim
    energy = 2 * n * e * 4
    if kv_cache and horizon >= 2:
        step, seen = n + 2, horizon * (n + 2)
        cache = 2 * p.depth * (horizon - 1) * step * p.dim * b
        context = 2 * n * e * b
        residual = 2 * step * p.dim * b
        attention = 6 * step * p.dim * b + 4 * seen * p.dim * b + p.heads * step * seen * b
        mlp = 2 * step * p.mlp_hidden * b
        return int(1.5 * (cache + context + residual + max(attention, mlp) + energy))
    length = horizon * (n + 2)
    context = 2 * horizon * n * e * b
    residual = 2 * length * p.dim * b
    attention = 6 * length * p.dim * b + p.heads * length * length * b
    mlp = 2 * length * p.mlp_hidden * b
    return int(1.5 * (context + residual + max(attention, mlp) + energy))


def candidates_per_chunk(
    spec: ModelSpec,
    horizon: int,
    dtype: torch.dtype,
    memory_budget_bytes: float,
    kv_cache: bool = False,
) -> int:
    """The largest chunk_size whose estimated activations fit the budget (at least 1)."""
    per = bytes_per_candidate(spec, horizon, dtype, kv_cache)
    return max(1, int(memory_budget_bytes // per))


def imagine_step(world_model, z_ctx: torch.Tensor, actions: torch.Tensor, states: torch.Tensor):
    """One imagined step for a batch: (next latent [B, N, D], next state [B, 7])."""
    from vjepa2_ros.pose.tensors import apply_action

    return world_model.predict(z_ctx, actions, states), apply_action(states[:, -1], actions[:, -1])
