"""The rollout engine of the GPU fast path: compiled steps, KV cache, fused energy.

`rollout.rollout_energies` is the reference-shaped rollout any world model with `predict()` can
use. For the package's own WorldModel this engine computes the same energies faster:

- One region per rollout step holds the predictor, the final norm, normalize_reps and (on the
  last step) the L1 energy, so `torch.compile` fuses RoPE, GELU, LayerNorm, residual adds and
  the energy reduction into the GEMMs' neighbours instead of separate kernels.
- RoPE tables and masks are looked up before the call (ACPredictor.layout/step_layout, cached
  per shape) and handed in as tensors: nothing inside a compiled region reads a Python dict.
- The candidate dimension is marked dynamic (>= 2): one graph serves every budget's N, every
  chunk and the returned plan's evaluation (padded from 1 to 2 rows), so plans and budget
  switches never recompile; a horizon-H rollout compiles at most H + 1 graphs once.
- Horizon >= 2 with `kv_cache`: step h feeds only its own tokens and attends to the cached
  keys/values of steps < h (ACPredictor.forward_step_cached), with no mask at all. Without it
  every step re-runs the whole growing context through every block under a block-causal mask.

Outputs equal `rollout_energies` to float rounding (test_fast_rollout checks both paths).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from vjepa2_ros.config import ConfigError
from vjepa2_ros.model.predictor import ACPredictor
from vjepa2_ros.model.world_model import normalize_reps
from vjepa2_ros.planning.rollout import ApplyAction, RolloutCost

if TYPE_CHECKING:
    from vjepa2_ros.planning.cem import CEMConfig

COMPILE_BACKENDS = ("inductor", "aot_eager", "eager")


def has_fast_path(world_model) -> bool:
    """True for the package's WorldModel (an ACPredictor inside); synthetic models use predict()."""
    return isinstance(getattr(world_model, "predictor", None), ACPredictor)


def _energy(z: torch.Tensor, z_goal: torch.Tensor) -> torch.Tensor:
    """planning.energy.l1_energy without its shape checks (they are done before the call)."""
    return (z.float() - z_goal.float()).abs().mean(dim=(-2, -1))


def _full_step(pred, z_ctx, actions, states, layout, z_goal):
    """Uncached step: the whole context through every block; energies when z_goal is given."""
    z = normalize_reps(pred.forward_with_layout(z_ctx, actions, states, layout, True))
    return z if z_goal is None else _energy(z, z_goal)


def _first_cached_step(pred, frame, action, state, cos, sin):
    """Step 0 of a KV-cached rollout: the predicted frame and every block's keys/values."""
    out, kv = pred.forward_step_cached(frame, action, state, cos, sin, None)
    return normalize_reps(out), kv


def _next_cached_step(pred, frame, action, state, cos, sin, kv):
    out, kv = pred.forward_step_cached(frame, action, state, cos, sin, kv)
    return normalize_reps(out), kv


def _last_cached_step(pred, frame, action, state, cos, sin, kv, z_goal):
    out, _ = pred.forward_step_cached(frame, action, state, cos, sin, kv)
    return _energy(normalize_reps(out), z_goal)


_STEPS = (_full_step, _first_cached_step, _next_cached_step, _last_cached_step)
_COMPILED: dict[tuple[str, str | None], tuple] = {}


def _compiled_steps(backend: str, mode: str | None) -> tuple:
    """The step functions compiled once per (backend, mode) for the whole process.

    Module-level so that every planner (one per budget, one per evaluation episode) shares the
    graphs: a fresh torch.compile wrapper is a new backend to the compiler's guards and would
    compile everything again.
    """
    mode = None if mode == "default" else mode
    key = (backend, mode)
    if key not in _COMPILED:
        options: dict = dict(fullgraph=True, backend=backend)
        if backend == "inductor" and mode:
            options["mode"] = mode
        _COMPILED[key] = tuple(torch.compile(fn, **options) for fn in _STEPS)
    return _COMPILED[key]


class RolloutEngine:
    """Energies of B candidate action sequences through a WorldModel, eager or compiled.

    compile: torch.compile each step function (fullgraph) with `backend` and `mode` (inductor
    modes: default, max-autotune-no-cudagraphs, ...). The candidate dimension is dynamic, so one
    graph per step kind serves every batch size >= 2.
    """

    def __init__(
        self,
        world_model,
        *,
        kv_cache: bool = True,
        compile: bool = False,
        backend: str = "inductor",
        mode: str | None = None,
    ) -> None:
        if not has_fast_path(world_model):
            raise TypeError(
                f"RolloutEngine needs the package's WorldModel (with an ACPredictor), got "
                f"{type(world_model).__name__}; use planning.rollout.rollout_energies instead"
            )
        if backend not in COMPILE_BACKENDS:
            raise ValueError(f"compile backend {backend!r}: use one of {COMPILE_BACKENDS}")
        self.model = world_model
        self.kv_cache = kv_cache
        self.compiled = compile
        steps = _compiled_steps(backend, mode) if compile else _STEPS
        self._full, self._first, self._next, self._last = steps

    def _batch(self, *tensors) -> None:
        """Mark dim 0 (candidates) dynamic so new batch sizes reuse the graph (sizes 0, 1 would
        specialise: energies() pads a batch of 1)."""
        if self.compiled:
            for t in tensors:
                torch._dynamo.mark_dynamic(t, 0)

    def _rollout(self, z_now, state_now, actions, z_goal, apply_action) -> torch.Tensor:
        pred = self.model.predictor
        batch, horizon = actions.shape[0], actions.shape[1]
        dtype = z_now.dtype
        actions = actions.float()
        acts = actions.to(dtype, copy=True)
        states = [state_now.float().reshape(1, 7).expand(batch, 7)]
        for h in range(1, horizon):
            states.append(apply_action(states[-1], actions[:, h - 1]))
        state_seq = torch.stack(states, dim=1).to(dtype)  # [B, H, 7]: s_0 .. s_{H-1}
        frame = z_now.unsqueeze(0)  # [1, N, D]: broadcast over the candidates inside the step

        if horizon == 1 or not self.kv_cache:
            frames = [frame.expand(batch, *z_now.shape)]
            for h in range(horizon):
                last = h == horizon - 1
                z_ctx = frames[0] if h == 0 else torch.cat(frames, dim=1)
                a, s = acts[:, : h + 1], state_seq[:, : h + 1]
                self._batch(z_ctx, a, s)
                layout = pred.layout(h + 1, z_now.device, dtype)
                out = self._full(pred, z_ctx, a, s, layout, z_goal if last else None)
                if last:
                    return out
                frames.append(out)

        kv = None
        for h in range(horizon):
            a, s = acts[:, h : h + 1], state_seq[:, h : h + 1]
            cos, sin = pred.step_layout(h, z_now.device, dtype)
            if h > 0:
                self._batch(frame, *(t for pair in kv for t in pair))
            self._batch(a, s)
            if h == 0:
                frame, kv = self._first(pred, frame, a, s, cos, sin)
            elif h < horizon - 1:
                frame, kv = self._next(pred, frame, a, s, cos, sin, kv)
            else:
                return self._last(pred, frame, a, s, cos, sin, kv, z_goal)
        raise AssertionError("unreachable: horizon >= 1")

    def energies(
        self,
        z_now: torch.Tensor,
        state_now: torch.Tensor,
        actions: torch.Tensor,
        z_goal: torch.Tensor,
        apply_action: ApplyAction,
        chunk_size: int = 0,
    ) -> RolloutCost:
        """rollout_energies' contract: [B] float32 energies of the final predicted frames."""
        if actions.dim() != 3 or actions.shape[-1] != 7:
            raise ValueError(f"actions must be [B, H, 7], got shape {tuple(actions.shape)}")
        if tuple(z_goal.shape[-2:]) != tuple(z_now.shape):
            raise ValueError(
                f"goal latent shape {tuple(z_goal.shape)} does not match the current latent "
                f"{tuple(z_now.shape)}: encode both with the same model"
            )
        batch, horizon = actions.shape[0], actions.shape[1]
        # Own copies (a few KB): a caller's tensor made outside inference mode, or a view with
        # other strides, would fail the compiled graphs' guards and recompile them.
        z_now, z_goal, state_now = z_now.clone(), z_goal.clone(), state_now.clone()
        step = batch if chunk_size <= 0 else chunk_size
        parts = []
        calls = 0
        for start in range(0, batch, step):
            chunk = actions[start : start + step]
            rows = chunk.shape[0]
            if rows == 1 and self.compiled:  # a batch of 1 would specialise: pad to 2, keep 1
                chunk = chunk.repeat(2, 1, 1)  # (an expand's zero stride would recompile too)
            parts.append(self._rollout(z_now, state_now, chunk, z_goal, apply_action)[:rows])
            calls += horizon
        energies = parts[0] if len(parts) == 1 else torch.cat(parts)
        return RolloutCost(energies, calls, batch * horizon)


def engine_for(world_model, config: CEMConfig) -> RolloutEngine | None:
    """The engine a CEMPlanner with `config` uses, or None for the plain rollout.

    None (the reference-shaped path, bit-for-bit what it always computed) unless the config
    compiles, or a horizon >= 2 can use the KV cache. With `fp8_validation` the predictor's
    Linear layers of `world_model` are converted to FP8 in place, after the report at that path
    was checked to be a passing FP8-vs-bf16 validation of these weights on this GPU.
    """
    if not has_fast_path(world_model):
        if config.compile or config.fp8_validation:
            raise ConfigError(
                "compile and fp8_validation need the package's WorldModel; "
                f"{type(world_model).__name__} only has predict()"
            )
        return None
    if config.fp8_validation:
        from vjepa2_ros.model.fp8 import quantize_predictor_fp8
        from vjepa2_ros.planning.precision import require_fp8_validation

        require_fp8_validation(config.fp8_validation, world_model)
        quantize_predictor_fp8(world_model)
    kv = config.kv_cache and config.horizon >= 2
    if not (config.compile or kv):
        return None
    return RolloutEngine(
        world_model,
        kv_cache=config.kv_cache,
        compile=config.compile,
        backend=config.compile_backend,
        mode=None if config.compile_mode == "default" else config.compile_mode,
    )
