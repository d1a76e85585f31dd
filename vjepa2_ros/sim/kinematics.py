"""End-effector conventions and inverse kinematics on the MuJoCo model (for goal images).

The end-effector pose is franky's TCP (the `ee_site` on the hand). Model conventions (DROID):
[x y z roll pitch yaw gripper] with extrinsic xyz Euler angles and gripper closedness in [0, 1].
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

HAND_MAX_WIDTH = 0.08  # Franka Hand, metres (franky_sim.FRANKA_HAND_MAX_WIDTH)


def closedness_from_width(width: float) -> float:
    """Gripper width in metres -> closedness in [0, 1] (0 open, 1 closed)."""
    return float(np.clip(1.0 - width / HAND_MAX_WIDTH, 0.0, 1.0))


def width_from_closedness(closedness: float) -> float:
    """Closedness in [0, 1] -> gripper width in metres."""
    return float(np.clip(1.0 - closedness, 0.0, 1.0) * HAND_MAX_WIDTH)


def pose_to_state(pos, quat_wxyz, width: float) -> np.ndarray:
    """(position, w-first quaternion, gripper width) -> [x y z roll pitch yaw closedness]."""
    w, x, y, z = quat_wxyz
    rpy = Rotation.from_quat([x, y, z, w]).as_euler("xyz")
    return np.concatenate([np.asarray(pos, float), rpy, [closedness_from_width(width)]])


def solve_ik(model, data, site_id: int, joint_ids, target_pos, target_rot, iters: int = 200):
    """Damped least-squares IK: move the arm joints so the site reaches the target pose.

    `data` is a private MjData (never the live simulation's). Returns the final position and
    orientation errors (metres, radians); the caller decides whether they are acceptable.
    """
    import mujoco

    joint_ids = np.asarray(joint_ids)
    qadr, dofs = model.jnt_qposadr[joint_ids], model.jnt_dofadr[joint_ids]
    lo, hi = model.jnt_range[joint_ids].T
    jacp = np.zeros((3, model.nv))
    jacr = np.zeros((3, model.nv))
    damping = 1e-3
    pos_err = rot_err = np.inf
    for _ in range(iters):
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        pos = data.site_xpos[site_id]
        rot = data.site_xmat[site_id].reshape(3, 3)
        dp = np.asarray(target_pos) - pos
        dr = Rotation.from_matrix(target_rot @ rot.T).as_rotvec()
        pos_err, rot_err = float(np.linalg.norm(dp)), float(np.linalg.norm(dr))
        if pos_err < 1e-4 and rot_err < 1e-3:
            break
        mujoco.mj_jacSite(model, data, jacp, jacr, site_id)
        jac = np.vstack([jacp[:, dofs], jacr[:, dofs]])
        err = np.concatenate([dp, dr])
        step = jac.T @ np.linalg.solve(jac @ jac.T + damping * np.eye(6), err)
        data.qpos[qadr] = np.clip(data.qpos[qadr] + np.clip(step, -0.2, 0.2), lo, hi)
    return pos_err, rot_err
