"""The pose convention (vjepa2_ros.pose) in torch, vectorised for CEM rollouts.

Everything broadcasts over leading dims, so thousands of candidates are one call; scipy is only
used by the tests to check these numbers.
"""

from __future__ import annotations

import torch

from vjepa2_ros.pose import GIMBAL_EPS


def euler_xyz_to_matrix(euler: torch.Tensor) -> torch.Tensor:
    """Extrinsic xyz Euler angles [..., 3] -> rotation matrices [..., 3, 3] (Rz @ Ry @ Rx)."""
    a, b, c = euler.unbind(-1)
    ca, sa = torch.cos(a), torch.sin(a)
    cb, sb = torch.cos(b), torch.sin(b)
    cc, sc = torch.cos(c), torch.sin(c)
    rows = (
        (cb * cc, sa * sb * cc - ca * sc, ca * sb * cc + sa * sc),
        (cb * sc, sa * sb * sc + ca * cc, ca * sb * sc - sa * cc),
        (-sb, sa * cb, ca * cb),
    )
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


def matrix_to_euler_xyz(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [..., 3, 3] -> extrinsic xyz Euler angles [..., 3], pitch in [-pi/2, pi/2].

    Matches scipy `Rotation.from_matrix(R).as_euler("xyz")`, including its gimbal-lock choice
    (yaw = 0, the whole remaining rotation in roll).
    """
    r00, r10, r20 = matrix[..., 0, 0], matrix[..., 1, 0], matrix[..., 2, 0]
    r21, r22 = matrix[..., 2, 1], matrix[..., 2, 2]
    r01, r11 = matrix[..., 0, 1], matrix[..., 1, 1]
    cos_b = torch.sqrt(r00 * r00 + r10 * r10)
    pitch = torch.atan2(-r20, cos_b)
    roll = torch.atan2(r21, r22)
    yaw = torch.atan2(r10, r00)
    locked = cos_b < GIMBAL_EPS
    # pitch = +90: R01 = sin(roll - yaw), R11 = cos(roll - yaw); pitch = -90: roll + yaw instead.
    sign = torch.where(r20 < 0, torch.ones_like(r20), -torch.ones_like(r20))
    roll_locked = torch.atan2(sign * r01, r11)
    roll = torch.where(locked, roll_locked, roll)
    yaw = torch.where(locked, torch.zeros_like(yaw), yaw)
    return torch.stack((roll, pitch, yaw), dim=-1)


def apply_action(state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """Next state [..., 7] after `action` [..., 7] (reference compute_new_pose semantics)."""
    xyz = state[..., :3] + action[..., :3]
    rot = euler_xyz_to_matrix(action[..., 3:6]) @ euler_xyz_to_matrix(state[..., 3:6])
    grip = (state[..., 6:7] + action[..., 6:7]).clamp(0.0, 1.0)
    return torch.cat((xyz, matrix_to_euler_xyz(rot), grip), dim=-1)


def action_between(state0: torch.Tensor, state1: torch.Tensor) -> torch.Tensor:
    """The action [..., 7] that takes state0 to state1 (reference poses_to_diff semantics).

    R_delta = R1 @ R0^T as xyz Euler; gripper delta unclipped (g1 - g0).
    """
    dxyz = state1[..., :3] - state0[..., :3]
    r0 = euler_xyz_to_matrix(state0[..., 3:6])
    r1 = euler_xyz_to_matrix(state1[..., 3:6])
    drot = matrix_to_euler_xyz(r1 @ r0.transpose(-1, -2))
    dgrip = state1[..., 6:7] - state0[..., 6:7]
    return torch.cat((dxyz, drot, dgrip), dim=-1)
