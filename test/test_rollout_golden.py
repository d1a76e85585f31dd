"""Batched CEM rollouts equal one-at-a-time rollouts, with the golden small predictor."""

from __future__ import annotations

import pytest
import torch

from vjepa2_ros.model.presets import EncoderSize, ModelSpec, PredictorSize
from vjepa2_ros.model.world_model import WorldModel
from vjepa2_ros.planning.energy import l1_energy
from vjepa2_ros.planning.rollout import rollout, rollout_energies
from vjepa2_ros.pose.tensors import apply_action


@pytest.fixture(scope="module")
def golden(fixtures_dir):
    data = torch.load(fixtures_dir / "vjepa2_ac_golden_small.pt", map_location="cpu")
    cfg = data["config"]
    spec = ModelSpec(
        name="golden",
        img_size=cfg["img"],
        patch_size=16,
        tubelet=2,
        encoder=EncoderSize(
            cfg["edim"], cfg["edepth"], cfg["eheads"], int(cfg["edim"] * cfg["emlp"])
        ),
        predictor=PredictorSize(
            cfg["pdim"], cfg["pdepth"], cfg["pheads"], int(cfg["pdim"] * 4), cfg["frames"] // 2
        ),
    )
    model = WorldModel.build(spec)
    model.predictor.load_state_dict(data["predictor"], strict=True)
    return model, data


def test_golden_batched_rollout_equals_single_rollouts(golden):
    model, data = golden
    torch.manual_seed(0)
    n, horizon = 6, 3
    z_now = data["encoder_out_norm"][0, :64]  # frame 0, [64 tokens, 192]
    z_goal = data["encoder_out_norm"][0, 64:]  # frame 1
    state = data["states"][0]
    actions = torch.cat(
        [0.05 * torch.randn(n, horizon, 3), torch.zeros(n, horizon, 3), torch.rand(n, horizon, 1)],
        dim=-1,
    )
    with torch.inference_mode():
        batched = rollout(model, z_now, state, actions, apply_action)
        singles = [rollout(model, z_now, state, actions[i : i + 1], apply_action) for i in range(n)]
        chunked = rollout_energies(model, z_now, state, actions, z_goal, apply_action, chunk_size=4)
        # Reference by hand for candidate 0: grow the context frame by frame.
        frames, states = [z_now[None]], [state[None]]
        for h in range(horizon):
            if h:
                states.append(apply_action(states[-1], actions[:1, h - 1]))
            z = model.predict(torch.cat(frames, 1), actions[:1, : h + 1], torch.stack(states, 1))
            frames.append(z)
    single = torch.cat([s.latent for s in singles])
    assert batched.latent.shape == (n, 64, 192)
    assert (batched.latent - single).abs().max() < 1e-5
    assert (frames[-1][0] - batched.latent[0]).abs().max() < 1e-5
    assert (
        batched.states[:, 1:] - torch.cat([s.states[:, 1:] for s in singles])
    ).abs().max() < 1e-6
    energies = l1_energy(single, z_goal)
    assert (chunked.energies - energies).abs().max() < 1e-5
    assert chunked.predictor_calls == 2 * horizon and chunked.predictor_forwards == n * horizon
    # Different actions give different predictions: the test is not trivially satisfied.
    assert (batched.latent[0] - batched.latent[1]).abs().max() > 1e-3


def test_golden_cem_plans_with_real_predictor(golden):
    from vjepa2_ros.planning.cem import CEMConfig, CEMPlanner

    model, data = golden
    z = data["encoder_out_norm"][0]
    cfg = CEMConfig(samples=16, topk=4, iterations=2, horizon=2, seed=1)
    res = CEMPlanner(model, cfg).plan(z[:64], data["states"][0].numpy(), z[64:])
    again = CEMPlanner(model, cfg).plan(z[:64], data["states"][0].numpy(), z[64:])
    assert res.action.dtype.name == "float64" and res.action.shape == (7,)
    assert abs(res.action[:3]).max() <= 0.05 + 1e-7 and res.plan.shape == (2, 7)
    assert res.best_energy <= res.diagnostics.best_energy.min() + 1e-9
    assert (res.action == again.action).all(), "same seed, same plan"
