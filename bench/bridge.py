"""Action-to-motion-start latency of the Franka bridge against franky-sim.

Starts franky-sim (plain FR3) in its own process, builds the real franka_bridge node in-process
(real rclpy/DDS), publishes N small actions on /vjepa2/action and, for each, measures the time
from publishing to the first /franka/ee_state sample whose position moved > 0.5 mm. Prints
p50/p95 (ms). Usage: python bench/bridge.py [--n 20] [--host 127.0.0.N]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time

import numpy as np

MOVE_M = 0.0005  # motion start: the end effector moved more than this


def start_sim(host: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "franky_sim.run_server", "-s", "mujoco", "--hostname", host],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in proc.stdout:
        if "Connect to the server" in line:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc
    raise RuntimeError("franky-sim did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--host", default=f"127.0.0.{random.SystemRandom().randint(10, 250)}")
    args = parser.parse_args()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

    import rclpy
    from rclpy.context import Context
    from rclpy.executors import MultiThreadedExecutor
    from sensor_msgs.msg import JointState

    from vjepa2_ros.nodes.conversions import ACTION_NAMES, vector_to_msg
    from vjepa2_ros.nodes.franka_bridge import FrankaBridgeNode

    sim = start_sim(args.host)
    ctx = Context()
    rclpy.init(context=ctx)
    executor = MultiThreadedExecutor(num_threads=4, context=ctx)
    bridge = None
    try:
        bridge = FrankaBridgeNode(
            context=ctx, parameter_overrides={"robot_ip": args.host, "use_sim": True}
        )
        probe = rclpy.create_node("bridge_bench", context=ctx)
        samples: list[tuple[float, np.ndarray]] = []
        probe.create_subscription(
            JointState,
            "/franka/ee_state",
            lambda m: samples.append((time.perf_counter(), np.asarray(m.position[:3]))),
            100,
        )
        pub = probe.create_publisher(JointState, "/vjepa2/action", 10)
        executor.add_node(bridge)
        executor.add_node(probe)
        threading.Thread(target=executor.spin, daemon=True).start()
        deadline = time.monotonic() + 20
        while (not samples or pub.get_subscription_count() == 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        latencies = []
        for i in range(args.n):
            time.sleep(1.0)  # let the previous motion finish
            before = samples[-1][1]
            sign = 1.0 if i % 2 == 0 else -1.0
            t0 = time.perf_counter()
            pub.publish(
                vector_to_msg(
                    [0.0, sign * 0.02, 0, 0, 0, 0, 0], ACTION_NAMES, probe.get_clock().now()
                )
            )
            while time.perf_counter() - t0 < 3.0:
                moved = [
                    t for t, p in samples[-20:] if t > t0 and np.abs(p - before).max() > MOVE_M
                ]
                if moved:
                    latencies.append((moved[0] - t0) * 1e3)
                    break
                time.sleep(0.001)
        lat = np.array(latencies)
        print(
            f"franka_bridge action -> motion start (> {MOVE_M * 1e3:.1f} mm), franky-sim, "
            f"{len(lat)}/{args.n} actions, state at {bridge.config.state_rate_hz:.0f} Hz"
        )
        print(
            f"  p50 {np.percentile(lat, 50):.1f} ms  p95 {np.percentile(lat, 95):.1f} ms  "
            f"max {lat.max():.1f} ms; rejected {bridge.actions_rejected} "
            f"(last: {bridge.safety_event or '-'}), failed state reads "
            f"{bridge.monitor.failures}; load average {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} cores"
        )
    finally:
        executor.shutdown(timeout_sec=2)
        if bridge is not None:
            bridge.destroy_node()  # releases the robot connection before the sim goes
        rclpy.shutdown(context=ctx)
        sim.terminate()
        try:
            sim.wait(5)
        except subprocess.TimeoutExpired:
            sim.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
