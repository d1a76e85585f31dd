"""`vjepa2-collect-sim`: record post-training episodes in the sim synchronously, without ROS.

    python -m vjepa2_ros.train.collect_sim --episodes 24 --steps 40 --out runs/collect_sim

Each step: the exploration policy's action (vjepa2_ros.sim.exploration) goes through the
bridge's safety filter to franky, the motion is waited for, then the camera is rendered and the
state read. So one action lies between two frames, exactly as when the planner runs a cycle,
whatever the machine's load (the ROS collector `vjepa2-collect` records at the camera's wall
clock rate, which on a busy 2-core machine drops to ~1 Hz and mixes several actions per
frame). Frames are stamped on a nominal 4 Hz step clock (the model's frame rate), so the
standard reader (vjepa2_ros.data.episodes) takes the bags unchanged. One rosbag2 (MCAP) per
episode with /camera/image_raw, /franka/ee_state, /vjepa2/action, like a real recording.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from vjepa2_ros import interfaces as names
from vjepa2_ros.config import ConfigError, require
from vjepa2_ros.interfaces import ACTION_NAMES, STATE_NAMES
from vjepa2_ros.sim.cell import in_hand
from vjepa2_ros.sim.exploration import ExplorationConfig, ExplorationPolicy
from vjepa2_ros.sim.rig import RigConfig, SimRig

STEP_NS = 250_000_000  # nominal 4 Hz step clock (DROID's and the model's frame rate)
COMMAND_DELAY_NS = 1_000_000  # an action is stamped 1 ms after the frame it answers
EPOCH_NS = 1_700_000_000 * 1_000_000_000  # stamps start here; episode k is k hours later


class _Messages:
    """rosbags typestore messages (no rclpy needed to write bags)."""

    def __init__(self, store) -> None:
        self.store = store
        t = store.types
        self.Time = t["builtin_interfaces/msg/Time"]
        self.Header = t["std_msgs/msg/Header"]
        self.Image = t["sensor_msgs/msg/Image"]
        self.JointState = t["sensor_msgs/msg/JointState"]

    def header(self, stamp_ns: int, frame_id: str = ""):
        sec, nsec = divmod(int(stamp_ns), 1_000_000_000)
        return self.Header(stamp=self.Time(sec=sec, nanosec=nsec), frame_id=frame_id)

    def image(self, rgb: np.ndarray, stamp_ns: int):
        h, w, _ = rgb.shape
        return self.Image(
            header=self.header(stamp_ns, "sim_camera"),
            height=h,
            width=w,
            encoding="rgb8",
            is_bigendian=0,
            step=w * 3,
            data=np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1),
        )

    def vector(self, values, names, stamp_ns: int):
        return self.JointState(
            header=self.header(stamp_ns),
            name=list(names),
            position=np.asarray(values, dtype=np.float64),
            velocity=np.zeros(0),
            effort=np.zeros(0),
        )


def cell_exploration() -> ExplorationConfig:
    """The exploration policy inside the sim cell's safety box (config/cell_sim.yaml), so that
    its targets are poses the arm controller lets the arm reach, not clipped ones."""
    from vjepa2_ros.sim.config import cell_robot_config

    box = cell_robot_config().safety
    return ExplorationConfig(
        workspace_min=tuple(box.workspace_min), workspace_max=tuple(box.workspace_max)
    )


def collect(
    out: str | Path,
    episodes: int,
    steps: int,
    seed: int = 1000,
    rig_config: RigConfig | None = None,
    exploration: ExplorationConfig | None = None,
    log=print,
    rig: SimRig | None = None,
) -> list[Path]:
    """Record `episodes` bags of `steps` actions (steps + 1 frames) each; returns their paths.

    `rig`: an already started SimRig to use (else one is started and stopped here).
    """
    import contextlib

    from vjepa2_ros.data.bag import BagWriter, typestore

    require(episodes >= 1 and steps >= 2, "collect: episodes must be >= 1 and steps >= 2")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    msgs = _Messages(typestore())
    policy = ExplorationPolicy(exploration or cell_exploration(), seed=seed)
    bags = []
    frames = held = 0  # frames recorded, and of those with the cup in the hand
    own = rig is None
    with SimRig(rig_config or RigConfig(seed=seed)) if own else contextlib.nullcontext(rig) as rig:
        for k in range(episodes):
            t0 = time.monotonic()
            name = f"episode_{seed + k:04d}"
            path = out / name
            if path.exists():
                raise FileExistsError(f"{path} exists: choose another --out or --seed")
            state = rig.reset(seed + k)
            policy.reset(seed + k)
            events_before = rig.event_counts()
            held_here = 0
            with BagWriter(path) as bag:
                bag.add_topic(names.CAMERA_IMAGE, "sensor_msgs/msg/Image")
                bag.add_topic(names.EE_STATE, "sensor_msgs/msg/JointState")
                bag.add_topic(names.ACTION, "sensor_msgs/msg/JointState")
                base = EPOCH_NS + (seed + k) * 3600 * 1_000_000_000
                for i in range(steps + 1):
                    stamp = base + i * STEP_NS
                    bag.write_msg(names.CAMERA_IMAGE, stamp, msgs.image(rig.cell.render(), stamp))
                    bag.write_msg(names.EE_STATE, stamp, msgs.vector(state, STATE_NAMES, stamp))
                    held_here += in_hand(rig.cell.ground_truth())
                    if i == steps:
                        break
                    cup = rig.cell.ground_truth()["cup"][0]
                    action = policy.act(state, cup)
                    # Stamped just after its frame: the reader pairs each frame gap with the
                    # last command sent before the next frame.
                    sent = stamp + COMMAND_DELAY_NS
                    bag.write_msg(names.ACTION, sent, msgs.vector(action, ACTION_NAMES, sent))
                    rig.execute(action)
                    state = rig.state()
            bags.append(path)
            frames, held = frames + steps + 1, held + held_here
            events = rig.events_since(events_before)  # a guard that fired: said, not hidden
            log(
                f"collect-sim: {name}: {steps + 1} frames ({held_here} with the cup in hand), "
                f"pick-and-places {policy.grasps_started}, {time.monotonic() - t0:.0f} s"
                + (f", safety events {events}" if events else "")
            )
    log(f"collect-sim: the cup is in the hand in {held}/{frames} frames ({held / frames:.1%})")
    return bags


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vjepa2-collect-sim", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/collect_sim")
    p.add_argument("--episodes", type=int, default=24)
    p.add_argument("--steps", type=int, default=40, help="actions per episode")
    p.add_argument("--seed", type=int, default=1000, help="scene/policy seed of episode 0")
    p.add_argument("--host", default="127.0.0.63", help="franky-sim address")
    args = p.parse_args(argv)
    t0 = time.monotonic()
    try:
        bags = collect(args.out, args.episodes, args.steps, args.seed, RigConfig(host=args.host))
    except (ConfigError, FileExistsError, OSError) as exc:
        print(f"vjepa2-collect-sim: {exc}", file=sys.stderr)
        return 2
    print(f"collect-sim: {len(bags)} bag(s) in {args.out}, {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
