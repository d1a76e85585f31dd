"""Dense tensor-core peaks per GPU part, for MFU (bench/plan.py and bench/gpu.py share them).

Data-sheet numbers in TFLOP/s without sparsity. Parts that share a name stem differ: an H100
PCIe (114 SMs, 350 W) peaks at 756 bf16 TFLOP/s, the SXM part (132 SMs, 700 W) at 989, so
the part is told apart by name and, for an unmarked "H100", by its SM count. GeForce cards
run bf16/fp16 with fp32 accumulation (what PyTorch uses) at half their fp16-accumulate rate.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Part:
    name: str  # the part, as data sheets call it
    bf16: float  # dense TFLOP/s; fp16 is the same on every part listed
    tf32: float
    fp8: float | None  # None: no FP8 tensor cores


# Most specific first: a device name matches the first entry whose substrings it all contains.
PARTS: tuple[tuple[tuple[str, ...], Part], ...] = (
    (("H100", "PCIe"), Part("H100 PCIe", 756.0, 378.0, 1513.0)),
    (("H100", "NVL"), Part("H100 NVL", 835.0, 418.0, 1670.0)),
    (("H200", "NVL"), Part("H200 NVL", 835.0, 418.0, 1670.0)),
    (("GH200",), Part("GH200", 989.0, 494.0, 1979.0)),
    (("H200",), Part("H200 SXM", 989.0, 494.0, 1979.0)),
    (("H100",), Part("H100 SXM", 989.0, 494.0, 1979.0)),
    (("H800",), Part("H800 SXM", 989.0, 494.0, 1979.0)),
    (("B200",), Part("B200", 2250.0, 1100.0, 4500.0)),
    (("A100",), Part("A100", 312.0, 156.0, None)),
    (("L40S",), Part("L40S", 362.0, 183.0, 733.0)),
    (("L40",), Part("L40", 181.0, 90.0, 362.0)),
    (("RTX 6000 Ada",), Part("RTX 6000 Ada", 364.0, 182.0, 728.0)),
    (("L4",), Part("L4", 121.0, 60.0, 242.0)),
    (("4090",), Part("RTX 4090", 165.0, 83.0, 330.0)),
    (("3090",), Part("RTX 3090", 71.0, 36.0, None)),
)
H100_PCIE_SMS = 114  # an "H100" whose name does not say PCIe but has 114 SMs is one


def identify(name: str, sm_count: int | None = None) -> Part | None:
    """The data-sheet part for a CUDA device name (torch.cuda.get_device_name), or None."""
    for needles, part in PARTS:
        if all(n in name for n in needles):
            if part.name == "H100 SXM" and sm_count == H100_PCIE_SMS:
                return PARTS[0][1]
            return part
    return None


def peak_for(part: Part, dtype: str) -> float | None:
    """Dense peak of `part` for bf16, fp16, fp32 (TF32 tensor cores) or fp8."""
    return {"bf16": part.bf16, "fp16": part.bf16, "fp32": part.tf32, "fp8": part.fp8}[dtype]


DTYPE_NAMES = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}


def cpu_gemm_tflops(dtype: torch.dtype) -> float:
    """Best measured 1024^3 GEMM rate on this CPU (an achievable peak, not a data sheet)."""
    a = torch.randn(1024, 1024, dtype=dtype)
    b = torch.randn(1024, 1024, dtype=dtype)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(5):  # best of 5: other processes share the cores
        t0 = time.perf_counter()
        for _ in range(5):
            a @ b
        best = min(best, (time.perf_counter() - t0) / 5)
    return 2 * 1024**3 / best / 1e12


def peak_tflops(device: torch.device, dtype: torch.dtype | str) -> tuple[float, str]:
    """(peak TFLOP/s, where it comes from) for MFU on `device` at `dtype` ("fp8" allowed)."""
    key = dtype if isinstance(dtype, str) else DTYPE_NAMES[dtype]
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        sms = torch.cuda.get_device_properties(device).multi_processor_count
        part = identify(name, sms)
        if part is None:
            return float("nan"), f"{name}: no data-sheet peak in bench/peaks.py"
        peak = peak_for(part, key)
        if peak is None:
            return float("nan"), f"{name} ({part.name}) has no {key} tensor cores"
        unit = "TF32" if key == "fp32" else key
        return peak, f"{name} = {part.name}, {sms} SMs, data-sheet dense {unit} peak"
    if key == "fp8":
        return float("nan"), "no FP8 on the CPU"
    tflops = cpu_gemm_tflops({v: k for k, v in DTYPE_NAMES.items()}[key])
    note = f"best 1024^3 GEMM on {torch.get_num_threads()} threads"
    if hasattr(os, "getloadavg"):
        note += f", load avg {os.getloadavg()[0]:.1f}"
    return tflops, note
