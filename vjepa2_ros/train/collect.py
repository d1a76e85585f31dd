"""Record post-training episodes in the sim through the same ROS topics a real robot uses.

    python -m vjepa2_ros.train.collect --episodes 20 --episode-s 30 --out runs/collect

Builds the real graph in one process (sim_camera + franka_bridge + recorder, MultiThreadedExecutor)
and a small driver node that publishes the exploration policy's actions on /vjepa2/action at 4 Hz
from /franka/ee_state (and the grasp target's position from /sim/ground_truth). Each episode is
one rosbag2 (MCAP) folder; between episodes the scene is re-randomised (/sim/reset), which also
sends the arm home. On a real robot, run the same driver against the real bridge and record with
`ros2 bag record` (or the recorder node): the training reader takes either.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vjepa2_ros.config import require
from vjepa2_ros.sim.exploration import ExplorationConfig, ExplorationPolicy

RECORDED = ["/camera/image_raw", "/franka/ee_state", "/vjepa2/action", "/sim/ground_truth"]


@dataclass
class CollectConfig:
    output_dir: str = "runs/collect"
    episodes: int = 20
    episode_s: float = 30.0  # recording time per episode (4 Hz: 120 frames)
    seed: int = 0  # scene seed of episode 0 and policy seed; episode k uses seed + k
    host: str = "127.0.0.2"  # franky-sim address (sim_camera binds it, the bridge connects)
    grasp_object: str = "cup"  # ground-truth body the scripted grasps go for ("" = none)
    start_timeout_s: float = 30.0  # wait this long for the first state and image
    exploration: ExplorationConfig = field(default_factory=ExplorationConfig)

    def __post_init__(self) -> None:
        require(self.episodes >= 1, "collect episodes must be >= 1")
        require(self.episode_s > 0, "collect episode_s must be > 0 seconds")
        require(self.grasp_object in ("", "cup", "box"), "collect grasp_object: cup, box or ''")


def _driver_node(context, cfg: CollectConfig):
    """An rclpy node that runs the exploration policy on /franka/ee_state at the policy rate."""
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from std_srvs.srv import Trigger

    from vjepa2_ros.nodes.conversions import ACTION_NAMES, STATE_NAMES, msg_to_vector, vector_to_msg

    class ExplorationDriver(Node):
        def __init__(self) -> None:
            super().__init__("exploration_driver", context=context)
            self.policy = ExplorationPolicy(cfg.exploration, seed=cfg.seed)
            self.state: np.ndarray | None = None
            self.object_pos: np.ndarray | None = None
            self.enabled = False
            self.sent = 0
            self.create_subscription(JointState, "/franka/ee_state", self._on_state, 10)
            self.create_subscription(JointState, "/sim/ground_truth", self._on_truth, 10)
            self.pub = self.create_publisher(JointState, "/vjepa2/action", 10)
            self.reset_client = self.create_client(Trigger, "/sim/reset")
            self.create_timer(1.0 / cfg.exploration.rate_hz, self._on_timer)

        def _on_state(self, msg) -> None:
            self.state = msg_to_vector(msg, STATE_NAMES)

        def _on_truth(self, msg) -> None:
            if cfg.grasp_object:
                names = list(msg.name)
                idx = [names.index(f"{cfg.grasp_object}.{f}") for f in "xyz"]
                self.object_pos = np.asarray(msg.position)[idx]

        def _on_timer(self) -> None:
            if not self.enabled or self.state is None:
                return
            action = self.policy.act(self.state, self.object_pos)
            stamp = self.get_clock().now()
            self.pub.publish(vector_to_msg(action, ACTION_NAMES, stamp=stamp))
            self.sent += 1

    return ExplorationDriver()


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"collect: timed out after {timeout:.0f} s waiting for {what}")


def collect(cfg: CollectConfig, log=print) -> list[Path]:
    """Record `cfg.episodes` bags; returns their folders."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import MultiThreadedExecutor

    from vjepa2_ros.nodes.franka_bridge import FrankaBridgeNode
    from vjepa2_ros.nodes.recorder import RecorderNode
    from vjepa2_ros.nodes.sim_camera import SimCameraNode

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    context = Context()
    rclpy.init(context=context)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    stop = threading.Event()
    nodes = []
    bags: list[Path] = []

    errors: list[str] = []

    def spin() -> None:
        # A failing callback of one node must not stop the executor for all of them.
        while not stop.is_set() and context.ok():
            try:
                executor.spin_once(timeout_sec=0.05)
            except Exception as exc:
                if repr(exc) not in errors:
                    errors.append(repr(exc))
                    log(f"collect: a node callback failed (continuing): {exc!r}")

    thread = threading.Thread(target=spin, name="collect-executor", daemon=True)
    try:
        sim = SimCameraNode(
            context=context, parameter_overrides={"host": cfg.host, "seed": cfg.seed}
        )
        bridge = FrankaBridgeNode(context=context, parameter_overrides={"robot_ip": cfg.host})
        driver = _driver_node(context, cfg)
        for node in (sim, bridge, driver):
            nodes.append(node)
            executor.add_node(node)
        thread.start()
        _wait(lambda: driver.state is not None, cfg.start_timeout_s, "/franka/ee_state")
        for k in range(cfg.episodes):
            if k > 0:
                future = driver.reset_client.call_async(_trigger())
                _wait(future.done, cfg.start_timeout_s, "/sim/reset")
                time.sleep(1.0)  # the arm settles at home
            driver.policy.reset(cfg.seed + k)
            name = f"episode_{cfg.seed + k:04d}"
            if (out / name).exists():
                raise FileExistsError(f"{out / name} exists: choose another --out or --seed")
            recorder = RecorderNode(
                context=context,
                parameter_overrides={"output_dir": str(out), "bag_name": name, "topics": RECORDED},
            )
            executor.add_node(recorder)
            _wait(lambda r=recorder: len(r.subscribed) >= 3, cfg.start_timeout_s, "recorder topics")
            driver.enabled = True
            time.sleep(cfg.episode_s)
            driver.enabled = False
            executor.remove_node(recorder)
            recorder.destroy_node()
            counts = recorder.counts
            bags.append(recorder.bag_path)
            log(
                f"collect: {name}: {counts.get('/camera/image_raw', 0)} frames, "
                f"{counts.get('/vjepa2/action', 0)} actions, grasps {driver.policy.grasps_started}"
            )
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(timeout=5)
        for node in reversed(nodes):
            executor.remove_node(node)
            node.destroy_node()
        executor.shutdown()
        rclpy.shutdown(context=context)
    return bags


def _trigger():
    from std_srvs.srv import Trigger

    return Trigger.Request()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vjepa2-collect", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=CollectConfig.output_dir)
    p.add_argument("--episodes", type=int, default=CollectConfig.episodes)
    p.add_argument("--episode-s", type=float, default=CollectConfig.episode_s)
    p.add_argument("--seed", type=int, default=CollectConfig.seed)
    p.add_argument("--host", default=CollectConfig.host)
    args = p.parse_args(argv)
    cfg = CollectConfig(
        output_dir=args.out,
        episodes=args.episodes,
        episode_s=args.episode_s,
        seed=args.seed,
        host=args.host,
    )
    t0 = time.monotonic()
    bags = collect(cfg)
    print(f"collect: {len(bags)} episode bag(s) in {cfg.output_dir}, {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
