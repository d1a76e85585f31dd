"""Checkpoint loading and `vjepa2-checkpoint inspect`: released format in, every problem named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vjepa2_ros.model.checkpoint import (
    CheckpointError,
    expected_shapes,
    inspect_checkpoint,
    load_world_model,
    world_model_from_config,
)
from vjepa2_ros.model.checkpoint_cli import main as cli_main
from vjepa2_ros.model.config import ModelConfig
from vjepa2_ros.model.presets import PRESETS, spec_from_name
from vjepa2_ros.model.world_model import WorldModel


def _read_tsv(path: Path) -> dict[str, tuple[int, ...]]:
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            key, shape = line.split("\t")
            out[key] = tuple(int(x) for x in shape.strip("()").split(",") if x.strip())
    return out


def test_vitg_preset_on_meta_has_released_keys_and_shapes(reference_dir):
    want_enc = _read_tsv(reference_dir / "vitg_encoder_keys.tsv")
    want_pred = _read_tsv(reference_dir / "ac_predictor_keys.tsv")
    have = expected_shapes(PRESETS["vitg-ac"])
    assert have["encoder"] == want_enc
    assert have["predictor"] == want_pred
    n_enc = sum(torch.Size(s).numel() for s in want_enc.values())
    n_pred = sum(torch.Size(s).numel() for s in want_pred.values())
    assert round(n_enc / 1e6, 2) == 1012.17 and round(n_pred / 1e6, 2) == 305.22


@pytest.fixture(scope="module")
def golden(fixtures_dir):
    return torch.load(fixtures_dir / "vjepa2_ac_golden_small.pt", map_location="cpu")


def _released(golden, encoder=None, predictor=None, prefix="module.backbone.") -> dict:
    enc = dict(golden["encoder"] if encoder is None else encoder)
    pred = dict(golden["predictor"] if predictor is None else predictor)
    return {
        "encoder": {prefix + k: v for k, v in enc.items()},
        "predictor": {prefix + k: v for k, v in pred.items()},
        "epoch": 315,
    }


@pytest.fixture
def good_file(golden, tmp_path) -> Path:
    path = tmp_path / "released.pt"
    torch.save(_released(golden), path)
    return path


def test_load_released_format_values_device_dtype(golden, good_file):
    from test_model_golden import GOLDEN_SPEC

    model = load_world_model(good_file, preset=GOLDEN_SPEC)
    w = model.predictor.predictor_blocks[1].mlp.fc1.weight
    assert w.dtype == torch.float32 and w.device.type == "cpu" and not w.is_meta
    assert torch.equal(w, golden["predictor"]["predictor_blocks.1.mlp.fc1.weight"])
    assert torch.equal(model.encoder.norm.bias, golden["encoder"]["norm.bias"])
    with torch.no_grad():
        out = model.predictor(
            golden["pred_in_tokens"], golden["pred_in_actions"], golden["pred_in_states"]
        )
    assert (out - golden["pred_out"]).abs().max() <= 1e-4

    half = load_world_model(good_file, preset=GOLDEN_SPEC, dtype=torch.bfloat16)
    assert {p.dtype for p in half.parameters()} == {torch.bfloat16}
    ref = golden["encoder"]["blocks.0.attn.qkv.weight"]
    assert torch.equal(half.encoder.blocks[0].attn.qkv.weight, ref.to(torch.bfloat16))
    with torch.no_grad():
        z = half.encode(golden["frames_uint8"][:1])
    assert z.dtype == torch.bfloat16 and z.shape == (1, 64, 192)


def test_infers_sizes_when_no_preset(good_file):
    model = load_world_model(good_file)
    assert model.spec.encoder.depth == 2 and model.spec.predictor.dim == 128
    assert model.spec.encoder.heads == 3 and model.spec.predictor.heads == 2


def test_small_preset_roundtrip_matches_preset(tmp_path):
    model = WorldModel.build(spec_from_name("small"), seed=1)
    path = tmp_path / "small.pt"
    torch.save(
        {"encoder": model.encoder.state_dict(), "predictor": model.predictor.state_dict()}, path
    )
    report = inspect_checkpoint(path)
    assert report.ok and report.preset == "small"
    loaded = load_world_model(path)
    assert loaded.spec == PRESETS["small"]
    assert torch.equal(
        loaded.encoder.patch_embed.proj.weight, model.encoder.patch_embed.proj.weight
    )


def test_inspect_accepts_released_format(good_file, capsys):
    assert cli_main(["inspect", str(good_file)]) == 0
    out = capsys.readouterr().out
    assert "OK: loadable" in out and "1.19 M parameters" in out and "192-d x 2 blocks" in out


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing", "missing key predictor_blocks.1.attn.proj.bias"),
        ("unexpected", "unexpected key predictor_blocks.0.attn.q_norm.weight"),
        ("shape", "key blocks.1.mlp.fc2.weight has shape (192, 700)"),
        ("truncated", "truncated"),
        ("absent", "does not exist"),
        ("no_predictor", "has no 'predictor' state dict"),
    ],
)
def test_inspect_refuses_with_named_problem(golden, tmp_path, capsys, case, expected):
    path = tmp_path / f"{case}.pt"
    enc, pred = dict(golden["encoder"]), dict(golden["predictor"])
    if case == "missing":
        del pred["predictor_blocks.1.attn.proj.bias"]
    elif case == "unexpected":
        pred["predictor_blocks.0.attn.q_norm.weight"] = torch.ones(64)
    elif case == "shape":
        enc["blocks.1.mlp.fc2.weight"] = torch.zeros(192, 700)
    if case == "no_predictor":
        torch.save({"encoder": enc}, path)
    elif case != "absent":
        torch.save(_released(golden, enc, pred), path)
    if case == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    assert cli_main(["inspect", str(path)]) == 1
    err = capsys.readouterr().err
    assert expected in err and "NOT LOADABLE" in err and "Traceback" not in err
    if case not in ("absent", "truncated", "no_predictor"):
        with pytest.raises(CheckpointError, match=expected.split(" has ")[0]):
            load_world_model(path)


def test_pretraining_only_encoder_keys_are_reported_not_fatal(golden, tmp_path):
    enc = dict(golden["encoder"])
    enc["mask_token"] = torch.zeros(1, 1, 192)
    path = tmp_path / "pretrain.pt"
    torch.save(_released(golden, enc), path)
    report = inspect_checkpoint(path)
    assert report.ok and any("mask_token" in n for n in report.notes)
    load_world_model(path)


def test_console_script_module_exits_cleanly(tmp_path):
    """The CLI as a process: one message and exit 1 for a missing file, no traceback."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vjepa2_ros.model.checkpoint_cli",
            "inspect",
            str(tmp_path / "x.pt"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_model_config_validates():
    from vjepa2_ros.config import ConfigError, from_mapping, unflatten
    from vjepa2_ros.model.config import CameraEncoderConfig
    from vjepa2_ros.nodes.params import node_parameters

    files = ["model.yaml", "camera_encoder.yaml"]
    cfg = from_mapping(CameraEncoderConfig, unflatten(node_parameters(files, "camera_encoder")))
    assert isinstance(cfg.model, ModelConfig)  # the encoder's model settings are a ModelConfig
    assert cfg.model.preset in PRESETS and cfg.model.torch_dtype == torch.float32
    assert ModelConfig(checkpoint="/x/y.pt").checkpoint_path() == Path("/x/y.pt")
    with pytest.raises(ConfigError, match="choose one of: small, vitg-ac"):
        ModelConfig(preset="vit-huge")
    with pytest.raises(ConfigError, match="cpu, cuda or cuda:N"):
        ModelConfig(device="gpu0")


def test_world_model_from_config(good_file):
    from test_model_golden import GOLDEN_SPEC

    small = world_model_from_config(ModelConfig(preset="small"))
    assert small.spec == PRESETS["small"]
    again = world_model_from_config(ModelConfig(preset="small"))
    assert torch.equal(small.encoder.norm.weight, again.encoder.norm.weight)  # seeded init
    with pytest.raises(CheckpointError, match="vitg-ac needs the released checkpoint"):
        world_model_from_config(
            ModelConfig(preset="vitg-ac", checkpoint=""), default_dir=good_file.parent
        )
    with pytest.raises(CheckpointError, match="does not fit the small model"):
        world_model_from_config(ModelConfig(preset="small", checkpoint=str(good_file)))
    assert GOLDEN_SPEC.encoder.depth == 2


def test_a_node_loads_only_its_half(tmp_path):
    """camera_encoder loads the encoder, the planner the predictor: the other stays on meta."""
    from vjepa2_ros.model.presets import spec_from_name
    from vjepa2_ros.model.world_model import WorldModel

    model = WorldModel.build(spec_from_name("small"), "cpu", torch.float32, seed=0)
    path = tmp_path / "small.pt"
    torch.save(
        {"encoder": model.encoder.state_dict(), "predictor": model.predictor.state_dict()}, path
    )
    encoder_only = load_world_model(path, "small", parts=("encoder",))
    assert all(p.is_meta for p in encoder_only.predictor.parameters())
    assert not any(p.is_meta for p in encoder_only.encoder.parameters())
    assert encoder_only.device == torch.device("cpu")
    frames = np.zeros((1, 128, 128, 3), np.uint8)
    torch.testing.assert_close(encoder_only.encode(frames), model.encode(frames))
    predictor_only = load_world_model(path, "small", parts=("predictor",))
    assert all(p.is_meta for p in predictor_only.encoder.parameters())
    assert not any(p.is_meta for p in predictor_only.predictor.parameters())
