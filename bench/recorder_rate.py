"""Recorder node throughput over real Fast DDS: camera frames published vs recorded.

    python bench/recorder_rate.py [--frames 300] [--size 256] [--hz 30]

Publishes rgb8 frames on /camera/image_raw at --hz (0: as fast as possible) to an in-process
RecorderNode and reports how many reached the bag and the achieved rate.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", "91")


def main() -> None:
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from vjepa2_ros import interfaces as names
    from vjepa2_ros.data.bag import read_bag
    from vjepa2_ros.nodes.conversions import image_from_array
    from vjepa2_ros.nodes.recorder import RecorderNode

    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--hz", type=float, default=30.0)
    args = parser.parse_args()
    ctx = Context()
    rclpy.init(context=ctx)
    executor = MultiThreadedExecutor(num_threads=2, context=ctx)
    with tempfile.TemporaryDirectory() as tmp:
        recorder = RecorderNode(
            context=ctx,
            parameter_overrides={
                "output_dir": tmp,
                "bag_name": "b",
                "topics": [names.CAMERA_IMAGE],
            },
        )
        talker = Node("bench_camera", context=ctx)
        pub = talker.create_publisher(
            Image, names.CAMERA_IMAGE, QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        )
        for node in (recorder, talker):
            executor.add_node(node)
        thread = threading.Thread(target=executor.spin, daemon=True)
        thread.start()
        while pub.get_subscription_count() < 1:
            time.sleep(0.01)
        pixels = np.random.default_rng(0).integers(0, 256, (args.size, args.size, 3), np.uint8)
        msg = image_from_array(pixels, "rgb8")
        t0 = time.perf_counter()
        for i in range(args.frames):
            pub.publish(msg)
            if args.hz > 0:
                time.sleep(max(0.0, t0 + (i + 1) / args.hz - time.perf_counter()))
        deadline = time.perf_counter() + 10
        while (
            recorder.counts.get(names.CAMERA_IMAGE, 0) < args.frames
            and time.perf_counter() < deadline
        ):
            time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        got = recorder.counts.get(names.CAMERA_IMAGE, 0)
        recorder.close()
        on_disk = len(read_bag(Path(tmp) / "b").messages[names.CAMERA_IMAGE])
        executor.shutdown()
        rclpy.shutdown(context=ctx)
    mb = args.frames * pixels.nbytes / 1e6
    print(
        f"{args.frames} frames {args.size}x{args.size} rgb8 at {args.hz:g} Hz: recorded {got}, "
        f"in the bag {on_disk}; {got / elapsed:.1f} frames/s, {mb / elapsed:.1f} MB/s"
    )


if __name__ == "__main__":
    main()
