"""The GPU fast path on the CPU: KV cache, compiled rollout steps, no recompiles, no host syncs.

Compilation here uses dynamo with the `aot_eager` backend: the same tracing, guards, graph
counts and decompositions as inductor, without a minutes-long C++ build (bench/gpu.py
--dry-run runs inductor on the CPU).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters

from vjepa2_ros.config import ConfigError
from vjepa2_ros.model.checkpoint import load_weights, world_model_from_config
from vjepa2_ros.model.config import ModelConfig, resolve_dtype
from vjepa2_ros.model.presets import EncoderSize, ModelSpec, PredictorSize
from vjepa2_ros.model.world_model import WorldModel, normalize_reps
from vjepa2_ros.planning.cem import CEMConfig, CEMPlanner
from vjepa2_ros.planning.config import PlannerConfig
from vjepa2_ros.planning.fast_rollout import RolloutEngine, engine_for
from vjepa2_ros.planning.rollout import rollout_energies
from vjepa2_ros.pose.tensors import apply_action

STATE = np.array([0.55, 0.02, 0.40, -3.1, 0.0, 0.0, 0.0], dtype=np.float32)


@pytest.fixture(scope="module")
def small():
    """The committed trained small model (random weights would make every test trivial)."""
    return world_model_from_config(ModelConfig("small"))


@pytest.fixture(scope="module")
def latents(small):
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (2, 128, 128, 3), dtype=torch.uint8, generator=g)
    with torch.inference_mode():
        z = small.encode(frames)
    return z[0], z[1]


def candidates(n: int, horizon: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xyz = 0.05 * torch.randn(n, horizon, 3, generator=g)
    grip = torch.rand(n, horizon, 1, generator=g) - 0.5
    return torch.cat([xyz, torch.zeros(n, horizon, 3), grip], dim=-1)


@pytest.mark.parametrize("horizon", [2, 3])
def test_kv_cached_rollout_equals_full_context_rollout(small, latents, horizon):
    z_now, z_goal = latents
    state = torch.as_tensor(STATE)
    acts = candidates(7, horizon)
    with torch.inference_mode():
        ref = rollout_energies(small, z_now, state, acts, z_goal, apply_action).energies
        kv = RolloutEngine(small, kv_cache=True).energies(z_now, state, acts, z_goal, apply_action)
        full = RolloutEngine(small, kv_cache=False).energies(
            z_now, state, acts, z_goal, apply_action
        )
    assert kv.energies.shape == (7,) and kv.predictor_forwards == 7 * horizon
    assert (kv.energies - ref).abs().max() < 1e-5
    assert (full.energies - ref).abs().max() < 1e-6
    assert ref.std() > 1e-4, "candidates must differ for the comparison to mean anything"


def test_kv_cached_steps_equal_the_golden_predictor_forward(fixtures_dir):
    """Step by step through the cache == forward() over the growing context, golden weights."""
    golden = torch.load(fixtures_dir / "vjepa2_ac_golden_small.pt", map_location="cpu")
    spec = ModelSpec(
        name="golden",
        img_size=128,
        patch_size=16,
        tubelet=2,
        encoder=EncoderSize(dim=192, depth=2, heads=3, mlp_hidden=768),
        predictor=PredictorSize(dim=128, depth=2, heads=2, mlp_hidden=512, max_steps=4),
    )
    model = load_weights(WorldModel.build(spec, device="meta"), golden, "cpu", torch.float32)
    pred = model.predictor
    tokens = golden["pred_in_tokens"]  # [B, T*64, 192]
    actions, states = golden["pred_in_actions"], golden["pred_in_states"]
    steps = actions.shape[1]
    n = spec.tokens_per_frame
    with torch.inference_mode():
        full = pred(tokens, actions, states)  # [1, T*64, 192]: frame t+1 for every step t
        kv = None
        for t in range(steps):
            cos, sin = pred.step_layout(t, "cpu", torch.float32)
            frame = tokens[:, t * n : (t + 1) * n]
            out, kv = pred.forward_step_cached(
                frame, actions[:, t : t + 1], states[:, t : t + 1], cos, sin, kv
            )
            assert (out - full[:, t * n : (t + 1) * n]).abs().max() < 1e-5, f"step {t}"
            assert kv[0][0].shape == (len(tokens), spec.predictor.heads, (t + 1) * (n + 2), 64)
    assert (full - golden["pred_out"]).abs().max() < 1e-4


def test_compiled_engine_matches_eager_and_pads_a_single_candidate(small, latents):
    z_now, z_goal = latents
    state = torch.as_tensor(STATE)
    acts = candidates(9, 1)
    with torch.inference_mode():
        ref = rollout_energies(small, z_now, state, acts, z_goal, apply_action).energies
        engine = RolloutEngine(small, compile=True, backend="aot_eager")
        whole = engine.energies(z_now, state, acts, z_goal, apply_action)
        chunked = engine.energies(z_now, state, acts, z_goal, apply_action, chunk_size=4)
        one = engine.energies(z_now, state, acts[:1], z_goal, apply_action)
    assert (whole.energies - ref).abs().max() < 1e-5
    assert (chunked.energies - ref).abs().max() < 1e-5
    assert one.energies.shape == (1,) and abs(one.energies[0] - ref[0]) < 1e-5
    assert chunked.predictor_calls == 3 and chunked.predictor_forwards == 9


def test_no_recompiles_across_plans_and_budgets(small, latents):
    """One graph for every horizon-1 budget and the plan's evaluation; two more for horizon 2."""
    z_now, z_goal = latents
    fast = CEMConfig(samples=12, topk=4, iterations=2, horizon=1, compile=True)
    paper = CEMConfig(samples=20, topk=5, iterations=3, horizon=1, compile=True)
    notebook = CEMConfig(samples=10, topk=4, iterations=2, horizon=2, compile=True)
    for cfg in (fast, paper, notebook):
        cfg.compile_backend = "eager"  # dynamo guards and graph counts, no AOT tracing
    torch._dynamo.reset()
    counters.clear()
    planners = {name: CEMPlanner(small, cfg) for name, cfg in
                (("fast", fast), ("paper", paper), ("notebook", notebook))}  # fmt: skip
    goal_b = z_goal.roll(1, 0)
    warm = {}
    for name in ("fast", "paper", "fast", "notebook"):
        warm[name] = planners[name].plan(z_now, STATE, z_goal)
    assert counters["stats"]["unique_graphs"] == 3
    # Warm: new plans, other inputs, new planners for the same budgets, back and forth.
    with torch.compiler.set_stance("fail_on_recompile"):
        for name in ("paper", "notebook", "fast", "paper"):
            planners[name].plan(z_now, STATE + 0.01, goal_b)
        again = CEMPlanner(small, fast).plan(z_now, STATE, z_goal)
    assert counters["stats"]["unique_graphs"] == 3
    eager = CEMPlanner(small, CEMConfig(samples=12, topk=4, iterations=2, horizon=1))
    first = eager.plan(z_now, STATE, z_goal)
    np.testing.assert_allclose(again.action, first.action, atol=1e-5)
    np.testing.assert_allclose(again.diagnostics.best_energy, first.diagnostics.best_energy,
                               atol=1e-5)  # fmt: skip


def test_kv_engine_loop_makes_no_host_sync(small, latents, monkeypatch):
    """The real predictor's KV-cached rollout inside CEM keeps every value a tensor."""
    planner = CEMPlanner(small, CEMConfig(samples=16, topk=4, iterations=2, horizon=2))
    assert planner.engine is not None and planner.engine.kv_cache
    z_now, z_goal = latents
    state = torch.as_tensor(STATE)
    gen = torch.Generator().manual_seed(0)
    from vjepa2_ros.planning.cem import _IterationClock

    def forbidden(*_a, **_k):
        raise AssertionError("host sync inside the CEM loop")

    with torch.inference_mode():
        for name in ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__"):
            monkeypatch.setattr(torch.Tensor, name, forbidden)
        out = planner._search(z_now, state, z_goal.float(), gen, planner.initial_mean(),
                              _IterationClock(torch.device("cpu")))  # fmt: skip
        monkeypatch.undo()
    assert out["forwards"] == 2 * 17 * 2 + 2


class Synthetic:
    """A world model with only predict(), like the synthetic ones of test_cem."""

    def predict(self, z_ctx, actions, states):
        return z_ctx[:, -64:]


def test_engine_choice_and_config_errors(small):
    assert engine_for(small, CEMConfig(horizon=1)) is None, "H=1 eager: the reference path"
    assert engine_for(small, CEMConfig(horizon=2, kv_cache=False)) is None
    assert engine_for(small, CEMConfig(horizon=2)).kv_cache
    assert engine_for(Synthetic(), CEMConfig(horizon=2)) is None, "synthetic models: predict()"
    with pytest.raises(ConfigError, match="WorldModel"):
        engine_for(Synthetic(), CEMConfig(compile=True))
    with pytest.raises(ConfigError, match="compile_mode"):
        CEMConfig(compile_mode="fastest")
    with pytest.raises(ConfigError, match="compile_backend"):
        CEMConfig(compile_backend="tensorrt")
    cem = PlannerConfig(budget="notebook", compile=True, kv_cache=False).cem_config()
    assert cem.compile and not cem.kv_cache and cem.fp8_validation == ""


def test_dtype_auto_is_bf16_on_cuda_and_float32_on_cpu_and_for_the_small_model():
    assert resolve_dtype("auto", "cuda") == torch.bfloat16
    assert resolve_dtype("auto", "cuda:1") == torch.bfloat16
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("float16", "cuda") == torch.float16
    # The small model stays float32 on CUDA: bf16 moved its planned action by 1.2-7 mm.
    assert resolve_dtype("auto", "cuda", "small") == torch.float32
    assert resolve_dtype("auto", "cuda", "vitg-ac") == torch.bfloat16
    assert ModelConfig().dtype == "auto" and ModelConfig().torch_dtype == torch.float32
    assert ModelConfig("vitg-ac", "", "cuda").torch_dtype == torch.bfloat16
    assert ModelConfig("small", "", "cuda").torch_dtype == torch.float32
    assert ModelConfig("small", "", "cuda", "float32").torch_dtype == torch.float32
    assert (
        PlannerConfig(model=ModelConfig("vitg-ac", device="cuda:0")).torch_dtype == torch.bfloat16
    )
    with pytest.raises(ConfigError, match="auto"):
        ModelConfig(dtype="fp8")


def test_normalised_rollout_latents_keep_their_statistics(small, latents):
    """The engine's last step returns energies of normalised frames (mean 0, var 1 per token)."""
    z_now, _ = latents
    state = torch.as_tensor(STATE)
    acts = candidates(3, 2)
    with torch.inference_mode():
        frame = z_now.unsqueeze(0)
        cos, sin = small.predictor.step_layout(0, "cpu", torch.float32)
        s = state.reshape(1, 1, 7).expand(3, 1, 7)
        out, _ = small.predictor.forward_step_cached(frame, acts[:, :1], s, cos, sin)
        z = normalize_reps(out)
    assert z.shape == (3, 64, 128)
    assert z.mean(-1).abs().max() < 1e-4 and (z.var(-1, unbiased=False) - 1).abs().max() < 1e-3
