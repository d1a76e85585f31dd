"""Predictor FLOPs per rollout step and per plan, with and without the KV cache (for MFU)."""

from __future__ import annotations

from vjepa2_ros.model.presets import ModelSpec
from vjepa2_ros.planning.cem import CEMConfig


def step_flops(spec: ModelSpec, context_steps: int, kv_cache: bool) -> float:
    """Matmul FLOPs of one rollout step for one candidate with `context_steps` frames of context.

    Uncached, the whole context runs through every block; with the KV cache only the newest
    step's tokens do, attending to all earlier ones. Norms, RoPE, GELU and the energy are left
    out (MFU is a lower bound).
    """
    n, p, e = spec.tokens_per_frame, spec.predictor, spec.encoder.dim
    per_step = n + 2
    seen = context_steps * per_step
    queries = per_step if kv_cache else seen
    embedded = n if kv_cache else context_steps * n
    embed = 2 * embedded * e * p.dim
    linear = 2 * queries * (4 * p.dim * p.dim + 2 * p.dim * p.mlp_hidden)
    attention = 2 * 2 * queries * seen * p.dim
    head = 2 * n * p.dim * e
    return float(embed + p.depth * (linear + attention) + head)


def plan_flops(spec: ModelSpec, cfg: CEMConfig, forwards: int, kv_cache: bool) -> float:
    """FLOPs of one plan() from its predictor forwards (candidates x horizon steps)."""
    per_step = forwards // cfg.horizon
    kv = kv_cache and cfg.horizon >= 2
    return per_step * sum(step_flops(spec, h, kv) for h in range(1, cfg.horizon + 1))
