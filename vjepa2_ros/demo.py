"""`make demo`: the whole pipeline in simulation, on a laptop, ending by itself.

Runs the node graph of vjepa2_ros/graph.py in one process (the nodes and config files that
`ros2 launch vjepa2_ros pick_place.launch.py use_sim:=true` starts) plus a recorder, renders
image sub-goals in the sim, sends them to the goal server the way a user script would
(/vjepa2/goal/add), prints one progress line per planning cycle and writes a run folder with a
rosbag (MCAP), a summary and an evaluation report.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from vjepa2_ros import interfaces as names
from vjepa2_ros.config import from_mapping, load_yaml, require
from vjepa2_ros.nodes.conversions import diagnostic_values
from vjepa2_ros.nodes.qos import LATCHED

# Nodes that run as their own process, as under ros2 launch: the simulator's 1 kHz physics loop
# and the bridge's state stream must not wait for the planner's GIL.
PROCESSES = ("sim_camera", "franka_bridge")
RECOVER_PERIOD_S = 5.0  # at most one /franka/recover call per this many seconds


@dataclass
class DemoConfig:
    seed: int = 0
    task: str = "reach"
    subgoal_offsets: list[list[float]] = field(
        default_factory=lambda: [[0.0, 0.12, 0.0], [0.10, 0.0, -0.06]]
    )
    max_cycles_per_subgoal: int = 12
    energy_threshold: float = 0.09
    stable_cycles: int = 2
    ready_timeout_s: float = 120.0
    episode_timeout_s: float = 420.0
    run_dir: str = "runs"
    evaluate: bool = True
    torch_threads: int = 1  # leave the other core to the simulator's physics and camera
    overrides: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require(self.task == "reach", f"demo task {self.task!r} is not supported; use reach")
        require(len(self.subgoal_offsets) >= 2, "the demo needs at least 2 sub-goals")
        require(
            all(len(o) == 3 for o in self.subgoal_offsets),
            "each subgoal_offsets row is [dx, dy, dz] in metres",
        )
        require(self.max_cycles_per_subgoal >= 1, "max_cycles_per_subgoal must be >= 1")
        require(self.torch_threads >= 1, "torch_threads must be >= 1")


def load_demo_config(path: str = "demo.yaml") -> DemoConfig:
    return from_mapping(DemoConfig, load_yaml(path).get("demo", {}), f"{path}:demo")


def truth_msg(targets: dict[str, np.ndarray], stamp):
    """A /sim/goal_truth named vector: `ee.x ee.y ee.z` of the active sub-goal."""
    from vjepa2_ros.nodes.conversions import vector_to_msg

    keys, values = [], []
    for body, pos in targets.items():
        for axis, v in zip("xyz", pos):
            keys.append(f"{body}.{axis}")
            values.append(float(v))
    return vector_to_msg(values, keys, stamp=stamp, frame_id="base")


class Progress:
    """Prints one line per planning cycle from the planner's diagnostics."""

    def __init__(self, total_subgoals: int) -> None:
        self.total = total_subgoals
        self.lines = 0
        self.latencies_ms: list[float] = []
        self._last_skip = None
        self.t0 = time.monotonic()

    def on_diagnostics(self, msg) -> None:
        v = diagnostic_values(msg, names.PLANNER_STATUS_NAME)
        if v is None:
            return
        elapsed = time.monotonic() - self.t0
        sub = int(v.get("subgoal", -1))
        head = (
            f"[{elapsed:6.1f} s] cycle {v.get('cycle', '?'):>3} | sub-goal {sub + 1}/{self.total}"
        )
        if v.get("skipped"):
            if v["skipped"] != self._last_skip:
                print(f"{head} | skipped: {v['skipped']}", flush=True)
            self._last_skip = v["skipped"]
            return
        self._last_skip = None
        latency = float(v["latency_ms"])
        self.latencies_ms.append(latency)
        self.lines += 1
        print(
            f"{head} | energy {float(v['energy']):.4f} (best {float(v['best_energy']):.4f}) | "
            f"{latency:7.0f} ms | action {v.get('action', '')}",
            flush=True,
        )


def run(config: DemoConfig, out_root: Path) -> dict:
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import Bool, Int32
    from std_srvs.srv import Trigger

    from vjepa2_ros.nodes.conversions import STATE_NAMES, msg_to_vector, vector_to_msg
    from vjepa2_ros.nodes.params import node_parameters
    from vjepa2_ros.nodes.recorder import RecorderNode
    from vjepa2_ros.nodes.sim_camera import ARM_POSE_NAMES
    from vjepa2_ros.runner import GraphRunner

    run_dir = out_root / datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=False)
    overrides = {name: dict(values) for name, values in config.overrides.items()}
    overrides.setdefault("sim_camera", {})["seed"] = config.seed
    goal_overrides = overrides.setdefault("goal_server", {})
    goal_overrides.update(
        {
            "policy.energy_threshold": config.energy_threshold,
            "policy.stable_cycles": config.stable_cycles,
            "policy.max_cycles": config.max_cycles_per_subgoal,
        }
    )
    print(f"vjepa2_ros demo: run folder {run_dir}", flush=True)
    started = time.monotonic()
    with GraphRunner() as runner:
        recorder_params = node_parameters("recorder.yaml", "recorder")
        recorder_params.update(output_dir=str(run_dir), bag_name="bag")
        runner.add(
            "recorder",
            RecorderNode(context=runner.context, parameter_overrides=recorder_params),
        )
        runner.start_graph(use_sim=True, overrides=overrides, processes=PROCESSES)
        episode = runner.add("demo_episode", _episode_node(runner.context))
        progress = Progress(len(config.subgoal_offsets))
        seen = {"state": None, "latent": 0, "index": None, "done": False}
        episode.create_subscription(
            JointState, names.EE_STATE, lambda m: seen.__setitem__("state", m), 1
        )
        episode.create_subscription(
            Image, names.LATENT, lambda m: seen.__setitem__("latent", seen["latent"] + 1), 1
        )
        episode.create_subscription(
            Int32, names.GOAL_INDEX, lambda m: seen.__setitem__("index", m.data), LATCHED
        )
        done = threading.Event()
        episode.create_subscription(
            Bool, names.GOAL_DONE, lambda m: done.set() if m.data else None, LATCHED
        )
        from diagnostic_msgs.msg import DiagnosticArray

        episode.create_subscription(
            DiagnosticArray, names.PLANNER_DIAGNOSTICS, progress.on_diagnostics, 10
        )
        render_pub = episode.create_publisher(JointState, names.SIM_RENDER_GOAL, 10)
        bridge = {}  # newest franka_bridge diagnostics
        episode.create_subscription(
            DiagnosticArray,
            names.DIAGNOSTICS,
            lambda m: bridge.update(diagnostic_values(m, "franka_bridge") or {}),
            10,
        )
        recover = episode.create_client(Trigger, names.FRANKA_RECOVER)
        truth_pub = episode.create_publisher(JointState, names.SIM_GOAL_TRUTH, LATCHED)
        runner.spin_in_background()

        _wait(
            lambda: seen["state"] is not None and seen["latent"] > 0,
            config.ready_timeout_s,
            "camera latents and robot state",
        )
        print(f"graph ready after {time.monotonic() - started:.1f} s", flush=True)
        _wait(lambda: render_pub.get_subscription_count() > 0, 30.0, "the sim's goal renderer")
        start = msg_to_vector(seen["state"], STATE_NAMES)
        targets = []
        for k, offset in enumerate(config.subgoal_offsets):
            target = start[:6].copy()
            target[:3] += np.asarray(offset)
            targets.append(target[:3])
            # The sim renders the scene with the arm at the target and sends it to the goal
            # server on /vjepa2/goal/add, as a user's script would.
            render_pub.publish(vector_to_msg(target, ARM_POSE_NAMES, episode.get_clock().now()))
            print(
                f"sub-goal {k + 1}: end effector at {np.round(target[:3], 3).tolist()}", flush=True
            )
            _wait(
                lambda k=k: len(runner.nodes["goal_server"].sequence.goals) > k,
                60.0,
                f"sub-goal {k + 1} to reach the goal server",
            )

        published_index = None
        next_recover = 0.0
        deadline = time.monotonic() + config.episode_timeout_s
        while not done.is_set() and time.monotonic() < deadline:
            index = seen["index"]
            if index is not None and index >= 0 and index != published_index:
                truth_pub.publish(truth_msg({"ee": targets[index]}, episode.get_clock().now()))
                published_index = index
            if bridge.get("state") == "error" and time.monotonic() > next_recover:
                # What an operator does after checking the arm; only the simulated cell is
                # recovered without a person (the bridge latches errors until /franka/recover).
                print(f"bridge error ({bridge.get('safety_event')}): demo calls /franka/recover")
                recover.call_async(Trigger.Request())
                next_recover = time.monotonic() + RECOVER_PERIOD_S
            done.wait(0.1)
        timed_out = not done.is_set()
        outcomes = list(runner.nodes["goal_server"].sequence.outcomes)
        final_ee = msg_to_vector(seen["state"], STATE_NAMES)[:3]
        runner.nodes["planner"].enabled = False

    summary = {
        "run_dir": str(run_dir),
        "task": config.task,
        "seed": config.seed,
        "budget": overrides.get("planner", {}).get("budget", "(planner.yaml)"),
        "wall_time_s": round(time.monotonic() - started, 1),
        "timed_out": timed_out,
        "planning_cycles": progress.lines,
        "latency_ms_p50": float(np.median(progress.latencies_ms))
        if progress.latencies_ms
        else None,
        "subgoals": [
            {
                "index": o.index,
                "reached_by_energy": o.reached,
                "cycles": o.cycles,
                "final_energy": o.last_energy,
                "target_ee": np.round(targets[o.index], 4).tolist(),
            }
            for o in outcomes
        ],
        "final_ee": np.round(final_ee, 4).tolist(),
        "final_distance_to_last_target_m": round(float(np.linalg.norm(final_ee - targets[-1])), 4),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _episode_node(context):
    from rclpy.node import Node

    return Node("demo_episode", context=context)


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"demo: no {what} within {timeout:.0f} s")
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="demo.yaml", help="demo config (config/ or a path)")
    parser.add_argument("--out", default=None, help="runs folder (default: the config's run_dir)")
    args = parser.parse_args(argv)
    config = load_demo_config(args.config)
    import torch

    torch.set_num_threads(config.torch_threads)
    summary = run(config, Path(args.out or config.run_dir))
    print(json.dumps(summary, indent=2))
    if config.evaluate:
        from vjepa2_ros.evaluation.cli import main as evaluate

        evaluate(
            [
                str(Path(summary["run_dir"]) / "bag"),
                "--out",
                str(Path(summary["run_dir"]) / "report"),
            ]
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
