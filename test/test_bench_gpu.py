"""bench/gpu.py runs without ROS, MuJoCo, franky (the GPU machine has none); MFU peaks per part."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.flops import plan_flops, step_flops
from bench.peaks import identify, peak_for
from vjepa2_ros.model.presets import spec_from_name
from vjepa2_ros.planning.budgets import load_budget

ROOT = Path(__file__).resolve().parent.parent
# What the GPU machine lacks (it has torch, numpy, scipy, yaml, triton, onnx, onnxruntime).
BLOCKED = ("rclpy", "mujoco", "franky", "franky_sim", "cv2", "matplotlib", "rosbags")

RUNNER = """
import runpy, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError("blocked on the GPU machine: " + name)
sys.meta_path.insert(0, Block())
sys.argv = ["bench/gpu.py"] + {argv!r}
runpy.run_path("bench/gpu.py", run_name="__main__")
"""


def test_runs_with_ros_mujoco_and_franky_import_blocked(tmp_path):
    argv = ["--dry-run", "--no-compile", "--sections", "env,predictor,plans_eager,summary"]
    argv += ["--budgets", "fast", "--threads", "1", "--out", str(tmp_path)]
    code = RUNNER.format(blocked=BLOCKED, argv=argv)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    (report,) = tmp_path.glob("gpu_*.json")
    sections = json.loads(report.read_text())["sections"]
    assert [sections[k]["status"] for k in ("env", "predictor", "plans_eager")] == ["ok"] * 3
    row = sections["plans_eager"]["rows"][0]
    assert (
        row["budget"] == "fast" and row["latency_s"] > 0 and row["new_graphs_in_timed_plans"] == 0
    )
    assert "CPU dry run" in sections["summary"]["bar"]["note"]
    assert (tmp_path / report.name.replace(".json", ".txt")).is_file()


@pytest.mark.parametrize(
    ("name", "sms", "part", "bf16"),
    [
        ("NVIDIA H100 80GB HBM3", 132, "H100 SXM", 989.0),
        ("NVIDIA H100 PCIe", 114, "H100 PCIe", 756.0),
        ("NVIDIA H100 80GB HBM3", 114, "H100 PCIe", 756.0),  # an unmarked name, PCIe's SMs
        ("NVIDIA H100 NVL", 132, "H100 NVL", 835.0),
        ("NVIDIA H200", 132, "H200 SXM", 989.0),
        ("NVIDIA GH200 480GB", 132, "GH200", 989.0),
        ("NVIDIA GeForce RTX 4090", 128, "RTX 4090", 165.0),
        ("NVIDIA L4", 58, "L4", 121.0),
        ("NVIDIA L40S", 142, "L40S", 362.0),
        ("NVIDIA A100-SXM4-80GB", 108, "A100", 312.0),
    ],
)
def test_peak_table_tells_parts_apart(name, sms, part, bf16):
    found = identify(name, sms)
    assert found is not None and found.name == part and peak_for(found, "bf16") == bf16
    assert peak_for(found, "fp32") < bf16


def test_unknown_part_and_no_fp8():
    assert identify("Tesla V100-SXM2-16GB") is None
    assert peak_for(identify("NVIDIA A100 80GB PCIe"), "fp8") is None
    assert peak_for(identify("NVIDIA H100 PCIe"), "fp8") == 1513.0


def test_flop_counts_match_the_issue():
    vitg = spec_from_name("vitg-ac")
    # 163.85 GFLOP per horizon-1 forward; the paper budget is 8,011 of them = 1.313 PFLOP.
    assert step_flops(vitg, 1, False) / 1e9 == pytest.approx(163.85, abs=0.5)
    paper = load_budget("paper")
    assert plan_flops(vitg, paper, 8011, False) / 1e15 == pytest.approx(1.313, abs=0.01)
    # The KV cache: the second step runs 258 queries instead of 516.
    assert step_flops(vitg, 2, True) < 0.55 * step_flops(vitg, 2, False)
