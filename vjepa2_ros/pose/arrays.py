"""The pose convention (vjepa2_ros.pose) in numpy/scipy: single poses, no torch, no rclpy.

Used by the robot's safety filter and backend, the sim and the ROS message conversions.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.transform import Rotation

from vjepa2_ros.pose import GIMBAL_EPS


def matrix_to_pose(matrix: np.ndarray) -> np.ndarray:
    """A 4x4 homogeneous transform -> [x, y, z, roll, pitch, yaw], pitch in [-pi/2, pi/2].

    Closed form (the bridge runs it at 100 Hz; scipy's from_matrix costs ~80 us with its SVD):
    the same angles as scipy's `as_euler("xyz")` for a rotation matrix and as pose.tensors; at
    gimbal lock (within GIMBAL_EPS) the yaw is 0, as both choose.
    """
    m = np.asarray(matrix, dtype=np.float64)
    cos_pitch = math.hypot(m[0, 0], m[1, 0])
    pitch = math.atan2(-m[2, 0], cos_pitch)
    if cos_pitch < GIMBAL_EPS:  # pitch +90: R01 = sin(roll - yaw); -90: sin(roll + yaw)
        sign = 1.0 if m[2, 0] < 0 else -1.0
        roll, yaw = math.atan2(sign * m[0, 1], m[1, 1]), 0.0
    else:
        roll, yaw = math.atan2(m[2, 1], m[2, 2]), math.atan2(m[1, 0], m[0, 0])
    return np.array([m[0, 3], m[1, 3], m[2, 3], roll, pitch, yaw])


def pose_to_matrix(pose: np.ndarray) -> np.ndarray:
    """[x, y, z, roll, pitch, yaw] -> a 4x4 homogeneous transform."""
    pose = np.asarray(pose, dtype=np.float64)
    matrix = np.eye(4)
    matrix[:3, :3] = Rotation.from_euler("xyz", pose[3:6]).as_matrix()
    matrix[:3, 3] = pose[:3]
    return matrix


def rotation_angle(euler_delta: np.ndarray) -> float:
    """The angle (rad) of the rotation given as xyz Euler angles: how far an action turns the hand."""
    return float(Rotation.from_euler("xyz", np.asarray(euler_delta, dtype=np.float64)).magnitude())


def apply_delta(pose: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """The pose an action [dx dy dz droll dpitch dyaw] leads to from `pose` (base-frame delta)."""
    pose = np.asarray(pose, dtype=np.float64)
    delta = np.asarray(delta, dtype=np.float64)
    r_now = Rotation.from_euler("xyz", pose[3:6])
    r_next = Rotation.from_euler("xyz", delta[3:6]) * r_now
    return np.concatenate([pose[:3] + delta[:3], r_next.as_euler("xyz")])


def turn_toward(rpy_from, rpy_to, max_angle: float) -> np.ndarray:
    """`rpy_from` turned the shortest way toward `rpy_to`, by at most `max_angle` (rad)."""
    r_from = Rotation.from_euler("xyz", np.asarray(rpy_from, dtype=np.float64)[:3])
    turn = Rotation.from_euler("xyz", np.asarray(rpy_to, dtype=np.float64)[:3]) * r_from.inv()
    rotvec = turn.as_rotvec()
    angle = float(np.linalg.norm(rotvec))
    if angle > max_angle:
        rotvec *= max_angle / angle
    return (Rotation.from_rotvec(rotvec) * r_from).as_euler("xyz")


def quaternion_xyzw(pose: np.ndarray) -> np.ndarray:
    """The orientation of `pose` as a unit quaternion (x, y, z, w), for geometry_msgs/Pose.

    Closed form of Rz(yaw) Ry(pitch) Rx(roll) (100 Hz in the bridge; scipy's costs ~20 us).
    """
    roll, pitch, yaw = (float(a) / 2.0 for a in np.asarray(pose, dtype=np.float64)[3:6])
    cr, sr = math.cos(roll), math.sin(roll)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(yaw), math.sin(yaw)
    return np.array(
        [
            sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
            cr * cp * cy + sr * sp * sy,
        ]
    )


def tilt_and_twist(reference_rpy, rpy) -> tuple[float, float]:
    """How far `rpy` is turned from `reference_rpy`: (tilt, twist) in radians.

    Swing-twist split about the reference's tool axis (its z axis): tilt is the angle between the
    two tool axes (>= 0), twist the signed turn about the reference tool axis (in (-pi, pi]).
    """
    r_rel = Rotation.from_euler("xyz", np.asarray(reference_rpy, dtype=np.float64)[:3]).inv() * (
        Rotation.from_euler("xyz", np.asarray(rpy, dtype=np.float64)[:3])
    )
    tilt = float(np.arccos(np.clip(r_rel.as_matrix()[2, 2], -1.0, 1.0)))
    _, _, z, w = r_rel.as_quat()
    twist = float(2.0 * np.arctan2(z, w))
    twist = (twist + np.pi) % (2 * np.pi) - np.pi
    return tilt, twist


def state_from_quaternion(pos, quat_wxyz, closedness: float) -> np.ndarray:
    """(position, w-first quaternion as MuJoCo writes it, gripper closedness) -> a state [7]."""
    w, x, y, z = quat_wxyz
    rpy = Rotation.from_quat([x, y, z, w]).as_euler("xyz")
    return np.concatenate([np.asarray(pos, dtype=np.float64), rpy, [closedness]])
