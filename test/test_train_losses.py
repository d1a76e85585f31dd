"""The post-training losses on tensors small enough to check by hand."""

from __future__ import annotations

import pytest
import torch

from vjepa2_ros.train.losses import ac_losses, rollout, teacher_forcing

# One token per frame, two channels: layer norm maps (a, b), a > b, to (1, -1) (up to eps).
UP = [1.0, -1.0]
DOWN = [-1.0, 1.0]


def _clip(*frames):
    return torch.tensor([frames])  # [1, T*1, 2]


def copy_last(z, actions, states):
    """A 'predictor' that predicts each next frame as the current one."""
    return z.clone()


def test_teacher_forcing_predicts_frames_1_to_T_from_real_context():
    z = _clip(UP, DOWN, UP)  # frames 0, 1, 2
    a, s = torch.zeros(1, 2, 7), torch.zeros(1, 3, 7)
    loss, pred = teacher_forcing(copy_last, z, a, s, tokens_per_frame=1)
    # predictions (UP, DOWN) vs targets (DOWN, UP): every entry differs by 2.
    assert loss.item() == pytest.approx(2.0, abs=1e-3)
    assert torch.allclose(pred, _clip(UP, DOWN), atol=1e-4)


def test_rollout_feeds_its_own_prediction_back():
    z = _clip(UP, DOWN, UP)
    a, s = torch.zeros(1, 2, 7), torch.zeros(1, 3, 7)
    _, pred = teacher_forcing(copy_last, z, a, s, 1)
    loss = rollout(copy_last, z, a, s, 1, pred, auto_steps=2)
    # Rollout: frame 1 := copy of frame 0 = UP; frame 2 := copy of *predicted* frame 1 = UP.
    # Targets DOWN, UP -> errors 2, 0 -> mean 1. (Teacher forcing frame 2 would give 2.)
    assert loss.item() == pytest.approx(1.0, abs=1e-3)
    terms = ac_losses(copy_last, z, a, s, 1, auto_steps=2)
    assert terms.total.item() == pytest.approx(3.0, abs=2e-3)
    assert terms.teacher_forcing.item() == pytest.approx(2.0, abs=1e-3)


def test_losses_slice_actions_and_states_like_the_reference():
    seen = []

    def record(z, actions, states):
        seen.append((z.shape[1], actions[0, :, 0].tolist(), states[0, :, 0].tolist()))
        return z

    z = torch.randn(1, 4 * 3, 8)  # T = 4 frames of 3 tokens
    actions = torch.arange(3.0)[None, :, None].expand(1, 3, 7)
    states = 10 + torch.arange(4.0)[None, :, None].expand(1, 4, 7)
    ac_losses(record, z, actions, states, tokens_per_frame=3, auto_steps=2)
    # Teacher forcing: frames 0..2, actions 0..2, states 0..2.
    assert seen[0] == (9, [0.0, 1.0, 2.0], [10.0, 11.0, 12.0])
    # Rollout step 2: frame 0 + predicted frame 1, actions 0..1, recorded states 0..1.
    assert seen[1] == (6, [0.0, 1.0], [10.0, 11.0])
    assert len(seen) == 2


def test_loss_is_layer_normalised_l1():
    z = torch.nn.functional.layer_norm(torch.randn(2, 3 * 4, 16), (16,))
    a, s = torch.zeros(2, 2, 7), torch.zeros(2, 3, 7)

    def scaled(zc, actions, states):
        return 5.0 * zc + 3.0  # scale and shift vanish under layer norm

    loss, _ = teacher_forcing(scaled, z, a, s, 4)
    assert loss.item() == pytest.approx((z[:, :-4] - z[:, 4:]).abs().mean().item(), abs=1e-4)


def test_bad_shapes_are_named():
    z = torch.zeros(1, 3, 2)
    with pytest.raises(ValueError, match="actions"):
        teacher_forcing(copy_last, z, torch.zeros(1, 3, 7), torch.zeros(1, 3, 7), 1)
    with pytest.raises(ValueError, match="auto_steps"):
        ac_losses(copy_last, z, torch.zeros(1, 2, 7), torch.zeros(1, 3, 7), 1, auto_steps=3)
