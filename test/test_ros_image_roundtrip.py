"""Real rclpy over Fast DDS: an rgb8 image crosses between two nodes bit-exactly."""

import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy

from vjepa2_ros.nodes.conversions import image_from_array, image_to_array

pytestmark = pytest.mark.ros


def test_rgb8_image_roundtrip_between_two_nodes(ros):
    from sensor_msgs.msg import Image

    talker = ros.node("roundtrip_talker")
    listener = ros.node("roundtrip_listener")
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    received: list[Image] = []
    listener.create_subscription(Image, "/test/image", received.append, qos)
    pub = talker.create_publisher(Image, "/test/image", qos)
    ros.wait_for(lambda: pub.get_subscription_count() == 1, what="discovery")

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    msg = image_from_array(pixels, "rgb8", frame_id="camera", stamp=talker.get_clock().now())
    pub.publish(msg)
    ros.wait_for(lambda: len(received) == 1, what="the image")

    got = received[0]
    assert (got.height, got.width, got.encoding, got.step) == (256, 256, "rgb8", 768)
    assert got.header.frame_id == "camera"
    np.testing.assert_array_equal(image_to_array(got), pixels)
