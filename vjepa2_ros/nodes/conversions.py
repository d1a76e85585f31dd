"""numpy arrays -> ROS messages for the nodes (the parsing half is vjepa2_ros/data/messages.py).

Conventions (DESIGN.md): images are sensor_msgs/Image; latents are 32FC1 images with
height = tokens and width = channels; named vectors (actions, end-effector state) are
sensor_msgs/JointState with the values in `position`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vjepa2_ros.data.messages import (  # noqa: F401 (the parsing half, re-exported for nodes)
    _ENCODINGS,
    ACTION_NAMES,
    COLOUR_ENCODINGS,
    STATE_NAMES,
    ImageEncodingError,
    diagnostic_values,
    image_to_array,
    msg_to_latent,
    msg_to_motion,
    msg_to_vector,
    named_values,
    rgb_from_image,
    rgb_from_image_checked,
    stamp_to_sec,
)


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


def sec_to_stamp(seconds: float):
    """float seconds -> builtin_interfaces/Time (nanosecond resolution)."""
    from builtin_interfaces.msg import Time

    ns = round(seconds * 1e9)
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


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

    from vjepa2_ros.pose.arrays import quaternion_xyzw

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


def tf_publisher(node):
    """A /tf publisher where tf2_msgs is installed (a ROS 2 install), else None (logged once)."""
    try:
        from tf2_msgs.msg import TFMessage
    except ImportError:
        node.get_logger().info("tf2_msgs is not installed: no /tf (the pose is on /franka/ee_pose)")
        return None
    return node.create_publisher(TFMessage, "/tf", 10)


def ee_transform(state, stamp, parent: str, child: str):
    """tf2_msgs/TFMessage with the end effector's pose as parent -> child."""
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage

    from vjepa2_ros.pose.arrays import quaternion_xyzw

    t = TransformStamped()
    t.header.stamp, t.header.frame_id, t.child_frame_id = stamp, parent, child
    tr, rot = t.transform.translation, t.transform.rotation
    tr.x, tr.y, tr.z = (float(v) for v in state[:3])
    rot.x, rot.y, rot.z, rot.w = (float(v) for v in quaternion_xyzw(state))
    return TFMessage(transforms=[t])


def diagnostics_msg(name: str, level: int, message: str, hardware_id: str, values, stamp):
    """A DiagnosticArray with one status; `values` maps keys to values (str() each)."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id)
    status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
    msg = DiagnosticArray(status=[status])
    msg.header.stamp = stamp
    return msg
