"""sim_camera: owns the simulated Franka cell (franky-sim server on `host`) and publishes its
exterior camera, camera info and ground truth; `/sim/reset` re-randomises the scene."""

from __future__ import annotations

import threading

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_srvs.srv import Trigger

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

    def __init__(self, **kwargs) -> None:
        overrides = kwargs.pop("parameter_overrides", None) or {}
        super().__init__(NODE_NAME, **kwargs)
        self.config: SimConfig = declare_config(self, SimConfig, overrides)
        self.cell = SimCell(self.config).start()
        self.get_logger().info(
            f"franky-sim FR3 up on {self.cell.host}; camera "
            f"{self.config.camera.width}x{self.config.camera.height} at {self.config.camera.fps} Hz"
        )
        qos = QoSProfile(depth=QOS_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.create_publisher(Image, "/camera/image_raw", qos)
        self.info_pub = self.create_publisher(CameraInfo, "/camera/camera_info", qos)
        self.truth_pub = self.create_publisher(JointState, "/sim/ground_truth", qos)
        self._reset_lock = threading.Lock()
        self.reset_srv = self.create_service(
            Trigger, "/sim/reset", self._on_reset, callback_group=MutuallyExclusiveCallbackGroup()
        )
        self.timer = self.create_timer(
            1.0 / self.config.camera.fps,
            self._on_timer,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        self.frames = 0

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

    def _on_timer(self) -> None:
        with self._reset_lock:
            stamp = self.get_clock().now()  # capture time: the state the frame shows
            truth = self.cell.ground_truth()
            image = self.cell.render()
        msg = image_from_array(image, "rgb8", frame_id=self.config.camera.frame_id, stamp=stamp)
        self.image_pub.publish(msg)
        self.info_pub.publish(self._camera_info_msg(msg.header))
        self.truth_pub.publish(
            vector_to_msg(
                ground_truth_vector(truth), GROUND_TRUTH_NAMES, stamp=stamp, frame_id="base"
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

    def destroy_node(self):
        self.timer.cancel()  # no render after the cell stops
        with self._reset_lock:  # ... and wait for one in flight
            self.cell.stop()
        return super().destroy_node()


def main(args=None) -> None:
    spin_node(SimCameraNode, "sim.yaml", NODE_NAME, args)


if __name__ == "__main__":
    main()
