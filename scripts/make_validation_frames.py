"""Render the sim frame pairs that `vjepa2-validate-precision` and bench/gpu.py plan on.

    MUJOCO_GL=egl python scripts/make_validation_frames.py --out models/validation_frames.npz

Each case: the arm at a start pose (home moved a few cm) and at a goal 6-10 cm away, rendered by
the sim camera with the scene of one seed, plus the start state. A precision comparison needs
inputs where the trained small model's energies mean something (its training data were these
sim views); the GPU machine that runs the benchmark has no MuJoCo, so the frames travel as data.
"""

from __future__ import annotations

import argparse
import random

import numpy as np

GOAL_MIN = np.array([0.32, -0.22, 0.15])
GOAL_MAX = np.array([0.68, 0.22, 0.42])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="models/validation_frames.npz")
    parser.add_argument("--cases", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from vjepa2_ros.config import from_mapping, to_mapping
    from vjepa2_ros.sim.cell import SimCell
    from vjepa2_ros.sim.config import SimConfig

    values = to_mapping(SimConfig.load("sim.yaml"))
    values["host"] = f"127.0.{random.randint(1, 254)}.{random.randint(2, 254)}"
    rng = np.random.default_rng(args.seed)
    now, goal, states, offsets = [], [], [], []
    with SimCell(from_mapping(SimConfig, values)) as cell:
        cell.wait_sim_time(0.3)
        for case in range(args.cases):
            cell.reset(args.seed + case)
            cell.wait_sim_time(0.2)
            home = cell.ee_state()
            for _ in range(200):
                start = np.clip(home[:3] + rng.uniform(-0.05, 0.05, 3), GOAL_MIN, GOAL_MAX)
                d = rng.normal(size=3)
                target = start + d / np.linalg.norm(d) * rng.uniform(0.06, 0.10)
                if np.any(target < GOAL_MIN) or np.any(target > GOAL_MAX):
                    continue
                try:
                    img_now = cell.render_goal(arm_pose=np.concatenate([start, home[3:6]]))
                    img_goal = cell.render_goal(arm_pose=np.concatenate([target, home[3:6]]))
                except ValueError:  # out of the arm's reach
                    continue
                break
            else:
                raise SystemExit(f"case {case}: no reachable start/goal pair found")
            now.append(img_now)
            goal.append(img_goal)
            states.append(np.concatenate([start, home[3:]]))
            offsets.append(target - start)
            print(f"case {case}: start {start.round(3)}, goal offset {(target - start).round(3)}")
    np.savez_compressed(
        args.out,
        frames_now=np.stack(now),
        frames_goal=np.stack(goal),
        states_now=np.stack(states).astype(np.float32),
        goal_offsets=np.stack(offsets).astype(np.float32),
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
