"""FP8 GEMMs for the predictor: torchao's rowwise dynamic float8 on its Linear layers.

An H100 runs float8 matmuls at twice its bf16 rate; the predictor's GEMMs are ~97% of a plan's
FLOPs. Weights are quantised once per output row, activations per token at run time (`PerRow`),
both float8 e4m3. It changes the numbers, and CEM ranks candidates by energy differences that
can be smaller than the precision loss (on random ViT-g weights bf16 alone moves energies by
2e-4 while candidates differ by 5e-5), so the planner uses it only with a passing validation of
this checkpoint on this GPU (planning/precision.py); nothing here turns it on by itself.

Needs CUDA with compute capability >= 8.9 (Ada, Hopper, Blackwell) and `torchao` (a small wheel:
`pip install --no-deps torchao`); it is not part of the CPU environment.
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn

# Float8 GEMMs (torch._scaled_mm) need both matrix sides to be multiples of 16.
_ALIGN = 16


def fp8_unavailable_reason(device: torch.device | str) -> str | None:
    """Why FP8 cannot run on `device`, or None when it can."""
    device = torch.device(device)
    if device.type != "cuda":
        return f"FP8 GEMMs need a CUDA GPU (compute capability >= 8.9); the model is on {device}"
    if not torch.cuda.is_available():
        return "FP8 GEMMs need a CUDA GPU, and torch sees none"
    cap = torch.cuda.get_device_capability(device)
    if cap < (8, 9):
        name = torch.cuda.get_device_name(device)
        return f"{name} has compute capability {cap[0]}.{cap[1]}; FP8 GEMMs need >= 8.9"
    try:
        import torchao.quantization  # noqa: F401
    except ImportError as exc:
        return f"torchao is not installed ({exc}); install its wheel: pip install --no-deps torchao"
    return None


def fp8_layer_filter(module: nn.Module, name: str) -> bool:
    """The predictor's Linear layers that FP8 can run: all block GEMMs, embed and projection.

    The 7-input action/state encoders (and the unused extrinsics encoder) are too narrow for
    float8 GEMMs and cost nothing; they stay in the model's dtype.
    """
    return (
        isinstance(module, nn.Linear)
        and module.in_features % _ALIGN == 0
        and module.out_features % _ALIGN == 0
    )


def fp8_layer_names(predictor: nn.Module) -> list[str]:
    """Names of the predictor's modules that `quantize_predictor_fp8` converts."""
    return [name for name, module in predictor.named_modules() if fp8_layer_filter(module, name)]


def quantize_predictor_fp8(model) -> list[str]:
    """Convert the predictor's Linear layers of a bf16 WorldModel to FP8 in place.

    Returns the converted layer names. Idempotent. Raises RuntimeError with the reason where
    FP8 cannot run (CPU, older GPU, no torchao) or the model is not bfloat16.
    """
    predictor = model.predictor
    if getattr(predictor, "fp8", False):
        return fp8_layer_names(predictor)
    reason = fp8_unavailable_reason(model.device)
    if reason:
        raise RuntimeError(reason)
    if model.dtype != torch.bfloat16:
        raise RuntimeError(f"FP8 runs on a bfloat16 model (activations in bf16), not {model.dtype}")
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, quantize_

    names = fp8_layer_names(predictor)
    fingerprint = weights_fingerprint(model)
    config = Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())
    quantize_(predictor, config, filter_fn=fp8_layer_filter)
    predictor.fp8 = True
    predictor.fp8_fingerprint = fingerprint  # of the weights before the conversion
    return names


def weights_fingerprint(model) -> str:
    """A short hash of the predictor's weights, the same for any dtype the model was cast to.

    A validation report records it so it is only honoured for the weights it was made with.
    Hashes three tensors (embed, first fc1, projection) rounded to bfloat16: ~10 MB to the host.
    """
    predictor = model.predictor
    if getattr(predictor, "fp8", False):
        return predictor.fp8_fingerprint
    digest = hashlib.sha256()
    blocks = predictor.predictor_blocks
    for tensor in (
        predictor.predictor_embed.weight,
        blocks[0].mlp.fc1.weight,
        predictor.predictor_proj.weight,
    ):
        data = tensor.detach().to("cpu", torch.bfloat16).view(torch.int16)
        digest.update(data.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
