"""ROS messages <-> numpy arrays, in one place for every node.

Conventions (DESIGN.md): images are sensor_msgs/Image; latents are 32FC1 images with
height = tokens and width = channels; named vectors (actions, end-effector state) are
sensor_msgs/JointState with the values in `position`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vjepa2_ros.interfaces import ACTION_NAMES, STATE_NAMES  # noqa: F401 (re-exported)

# encoding -> (channels, dtype, channel order to reach RGB or None for non-colour)
_ENCODINGS: dict[str, tuple[int, np.dtype, tuple[int, ...] | None]] = {
    "rgb8": (3, np.dtype(np.uint8), (0, 1, 2)),
    "bgr8": (3, np.dtype(np.uint8), (2, 1, 0)),
    "rgba8": (4, np.dtype(np.uint8), (0, 1, 2)),
    "bgra8": (4, np.dtype(np.uint8), (2, 1, 0)),
    "mono8": (1, np.dtype(np.uint8), None),
    "32FC1": (1, np.dtype(np.float32), None),
}
COLOUR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8")


class ImageEncodingError(ValueError):
    """An image arrived in an encoding or layout this package cannot use."""


def image_to_array(msg) -> np.ndarray:
    """The pixels of a sensor_msgs/Image as an (H, W, C) array (H, W for one channel)."""
    enc = msg.encoding
    if enc not in _ENCODINGS:
        raise ImageEncodingError(
            f"unsupported image encoding {enc!r}: publish one of {', '.join(_ENCODINGS)}"
        )
    channels, dtype, _ = _ENCODINGS[enc]
    row_bytes = msg.width * channels * dtype.itemsize
    if msg.step < row_bytes or len(msg.data) < msg.step * msg.height:
        raise ImageEncodingError(
            f"image {msg.width}x{msg.height} {enc}: step {msg.step} and {len(msg.data)} data bytes "
            f"do not hold {row_bytes} bytes per row"
        )
    order = ">" if msg.is_bigendian else "<"
    buf = np.frombuffer(bytearray(msg.data), dtype=np.uint8)[
        : msg.step * msg.height
    ]  # writable copy
    rows = buf.reshape(msg.height, msg.step)[:, :row_bytes]
    arr = np.ascontiguousarray(rows).view(
        dtype.newbyteorder(order) if dtype.itemsize > 1 else dtype
    )
    arr = arr.reshape(msg.height, msg.width, channels)
    if dtype.itemsize > 1:
        arr = arr.astype(dtype.newbyteorder("="), copy=False)
    return arr[..., 0] if channels == 1 else arr


def rgb_from_image(msg) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array from an rgb8, bgr8, rgba8 or bgra8 image (camera input)."""
    if msg.encoding not in COLOUR_ENCODINGS:
        raise ImageEncodingError(
            f"camera image encoding {msg.encoding!r} is not supported: configure the camera "
            f"driver to publish one of {', '.join(COLOUR_ENCODINGS)}"
        )
    arr = image_to_array(msg)
    order = _ENCODINGS[msg.encoding][2]
    return np.ascontiguousarray(arr[..., list(order)])


def rgb_from_image_checked(msg, max_side: int) -> np.ndarray:
    """rgb_from_image for images from outside (goals): empty or oversized images are refused."""
    if msg.width == 0 or msg.height == 0:
        raise ImageEncodingError(
            f"image is empty ({msg.width}x{msg.height}): send a camera-sized RGB image"
        )
    if max(msg.width, msg.height) > max_side:
        raise ImageEncodingError(
            f"image {msg.width}x{msg.height} is larger than max_image_side = {max_side} px: "
            "downscale it (the model sees 256x256) or raise max_image_side"
        )
    return rgb_from_image(msg)


def image_from_array(array: np.ndarray, encoding: str, frame_id: str = "", stamp=None):
    """A sensor_msgs/Image holding `array` ((H, W, C) or (H, W)) in `encoding`."""
    from sensor_msgs.msg import Image

    if encoding not in _ENCODINGS:
        raise ImageEncodingError(f"unsupported image encoding {encoding!r}")
    channels, dtype, _ = _ENCODINGS[encoding]
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] != channels or array.dtype != dtype:
        raise ImageEncodingError(
            f"{encoding} needs an (H, W, {channels}) {dtype} array, got {array.shape} {array.dtype}"
        )
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp.to_msg() if hasattr(stamp, "to_msg") else stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * channels * dtype.itemsize
    msg.data = np.ascontiguousarray(array).astype(dtype.newbyteorder("<"), copy=False).tobytes()
    return msg


def latent_to_msg(latent: np.ndarray, stamp=None, frame_id: str = "vjepa2"):
    """A [tokens, channels] float32 latent as a 32FC1 image (height = tokens)."""
    latent = np.asarray(latent, dtype=np.float32)
    if latent.ndim != 2:
        raise ValueError(f"a latent is [tokens, channels], got shape {latent.shape}")
    return image_from_array(latent, "32FC1", frame_id=frame_id, stamp=stamp)


def msg_to_latent(msg) -> np.ndarray:
    """The [tokens, channels] float32 array of a 32FC1 latent image."""
    if msg.encoding != "32FC1":
        raise ImageEncodingError(f"a latent must be a 32FC1 image, got {msg.encoding!r}")
    return image_to_array(msg)


def vector_to_msg(values: Sequence[float], names: Sequence[str], stamp=None, frame_id: str = ""):
    """A stamped named vector (sensor_msgs/JointState, values in `position`)."""
    from sensor_msgs.msg import JointState

    values = [float(v) for v in values]
    if len(values) != len(names):
        raise ValueError(f"expected {len(names)} values ({', '.join(names)}), got {len(values)}")
    msg = JointState()
    if stamp is not None:
        msg.header.stamp = stamp.to_msg() if hasattr(stamp, "to_msg") else stamp
    msg.header.frame_id = frame_id
    msg.name = list(names)
    msg.position = values
    return msg


def msg_to_vector(msg, names: Sequence[str]) -> np.ndarray:
    """The values of a named vector in the order of `names`; raise ValueError naming what is wrong.

    Names, when the sender filled them, must match; an unnamed vector must have the right length.
    """
    values = np.asarray(msg.position, dtype=np.float64)
    if len(msg.name) and list(msg.name) != list(names):
        raise ValueError(f"vector names {list(msg.name)} do not match the expected {list(names)}")
    if values.shape != (len(names),):
        raise ValueError(f"expected {len(names)} values ({', '.join(names)}), got {values.size}")
    return values


def stamp_to_sec(stamp) -> float:
    """builtin_interfaces/Time -> float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def sec_to_stamp(seconds: float):
    """float seconds -> builtin_interfaces/Time (nanosecond resolution)."""
    from builtin_interfaces.msg import Time

    ns = round(seconds * 1e9)
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def diagnostic_values(msg, status_name: str) -> dict[str, str] | None:
    """The KeyValues of the named status in a DiagnosticArray, or None when absent."""
    for status in msg.status:
        if status.name == status_name:
            return {kv.key: kv.value for kv in status.values}
    return None


def msg_to_motion(msg):
    """sensor_msgs/TimeReference on /franka/motion -> MotionStatus (seconds; None when unset)."""
    from vjepa2_ros.robot.motion import MotionStatus

    def sec(stamp):
        return stamp_to_sec(stamp) if (stamp.sec or stamp.nanosec) else None

    return MotionStatus(msg.source, sec(msg.time_ref), sec(msg.header.stamp))


def named_values(msg, names: Sequence[str]) -> dict[str, float]:
    """A named vector as {name: value}, checked against `names` (see msg_to_vector)."""
    return dict(zip(names, (float(v) for v in msg_to_vector(msg, names))))


def motion_to_msg(motion, frame_id: str = ""):
    """A MotionStatus -> sensor_msgs/TimeReference for /franka/motion (interfaces.py)."""
    from sensor_msgs.msg import TimeReference

    msg = TimeReference(source=motion.outcome)
    msg.header.frame_id = frame_id
    if motion.settled_at is not None:
        msg.header.stamp = sec_to_stamp(motion.settled_at)
    if motion.action_stamp is not None:
        msg.time_ref = sec_to_stamp(motion.action_stamp)
    return msg


def pose_to_msg(state, stamp, frame_id: str):
    """[x y z roll pitch yaw ...] -> geometry_msgs/PoseStamped."""
    from geometry_msgs.msg import PoseStamped

    from vjepa2_ros.robot.pose import quaternion_xyzw

    msg = PoseStamped()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    p, o = msg.pose.position, msg.pose.orientation
    p.x, p.y, p.z = (float(v) for v in state[:3])
    o.x, o.y, o.z, o.w = (float(v) for v in quaternion_xyzw(state))
    return msg


def joints_to_msg(joint_names, positions, stamp):
    """sensor_msgs/JointState for /joint_states."""
    from sensor_msgs.msg import JointState

    msg = JointState(name=list(joint_names), position=[float(q) for q in positions])
    msg.header.stamp = stamp
    return msg


def plan_markers(ee_xyz, move_xyz, energy: float, stamp, frame_id: str):
    """RViz: an arrow from the end effector along the planned move, and the energy as text."""
    from geometry_msgs.msg import Point
    from visualization_msgs.msg import Marker, MarkerArray

    start = Point(x=float(ee_xyz[0]), y=float(ee_xyz[1]), z=float(ee_xyz[2]))
    end = Point(
        x=start.x + float(move_xyz[0]),
        y=start.y + float(move_xyz[1]),
        z=start.z + float(move_xyz[2]),
    )
    arrow = Marker(ns="vjepa2_plan", id=0, type=Marker.ARROW, action=Marker.ADD)
    arrow.points = [start, end]
    arrow.scale.x, arrow.scale.y, arrow.scale.z = 0.008, 0.016, 0.02
    arrow.color.r, arrow.color.g, arrow.color.b, arrow.color.a = 1.0, 0.6, 0.1, 1.0
    text = Marker(ns="vjepa2_plan", id=1, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD)
    text.pose.position = Point(x=start.x, y=start.y, z=start.z + 0.08)
    text.scale.z = 0.03
    text.color.r = text.color.g = text.color.b = text.color.a = 1.0
    text.text = f"energy {energy:.4f}"
    for marker in (arrow, text):
        marker.header.stamp, marker.header.frame_id = stamp, frame_id
    return MarkerArray(markers=[arrow, text])
