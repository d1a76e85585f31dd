"""Scripted-grasp success in the sim, through the arm's one action path (issue 13's data bar).

    PYTHONPATH=$PWD python bench/scripted_grasp.py [--seeds 20] [--seed 900]

Each seed: a fresh scene and start pose (SimRig.reset), then the exploration policy's scripted
grasp of the cup (approach, descend, close, lift) with the collector's settings, every action
through the ArmController's safety filter and the sim cell's box, as `vjepa2-collect-sim` runs
it. Scored on the simulator's ground truth at the top of the lift: the cup rose at least
LIFT_M and stays between the fingers (within HELD_XY_M of the end effector in xy). Prints each
seed, the success rate with its 95% Wilson interval and the seeds, and the safety events.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

LIFT_M = 0.05  # the cup's rise that counts as lifted
HELD_XY_M = 0.03  # cup centre to the end effector in xy while held
MAX_STEPS = 60  # actions per grasp at most (the policy gives up a phase after 12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="how many seeded scenes")
    parser.add_argument("--seed", type=int, default=900, help="first seed")
    parser.add_argument("--host", default="127.0.0.67", help="franky-sim address")
    args = parser.parse_args()

    from vjepa2_ros.evaluation.sim_episodes import wilson_interval
    from vjepa2_ros.sim.exploration import ExplorationConfig, ExplorationPolicy
    from vjepa2_ros.sim.rig import RigConfig, SimRig

    seeds = list(range(args.seed, args.seed + args.seeds))
    wins, rises = [], []
    t0 = time.monotonic()
    with SimRig(RigConfig(host=args.host, seed=seeds[0])) as rig:
        for seed in seeds:
            rig.reset(seed)
            cup0 = rig.cell.ground_truth()["cup"][0].copy()
            policy = ExplorationPolicy(ExplorationConfig(), seed=seed)
            policy.start_grasp(cup0)
            steps, closed = 0, False
            action = policy.act(rig.state())
            # Scored at the top of the lift: just before the first opening action after the close.
            while steps < MAX_STEPS and not (closed and action[6] < 0):
                closed = closed or action[6] > 0
                rig.execute(action)
                action, steps = policy.act(rig.state()), steps + 1
            rig.cell.wait_sim_time(0.3)
            truth = rig.cell.ground_truth()
            cup, ee, width = truth["cup"][0], truth["ee"][0], truth["ee.gripper"]
            rise = float(cup[2] - cup0[2])
            held = rise >= LIFT_M and float(np.linalg.norm(cup[:2] - ee[:2])) < HELD_XY_M
            wins.append(held)
            rises.append(rise)
            print(
                f"seed {seed}: {'LIFTED' if held else 'missed'}  cup rose {rise * 100:5.1f} cm, "
                f"fingers {width * 100:.1f} cm apart, {steps} actions",
                flush=True,
            )
            rig.execute(action)  # let go before the next scene
            while policy.phase == "release":
                rig.execute(policy.act(rig.state()))
        events = rig.event_counts()
    k, n = sum(wins), len(wins)
    lo, hi = wilson_interval(k, n)
    print(
        f"scripted grasp: {k}/{n} = {k / n:.0%} lifted (95% Wilson {lo:.0%}-{hi:.0%}), seeds "
        f"{seeds[0]}-{seeds[-1]}, mean rise {np.mean(rises) * 100:.1f} cm, "
        f"{time.monotonic() - t0:.0f} s; safety events {events or 'none'}"
    )


if __name__ == "__main__":
    main()
