"""TensorRT engines from the exported ONNX files, and a check of engine against torch.

On a machine with TensorRT (`pip install tensorrt-cu12` or an NVIDIA container; trtexec on the
PATH) and a GPU:

    vjepa2-export-onnx --preset vitg-ac --checkpoint models/vjepa2-ac-vitg.pt --out models/onnx
    python -m vjepa2_ros.model.tensorrt build models/onnx           # trtexec, bf16 engines
    python -m vjepa2_ros.model.tensorrt check models/onnx --checkpoint models/vjepa2-ac-vitg.pt

`build` runs one trtexec per ONNX file with the shapes of export.json (encoder batch 1..8,
predictor batch 1..max_batch, optimised for the paper budget's 801 candidates) and writes
`<name>.plan` beside it; `--print` only prints the commands. `check` runs each engine and the
torch model (in the engine's precision) on the same random inputs and prints the largest
difference; where TensorRT or a GPU is missing it says so and exits 0 with "skipped". The
package does not run its planner on TensorRT engines; these are for users who deploy them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

PRECISION_FLAGS = {"bf16": ["--bf16"], "fp16": ["--fp16"], "fp32": []}


def tensorrt_unavailable_reason() -> str | None:
    """Why engines cannot run here, or None."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "TensorRT is not installed (pip install tensorrt-cu12, on a machine with a GPU)"
    if not torch.cuda.is_available():
        return "TensorRT is installed but torch sees no CUDA GPU"
    return None


def _shape(batch: int, dims) -> str:
    return "x".join(str(v) for v in [batch, *dims])


def trtexec_commands(
    onnx_dir: str | Path, precision: str = "bf16", opt_batch: int = 801, max_batch: int = 1024
) -> list[list[str]]:
    """One trtexec command line per exported file (export.json), building `<name>.plan`."""
    if precision not in PRECISION_FLAGS:
        raise ValueError(f"precision {precision!r}: use one of {', '.join(PRECISION_FLAGS)}")
    onnx_dir = Path(onnx_dir)
    meta = json.loads((onnx_dir / "export.json").read_text())
    commands = []
    for name, info in meta["files"].items():
        lo, opt, hi = (1, 1, 8) if name == "encoder" else (1, opt_batch, max(max_batch, opt_batch))
        shapes = {
            flag: ",".join(f"{k}:{_shape(b, dims)}" for k, dims in info["inputs"].items())
            for flag, b in (("--minShapes", lo), ("--optShapes", opt), ("--maxShapes", hi))
        }
        commands.append(
            [
                "trtexec",
                f"--onnx={onnx_dir / info['file']}",
                f"--saveEngine={onnx_dir / (name + '.plan')}",
                *(f"{flag}={value}" for flag, value in shapes.items()),
                *PRECISION_FLAGS[precision],
            ]
        )
    return commands


class Engine:
    """A deserialised engine run on torch CUDA tensors (TensorRT 10 name-based I/O)."""

    def __init__(self, path: str | Path) -> None:
        import tensorrt as trt

        self._trt = trt
        logger = trt.Logger(trt.Logger.WARNING)
        self.engine = trt.Runtime(logger).deserialize_cuda_engine(Path(path).read_bytes())
        if self.engine is None:
            raise RuntimeError(f"TensorRT could not load {path} (built by another version?)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        mode = trt.TensorIOMode.INPUT
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == mode]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) != mode]

    def __call__(self, **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        trt = self._trt
        keep = []
        for name in self.inputs:
            dtype = torch.from_numpy(np.empty(0, trt.nptype(self.engine.get_tensor_dtype(name))))
            t = inputs[name].to("cuda", dtype.dtype).contiguous()
            keep.append(t)
            self.context.set_input_shape(name, tuple(t.shape))
            self.context.set_tensor_address(name, t.data_ptr())
        out = {}
        for name in self.outputs:
            np_dtype = trt.nptype(self.engine.get_tensor_dtype(name))
            shape = tuple(self.context.get_tensor_shape(name))
            t = torch.empty(
                shape, dtype=torch.from_numpy(np.empty(0, np_dtype)).dtype, device="cuda"
            )
            self.context.set_tensor_address(name, t.data_ptr())
            out[name] = t
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        stream.synchronize()
        return out


def check_engines(model, onnx_dir: str | Path, batch: int = 4) -> dict[str, float]:
    """Max |engine - torch| per built engine, torch in the model's own dtype on the GPU."""
    from vjepa2_ros.model.onnx_export import EncoderGraph, PredictorGraph, example_inputs

    onnx_dir = Path(onnx_dir)
    meta = json.loads((onnx_dir / "export.json").read_text())
    errors = {}
    for name, info in meta["files"].items():
        plan = onnx_dir / f"{name}.plan"
        if not plan.is_file():
            continue
        ex = example_inputs(model.spec, info.get("steps", 1), batch=batch, seed=3)
        ex["clip"] = ex["clip"].expand(min(batch, 8), -1, -1, -1, -1).contiguous()
        inputs = {k: ex[k] for k in info["inputs"]}
        got = next(iter(Engine(plan)(**inputs).values())).float()
        graph = EncoderGraph(model) if name == "encoder" else PredictorGraph(model)
        with torch.inference_mode():
            want = graph(*(v.to(model.device, model.dtype) for v in inputs.values())).float()
        errors[name] = float((got - want).abs().max())
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vjepa2_ros.model.tensorrt")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="trtexec engines from vjepa2-export-onnx output")
    build.add_argument("onnx_dir")
    build.add_argument("--precision", default="bf16", choices=sorted(PRECISION_FLAGS))
    build.add_argument("--opt-batch", type=int, default=801)
    build.add_argument("--max-batch", type=int, default=1024)
    build.add_argument("--print", action="store_true", help="only print the commands")
    check = sub.add_parser("check", help="engine vs torch on the same inputs")
    check.add_argument("onnx_dir")
    check.add_argument("--preset", default=None, help="default: the one in export.json")
    check.add_argument("--checkpoint", default="")
    check.add_argument("--dtype", default="bfloat16")
    args = parser.parse_args(argv)

    if args.command == "build":
        commands = trtexec_commands(args.onnx_dir, args.precision, args.opt_batch, args.max_batch)
        if args.print or shutil.which("trtexec") is None:
            if not args.print:
                print(
                    "trtexec is not on the PATH (TensorRT's bin/); the commands:", file=sys.stderr
                )
            for cmd in commands:
                print(" ".join(cmd))
            return 0 if args.print else 2
        for cmd in commands:
            print(" ".join(cmd), flush=True)
            subprocess.run(cmd, check=True)
        return 0

    reason = tensorrt_unavailable_reason()
    if reason:
        print(f"engine check skipped: {reason}")
        return 0
    from vjepa2_ros.model.checkpoint import world_model_from_config
    from vjepa2_ros.model.config import ModelConfig

    meta = json.loads((Path(args.onnx_dir) / "export.json").read_text())
    preset = args.preset or meta["preset"]
    model = world_model_from_config(ModelConfig(preset, args.checkpoint, "cuda", args.dtype))
    errors = check_engines(model, args.onnx_dir)
    if not errors:
        print(f"no .plan files in {args.onnx_dir}: run the build command first")
        return 2
    for name, err in errors.items():
        print(f"TensorRT vs torch ({args.dtype}), {name}: max abs diff {err:.3e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
