"""Planning energy: how far a predicted frame latent is from the goal latent.

The reference scores a candidate by the mean absolute difference over all tokens and channels
between the layer-normalised predicted frame and the layer-normalised goal frame (L1). Lower is
better; 0 means the prediction equals the goal.
"""

from __future__ import annotations

import torch


def l1_energy(z_pred: torch.Tensor, z_goal: torch.Tensor) -> torch.Tensor:
    """Mean |z_pred - z_goal| per candidate, computed in float32.

    z_pred: [B, N, D] predicted frames; z_goal: [N, D] (broadcast over B) or [B, N, D].
    Returns [B] float32. Accumulating in float32 keeps bf16 predictions comparable (a bf16 mean
    over 360k elements would lose the small differences CEM ranks candidates by).
    """
    if z_pred.dim() != 3:
        raise ValueError(f"z_pred must be [B, tokens, channels], got shape {tuple(z_pred.shape)}")
    if z_goal.shape[-2:] != z_pred.shape[-2:]:
        raise ValueError(
            f"goal latent shape {tuple(z_goal.shape)} does not match predicted frames "
            f"{tuple(z_pred.shape)}: encode the goal with the same model as the observations"
        )
    diff = z_pred.float() - z_goal.float()
    return diff.abs().mean(dim=(-2, -1))
