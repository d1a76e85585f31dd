"""camera_encoder over real DDS with the small model: encodings, stamps, goal latents, keep-latest."""

import numpy as np
import pytest
import torch
from sensor_msgs.msg import Image

from vjepa2_ros import interfaces as names
from vjepa2_ros.model.presets import spec_from_name
from vjepa2_ros.model.world_model import WorldModel
from vjepa2_ros.nodes.camera_encoder import CameraEncoderNode
from vjepa2_ros.nodes.conversions import image_from_array, msg_to_latent
from vjepa2_ros.nodes.qos import LATCHED

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def small_model():
    return WorldModel.build(spec_from_name("small"), "cpu", torch.float32, seed=0)


def test_encodings_stamps_goal_latent_and_bad_encoding(ros, small_model):
    encoder = ros.add(CameraEncoderNode(context=ros.context, world_model=small_model))
    probe = ros.node("probe")
    latents, goals = [], []
    probe.create_subscription(Image, names.LATENT, latents.append, 10)
    probe.create_subscription(Image, names.GOAL_LATENT, goals.append, LATCHED)
    cam = probe.create_publisher(Image, names.CAMERA_IMAGE, 10)
    goal_pub = probe.create_publisher(Image, names.GOAL_IMAGE, LATCHED)
    ros.wait_for(lambda: cam.get_subscription_count() > 0, what="discovery")

    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    expected = small_model.encode(rgb[None])[0].detach().numpy()
    n, d = small_model.tokens_per_frame, small_model.embed_dim
    variants = [
        image_from_array(rgb, "rgb8"),
        image_from_array(rgb[..., ::-1].copy(), "bgr8"),
        image_from_array(np.concatenate([rgb, np.full((96, 128, 1), 255, np.uint8)], -1), "rgba8"),
    ]
    for k, msg in enumerate(variants):
        msg.header.stamp.sec = 100 + k
        cam.publish(msg)
        ros.wait_for(lambda k=k: len(latents) == k + 1, what=f"latent {k}")
        got = latents[-1]
        assert got.encoding == "32FC1" and (got.height, got.width) == (n, d)
        assert got.header.stamp.sec == 100 + k  # the source image's stamp
        np.testing.assert_allclose(msg_to_latent(got), expected, atol=1e-5)

    bad = image_from_array(np.zeros((8, 8), np.uint8), "mono8")
    cam.publish(bad)
    ros.wait_for(lambda: encoder.encoding_errors == 1, what="encoding error")
    assert len(latents) == 3

    goal_pub.publish(image_from_array(rgb, "rgb8"))
    ros.wait_for(lambda: goals, what="goal latent")
    np.testing.assert_allclose(msg_to_latent(goals[-1]), expected, atol=1e-5)


def test_keep_latest_drops_frames_instead_of_queueing(ros, small_model):
    encoder = ros.add(CameraEncoderNode(context=ros.context, world_model=small_model))
    probe = ros.node("flood")
    latents = []
    probe.create_subscription(Image, names.LATENT, latents.append, 100)
    cam = probe.create_publisher(Image, names.CAMERA_IMAGE, 100)
    ros.wait_for(lambda: cam.get_subscription_count() > 0, what="discovery")
    frame = image_from_array(np.zeros((256, 256, 3), np.uint8), "rgb8")
    for k in range(60):
        frame.header.stamp.nanosec = k
        cam.publish(frame)
    ros.wait_for(lambda: latents and latents[-1].header.stamp.nanosec == 59, what="newest frame")
    assert encoder.frames_dropped > 0
    assert encoder.frames_encoded + encoder.frames_dropped <= 60
    assert encoder.frames_encoded < 60
