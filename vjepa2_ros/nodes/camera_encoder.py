"""camera_encoder: camera frames and goal images -> V-JEPA 2 latents.

Keep-latest: the camera callback only stores the newest frame; a worker thread encodes whatever
is newest when it is free, so a slow encoder drops frames instead of queueing them. Goal images
take priority over camera frames. Latents go out as 32FC1 images (tokens x channels) stamped with
the source image's stamp, so the planner can tell how old its observation is. Frames captured
while the arm moves (/franka/motion) are dropped unencoded with `skip_while_moving`: the planner
only plans on frames captured after the arm settled. A frame byte-identical to the previous one
(a still simulated scene; never a real sensor) gets the previous latent with its own stamp.
"""

from __future__ import annotations

import threading

import numpy as np
import torch
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, TimeReference

from vjepa2_ros import interfaces as names
from vjepa2_ros.compute import lower_priority, set_torch_threads
from vjepa2_ros.graph import node_spec
from vjepa2_ros.model.checkpoint import world_model_from_config
from vjepa2_ros.model.config import CameraEncoderConfig
from vjepa2_ros.nodes.conversions import (
    COLOUR_ENCODINGS,
    latent_to_msg,
    msg_to_motion,
    rgb_from_image,
)
from vjepa2_ros.nodes.entrypoint import spin_node
from vjepa2_ros.nodes.params import declare_config
from vjepa2_ros.nodes.qos import LATCHED

ENCODING_ERROR_LOG_PERIOD_S = 5.0


class CameraEncoderNode(Node):
    config_class = CameraEncoderConfig  # its parameters (entrypoint checks parameter files)

    def __init__(self, *, parameter_overrides: dict | None = None, world_model=None, **kwargs):
        super().__init__("camera_encoder", **kwargs)
        self.config = declare_config(self, CameraEncoderConfig, parameter_overrides)
        lower_priority(self.config.nice)
        set_torch_threads(self.config.torch_threads)
        self.model = (
            world_model
            if world_model is not None
            else world_model_from_config(self.config.model, parts=("encoder",))
        )
        self.model.eval()
        self.frames_encoded = 0
        self.frames_dropped = 0
        self.frames_skipped_moving = 0
        self.frames_reused = 0  # byte-identical to the previous frame: its latent republished
        self._last: tuple | None = None  # (frame key, latent) of the newest encoded frame
        self._moving = False  # newest /franka/motion says the arm moves
        self.encoding_errors = 0
        self._cv = threading.Condition()
        self._frame: Image | None = None
        self._goal: Image | None = None
        self._stop = False

        self._latent_pub = self.create_publisher(Image, names.LATENT, 1)
        self._goal_latent_pub = self.create_publisher(Image, names.GOAL_LATENT, LATCHED)
        self.create_subscription(Image, names.CAMERA_IMAGE, self._on_frame, qos_profile_sensor_data)
        self.create_subscription(Image, names.GOAL_IMAGE, self._on_goal, LATCHED)
        if self.config.skip_while_moving:
            self.create_subscription(TimeReference, names.MOTION, self._on_motion, LATCHED)
        self._worker = threading.Thread(target=self._run, name="camera-encoder", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"encoding {names.CAMERA_IMAGE} with preset {self.config.model.preset} on "
            f"{self.config.model.device} ({self.config.model.dtype})"
        )
        self._started = True

    # Callbacks only validate and store: never encode in the executor's thread.
    def _on_motion(self, msg: TimeReference) -> None:
        self._moving = msg_to_motion(msg).outcome == "moving"

    def _on_frame(self, msg: Image) -> None:
        if not self._check_encoding(msg, names.CAMERA_IMAGE):
            return
        if self._moving:
            self.frames_skipped_moving += 1
            return
        with self._cv:
            if self._frame is not None:
                self.frames_dropped += 1
            self._frame = msg
            self._cv.notify()

    def _on_goal(self, msg: Image) -> None:
        if not self._check_encoding(msg, names.GOAL_IMAGE):
            return
        with self._cv:
            self._goal = msg
            self._cv.notify()

    def _check_encoding(self, msg: Image, topic: str) -> bool:
        if msg.encoding in COLOUR_ENCODINGS and msg.width and msg.height:
            return True
        self.get_logger().error(
            f"{topic}: a {msg.width}x{msg.height} {msg.encoding!r} image cannot be encoded: publish "
            f"non-empty images in one of {', '.join(COLOUR_ENCODINGS)} (e.g. set the camera "
            "driver's color format to rgb8)",
            throttle_duration_sec=ENCODING_ERROR_LOG_PERIOD_S,
        )
        self.encoding_errors += 1
        return False

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(
                    lambda: self._stop or self._goal is not None or self._frame is not None
                )
                if self._stop:
                    return
                goal, self._goal = self._goal, None
                frame = None
                if goal is None:
                    frame, self._frame = self._frame, None
            msg = goal if goal is not None else frame
            key = (msg.encoding, msg.width, msg.height, bytes(msg.data))
            if goal is None and self._last is not None and self._last[0] == key:
                latent = self._last[1]  # the very same picture (a still scene in the sim)
                self.frames_reused += 1
            else:
                try:
                    latent = self.encode(rgb_from_image(msg))
                except Exception as exc:  # keep the node up; the planner sees stale latents
                    self.get_logger().error(f"encoding failed: {exc}")
                    continue
                if goal is None:
                    self._last = (key, latent)
            out = latent_to_msg(latent, stamp=msg.header.stamp, frame_id=msg.header.frame_id)
            if goal is not None:
                self._goal_latent_pub.publish(out)
                self.get_logger().info("goal latent published")
            else:
                self._latent_pub.publish(out)
                self.frames_encoded += 1

    @torch.inference_mode()
    def encode(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> [tokens, channels] float32 latent (layer-normalised)."""
        device = self.model.device
        frames = torch.from_numpy(np.ascontiguousarray(rgb))[None].to(device)
        return self.model.encode(frames)[0].float().cpu().numpy()

    def destroy_node(self) -> None:
        if not getattr(self, "_started", False):  # construction failed half-way
            return super().destroy_node()
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self._worker.join(timeout=10)
        super().destroy_node()


def main(args=None) -> None:
    spin_node(CameraEncoderNode, node_spec("camera_encoder").files, "camera_encoder", args)
