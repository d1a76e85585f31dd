"""The world model reproduces the reference V-JEPA 2-AC numbers (golden fixture, float32, CPU)."""

from __future__ import annotations

import pytest
import torch

from vjepa2_ros.model.checkpoint import load_weights
from vjepa2_ros.model.predictor import block_causal_mask
from vjepa2_ros.model.preprocess import preprocess_frames
from vjepa2_ros.model.presets import EncoderSize, ModelSpec, PredictorSize
from vjepa2_ros.model.world_model import WorldModel, normalize_reps
from vjepa2_ros.planning.rollout import imagine_step
from vjepa2_ros.pose.tensors import action_between, apply_action

TOL = 1e-4
GOLDEN_SPEC = ModelSpec(
    name="golden",
    img_size=128,
    patch_size=16,
    tubelet=2,
    encoder=EncoderSize(dim=192, depth=2, heads=3, mlp_hidden=768),
    predictor=PredictorSize(dim=128, depth=2, heads=2, mlp_hidden=512, max_steps=4),
)


@pytest.fixture(scope="module")
def golden(fixtures_dir):
    return torch.load(fixtures_dir / "vjepa2_ac_golden_small.pt", map_location="cpu")


@pytest.fixture(scope="module")
def model(golden):
    m = WorldModel.build(GOLDEN_SPEC, device="meta")
    return load_weights(m, golden, "cpu", torch.float32)


def maxerr(a, b) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.double() - b.double()).abs().max().item()


def test_golden_preprocess_square_and_wide(golden):
    clip = preprocess_frames(golden["frames_uint8"], 128)  # [2, 3, 2, 128, 128]
    assert clip.shape == (2, 3, 2, 128, 128)
    assert torch.equal(clip[:, :, 0], clip[:, :, 1])  # tubelet = the frame twice
    assert maxerr(clip[:, :, 0].transpose(0, 1), golden["clip"]) <= TOL
    wide = preprocess_frames(golden["wide_frame_uint8"].numpy(), 128)  # numpy [H, W, 3]
    assert maxerr(wide[:, :, 0].transpose(0, 1), golden["clip_wide"]) <= TOL


def test_golden_encoder_raw_and_normalised(golden, model):
    with torch.no_grad():
        clip = preprocess_frames(golden["frames_uint8"], 128)
        raw = model.encoder(clip).reshape(1, 128, 192)
        z = model.encode(golden["frames_uint8"]).reshape(1, 128, 192)
        wide = model.encode(golden["wide_frame_uint8"])
    assert maxerr(raw, golden["encoder_out_raw"]) <= TOL
    assert maxerr(z, golden["encoder_out_norm"]) <= TOL
    assert maxerr(wide, golden["wide_out_norm"]) <= TOL
    # normalised latents: zero mean, unit variance per token
    assert z.mean(-1).abs().max() < 1e-5
    assert (z.var(-1, unbiased=False) - 1).abs().max() < 1e-3


def test_golden_predictor_and_world_model_step(golden, model):
    tokens, actions, states = (
        golden["pred_in_tokens"],
        golden["pred_in_actions"],
        golden["pred_in_states"],
    )
    with torch.no_grad():
        out = model.predictor(tokens, actions, states)
        z_next, s_next = imagine_step(model, tokens, actions, states)
    assert maxerr(out, golden["pred_out"]) <= TOL
    assert maxerr(z_next, normalize_reps(golden["pred_out"][:, 64:])) <= TOL
    assert maxerr(model.predict(tokens, actions, states), z_next) == 0.0
    assert maxerr(s_next, apply_action(states[:, -1], actions[:, -1])) == 0.0


def test_golden_causal_probe(golden, model):
    with torch.no_grad():
        out = model.predictor(
            golden["pred_in_tokens"], golden["pred_in_actions"], golden["pred_in_states"]
        )
        pert = model.predictor(
            golden["pred_in_tokens_perturbed"],
            golden["pred_in_actions_perturbed"],
            golden["pred_in_states"],
        )
    assert maxerr(pert, golden["pred_out_perturbed"]) <= TOL
    assert maxerr(pert[:, :64], out[:, :64]) == 0.0  # step 0 cannot see step 1
    assert maxerr(pert[:, 64:], out[:, 64:]) > 1e-2  # step 1 does see it


def test_golden_pose_math(golden):
    states = golden["states"]
    new = apply_action(states[0], golden["compute_new_pose_in_action"][0, 0])
    assert maxerr(new, golden["compute_new_pose_out"][0, 0]) <= TOL
    diff = action_between(states[0].double(), states[1].double())
    assert maxerr(diff, golden["poses_to_diff_out"]) <= TOL
    # round trip: the action between two states takes the first to the second
    assert maxerr(apply_action(states[0].double(), diff), states[1].double()) <= 1e-6


def test_block_causal_mask_layout():
    m = block_causal_mask(3, 4)
    assert m.shape == (12, 12) and m.dtype == torch.bool
    assert m[0:4, 0:4].all() and not m[0:4, 4:].any()
    assert m[8:, :].all() and m[4:8, :8].all() and not m[4:8, 8:].any()


def test_one_step_passes_no_mask_and_batches_match(model):
    """T=1 runs without a mask (fused SDPA); a batch equals its samples run one by one."""
    cos, _sin, mask = model.predictor._layout(1, torch.device("cpu"), torch.float32)
    assert mask is None and cos.shape == (66, 64)
    assert model.predictor._layout(2, torch.device("cpu"), torch.float32)[2].shape == (132, 132)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, 64, 192, generator=g)
    a = torch.randn(4, 1, 7, generator=g) * 0.05
    s = torch.randn(4, 1, 7, generator=g)
    with torch.no_grad():
        batch = model.predict(z, a, s)
        single = torch.cat(
            [model.predict(z[i : i + 1], a[i : i + 1], s[i : i + 1]) for i in range(4)]
        )
    assert maxerr(batch, single) <= 1e-5


def test_fast_rope_equals_reference_formula():
    from vjepa2_ros.model.rope import (
        apply_rope,
        apply_rope_fast,
        grid_positions,
        rope_tables,
        signed_sin,
    )

    t, h, w = grid_positions(2, 3, 3)
    cos, sin = rope_tables(t, h, w, 64)
    assert torch.equal(cos[:, 60:], torch.ones(18, 4)) and torch.equal(
        sin[:, 60:], torch.zeros(18, 4)
    )
    assert torch.equal(cos[:, :10], cos[:, 10:20])  # tiled, not interleaved
    x = torch.randn(2, 3, 18, 64)
    assert maxerr(apply_rope_fast(x, cos, signed_sin(sin)), apply_rope(x, cos, sin)) <= 1e-6
