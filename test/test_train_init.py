"""The from-scratch predictor start: an exact copy of the frame, conditioning scaled to the data."""

from __future__ import annotations

import torch

from vjepa2_ros.model.presets import PRESETS
from vjepa2_ros.model.world_model import WorldModel, normalize_reps
from vjepa2_ros.train.init import MIN_SPREAD, copy_init


def _data(rows=200, seed=0):
    gen = torch.Generator().manual_seed(seed)
    actions = torch.zeros(rows, 7)
    actions[:, :3] = (torch.rand(rows, 3, generator=gen) - 0.5) * 0.1  # +-5 cm
    actions[:, 6] = (torch.rand(rows, generator=gen) > 0.9).float()
    states = torch.zeros(rows, 7)
    states[:, :3] = torch.tensor([0.5, 0.0, 0.3]) + 0.1 * torch.randn(rows, 3, generator=gen)
    states[:, 3] = torch.pi
    states[:, 6] = torch.rand(rows, generator=gen)
    return actions, states


def test_the_initialised_predictor_copies_the_frame_whatever_the_action():
    model = WorldModel.build(PRESETS["small"], seed=0)
    actions, states = _data()
    copy_init(model.predictor, actions, states)
    z = normalize_reps(torch.randn(3, model.tokens_per_frame, PRESETS["small"].encoder.dim))
    with torch.no_grad():
        for a in (torch.zeros(3, 1, 7), actions[:3, None]):
            out = model.predict(z, a, states[:3, None])
            assert torch.allclose(out, z, atol=1e-4), (out - z).abs().max()


def test_action_and_state_tokens_are_standardised_by_the_data_spread():
    model = WorldModel.build(PRESETS["small"], seed=0)
    actions, states = _data()
    copy_init(model.predictor, actions, states)
    with torch.no_grad():
        for layer, values in (
            (model.predictor.action_encoder, actions),
            (model.predictor.state_encoder, states),
        ):
            tokens = layer(values)
            # Centred: the mean input maps to zero; unit-ish spread per channel.
            assert tokens.mean(0).abs().max() < 1e-4
            assert 0.5 < tokens.std(0).mean() < 2.0
    # A 5 cm action moves the action token by O(1), not by ~1% of its bias as a default init does.
    default = WorldModel.build(PRESETS["small"], seed=0).predictor.action_encoder
    step = torch.tensor([[0.05, 0, 0, 0, 0, 0, 0]])
    with torch.no_grad():
        moved = model.predictor.action_encoder(step) - model.predictor.action_encoder(0 * step)
        moved_default = default(step) - default(0 * step)
    assert moved.norm() > 20 * moved_default.norm()
    # Constant inputs (roll fixed at pi, rotation deltas 0) are scaled by the floor, not blown up.
    w = model.predictor.state_encoder.weight
    assert w[:, 3].abs().max() < 10 / MIN_SPREAD[3]
