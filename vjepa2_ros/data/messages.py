"""ROS messages -> numpy arrays, without ROS: what the nodes and the bag readers both parse.

Works on any object with the message's fields (rclpy messages, rosbags' deserialised messages),
so reading a recorded bag, training and evaluation need no rclpy. Building ROS messages is the
shell's job (vjepa2_ros/nodes/conversions.py). Conventions (DESIGN.md, interfaces.py): images
are sensor_msgs/Image; latents are 32FC1 images with height = tokens and width = channels;
named vectors (actions, end-effector state, cycle reports) are sensor_msgs/JointState with the
values in `position`.
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


def msg_to_latent(msg) -> np.ndarray:
    """The [tokens, channels] float32 array of a 32FC1 latent image."""
    if msg.encoding != "32FC1":
        raise ImageEncodingError(f"a latent must be a 32FC1 image, got {msg.encoding!r}")
    return image_to_array(msg)


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
