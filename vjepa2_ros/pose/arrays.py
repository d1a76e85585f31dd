"""The pose convention (vjepa2_ros.pose) in numpy/scipy: single poses, no torch, no rclpy.

Used by the robot's safety filter and backend, the sim and the ROS message conversions.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def matrix_to_pose(matrix: np.ndarray) -> np.ndarray:
    """A 4x4 homogeneous transform -> [x, y, z, roll, pitch, yaw]."""
    matrix = np.asarray(matrix, dtype=np.float64)
    euler = Rotation.from_matrix(matrix[:3, :3]).as_euler("xyz")
    return np.concatenate([matrix[:3, 3], euler])


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


def quaternion_xyzw(pose: np.ndarray) -> np.ndarray:
    """The orientation of `pose` as a unit quaternion (x, y, z, w), for geometry_msgs/Pose."""
    return Rotation.from_euler("xyz", np.asarray(pose, dtype=np.float64)[3:6]).as_quat()


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
