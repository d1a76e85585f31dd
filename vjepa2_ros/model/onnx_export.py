"""ONNX export of the encoder and the predictor step, for TensorRT (model/tensorrt.py).

    vjepa2-export-onnx --preset vitg-ac --checkpoint models/vjepa2-ac-vitg.pt --out models/onnx

writes `encoder.onnx` (uint8-free: a preprocessed clip [B, 3, tubelet, S, S] float32 ->
normalised latents [B, N, D]), `predictor_t{T}.onnx` per context length T (context latents
[B, T*N, D], actions and states [B, T, 7] -> the normalised predicted frame [B, N, D], what
WorldModel.predict returns) and `export.json` (shapes, spec, opset) that the TensorRT build
reads. The batch dimension is dynamic. RoPE tables and the block-causal mask are constants of
the graph. Weights are exported in float32; TensorRT builds bf16 engines from them. Files over
2 GB (the ViT-g encoder in float32) are written with their weights as external data beside the
.onnx file, as ONNX requires.

The legacy TorchScript exporter is used (torch.onnx.export(..., dynamo=False)): it needs no
onnxscript and runs on torch 2.11 and 2.13 alike.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vjepa2_ros.model.world_model import normalize_reps

OPSET = 17


class EncoderGraph(nn.Module):
    """clip [B, 3, tubelet, S, S] -> normalised latents [B, N, D] (WorldModel.encode_clip)."""

    def __init__(self, model) -> None:
        super().__init__()
        self.encoder = model.encoder
        self.dim = model.spec.encoder.dim  # a Python int: the tracer keeps a traced size dynamic

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(self.encoder(clip), (self.dim,))


class PredictorGraph(nn.Module):
    """(z_ctx [B, T*N, D], actions [B, T, 7], states [B, T, 7]) -> next frame [B, N, D]."""

    def __init__(self, model) -> None:
        super().__init__()
        self.predictor = model.predictor
        self.dim = model.spec.encoder.dim

    def forward(self, z_ctx, actions, states) -> torch.Tensor:
        out = self.predictor(z_ctx, actions, states, last_step_only=True)
        return F.layer_norm(out, (self.dim,))


def example_inputs(spec, steps: int, batch: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random inputs of the exported shapes (layer-normalised latents, small actions)."""
    g = torch.Generator().manual_seed(seed)
    n, d = spec.tokens_per_frame, spec.encoder.dim
    s = spec.img_size
    z = torch.randn(batch, steps * n, d, generator=g)
    return {
        "clip": torch.randn(1, 3, spec.tubelet, s, s, generator=g),
        "z_ctx": normalize_reps(z),
        "actions": 0.05 * torch.randn(batch, steps, 7, generator=g),
        "states": torch.randn(batch, steps, 7, generator=g),
    }


def _export(module, args, path: Path, names_in, names_out, dynamic) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=False,
            input_names=names_in,
            output_names=names_out,
            dynamic_axes=dynamic,
            opset_version=OPSET,
            do_constant_folding=True,
        )


def export_onnx(model, out_dir: str | Path, steps: tuple[int, ...] = (1,)) -> dict:
    """Write encoder.onnx, predictor_t{T}.onnx and export.json into `out_dir`; returns the json.

    The model is exported in float32 on the CPU whatever it runs in (a copy is made if needed).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec = model.spec
    if model.dtype != torch.float32 or model.device.type != "cpu":
        import copy

        model = copy.deepcopy(model).to("cpu", torch.float32)
    model = model.eval()
    n, d = spec.tokens_per_frame, spec.encoder.dim
    meta = {
        "preset": spec.name,
        "img_size": spec.img_size,
        "tubelet": spec.tubelet,
        "tokens_per_frame": n,
        "dim": d,
        "opset": OPSET,
        "torch": torch.__version__,
        "files": {},
    }
    ex = example_inputs(spec, 1)
    with torch.no_grad():
        _export(
            EncoderGraph(model),
            (ex["clip"],),
            out / "encoder.onnx",
            ["clip"],
            ["latents"],
            {"clip": {0: "batch"}, "latents": {0: "batch"}},
        )
        meta["files"]["encoder"] = {
            "file": "encoder.onnx",
            "inputs": {"clip": [3, spec.tubelet, spec.img_size, spec.img_size]},
            "output": {"latents": [n, d]},
        }
        for t in steps:
            ex = example_inputs(spec, t)
            name = f"predictor_t{t}"
            _export(
                PredictorGraph(model),
                (ex["z_ctx"], ex["actions"], ex["states"]),
                out / f"{name}.onnx",
                ["z_ctx", "actions", "states"],
                ["z_next"],
                {k: {0: "batch"} for k in ("z_ctx", "actions", "states", "z_next")},
            )
            meta["files"][name] = {
                "file": f"{name}.onnx",
                "steps": t,
                "inputs": {"z_ctx": [t * n, d], "actions": [t, 7], "states": [t, 7]},
                "output": {"z_next": [n, d]},
            }
    (out / "export.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def torch_reference(model, name: str, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The float32 torch output of an exported graph for `inputs` (numpy, by input name)."""
    model = model.to("cpu", torch.float32).eval() if model.dtype != torch.float32 else model
    graph = EncoderGraph(model) if name == "encoder" else PredictorGraph(model)
    args = [torch.from_numpy(v) for v in inputs.values()]
    with torch.inference_mode():
        return graph(*args).cpu().numpy()


def check_onnxruntime(model, out_dir: str | Path, batch: int = 3, seed: int = 1) -> dict:
    """Max |onnxruntime - torch| per exported file on fresh random inputs (CPU provider)."""
    import onnxruntime as ort

    out = Path(out_dir)
    meta = json.loads((out / "export.json").read_text())
    errors = {}
    for name, info in meta["files"].items():
        session = ort.InferenceSession(str(out / info["file"]), providers=["CPUExecutionProvider"])
        ex = example_inputs(model.spec, info.get("steps", 1), batch=batch, seed=seed)
        if name == "encoder":
            ex["clip"] = ex["clip"].expand(batch, -1, -1, -1, -1).contiguous()
        inputs = {k: ex[k].numpy() for k in info["inputs"]}
        got = session.run(None, inputs)[0]
        want = torch_reference(model, name, inputs)
        errors[name] = float(np.abs(got - want).max())
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="vjepa2-export-onnx", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--preset", default="small")
    parser.add_argument("--checkpoint", default="", help="default: models/ file of the preset")
    parser.add_argument("--out", default="models/onnx", help="output folder")
    parser.add_argument("--steps", type=int, nargs="+", default=[1], help="predictor contexts T")
    parser.add_argument(
        "--check", action="store_true", help="compare with torch through onnxruntime (CPU)"
    )
    args = parser.parse_args(argv)
    from vjepa2_ros.model.checkpoint import CheckpointError, world_model_from_config
    from vjepa2_ros.model.config import ModelConfig

    try:
        model = world_model_from_config(ModelConfig(args.preset, args.checkpoint, "cpu", "float32"))
    except CheckpointError as exc:
        print(f"vjepa2-export-onnx: {exc}", file=sys.stderr)
        return 2
    meta = export_onnx(model, args.out, tuple(args.steps))
    for info in meta["files"].values():
        print(f"wrote {Path(args.out) / info['file']}")
    if args.check:
        for name, err in check_onnxruntime(model, args.out).items():
            print(f"onnxruntime vs torch, {name}: max abs diff {err:.2e}")
    print(f"TensorRT engines: python -m vjepa2_ros.model.tensorrt build {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
