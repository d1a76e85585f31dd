"""End-effector conventions and inverse kinematics on the MuJoCo model (for goal images).

The end-effector pose is franky's TCP (the `ee_site` on the hand); the state convention is
vjepa2_ros.pose's. The gripper's width <-> closedness map lives here (the hand's geometry).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from vjepa2_ros.pose.arrays import pose_to_matrix, state_from_quaternion
from vjepa2_ros.robot import gripper

HAND_MAX_WIDTH = 0.08  # Franka Hand, metres (franky_sim.FRANKA_HAND_MAX_WIDTH)


def closedness_from_width(width: float) -> float:
    """The sim hand's width in metres -> closedness in [0, 1] (0 open, 1 closed)."""
    return gripper.closedness_from_width(width, HAND_MAX_WIDTH)


def width_from_closedness(closedness: float) -> float:
    """Closedness in [0, 1] -> gripper width in metres."""
    return float(np.clip(1.0 - closedness, 0.0, 1.0) * HAND_MAX_WIDTH)


def pose_to_state(pos, quat_wxyz, width: float) -> np.ndarray:
    """(position, w-first quaternion, gripper width) -> [x y z roll pitch yaw closedness]."""
    return state_from_quaternion(pos, quat_wxyz, closedness_from_width(width))


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


IK_TOLERANCE_M, IK_TOLERANCE_RAD = 0.005, 0.05


class ArmKinematics:
    """Inverse kinematics of the cell's FR3 on a MuJoCo model (the live cell's or an offline one).

    `for_cell(config)` compiles the cell's model without a simulator or server, so a process
    that only talks to the cell over ROS (the graph-mode evaluation) samples exactly the goals
    the core evaluation does.
    """

    def __init__(self, model, home_q=None) -> None:
        import mujoco

        from vjepa2_ros.sim.scene import EE_SITE, ROBOT_PREFIX

        self.model = model
        self.home_q = None if home_q is None else np.asarray(home_q, dtype=float)
        self.site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, EE_SITE)
        self.arm_joints = [
            mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, f"{ROBOT_PREFIX}fr3_joint{i}")
            for i in range(1, 8)
        ]

    @classmethod
    def for_cell(cls, config=None) -> ArmKinematics:
        import mujoco

        from vjepa2_ros.sim.config import SimConfig
        from vjepa2_ros.sim.scene import build_cell

        config = config or SimConfig()
        sim, xml = build_cell(config.camera, config.home_joints, HAND_MAX_WIDTH)
        sim.cleanup()
        return cls(mujoco.MjModel.from_xml_string(xml), config.home_joints)

    def place_arm(self, data, arm_pose) -> None:
        """Move the arm joints of `data` so the TCP is at `arm_pose`; ValueError if out of reach.

        `arm_pose`: [x y z roll pitch yaw] (base frame, extrinsic xyz Euler).
        """
        import math

        arm_pose = np.asarray(arm_pose, dtype=float)
        if arm_pose.shape != (6,) or not np.isfinite(arm_pose).all():
            raise ValueError(
                f"arm_pose must be 6 finite numbers [x y z roll pitch yaw], got {arm_pose}"
            )
        rot = pose_to_matrix(arm_pose)[:3, :3]
        pos_err, rot_err = solve_ik(self.model, data, self.site, self.arm_joints, arm_pose[:3], rot)
        if pos_err > IK_TOLERANCE_M or rot_err > IK_TOLERANCE_RAD:
            raise ValueError(
                f"arm_pose {arm_pose.round(3).tolist()} is out of the arm's reach (IK error "
                f"{pos_err * 1000:.1f} mm, {math.degrees(rot_err):.1f} deg); choose a pose "
                "closer to the workspace above the table"
            )

    def reachable(self, arm_pose) -> bool:
        """Whether IK reaches `arm_pose` from the cell's home pose (the same answer everywhere)."""
        import mujoco

        data = mujoco.MjData(self.model)
        if self.home_q is not None:
            data.qpos[self.model.jnt_qposadr[self.arm_joints]] = self.home_q
        try:
            self.place_arm(data, arm_pose)
        except ValueError:
            return False
        return True
