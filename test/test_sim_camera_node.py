"""sim_camera over real rclpy/Fast DDS: image, camera info and ground truth arrive; reset works."""

from __future__ import annotations

import numpy as np
import pytest
from franky_sim_server import free_loopback_host

pytestmark = [pytest.mark.ros, pytest.mark.sim]


def test_sim_camera_publishes_and_resets(ros):
    from sensor_msgs.msg import CameraInfo, Image, JointState
    from std_srvs.srv import Trigger

    from vjepa2_ros.nodes.conversions import image_to_array, msg_to_vector
    from vjepa2_ros.nodes.sim_camera import GROUND_TRUTH_NAMES, SimCameraNode
    from vjepa2_ros.sim.scene import object_poses

    host = free_loopback_host()
    node = ros.add(
        SimCameraNode(
            context=ros.context,
            parameter_overrides={"host": host, "seed": 11, "camera.fps": 8.0},
        )
    )
    assert node.cell.host == host
    listener = ros.node("sim_listener")
    got = {"image": [], "info": [], "truth": []}
    listener.create_subscription(Image, "/camera/image_raw", got["image"].append, 5)
    listener.create_subscription(CameraInfo, "/camera/camera_info", got["info"].append, 5)
    listener.create_subscription(JointState, "/sim/ground_truth", got["truth"].append, 5)
    ros.wait_for(lambda: all(len(v) >= 2 for v in got.values()), timeout=20, what="sim topics")

    img = got["image"][-1]
    assert (img.encoding, img.width, img.height, img.header.frame_id) == (
        "rgb8",
        256,
        256,
        "sim_camera",
    )
    pixels = image_to_array(img)
    assert pixels.std() > 10  # a real scene, not a blank frame
    info = got["info"][-1]
    assert info.k[0] == pytest.approx(node.cell.camera_info()["K"][0])
    assert (info.k[2], info.k[5]) == (128.0, 128.0)

    truth = msg_to_vector(got["truth"][-1], GROUND_TRUTH_NAMES)
    named = dict(zip(GROUND_TRUTH_NAMES, truth))
    cup = object_poses(11, node.config.objects)["cup"][0]
    np.testing.assert_allclose([named["cup.x"], named["cup.y"]], cup[:2], atol=5e-3)
    assert named["ee.z"] > 0.3 and named["ee.gripper"] == pytest.approx(0.08, abs=2e-3)
    q = np.array([named[f"ee.{f}"] for f in ("qw", "qx", "qy", "qz")])
    assert np.linalg.norm(q) == pytest.approx(1.0, abs=1e-6)

    client = listener.create_client(Trigger, "/sim/reset")
    assert client.wait_for_service(timeout_sec=10)
    future = client.call_async(Trigger.Request())
    ros.wait_for(future.done, timeout=15, what="reset response")
    assert future.result().success and "seed 12" in future.result().message
    cup12 = object_poses(12, node.config.objects)["cup"][0]
    n = len(got["truth"])
    ros.wait_for(lambda: len(got["truth"]) >= n + 2, timeout=10, what="truth after reset")
    named = dict(zip(GROUND_TRUTH_NAMES, msg_to_vector(got["truth"][-1], GROUND_TRUTH_NAMES)))
    np.testing.assert_allclose([named["cup.x"], named["cup.y"]], cup12[:2], atol=5e-3)
