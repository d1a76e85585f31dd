"""Energy landscape of the world model around the current pose (the paper's figure).

For a grid of planar actions (dx, dy) around the current end-effector pose (dz, rotation and
gripper 0), the world model predicts the next frame from the current latent and state, and the
L1 energy to the goal latent is recorded. A well-shaped model has its minimum where the true
goal offset lies. All grid actions go through one batched rollout (no per-cell Python loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vjepa2_ros.config import require
from vjepa2_ros.planning.rollout import default_apply_action, rollout_energies


@dataclass
class Landscape:
    """Energies [n, n] over actions dx = xs[j], dy = ys[i] (row i, column j)."""

    xs: np.ndarray  # [n] dx values, metres
    ys: np.ndarray  # [n] dy values, metres
    energies: np.ndarray  # [n, n] float64, energies[i, j] at (dx=xs[j], dy=ys[i])
    goal_offset: np.ndarray | None = None  # [2] true (dx, dy) to the goal, metres

    @property
    def argmin(self) -> np.ndarray:
        """(dx, dy) of the lowest energy on the grid."""
        i, j = np.unravel_index(int(np.argmin(self.energies)), self.energies.shape)
        return np.array([self.xs[j], self.ys[i]])

    def as_dict(self) -> dict:
        return {
            "xs": self.xs.tolist(),
            "ys": self.ys.tolist(),
            "energies": self.energies.tolist(),
            "goal_offset": None if self.goal_offset is None else self.goal_offset.tolist(),
            "argmin": self.argmin.tolist(),
        }


def grid_actions(extent_m: float, n: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """Axis values [n] and the actions [n*n, 1, 7] (row-major over dy, then dx)."""
    require(n >= 2, f"landscape grid needs n >= 2 points per axis, got {n}")
    require(extent_m > 0, f"landscape extent must be > 0 metres, got {extent_m}")
    axis = np.linspace(-extent_m, extent_m, n)
    dy, dx = np.meshgrid(axis, axis, indexing="ij")
    actions = torch.zeros(n * n, 1, 7, dtype=torch.float32)
    actions[:, 0, 0] = torch.from_numpy(dx.reshape(-1)).float()
    actions[:, 0, 1] = torch.from_numpy(dy.reshape(-1)).float()
    return axis, axis.copy(), actions


@torch.inference_mode()
def energy_landscape(
    world_model,
    z_now: torch.Tensor,
    state_now,
    z_goal: torch.Tensor,
    extent_m: float = 0.10,
    n: int = 9,
    goal_offset=None,
) -> Landscape:
    """Energy of the predicted next frame for each (dx, dy) on an n x n grid of +-extent_m."""
    xs, ys, actions = grid_actions(extent_m, n)
    device = z_now.device
    state = torch.as_tensor(np.asarray(state_now, dtype=np.float32)).reshape(7).to(device)
    cost = rollout_energies(
        world_model, z_now, state, actions.to(device), z_goal.to(device), default_apply_action()
    )
    energies = cost.energies.double().cpu().numpy().reshape(n, n)
    offset = None if goal_offset is None else np.asarray(goal_offset, dtype=np.float64)[:2]
    return Landscape(xs=xs, ys=ys, energies=energies, goal_offset=offset)


def plot_landscape(landscape: Landscape, path, title: str = "energy landscape") -> None:
    """PNG: energy heat map over (dx, dy) in cm, true goal offset (star) and grid argmin (x)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = 100.0
    fig, ax = plt.subplots(figsize=(5.2, 4.4), dpi=120)
    step = (landscape.xs[1] - landscape.xs[0]) * cm / 2
    extent = (
        landscape.xs[0] * cm - step,
        landscape.xs[-1] * cm + step,
        landscape.ys[0] * cm - step,
        landscape.ys[-1] * cm + step,
    )
    im = ax.imshow(landscape.energies, origin="lower", extent=extent, cmap="viridis")
    fig.colorbar(im, ax=ax, label="L1 energy to the goal latent")
    if landscape.goal_offset is not None:
        gx, gy = landscape.goal_offset * cm
        ax.annotate("", xy=(gx, gy), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="w"))
        ax.plot([gx], [gy], marker="*", ms=16, color="red", mec="w", label="true goal offset")
    mx, my = landscape.argmin * cm
    ax.plot([mx], [my], marker="x", ms=11, mew=2.5, color="orange", label="energy minimum")
    ax.plot([0], [0], marker="o", ms=5, color="w", label="current pose")
    ax.set_xlabel("dx (cm, base frame)")
    ax.set_ylabel("dy (cm, base frame)")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
