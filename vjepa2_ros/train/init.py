"""Start weights for a predictor trained from scratch: a copy of the frame, scaled conditioning.

Two facts make a PyTorch-default predictor slow to learn dynamics on a CPU budget:
- Consecutive frames at 4 Hz differ little (L1 of copying frame t as frame t+1 is ~0.08 on
  layer-normalised latents, a random predictor starts above 1). Most of the early steps go into
  learning to copy the scene through predictor_embed -> blocks -> predictor_proj.
- Actions are centimetres (|dx| <= 0.05): through a default Linear(7 -> D) they move the action
  token by ~1% of its bias. Adam changes a weight by about lr per step, so reaching the ~20x
  larger weights that make the action matter takes tens of thousands of steps.

`copy_init` therefore starts the predictor as the copy baseline (identity embed/proj, zero
residual branches: every block is the identity until it learns something) and scales the
action and state encoders by the data's spread, as if the inputs were standardised. The
architecture and the released key format are unchanged; only the starting point differs, and
training still uses the paper's losses.
"""

from __future__ import annotations

import torch

# Floors of the per-dimension spread (x y z m, roll pitch yaw rad, gripper): a dimension that
# barely varies in the data (rotations in position-only exploration) is not blown up to noise.
MIN_SPREAD = (0.01, 0.01, 0.01, 0.05, 0.05, 0.05, 0.1)


def _spread(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std with floors) over rows of [F, 7] values."""
    values = values.detach().cpu().double()
    floor = torch.tensor(MIN_SPREAD, dtype=torch.float64)
    return values.mean(0), values.std(0).nan_to_num(0.0).clamp_min(floor)


@torch.no_grad()
def _standardised_linear(layer: torch.nn.Linear, values: torch.Tensor, gen: torch.Generator):
    """Weights so that layer(x) == W0 @ ((x - mean) / std) with W0 of unit output variance."""
    mean, std = _spread(values)
    out_dim, in_dim = layer.weight.shape
    w0 = torch.randn(out_dim, in_dim, generator=gen, dtype=torch.float64) / in_dim**0.5
    weight = w0 / std[None, :]
    layer.weight.copy_(weight)
    layer.bias.copy_(-(weight @ mean))


@torch.no_grad()
def copy_init(
    predictor: torch.nn.Module, actions: torch.Tensor, states: torch.Tensor, seed: int = 0
) -> None:
    """Re-initialise `predictor` in place (see the module docstring).

    actions, states: [F, 7] rows of the training data on any device (their mean and spread set
    the scale); copy_ moves the new weights to the predictor's device.
    """
    gen = torch.Generator().manual_seed(seed)
    for layer in (predictor.predictor_embed, predictor.predictor_proj):
        out_dim, in_dim = layer.weight.shape
        layer.weight.copy_(torch.eye(out_dim, in_dim))
        layer.bias.zero_()
    for block in predictor.predictor_blocks:
        for branch_out in (block.attn.proj, block.mlp.fc2):
            branch_out.weight.zero_()
            branch_out.bias.zero_()
    _standardised_linear(predictor.action_encoder, actions, gen)
    _standardised_linear(predictor.state_encoder, states, gen)
