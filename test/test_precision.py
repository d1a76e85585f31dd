"""Precision validation and the FP8 gate: FP8 is used only with a passing report for the weights.

FP8 GEMMs themselves need a GPU with compute capability >= 8.9 and torchao; on the CPU these
tests check the gate, the layer selection and the validation metrics (bf16 vs float32 runs on
the CPU with the committed trained small model). The FP8 numerics test runs where FP8 can.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vjepa2_ros.config import ConfigError
from vjepa2_ros.model.checkpoint import world_model_from_config
from vjepa2_ros.model.config import ModelConfig
from vjepa2_ros.model.fp8 import (
    fp8_layer_names,
    fp8_unavailable_reason,
    quantize_predictor_fp8,
    weights_fingerprint,
)
from vjepa2_ros.model.presets import spec_from_name
from vjepa2_ros.model.world_model import WorldModel
from vjepa2_ros.planning.cem import CEMConfig, CEMPlanner
from vjepa2_ros.planning.precision import (
    PrecisionReport,
    Thresholds,
    compare_models,
    load_validation_frames,
    main,
    require_fp8_validation,
    validate,
)

TINY = dict(samples=48, iterations=2)


@pytest.fixture(scope="module")
def small():
    return world_model_from_config(ModelConfig("small"))


@pytest.fixture(scope="module")
def frames():
    data = load_validation_frames()
    return {k: v[:1] for k, v in data.items()}


def test_validation_frames_are_sim_pairs():
    data = load_validation_frames()
    k = data["frames_now"].shape[0]
    assert k >= 2 and data["frames_now"].shape[1:] == (256, 256, 3)
    assert data["frames_goal"].shape == data["frames_now"].shape and data["states_now"].shape == (
        k, 7)  # fmt: skip
    assert all((a != b).any() for a, b in zip(data["frames_now"], data["frames_goal"]))


def test_fp8_layers_fingerprint_and_refusal_on_cpu(small):
    names = fp8_layer_names(small.predictor)
    blocks = [f"predictor_blocks.{i}.{m}" for i in range(3)
              for m in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")]  # fmt: skip
    assert set(names) == {"predictor_embed", "predictor_proj", *blocks}
    assert not {"action_encoder", "state_encoder", "extrinsics_encoder"} & set(names)
    assert "CUDA" in fp8_unavailable_reason("cpu")
    with pytest.raises(RuntimeError, match="CUDA"):
        quantize_predictor_fp8(small)
    bf16 = world_model_from_config(ModelConfig("small", "", "cpu", "bfloat16"))
    assert weights_fingerprint(bf16) == weights_fingerprint(small), "dtype-independent"
    other = WorldModel.build(spec_from_name("small"), seed=1)
    assert weights_fingerprint(other) != weights_fingerprint(small)


def _report(model, **changes) -> PrecisionReport:
    base = dict(
        reference="bfloat16",
        candidate="fp8",
        preset="small",
        checkpoint="models/vjepa2-ac-small.pt",
        fingerprint=weights_fingerprint(model),
        device="cpu",
        device_name="cpu",
        torch=torch.__version__,
        budget="paper",
        samples=800,
        iterations=10,
        horizon=1,
        thresholds=Thresholds(),
        passed=True,
    )
    base.update(changes)
    return PrecisionReport(**base)


def test_fp8_is_enabled_only_by_a_passing_report_for_these_weights(small, tmp_path):
    path = tmp_path / "fp8.json"
    with pytest.raises(ConfigError, match="vjepa2-validate-precision"):
        require_fp8_validation(path, small)
    cases = [
        (dict(passed=False, reasons=["top-10 overlap 7/10 < 9/10"]), "failed its validation"),
        (dict(fingerprint="0" * 16), "other weights"),
        (dict(device_name="NVIDIA H100 80GB HBM3"), "validated on NVIDIA H100"),
        (dict(reference="float32", candidate="bfloat16"), "not fp8 with bfloat16"),
    ]
    for changes, message in cases:
        _report(small, **changes).save(path)
        with pytest.raises(ConfigError, match=message):
            require_fp8_validation(path, small)
    _report(small).save(path)
    assert require_fp8_validation(path, small).passed
    # The planner asks for the report before converting anything; here the CPU then refuses FP8.
    with pytest.raises(RuntimeError, match="CUDA"):
        CEMPlanner(small, CEMConfig(fp8_validation=str(path)))
    path.write_text("{}")
    with pytest.raises(ConfigError, match="not a validation report"):
        require_fp8_validation(path, small)


def test_thresholds_judge_the_worst_case(small):
    report = _report(small, passed=False)
    assert not report.judge().passed and report.reasons == ["no cases were compared"]
    from vjepa2_ros.planning.precision import CaseResult

    good = CaseResult(0, 0, 0.999, 10, 0.4, 0.0, 1e-4, 5e-3, [0.0] * 7, [0.0] * 7)
    bad = CaseResult(1, 0, 0.95, 8, 1.5, 0.0, 1e-3, 5e-3, [0.0] * 7, [0.0] * 7)
    report.cases = [good]
    assert report.judge().passed
    report.cases = [good, bad]
    assert not report.judge().passed
    assert any("8/10" in r for r in report.reasons) and any("1.500 mm" in r for r in report.reasons)
    with pytest.raises(ConfigError, match="min_top10_overlap"):
        Thresholds(min_top10_overlap=11)


def test_identical_precisions_agree_exactly(small, frames):
    cfg = CEMConfig(samples=48, topk=10, iterations=2, horizon=1)
    (case,) = compare_models(small, small, frames, cfg, seeds=(0,))
    assert case.spearman == pytest.approx(1.0) and case.top10_overlap == 10
    assert case.action_diff_mm == 0.0 and case.energy_max_abs_diff == 0.0
    assert case.energy_spread > 1e-4, "a trained model's energies must differ between candidates"


def test_bf16_vs_float32_on_the_trained_small_model(tmp_path):
    report = validate("small", "", "cpu", "float32", "bfloat16", "paper", (0,), cases=1, **TINY)
    assert report.samples == 48 and len(report.cases) == 1
    case = report.cases[0]
    assert case.spearman > 0.99 and case.top10_overlap >= 8
    assert 0 < case.energy_max_abs_diff < case.energy_spread
    report.save(tmp_path / "r.json")
    again = PrecisionReport.load(tmp_path / "r.json")
    assert again == report and json.loads((tmp_path / "r.json").read_text())["cases"]
    assert report.summary().startswith("bfloat16 vs float32 (small, cpu")


def test_cli_writes_a_report_and_exits_by_verdict(tmp_path, capsys):
    out = tmp_path / "same.json"
    args = ["--reference", "float32", "--candidate", "float32", "--cases", "1"]
    args += ["--samples", "32", "--iterations", "1", "--out", str(out)]
    assert main(args) == 0
    assert PrecisionReport.load(out).passed and "PASS" in capsys.readouterr().out
    assert main(["--candidate", "fp8", "--cases", "1", "--samples", "32"]) == 2  # CPU: no FP8
    assert "CUDA" in capsys.readouterr().err


@pytest.mark.skipif(
    fp8_unavailable_reason("cuda") is not None,
    reason=f"FP8 cannot run here: {fp8_unavailable_reason('cuda')}",
)
def test_fp8_predictor_tracks_bf16_on_the_gpu():
    ref = world_model_from_config(ModelConfig("small", "", "cuda", "bfloat16"))
    fp8 = world_model_from_config(ModelConfig("small", "", "cuda", "bfloat16"))
    assert len(quantize_predictor_fp8(fp8)) == 14
    data = {k: v[:1] for k, v in load_validation_frames().items()}
    (case,) = compare_models(ref, fp8, data, CEMConfig(samples=256, iterations=3, horizon=1), (0,))
    assert np.isfinite(case.spearman) and case.spearman > 0.9
