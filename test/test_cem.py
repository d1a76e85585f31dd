"""CEM planner on a synthetic world model whose energy minimum is known in closed form.

The synthetic model maps the state after the last action to a latent z = W f(s), with
f(s) = [10 x, 10 y, 10 z, gripper] (x10 so 1 mm weighs like 0.01 gripper). The L1 energy to the
goal latent z_goal = W f(s_goal) is convex in the action and 0 exactly at s = s_goal, so the
optimal first action for H = 1 is s_goal - s_now.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vjepa2_ros.config import ConfigError
from vjepa2_ros.model.config import ModelConfig
from vjepa2_ros.planning.budgets import budget_names, load_budget
from vjepa2_ros.planning.cem import CEMConfig, CEMPlanner
from vjepa2_ros.planning.config import PlannerConfig
from vjepa2_ros.planning.gripper_schedule import GripperSchedule
from vjepa2_ros.pose.tensors import apply_action

VITG_CUDA = ModelConfig(preset="vitg-ac", device="cuda")
TOKENS, CHANNELS = 4, 8
STATE_NOW = np.array([0.45, -0.05, 0.30, 3.1, 0.05, -0.2, 0.2])
TARGET = np.array([0.02, -0.03, 0.015, 0.0, 0.0, 0.0, 0.4])  # the optimal first action


def features(state: torch.Tensor) -> torch.Tensor:
    return torch.cat([10.0 * state[..., :3], state[..., 6:]], dim=-1)


class BowlWorld:
    """predict() = W f(apply_action(s_T, a_T)); records context lengths to check the rollout."""

    def __init__(self, seed: int = 0, dtype=torch.float32) -> None:
        g = torch.Generator().manual_seed(seed)
        self.w = torch.randn(TOKENS, CHANNELS, 4, generator=g, dtype=torch.float64)
        self.dtype = dtype
        self.context_frames: list[int] = []
        self.batch_sizes: list[int] = []

    def latent(self, state: torch.Tensor) -> torch.Tensor:
        return torch.einsum("ncf,...f->...nc", self.w, features(state.double())).to(self.dtype)

    def predict(self, z_ctx, actions, states):
        assert z_ctx.shape[1] == actions.shape[1] * TOKENS, "context must hold T frames"
        self.context_frames.append(z_ctx.shape[1] // TOKENS)
        self.batch_sizes.append(z_ctx.shape[0])
        nxt = apply_action(states[:, -1].double(), actions[:, -1].double())
        return self.latent(nxt)


class FlatWorld(BowlWorld):
    """Every action predicts the same frame: the energy never improves (early stop)."""

    def predict(self, z_ctx, actions, states):
        return self.latent(states[:, 0]).expand(z_ctx.shape[0], TOKENS, CHANNELS) * 1.0


def inputs(world: BowlWorld):
    s_now = torch.tensor(STATE_NOW)
    goal = apply_action(s_now, torch.tensor(TARGET))
    return world.latent(s_now).float(), STATE_NOW, world.latent(goal).float()


def make(world, **kw) -> CEMPlanner:
    return CEMPlanner(world, CEMConfig(**kw))


def test_paper_budget_finds_closed_form_optimum():
    world = BowlWorld()
    planner = CEMPlanner(world, load_budget("paper"))
    res = planner.plan(*inputs(world))
    err_mm = np.abs(res.action[:3] - TARGET[:3]) * 1e3
    assert err_mm.max() < 2.0, err_mm
    assert abs(res.action[6] - TARGET[6]) < 0.02
    assert np.all(res.action[3:6] == 0.0), "rotation is not planned by default"
    d = res.diagnostics
    assert d.iterations == 10 and not d.early_stopped
    # 800 samples + the mean per iteration, H = 1, plus one rollout of the returned plan.
    assert d.predictor_forwards == 10 * 801 + 1 and d.predictor_calls == 11
    assert d.mean_energy.shape == (10,) and d.elite_std.shape == (10, 1, 7)
    assert np.all(np.diff(np.minimum.accumulate(d.best_energy)) <= 0)
    assert res.best_energy == pytest.approx(d.best_energy.min())
    assert d.elite_spread_m[-1] < d.elite_spread_m[0] / 10, "elites must contract"
    assert d.mean_energy[-1] < d.mean_energy[0] / 10
    assert res.energy < 0.05 * d.mean_energy[0]
    assert d.iteration_s.shape == (10,) and np.all(d.iteration_s > 0)


def test_first_iteration_matches_hand_computation():
    """N = 6, top-3, one iteration: every number recomputed in float64 from the same draws."""
    world = BowlWorld()
    cfg = dict(samples=6, topk=3, iterations=1, horizon=1, seed=7)
    res = make(world, **cfg).plan(*inputs(world))

    eps = torch.randn((1, 6, 4), generator=torch.Generator().manual_seed(7)).double().numpy()[0]
    std0 = np.array([0.05, 0.05, 0.05, 1.0])
    a4 = np.clip(std0 * eps, [-0.05] * 3 + [-0.75], [0.05] * 3 + [0.75])  # mean 0
    acts = np.zeros((6, 7))
    acts[:, :3], acts[:, 6] = a4[:, :3], a4[:, 3]
    z_goal = world.latent(apply_action(torch.tensor(STATE_NOW), torch.tensor(TARGET))).numpy()
    nxt = apply_action(torch.tensor(STATE_NOW).expand(6, 7), torch.tensor(acts))
    energy = np.abs(world.latent(nxt).numpy() - z_goal).mean(axis=(1, 2))
    elite = acts[np.argsort(energy)[:3]]
    mean = 0.85 * elite.mean(0) + 0.15 * 0.0
    spread = elite.std(0, ddof=1)
    expected_action = mean.copy()
    if abs(expected_action[6]) < 0.25:
        expected_action[6] = 0.0

    np.testing.assert_allclose(res.mean[0], mean, atol=1e-6)
    np.testing.assert_allclose(res.action, expected_action, atol=1e-6)
    np.testing.assert_allclose(res.diagnostics.elite_std[0, 0], spread, atol=1e-6)
    assert res.diagnostics.best_energy[0] == pytest.approx(energy.min(), abs=1e-5)
    z_now = world.latent(torch.tensor(STATE_NOW)).numpy()
    assert res.diagnostics.mean_energy[0] == pytest.approx(np.abs(z_now - z_goal).mean(), abs=1e-5)


def test_gripper_rounding_and_rotation_option():
    world = BowlWorld()
    z_now, s_now, _ = inputs(world)
    # Goal: same pose, gripper +0.1 -> the optimum 0.1 is below 0.25 and is returned as 0.
    z_goal = world.latent(
        apply_action(torch.tensor(s_now), torch.tensor([0.0] * 6 + [0.1], dtype=torch.float64))
    )
    res = make(world, samples=200, iterations=8, horizon=1).plan(z_now, s_now, z_goal.float())
    assert abs(res.mean[0, 6] - 0.1) < 0.03 and res.action[6] == 0.0

    rot = make(world, samples=32, iterations=2, horizon=1, plan_rotation=True, max_rotation=0.05)
    r = rot.plan(z_now, s_now, z_goal.float())
    assert np.any(r.best_plan[0, 3:6] != 0.0) and np.all(np.abs(r.best_plan[0, 3:6]) <= 0.05 + 1e-7)


def test_gripper_schedule_fixes_the_gripper_and_still_plans_the_motion():
    """The reference cem()'s `axis` pin (hold) and `close_gripper` (close@k): every candidate
    carries the fixed delta, so the rollouts see it, and the motion is planned as before."""
    world = BowlWorld()
    z_now, s_now, _ = inputs(world)
    seen: list[torch.Tensor] = []
    predict = world.predict

    def spy(z_ctx, actions, states):
        seen.append(actions[:, :, 6].clone())
        return predict(z_ctx, actions, states)

    world.predict = spy
    budget = dict(samples=200, iterations=6, horizon=2, kv_cache=False)
    # Each schedule against a goal whose hand it can match (closedness now 0.2): the motion
    # must still end at the goal's position.
    for text, grip_delta in (("free", 0.4), ("hold", 0.0), ("close", 0.8), ("open@1", -0.2)):
        target = torch.tensor([*TARGET[:6], grip_delta])
        z_goal = world.latent(apply_action(torch.tensor(s_now), target)).float()
        seen.clear()
        res = make(world, **budget).plan(z_now, s_now, z_goal, GripperSchedule.parse(text))
        np.testing.assert_allclose(res.plan[:, :3].sum(0), TARGET[:3], atol=0.01, err_msg=text)
        last = torch.cat([g[:, -1] for g in seen])  # each rollout step's newest action
        if text == "free":
            assert bool((last != 0).any()), "free: the gripper is sampled"
        elif text == "open@1":  # step 0 sampled, step 1 fixed at -1 (opening)
            assert bool((torch.cat([g[:, 1] for g in seen if g.shape[1] == 2]) == -1.0).all())
            assert res.plan[1, 6] == -1.0
        else:
            fixed = 0.0 if text == "hold" else 1.0
            assert bool((last == fixed).all()), text
            np.testing.assert_array_equal(res.plan[:, 6], [fixed, fixed])
    # close_in_place: the hand shuts where it is (the motion pinned to 0 as well).
    res = make(world, **budget).plan(z_now, s_now, z_goal, GripperSchedule.parse("close_in_place"))
    np.testing.assert_array_equal(res.plan, [[0, 0, 0, 0, 0, 0, 1.0]] * 2)
    for bad in ("squeeze", "close@x"):
        with pytest.raises(ConfigError, match="gripper schedule"):
            GripperSchedule.parse(bad)
    assert [str(s) for s in GripperSchedule.parse_list("hold, close,close@1")] == [
        "hold",
        "close",
        "close@1",
    ]


def test_a_schedule_that_names_its_axes_plans_along_those_only():
    """hold/z (the pick-place descent): x and y pinned to 0 in every candidate, z still planned
    to the goal's height; the gripper held. A bad axis list is one clear error."""
    world = BowlWorld()
    z_now, s_now, _ = inputs(world)
    z_goal = world.latent(apply_action(torch.tensor(s_now), torch.tensor(TARGET))).float()
    seen: list[torch.Tensor] = []
    predict = world.predict

    def spy(z_ctx, actions, states):
        seen.append(actions[:, :, :3].clone())
        return predict(z_ctx, actions, states)

    world.predict = spy
    budget = dict(samples=200, iterations=6, horizon=1, kv_cache=False)
    res = make(world, **budget).plan(z_now, s_now, z_goal, GripperSchedule.parse("hold/z"))
    moves = torch.cat([a.reshape(-1, 3) for a in seen])
    assert bool((moves[:, :2] == 0).all()) and bool((moves[:, 2] != 0).any())
    np.testing.assert_array_equal(res.action[[0, 1, 6]], [0.0, 0.0, 0.0])
    assert res.action[2] == pytest.approx(TARGET[2], abs=0.005)
    assert str(GripperSchedule.parse(" close@1 / xz ")) == "close@1/xz"
    assert str(GripperSchedule.parse("hold/xyz")) == "hold"  # all three: the plain mode
    assert GripperSchedule.parse("free/xyz").fixed(2) is None  # nothing pinned
    for bad in ("hold/q", "hold/zz", "hold/"):
        with pytest.raises(ConfigError, match="axes"):
            GripperSchedule.parse(bad)


def test_free_gripper_schedule_is_the_reference_search():
    world = BowlWorld()
    args = inputs(world)
    plain = make(world, samples=64, iterations=3, horizon=2, seed=3).plan(*args)
    free = make(world, samples=64, iterations=3, horizon=2, seed=3).plan(
        *args, GripperSchedule.parse("free")
    )
    np.testing.assert_array_equal(plain.plan, free.plan)
    np.testing.assert_array_equal(plain.mean, free.mean)


def test_horizon_two_rollout_grows_context_and_counts_forwards():
    world = BowlWorld()
    res = make(world, samples=20, topk=4, iterations=3, horizon=2, chunk_size=8).plan(
        *inputs(world)
    )
    # 21 candidates in chunks of 8, 8, 5; each chunk calls with 1 then 2 context frames.
    per_iteration = [(8, 1), (8, 2), (8, 1), (8, 2), (5, 1), (5, 2)]
    seen = list(zip(world.batch_sizes, world.context_frames))
    assert seen == per_iteration * 3 + [(1, 1), (1, 2)]
    assert res.diagnostics.predictor_forwards == 3 * 21 * 2 + 2
    assert res.diagnostics.predictor_calls == 3 * 6 + 2
    # H = 2: only the sum of the two steps is determined; the final state is the goal.
    np.testing.assert_allclose(res.mean.sum(0)[:3], TARGET[:3], atol=0.01)


def test_deterministic_for_seed_and_chunking():
    world = BowlWorld()
    args = inputs(world)
    cfg = dict(samples=64, topk=5, iterations=3, horizon=2, seed=3)
    a = make(world, **cfg).plan(*args)
    b = make(world, **cfg).plan(*args)
    c = make(world, chunk_size=10, **cfg).plan(*args)
    d = make(world, **{**cfg, "seed": 4}).plan(*args)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.diagnostics.best_energy, b.diagnostics.best_energy)
    np.testing.assert_allclose(a.mean, c.mean, atol=1e-7)
    assert not np.allclose(a.mean, d.mean)
    # Successive calls draw from seed + k; reset() restarts the sequence.
    planner = make(world, **cfg)
    first = planner.plan(*args)
    second = planner.plan(*args)
    assert second.diagnostics.seed == 4 and not np.allclose(first.mean, second.mean)
    planner.reset()
    np.testing.assert_array_equal(planner.plan(*args).mean, a.mean)


@pytest.mark.parametrize("fill", ["zero", "repeat"])
def test_warm_start_shifts_previous_plan(fill):
    world = BowlWorld()
    args = inputs(world)
    planner = make(world, samples=32, topk=4, iterations=2, horizon=3, warm_start=True,
                   warm_start_fill=fill)  # fmt: skip
    assert np.all(planner.initial_mean().numpy() == 0)
    first = planner.plan(*args)
    seeded = planner.initial_mean().numpy()
    last = first.mean[-1] if fill == "repeat" else np.zeros(7)
    np.testing.assert_allclose(seeded, np.vstack([first.mean[1:], last]), atol=1e-7)
    # The second call's first sampling mean is that shifted plan: its energy is the first entry.
    second = planner.plan(*args)
    nxt = torch.tensor(STATE_NOW)
    for step in seeded:
        nxt = apply_action(nxt, torch.tensor(step, dtype=torch.float64))
    z_goal = args[2].double().numpy()
    expected = np.abs(world.latent(nxt).numpy() - z_goal).mean()
    assert second.diagnostics.mean_energy[0] == pytest.approx(expected, abs=1e-5)
    planner.reset()
    assert np.all(planner.initial_mean().numpy() == 0)
    cold = make(world, samples=32, topk=4, iterations=2, horizon=3)
    cold.plan(*args)
    assert np.all(cold.initial_mean().numpy() == 0), "warm start is off by default"


def test_early_stop_when_energy_stops_improving():
    world = FlatWorld()
    cfg = dict(samples=16, topk=4, iterations=30, horizon=1, early_stop=True,
               early_stop_patience=2, early_stop_min_iterations=3)  # fmt: skip
    res = make(world, **cfg).plan(*inputs(world))
    assert res.diagnostics.early_stopped and res.diagnostics.iterations == 3
    assert res.diagnostics.predictor_forwards == 3 * 17 + 1
    full = make(world, **{**cfg, "early_stop": False}).plan(*inputs(world))
    assert full.diagnostics.iterations == 30 and not full.diagnostics.early_stopped


def test_iteration_loop_makes_no_host_sync(monkeypatch):
    """Inside the search every value stays a tensor: forbid the ways a tensor reaches Python."""
    world = BowlWorld()
    planner = make(world, samples=32, topk=4, iterations=3, horizon=2)
    z_now, s_now, z_goal = inputs(world)
    state = torch.tensor(s_now, dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)

    def forbidden(*_a, **_k):
        raise AssertionError("host sync inside the CEM loop")

    # BowlWorld itself is test code that converts dtypes only (no syncs); patch Tensor methods.
    for name in ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__"):
        monkeypatch.setattr(torch.Tensor, name, forbidden)
    from vjepa2_ros.planning.cem import _IterationClock

    out = planner._search(z_now, state, z_goal, gen, planner.initial_mean(), _IterationClock(
        torch.device("cpu")))  # fmt: skip
    monkeypatch.undo()
    assert out["elite_std"].shape == (3, 2, 7) and out["forwards"] == 3 * 33 * 2 + 2


def test_bad_inputs_are_refused_with_clear_errors():
    world = BowlWorld()
    z_now, s_now, z_goal = inputs(world)
    planner = make(world, samples=8, topk=2, iterations=1, horizon=1)
    with pytest.raises(ValueError, match="non-finite"):
        planner.plan(z_now, np.full(7, np.nan), z_goal)
    with pytest.raises(ValueError, match="7 values"):
        planner.plan(z_now, s_now[:6], z_goal)
    with pytest.raises(ValueError, match="same model"):
        planner.plan(z_now, s_now, z_goal[:2])
    bad = z_now.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        planner.plan(bad, s_now, z_goal)
    with pytest.raises(ConfigError, match="topk"):
        CEMConfig(samples=8, topk=20)
    with pytest.raises(ConfigError, match="momentum_std"):
        CEMConfig(momentum_std=1.0)


def test_named_budgets_and_planner_config():
    assert {"paper", "notebook", "fast"} <= set(budget_names())
    paper, notebook = load_budget("paper"), load_budget("notebook")
    assert (paper.samples, paper.iterations, paper.horizon, paper.topk) == (800, 10, 1, 10)
    assert (notebook.samples, notebook.iterations, notebook.horizon, notebook.topk) == (
        400, 10, 2, 10)  # fmt: skip
    assert notebook.maxnorm == 0.05 and notebook.momentum_mean == 0.15
    with pytest.raises(ConfigError, match="known budgets: fast, notebook, paper"):
        load_budget("turbo")
    with pytest.raises(ConfigError, match="known budgets"):
        PlannerConfig(budget="turbo")
    cem = PlannerConfig(budget="paper", seed=5, warm_start=True, chunk_size=100).cem_config()
    assert (cem.samples, cem.seed, cem.warm_start, cem.chunk_size) == (800, 5, True, 100)


def test_memory_budget_sizes_chunks():
    from vjepa2_ros.model.presets import spec_from_name
    from vjepa2_ros.planning.rollout import bytes_per_candidate, candidates_per_chunk

    vitg = spec_from_name("vitg-ac")
    one = bytes_per_candidate(vitg, 1, torch.bfloat16)
    # 258 tokens x (4096-wide MLP, 1024-wide stream) in bf16: a few MB per candidate.
    assert 4e6 < one < 20e6
    assert bytes_per_candidate(vitg, 2, torch.bfloat16) > 2 * one  # longer context, L^2 scores
    assert 1.5 * one < bytes_per_candidate(vitg, 1, torch.float32) < 2 * one
    assert candidates_per_chunk(vitg, 1, torch.bfloat16, 8e9) == int(8e9 // one)
    assert candidates_per_chunk(vitg, 1, torch.bfloat16, 1.0) == 1
    cfg = PlannerConfig(budget="paper", memory_budget_gb=1.0, model=ModelConfig(dtype="bfloat16"))
    assert cfg.cem_config(vitg).chunk_size == int(1e9 // one)
    # The planner node passes its model's spec; without one the configured preset sizes chunks.
    small = spec_from_name("small")
    assert cfg.cem_config().chunk_size == candidates_per_chunk(small, 1, torch.bfloat16, 1e9) > 1
    vitg_cfg = PlannerConfig(budget="paper", memory_budget_gb=1.0, model=VITG_CUDA)
    assert vitg_cfg.cem_config().chunk_size == int(1e9 // one), "dtype auto: bf16 on cuda"
    # Horizon 2 with the KV cache keeps every block's keys/values: fewer candidates per chunk.
    nb = PlannerConfig(budget="notebook", memory_budget_gb=8.0, model=VITG_CUDA)
    kv_chunk = nb.cem_config().chunk_size
    assert kv_chunk == candidates_per_chunk(vitg, 2, torch.bfloat16, 8e9, kv_cache=True)
    assert 0 < kv_chunk < dataclasses.replace(nb, kv_cache=False).cem_config().chunk_size


def test_non_finite_predictions_give_no_action():
    from vjepa2_ros.planning.cem import PlanningError

    class NanWorld(BowlWorld):
        def predict(self, z_ctx, actions, states):
            return super().predict(z_ctx, actions, states) * float("nan")

    world = NanWorld()
    planner = make(world, samples=8, topk=2, iterations=2, horizon=2, warm_start=True)
    with pytest.raises(PlanningError, match="no action returned"):
        planner.plan(*inputs(world))
    assert np.all(planner.initial_mean().numpy() == 0), "a failed plan must not seed the next"
