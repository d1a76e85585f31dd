"""ONNX export of encoder and predictor equals torch through onnxruntime; TensorRT commands/check."""

from __future__ import annotations

import json

import pytest
import torch

from vjepa2_ros.model.checkpoint import world_model_from_config
from vjepa2_ros.model.config import ModelConfig
from vjepa2_ros.model.onnx_export import check_onnxruntime, export_onnx, main
from vjepa2_ros.model.tensorrt import tensorrt_unavailable_reason, trtexec_commands

pytest.importorskip("onnxruntime", reason="onnxruntime is in requirements.lock (make setup)")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = world_model_from_config(ModelConfig("small"))  # the trained weights
    out = tmp_path_factory.mktemp("onnx")
    meta = export_onnx(model, out, steps=(1, 2))
    return model, out, meta


def test_onnxruntime_matches_torch_on_the_small_preset(exported):
    model, out, meta = exported
    assert sorted(meta["files"]) == ["encoder", "predictor_t1", "predictor_t2"]
    assert meta["files"]["predictor_t2"]["inputs"]["z_ctx"] == [128, 128]
    errors = check_onnxruntime(model, out, batch=3)  # exported at batch 2: the batch is dynamic
    assert set(errors) == {"encoder", "predictor_t1", "predictor_t2"}
    assert max(errors.values()) < 1e-4, errors


def test_export_of_a_bf16_model_is_float32_and_leaves_the_model_alone(tmp_path):
    model = world_model_from_config(ModelConfig("small", "", "cpu", "bfloat16"))
    export_onnx(model, tmp_path, steps=(1,))
    assert model.dtype == torch.bfloat16
    import onnx

    graph = onnx.load(str(tmp_path / "predictor_t1.onnx")).graph
    assert {i.name for i in graph.input} == {"z_ctx", "actions", "states"}
    assert all(init.data_type == onnx.TensorProto.FLOAT for init in graph.initializer
               if init.dims and len(init.dims) == 2)  # fmt: skip


def test_trtexec_commands_carry_the_exported_shapes(exported):
    _, out, _ = exported
    commands = trtexec_commands(out, "bf16", opt_batch=801, max_batch=1024)
    by_file = {c[1].split("/")[-1]: c for c in commands}
    enc = by_file["encoder.onnx"]
    assert "--minShapes=clip:1x3x2x128x128" in enc and "--maxShapes=clip:8x3x2x128x128" in enc
    pred = by_file["predictor_t2.onnx"]
    assert "--optShapes=z_ctx:801x128x128,actions:801x2x7,states:801x2x7" in pred
    assert "--bf16" in pred and pred[2].endswith("predictor_t2.plan")
    with pytest.raises(ValueError, match="precision"):
        trtexec_commands(out, "int4")


def test_cli_exports_and_checks(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--check"]) == 0
    text = capsys.readouterr().out
    assert "onnxruntime vs torch, encoder" in text and "vjepa2_ros.model.tensorrt build" in text
    assert json.loads((tmp_path / "export.json").read_text())["preset"] == "small"


def test_tensorrt_engines_match_torch(exported):
    """Runs where TensorRT and a GPU are; everywhere else it says why it cannot."""
    reason = tensorrt_unavailable_reason()
    if reason:
        pytest.skip(reason)
    import shutil
    import subprocess

    from vjepa2_ros.model.tensorrt import check_engines

    if shutil.which("trtexec") is None:
        pytest.skip("TensorRT's Python API is installed but trtexec is not on the PATH")
    model, out, _ = exported
    for cmd in trtexec_commands(out, "fp32", opt_batch=8, max_batch=16):
        subprocess.run(cmd, check=True, capture_output=True, timeout=900)
    cuda = model.to("cuda")
    errors = check_engines(cuda, out, batch=4)
    assert errors and max(errors.values()) < 1e-2, errors


def test_tensorrt_cli_without_tensorrt(exported, capsys):
    import shutil

    from vjepa2_ros.model import tensorrt

    _, out, _ = exported
    assert tensorrt.main(["build", str(out), "--print"]) == 0
    assert capsys.readouterr().out.count("trtexec --onnx=") == 3
    if tensorrt_unavailable_reason() and shutil.which("trtexec") is None:
        assert tensorrt.main(["build", str(out)]) == 2  # says trtexec is missing, prints commands
        assert "not on the PATH" in capsys.readouterr().err
        assert tensorrt.main(["check", str(out)]) == 0
        assert "engine check skipped: TensorRT is not installed" in capsys.readouterr().out
