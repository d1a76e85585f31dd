"""The pose convention's two faces (vjepa2_ros.pose: torch tensors, numpy arrays) agree with
scipy's extrinsic xyz Euler convention and with each other."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from vjepa2_ros.pose.tensors import (
    action_between,
    apply_action,
    euler_xyz_to_matrix,
    matrix_to_euler_xyz,
)


def test_matrix_and_euler_match_scipy():
    e = torch.rand(500, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 6 - 3
    m = euler_xyz_to_matrix(e)
    np.testing.assert_allclose(
        m.numpy(), Rotation.from_euler("xyz", e.numpy()).as_matrix(), atol=1e-12
    )
    back = matrix_to_euler_xyz(m).numpy()
    np.testing.assert_allclose(back, Rotation.from_matrix(m.numpy()).as_euler("xyz"), atol=1e-9)


def test_gimbal_lock_matches_scipy_choice():
    e = np.array([[0.3, np.pi / 2, 0.7], [-1.0, -np.pi / 2, 0.2]])
    ours = matrix_to_euler_xyz(euler_xyz_to_matrix(torch.from_numpy(e))).numpy()
    np.testing.assert_allclose(ours, [[-0.4, np.pi / 2, 0.0], [-0.8, -np.pi / 2, 0.0]], atol=1e-7)


def test_apply_action_broadcasts_and_matches_scipy():
    g = torch.Generator().manual_seed(1)
    state = torch.cat(
        [torch.rand(4, 1, 6, generator=g), torch.rand(4, 1, 1, generator=g)], -1
    ).double()
    action = (torch.rand(4, 8, 7, generator=g).double() - 0.5) * 0.4
    action[..., 6] *= 5  # push the gripper past [0, 1]
    nxt = apply_action(state, action)  # state broadcasts over 8 candidates
    assert nxt.shape == (4, 8, 7)
    s = state.expand(4, 8, 7).reshape(-1, 7).numpy()
    a = action.reshape(-1, 7).numpy()
    rot = Rotation.from_euler("xyz", a[:, 3:6]) * Rotation.from_euler("xyz", s[:, 3:6])
    want = np.concatenate(
        [s[:, :3] + a[:, :3], rot.as_euler("xyz"), np.clip(s[:, 6:] + a[:, 6:], 0, 1)], -1
    )
    np.testing.assert_allclose(nxt.reshape(-1, 7).numpy(), want, atol=1e-9)
    assert nxt[..., 6].min() >= 0 and nxt[..., 6].max() <= 1
    # float32 in, float32 out; action_between inverts apply_action where the gripper is not clipped
    s32 = state.float().expand(4, 8, 7)
    a32 = action.float().clone()
    a32[..., 6] = 0.0
    assert apply_action(s32, a32).dtype == torch.float32
    np.testing.assert_allclose(
        action_between(s32, apply_action(s32, a32)).numpy(), a32.numpy(), atol=1e-5
    )


def test_bridge_and_model_agree_on_the_action_convention():
    """The bridge (numpy, safety filter) and the world model (torch) apply an action alike."""
    from vjepa2_ros.pose.arrays import apply_delta

    rng = np.random.default_rng(3)
    states = np.concatenate(
        [rng.uniform(0.3, 0.7, (64, 3)), rng.uniform(-2.5, 2.5, (64, 3)), np.zeros((64, 1))], 1
    )
    actions = np.concatenate(
        [rng.uniform(-0.05, 0.05, (64, 3)), rng.uniform(-0.3, 0.3, (64, 3)), np.zeros((64, 1))], 1
    )
    model_next = apply_action(torch.from_numpy(states), torch.from_numpy(actions)).numpy()
    for s, a, m in zip(states, actions, model_next):
        bridge_next = apply_delta(s[:6], a[:6])
        np.testing.assert_allclose(bridge_next[:3], m[:3], atol=1e-9)
        r_bridge = Rotation.from_euler("xyz", bridge_next[3:6]).as_matrix()
        r_model = Rotation.from_euler("xyz", m[3:6]).as_matrix()
        np.testing.assert_allclose(r_bridge, r_model, atol=1e-9)


def test_mujoco_quaternions_become_states_in_the_same_convention():
    """The sim's w-first quaternions map to the state whose pose_to_matrix is that rotation."""
    from vjepa2_ros.pose.arrays import matrix_to_pose, pose_to_matrix, state_from_quaternion

    rng = np.random.default_rng(5)
    for rot in Rotation.random(16, random_state=7):
        x, y, z, w = rot.as_quat()
        pos = rng.uniform(-1, 1, 3)
        state = state_from_quaternion(pos, [w, x, y, z], 0.25)
        assert state.shape == (7,) and state[6] == 0.25
        np.testing.assert_allclose(pose_to_matrix(state[:6])[:3, :3], rot.as_matrix(), atol=1e-12)
        np.testing.assert_allclose(matrix_to_pose(pose_to_matrix(state[:6])), state[:6], atol=1e-9)


@pytest.mark.filterwarnings("ignore:Gimbal lock detected")  # scipy's, for the two locked cases
def test_closed_form_pose_and_quaternion_match_scipy():
    """The bridge's 100 Hz conversions (closed form) give scipy's numbers, gimbal lock included."""
    from vjepa2_ros.pose.arrays import matrix_to_pose, quaternion_xyzw

    rots = Rotation.random(500, random_state=11)
    locked = Rotation.from_euler("xyz", [[0.3, np.pi / 2, 0.7], [-1.0, -np.pi / 2, 0.2]])
    for rot in [*rots, *locked]:
        m = np.eye(4)
        m[:3, :3] = rot.as_matrix()
        m[:3, 3] = [0.1, -0.2, 0.3]
        pose = matrix_to_pose(m)
        np.testing.assert_allclose(pose[:3], [0.1, -0.2, 0.3])
        np.testing.assert_allclose(
            Rotation.from_euler("xyz", pose[3:]).as_matrix(), m[:3, :3], atol=1e-9
        )
        np.testing.assert_allclose(pose[3:], rot.as_euler("xyz"), atol=1e-7)
        q, want = quaternion_xyzw(pose), Rotation.from_euler("xyz", pose[3:]).as_quat()
        np.testing.assert_allclose(q * np.sign(q @ want), want, atol=1e-12)
