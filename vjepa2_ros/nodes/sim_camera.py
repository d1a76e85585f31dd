"""sim_camera: owns the simulated Franka cell (franky-sim server on `host`) and publishes its
exterior camera, camera info and ground truth; `/sim/reset` re-randomises the objects (next
seed), and setting the `seed` parameter (`ros2 param set /sim_camera seed 7`) places them from
that seed. The arm is never moved by a reset (the robot's guards would see a teleport).

Goal images from the sim: a named vector on /sim/render_goal (arm pose `x y z roll pitch yaw`,
optional `gripper`, optional object positions `cup.x cup.y cup.z` / `box.*`) is rendered without
disturbing the live scene and published on /vjepa2/goal/add, as a user's script would send it.
/sim/camera_enable (SetBool) pauses the camera while physics runs on: a camera dropout on demand.
"""

from __future__ import annotations

import threading

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_srvs.srv import SetBool, Trigger

from vjepa2_ros import interfaces as names
from vjepa2_ros.nodes.conversions import image_from_array, vector_to_msg
from vjepa2_ros.nodes.entrypoint import spin_node
from vjepa2_ros.nodes.params import declare_config
from vjepa2_ros.sim.cell import SimCell
from vjepa2_ros.sim.config import SimConfig

NODE_NAME = "sim_camera"
BODIES = ("ee", "cup", "box")
FIELDS = ("x", "y", "z", "qw", "qx", "qy", "qz")
GROUND_TRUTH_NAMES = (*(f"{b}.{f}" for b in BODIES for f in FIELDS), "ee.gripper")
QOS_DEPTH = 5
ARM_POSE_NAMES = ("x", "y", "z", "roll", "pitch", "yaw")


def parse_goal_request(keys, values):
    """(arm_pose or None, gripper or None, {object: [x y z]}) from a named goal vector."""
    if len(keys) != len(values):
        raise ValueError(f"{len(keys)} names but {len(values)} values")
    named = dict(zip(keys, (float(v) for v in values)))
    unknown = (
        set(named) - {*ARM_POSE_NAMES, "gripper"} - {f"{b}.{a}" for b in BODIES[1:] for a in "xyz"}
    )
    if unknown:
        raise ValueError(
            f"unknown names {sorted(unknown)}: use x y z roll pitch yaw [gripper] and/or "
            "cup.x cup.y cup.z, box.x box.y box.z"
        )
    arm = [named[k] for k in ARM_POSE_NAMES if k in named]
    if arm and len(arm) != len(ARM_POSE_NAMES):
        raise ValueError("an arm pose needs all of x y z roll pitch yaw")
    objects = {b: [named[f"{b}.{a}"] for a in "xyz"] for b in BODIES[1:] if f"{b}.x" in named}
    return (arm or None), named.get("gripper"), objects


def ground_truth_vector(truth: dict) -> list[float]:
    """SimCell.ground_truth() in the order of GROUND_TRUTH_NAMES."""
    values: list[float] = []
    for body in BODIES:
        pos, quat = truth[body]
        values += [*pos, *quat]
    return [*values, truth["ee.gripper"]]


class SimCameraNode(Node):
    """Renders at `camera.fps` (render worker process; the timer waits without the GIL) and
    publishes /camera/image_raw (rgb8), /camera/camera_info and /sim/ground_truth."""

    config_class = SimConfig  # its parameters (entrypoint checks parameter files)

    def __init__(self, **kwargs) -> None:
        overrides = kwargs.pop("parameter_overrides", None) or {}
        super().__init__(NODE_NAME, **kwargs)
        self.config: SimConfig = declare_config(
            self, SimConfig, overrides, live={"seed": self._on_seed}
        )
        self.cell = SimCell(self.config).start()
        self.get_logger().info(
            f"franky-sim FR3 up on {self.cell.host}; camera "
            f"{self.config.camera.width}x{self.config.camera.height} at {self.config.camera.fps} Hz"
        )
        qos = QoSProfile(depth=QOS_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.create_publisher(Image, names.CAMERA_IMAGE, qos)
        self.info_pub = self.create_publisher(CameraInfo, names.CAMERA_INFO, qos)
        self.truth_pub = self.create_publisher(JointState, names.SIM_GROUND_TRUTH, qos)
        self._reset_lock = threading.Lock()
        self.reset_srv = self.create_service(
            Trigger,
            names.SIM_RESET,
            self._on_reset,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        self.goal_pub = self.create_publisher(Image, names.GOAL_ADD, qos)
        self.create_subscription(
            JointState,
            names.SIM_RENDER_GOAL,
            self._on_render_goal,
            qos,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        self.camera_enabled = True
        self.create_service(SetBool, names.SIM_CAMERA_ENABLE, self._on_camera_enable)
        self.timer = self.create_timer(
            1.0 / self.config.camera.fps,
            self._on_timer,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        self.frames = 0
        self._started = True

    def _camera_info_msg(self, header) -> CameraInfo:
        info = self.cell.camera_info()
        msg = CameraInfo()
        msg.header = header
        msg.width, msg.height = info["width"], info["height"]
        msg.distortion_model = "plumb_bob"
        msg.d = [0.0] * 5
        msg.k = info["K"]
        msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        k = info["K"]
        msg.p = [k[0], 0.0, k[2], 0.0, 0.0, k[4], k[5], 0.0, 0.0, 0.0, 1.0, 0.0]
        return msg

    def _on_camera_enable(self, request, response):
        self.camera_enabled = bool(request.data)
        response.success = True
        response.message = "camera " + ("publishing" if self.camera_enabled else "paused")
        self.get_logger().warning(response.message)
        return response

    def _on_render_goal(self, msg: JointState) -> None:
        """Render the requested goal scene and publish it as a sub-goal image."""
        try:
            arm_pose, gripper, objects = parse_goal_request(msg.name, msg.position)
            with self._reset_lock:
                image = self.cell.render_goal(arm_pose=arm_pose, gripper=gripper, objects=objects)
        except ValueError as exc:
            self.get_logger().error(f"{names.SIM_RENDER_GOAL}: {exc}")
            return
        self.goal_pub.publish(
            image_from_array(
                image, "rgb8", frame_id=self.config.camera.frame_id, stamp=self.get_clock().now()
            )
        )

    def _on_timer(self) -> None:
        if not self.camera_enabled:
            return
        with self._reset_lock:
            stamp = self.get_clock().now()  # capture time: the state the frame shows
            truth = self.cell.ground_truth()
            image = self.cell.render()
        msg = image_from_array(image, "rgb8", frame_id=self.config.camera.frame_id, stamp=stamp)
        self.image_pub.publish(msg)
        self.info_pub.publish(self._camera_info_msg(msg.header))
        self.truth_pub.publish(
            vector_to_msg(
                ground_truth_vector(truth),
                GROUND_TRUTH_NAMES,
                stamp=stamp,
                frame_id=names.BASE_FRAME,
            )
        )
        self.frames += 1

    def _on_reset(self, request, response):
        try:
            with self._reset_lock:
                seed = self.cell.reset()
        except Exception as exc:
            response.success, response.message = False, f"reset failed: {exc}"
            return response
        response.success, response.message = True, f"scene re-randomised with seed {seed}"
        self.get_logger().info(response.message)
        return response

    def _on_seed(self, config: SimConfig) -> str | None:
        """`seed` set live: place the objects from it now."""
        try:
            with self._reset_lock:
                self.cell.reset(config.seed)
        except Exception as exc:
            return f"reset to seed {config.seed} failed: {exc}"
        self.get_logger().info(f"objects placed from seed {config.seed}")
        return None

    def destroy_node(self):
        if not getattr(self, "_started", False):  # construction failed half-way
            return super().destroy_node()
        self.timer.cancel()  # no render after the cell stops
        with self._reset_lock:  # ... and wait for one in flight
            self.cell.stop()
        return super().destroy_node()


def main(args=None) -> None:
    spin_node(SimCameraNode, "sim.yaml", NODE_NAME, args)


if __name__ == "__main__":
    main()
