"""Energy landscape: the grid's layout, one batched rollout, the minimum where the goal is, PNG."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vjepa2_ros.config import ConfigError
from vjepa2_ros.evaluation.landscape import (
    Landscape,
    energy_landscape,
    grid_actions,
    plot_landscape,
)


class PositionModel:
    """A world model whose next latent encodes the next xy position (exact, known bowl).

    Counts predictor calls so the test can check the grid goes through one batched call.
    """

    tokens, channels = 4, 8

    def __init__(self) -> None:
        self.calls = 0
        self.batches: list[int] = []

    def latent_at(self, xy: torch.Tensor) -> torch.Tensor:
        z = torch.zeros(*xy.shape[:-1], self.tokens, self.channels)
        z[..., 0, 0] = xy[..., 0] * 10
        z[..., 0, 1] = xy[..., 1] * 10
        return z

    def predict(self, z_ctx, actions, states):
        self.calls += 1
        self.batches.append(actions.shape[0])
        xy = states[:, -1, :2] + actions[:, -1, :2]
        return self.latent_at(xy)


def test_grid_actions_are_row_major_dy_then_dx():
    xs, ys, actions = grid_actions(0.1, 3)
    np.testing.assert_allclose(ys, xs)
    np.testing.assert_allclose(xs, [-0.1, 0.0, 0.1])
    assert actions.shape == (9, 1, 7)
    # row i = dy index, column j = dx index
    np.testing.assert_allclose(actions[1, 0, :2].numpy(), [0.0, -0.1], atol=1e-7)
    np.testing.assert_allclose(actions[3, 0, :2].numpy(), [-0.1, 0.0], atol=1e-7)
    assert torch.count_nonzero(actions[:, 0, 2:]) == 0  # dz, rotation, gripper stay 0
    with pytest.raises(ConfigError, match="n >= 2"):
        grid_actions(0.1, 1)
    with pytest.raises(ConfigError, match="extent"):
        grid_actions(0.0, 5)


def test_minimum_sits_at_the_goal_offset_and_energies_match_by_hand():
    model = PositionModel()
    state = np.array([0.5, 0.0, 0.3, np.pi, 0.0, 0.0, 0.0], dtype=np.float32)
    offset = np.array([0.05, -0.075])
    z_goal = model.latent_at(torch.tensor(state[:2] + offset, dtype=torch.float32))
    z_now = model.latent_at(torch.tensor(state[:2]))
    land = energy_landscape(model, z_now, state, z_goal, extent_m=0.1, n=9, goal_offset=offset)
    assert model.calls == 1 and model.batches == [81]  # one batched predictor call
    assert land.energies.shape == (9, 9)
    np.testing.assert_allclose(land.argmin, offset, atol=1e-6)
    # by hand: L1 mean over 4x8 = (10 |dx - gx| + 10 |dy - gy|) / 32 at dx=-0.1, dy=0.1
    expected = (10 * abs(-0.1 - 0.05) + 10 * abs(0.1 + 0.075)) / 32
    assert land.energies[8, 0] == pytest.approx(expected, rel=1e-5)
    d = land.as_dict()
    assert d["argmin"] == pytest.approx(offset.tolist())


def test_plot_writes_a_png(tmp_path):
    axis = np.linspace(-0.1, 0.1, 5)
    energies = np.add.outer(axis**2, axis**2)
    land = Landscape(xs=axis, ys=axis, energies=energies, goal_offset=np.array([0.05, 0.0]))
    path = tmp_path / "landscape.png"
    plot_landscape(land, path, "test")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
