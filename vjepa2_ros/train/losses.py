"""The V-JEPA 2-AC post-training losses: teacher-forcing L1 plus an autoregressive rollout L1.

Facts from the paper (arXiv 2506.09985, Sec. 3) and the public reference trainer:
- Targets are the frozen encoder's latents of every frame, layer-normalised without affine.
- Every predictor output is layer-normalised the same way before it enters a loss or is fed back.
- Teacher forcing: context = frames 0..T-2 with actions 0..T-2 and states 0..T-2; step t's
  output predicts frame t+1; L1 against frames 1..T-1.
- Rollout (`auto_steps` = 2 in the released config): start from the real frame 0 and the
  teacher-forced prediction of frame 1 (gradients flow through it), then for n = 1..auto_steps-1
  feed the sequence so far (real frame 0, then the model's own predictions) with the recorded
  actions and states 0..n and append the last predicted frame. L1 against frames 1..auto_steps.
  States stay the recorded ones; only the frame latents are the model's own.
- Loss = L1_teacher_forcing + L1_rollout (weight 1 each; loss_exp = 1: mean absolute error).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# (context latents [B, T*N, D], actions [B, T, 7], states [B, T, 7]) -> raw outputs [B, T*N, D]
PredictAll = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class LossTerms:
    total: torch.Tensor
    teacher_forcing: torch.Tensor
    rollout: torch.Tensor


def layer_norm(x: torch.Tensor) -> torch.Tensor:
    """Layer norm over channels without affine: the representation space of targets and predictions."""
    return F.layer_norm(x, (x.shape[-1],))


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over every token and channel (the paper's L1, loss_exp = 1)."""
    return (pred - target).abs().mean()


def _check(z: torch.Tensor, actions: torch.Tensor, states: torch.Tensor, n: int) -> int:
    b, length, _ = z.shape
    if length % n:
        raise ValueError(f"latents hold {length} tokens, not a multiple of {n} tokens per frame")
    frames = length // n
    if frames < 2:
        raise ValueError(f"a clip needs at least 2 frames to predict one, got {frames}")
    if tuple(actions.shape[:2]) != (b, frames - 1):
        raise ValueError(
            f"actions {tuple(actions.shape)} must be [B={b}, T-1={frames - 1}, 7]: one action "
            "between each pair of consecutive frames"
        )
    if tuple(states.shape[:2]) != (b, frames):
        raise ValueError(f"states {tuple(states.shape)} must be [B={b}, T={frames}, 7]")
    return frames


def teacher_forcing(
    predict_all: PredictAll,
    z: torch.Tensor,
    actions: torch.Tensor,
    states: torch.Tensor,
    tokens_per_frame: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(L1 loss, normalised predictions of frames 1..T-1 [B, (T-1)*N, D]).

    z [B, T*N, D] are the normalised target latents, actions [B, T-1, 7], states [B, T, 7].
    """
    n = tokens_per_frame
    _check(z, actions, states, n)
    pred = layer_norm(predict_all(z[:, :-n], actions, states[:, :-1]))
    return l1(pred, z[:, n:]), pred


def rollout(
    predict_all: PredictAll,
    z: torch.Tensor,
    actions: torch.Tensor,
    states: torch.Tensor,
    tokens_per_frame: int,
    first_prediction: torch.Tensor,
    auto_steps: int = 2,
) -> torch.Tensor:
    """L1 of an `auto_steps`-frame autoregressive rollout from real frame 0.

    `first_prediction` [B, >=N, D] holds the (normalised) teacher-forced prediction of frame 1 in
    its first N tokens; the rollout reuses it as its first step, as the reference does.
    """
    n = tokens_per_frame
    frames = _check(z, actions, states, n)
    if not 1 <= auto_steps <= frames - 1:
        raise ValueError(f"auto_steps must be in 1..{frames - 1} for {frames}-frame clips")
    seq = torch.cat((z[:, :n], first_prediction[:, :n]), dim=1)
    for step in range(1, auto_steps):
        out = predict_all(seq, actions[:, : step + 1], states[:, : step + 1])
        seq = torch.cat((seq, layer_norm(out[:, -n:])), dim=1)
    return l1(seq[:, n:], z[:, n : (auto_steps + 1) * n])


def ac_losses(
    predict_all: PredictAll,
    z: torch.Tensor,
    actions: torch.Tensor,
    states: torch.Tensor,
    tokens_per_frame: int,
    auto_steps: int = 2,
) -> LossTerms:
    """Teacher-forcing L1 + rollout L1 (weights 1 and 1) for one batch of clips."""
    tf_loss, tf_pred = teacher_forcing(predict_all, z, actions, states, tokens_per_frame)
    ar_loss = rollout(
        predict_all, z, actions, states, tokens_per_frame, tf_pred, auto_steps=auto_steps
    )
    return LossTerms(total=tf_loss + ar_loss, teacher_forcing=tf_loss, rollout=ar_loss)
