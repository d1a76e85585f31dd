"""Camera rate and physics real-time factor, both at once, in one process like sim_camera.

    PYTHONPATH=$PWD python bench/sim.py [--seconds 10] [--fps 4] [--size 256]

Renders in a loop paced at --fps (render worker process) while franky drives the arm back and
forth, and prints render latency p50/p95, the achieved camera rate and the real-time factor.
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=4.0)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()

    import franky

    from vjepa2_ros.compute import thread_scheduling_kept
    from vjepa2_ros.sim.cell import SimCell
    from vjepa2_ros.sim.config import CameraConfig, SimConfig

    host = f"127.0.{random.randint(1, 250)}.{random.randint(10, 250)}"
    cam = CameraConfig(width=args.size, height=args.size, fps=min(args.fps, 15.0))
    with SimCell(SimConfig(host=host, camera=cam)) as cell:
        with thread_scheduling_kept():  # the measuring thread stays an ordinary one
            robot = franky.Robot(host, realtime_config=franky.RealtimeConfig.Ignore)
        robot.relative_dynamics_factor = 0.2
        stop = threading.Event()

        def drive() -> None:  # keep the controller busy: the physics thread does real work
            sign = 1.0
            while not stop.is_set():
                robot.move(
                    franky.CartesianMotion(
                        franky.Affine([0.0, 0.05 * sign, 0.0]), franky.ReferenceType.Relative
                    )
                )
                sign = -sign

        driver = threading.Thread(target=drive, daemon=True)
        if not os.environ.get("BENCH_NO_DRIVE"):
            driver.start()
        latencies, rtfs = [], []
        sim0, wall0 = cell.sim_time, time.perf_counter()
        period = 1.0 / args.fps
        next_t = wall0
        while time.perf_counter() - wall0 < args.seconds:
            t = time.perf_counter()
            cell.render()
            latencies.append(time.perf_counter() - t)
            rtfs.append(cell.realtime_factor)
            next_t += period
            time.sleep(max(0.0, next_t - time.perf_counter()))
        wall = time.perf_counter() - wall0
        rtf = (cell.sim_time - sim0) / wall
        stop.set()
        if driver.is_alive():
            driver.join(timeout=5)
    lat = np.array(latencies) * 1000
    print(f"machine: {os.cpu_count()} CPUs; camera {args.size}x{args.size}, target {args.fps} Hz")
    print(
        f"render latency p50 {np.percentile(lat, 50):.1f} ms, p95 {np.percentile(lat, 95):.1f} ms"
    )
    print(f"camera rate achieved {len(lat) / wall:.2f} Hz ({len(lat)} frames in {wall:.1f} s)")
    print(f"real-time factor {rtf:.3f} over the run (min of 2 s windows {np.nanmin(rtfs):.3f})")


if __name__ == "__main__":
    main()
