"""What the grasp benches (gripper_visibility, grasp_consequence) share: their seeded-scene
arguments and the pick-place grasp sub-goal of a seeded scene, as the evaluation defines it."""

from __future__ import annotations

import argparse

import numpy as np

FIRST_SEED = 900  # seeds 900+ are used neither for training (1000-1199) nor for tuning


def scene_parser(description: str, host: str) -> argparse.ArgumentParser:
    """--seeds, --seed, --host (franky-sim address) and --model (checkpoint)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", type=int, default=5, help="how many seeded scenes")
    parser.add_argument("--seed", type=int, default=FIRST_SEED, help="first seed")
    parser.add_argument("--host", default=host, help="franky-sim address")
    parser.add_argument("--model", default="models/vjepa2-ac-small.pt", help="checkpoint")
    return parser


def grasp_scene(cell, seed: int, cfg) -> tuple[np.ndarray, dict]:
    """Reset `cell` to `seed`; returns the cup's position and the pick-place grasp sub-goal
    (sim_episodes.pick_place_goals: "pose", "gripper" = closedness on the cup, ...)."""
    from vjepa2_ros.evaluation.sim_episodes import PICK_PLACE_SUBGOALS, pick_place_goals

    cell.reset(seed)
    truth = cell.ground_truth()
    cup = truth["cup"][0]
    goals, _ = pick_place_goals(seed, cup, truth["box"][0], cell.ee_state()[:6], cfg)
    return cup, goals[PICK_PLACE_SUBGOALS.index("grasp")]
