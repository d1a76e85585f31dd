"""Recording and evaluation throughput on this machine: BagWriter MB/s, read + evaluate time.

    python bench/eval_io.py [--frames 300] [--size 256]

Writes a bag like a 30 Hz camera run (rgb8 frames, actions, planner and bridge diagnostics,
ground truth at 10 Hz), then times read_bag + evaluate_bag + write_report.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "test"))

from test_eval import T0, S, _bridge, _image, _planner, _pose, _vector

from vjepa2_ros import interfaces as names
from vjepa2_ros.data import topics as T
from vjepa2_ros.data.bag import BagWriter, read_bag, typestore
from vjepa2_ros.evaluation.episodes import EVAL_READ_TOPICS, REQUIRED_TOPICS, evaluate_bag
from vjepa2_ros.evaluation.report import write_report
from vjepa2_ros.nodes.conversions import ACTION_NAMES, STATE_NAMES


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    store = typestore()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        bag_path = Path(tmp) / "bench"
        pixels = rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)
        msg = _image(T0, (0, 0, 0))
        msg.height = msg.width = args.size
        msg.step = 3 * args.size
        msg.data = pixels.reshape(-1)
        frame = store.serialize_cdr(msg, T.IMAGE)
        t_start = time.perf_counter()
        with BagWriter(bag_path, flush_period_s=1.0) as w:
            for topic in T.EVAL_TOPICS:
                w.add_topic(topic, T.EVAL_TOPICS[topic])
            w.write_msg(names.GOAL_INDEX, T0, store.types["std_msgs/msg/Int32"](data=0))
            for i in range(args.frames):
                t = T0 + i * S // 30
                w.write(names.CAMERA_IMAGE, t, frame)
                if i % 3 == 0:
                    k = i // 3
                    w.write_msg(names.PLANNER_DIAGNOSTICS, t, _planner(t, k, 0, 1.0 / (k + 1), 90))
                    w.write_msg(names.ACTION, t, _vector(t, ACTION_NAMES, [0.01] * 7))
                    w.write_msg(names.EE_STATE, t, _vector(t, STATE_NAMES, [0.5] * 7))
                    w.write_msg(names.DIAGNOSTICS, t, _bridge(t, "", k, 0))
                    w.write_msg(names.SIM_GROUND_TRUTH, t, _vector(t, *_pose("ee", (0.5, 0, 0.3))))
            w.write_msg(names.SIM_GOAL_TRUTH, T0, _vector(T0, *_pose("ee", (0.5, 0, 0.3))))
        t_write = time.perf_counter() - t_start
        size_mb = sum(p.stat().st_size for p in bag_path.iterdir()) / 1e6
        t0 = time.perf_counter()
        bag = read_bag(bag_path, EVAL_READ_TOPICS, required=REQUIRED_TOPICS)
        t_read = time.perf_counter() - t0
        t0 = time.perf_counter()
        episode = evaluate_bag(bag)
        t_eval = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_report(Path(tmp) / "report", [episode])
        t_report = time.perf_counter() - t0
    n = sum(bag.counts.values())
    print(f"bag: {n} messages, {args.frames} frames {args.size}x{args.size}, {size_mb:.1f} MB")
    print(f"write: {t_write:.2f} s ({size_mb / t_write:.0f} MB/s, {n / t_write:.0f} msg/s)")
    print(
        f"read_bag: {t_read:.2f} s; evaluate_bag: {t_eval * 1e3:.1f} ms; report: {t_report:.2f} s"
    )


if __name__ == "__main__":
    main()
