"""Scripted pick-and-place success in the sim, through the arm's one action path (issue 13's
data bar).

    PYTHONPATH=$PWD python bench/scripted_grasp.py [--seeds 20] [--seed 900]

Each seed: a fresh scene and start pose (SimRig.reset), then the exploration policy's scripted
pick-and-place of the cup (approach, descend, close, lift, carry, lower, release, retreat)
with the collector's settings, every action through the ArmController's safety filter and the
sim cell's box, as `vjepa2-collect-sim` runs it. Scored on the simulator's ground truth: lifted
= at the top of the lift the cup rose at least LIFT_M and sits in the hand; placed = after the
retreat it stands within the pick-place evaluation's `place_success_m` (5 cm, xy) of the
policy's place target. Prints each seed, the rates with
their 95% Wilson intervals and the seeds, and the safety events.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

LIFT_M = 0.05  # the cup's rise that counts as lifted
MAX_STEPS = 80  # actions per pick-and-place at most (the policy gives up a phase after 12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="how many seeded scenes")
    parser.add_argument("--seed", type=int, default=900, help="first seed")
    parser.add_argument("--host", default="127.0.0.67", help="franky-sim address")
    args = parser.parse_args()

    from vjepa2_ros.evaluation.sim_episodes import SimEvalConfig, wilson_interval
    from vjepa2_ros.sim.cell import in_hand
    from vjepa2_ros.sim.exploration import ExplorationPolicy
    from vjepa2_ros.sim.rig import RigConfig, SimRig
    from vjepa2_ros.train.collect_sim import cell_exploration

    place_m = SimEvalConfig.load().place_success_m
    seeds = list(range(args.seed, args.seed + args.seeds))
    lifted, placed, rises = [], [], []
    t0 = time.monotonic()
    with SimRig(RigConfig(host=args.host, seed=seeds[0])) as rig:
        for seed in seeds:
            rig.reset(seed)
            cup0 = rig.cell.ground_truth()["cup"][0].copy()
            policy = ExplorationPolicy(cell_exploration(), seed=seed)
            policy.start_grasp(cup0)
            steps, top = 0, None
            while policy.phase != "explore" and steps < MAX_STEPS:
                phase = policy.phase
                rig.execute(policy.act(rig.state()))
                steps += 1
                if phase == "lift" and policy.phase != "lift":  # the top of the lift
                    top = rig.cell.ground_truth()
            rig.cell.wait_sim_time(0.3)
            end = rig.cell.ground_truth()
            rise = float(top["cup"][0][2] - cup0[2]) if top is not None else 0.0
            lifted.append(top is not None and rise >= LIFT_M and in_hand(top))
            off = float(np.linalg.norm(end["cup"][0][:2] - policy.place_target[:2]))
            placed.append(off <= place_m)
            rises.append(rise)
            print(
                f"seed {seed}: {'LIFTED' if lifted[-1] else 'missed'}, cup rose {rise * 100:5.1f}"
                f" cm; {'PLACED' if placed[-1] else 'not placed'}, {off * 100:4.1f} cm from its "
                f"target ({np.linalg.norm(policy.place_target[:2] - cup0[:2]) * 100:.0f} cm "
                f"away); {steps} actions",
                flush=True,
            )
        events = rig.event_counts()
    n = len(seeds)
    for what, wins in (("lifted", lifted), ("placed within 5 cm", placed)):
        lo, hi = wilson_interval(sum(wins), n)
        print(
            f"scripted pick-and-place: {sum(wins)}/{n} = {sum(wins) / n:.0%} {what} "
            f"(95% Wilson {lo:.0%}-{hi:.0%})"
        )
    print(
        f"seeds {seeds[0]}-{seeds[-1]}, mean rise {np.mean(rises) * 100:.1f} cm, "
        f"{time.monotonic() - t0:.0f} s; safety events {events or 'none'}"
    )


if __name__ == "__main__":
    main()
