"""How precisely does one planning cycle aim, near a goal? (issue 13: the descent to the grasp)

    PYTHONPATH=$PWD python bench/step_precision.py [--seeds 20] [--seed 900] [--model M]
                                                    [--budget fast]

The closed loop ends within a few centimetres of its goals and then wanders (make demo's
creeping second sub-goal; the open hand that never gets within 1.2 cm of the grasp pose). This
measures the cause directly, one cycle at a time, without the loop's noise: each seed is a fresh
scene (seeds 900+: neither training, tuning nor evaluation seeds), the goal image is the
pick-place grasp pose (the open hand around the cup) and the observation the hand open at an
offset from it (rendered, SimCell.render_goal, with its state). One CEM cycle with the named
budget plans from there; the error is the planned move against the true one (the offset back
to the goal, clipped to the step's +-maxnorm per axis as the planner clips it). `--schedule
hold/z` plans the move along z only, as the pick-place descent does; the best move is then the
z part of that.

Offsets: "above" (the pick-place approach: the grasp pose APPROACH_M higher), "near" (a
random direction NEAR_M away, the last cycles' situation) and "over" (the goal is the pose
APPROACH_M above the grasp pose, the pick-place "above" sub-goal, and the hand NEAR_M from it
in a random horizontal direction: plan it with `--schedule hold/xy`). Prints each seed and the
median and 90th-percentile error per offset kind, in centimetres.
"""

from __future__ import annotations

import os

import numpy as np

from bench.grasp_scene import grasp_scene, scene_parser

os.environ.setdefault("MUJOCO_GL", "egl")

APPROACH_M = 0.10  # the pick-place approach height above the grasp pose (config/sim_eval.yaml)
NEAR_M = 0.025  # a near offset: about where the loop stalls


def offsets(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Named (goal's xyz offset from the grasp pose, observation's xyz offset from the goal)."""
    rng = np.random.default_rng(seed)
    d = rng.normal(size=3)
    angle = rng.uniform(-np.pi, np.pi)
    grasp, high = np.zeros(3), np.array([0.0, 0.0, APPROACH_M])
    return {
        "above": (grasp, high),
        "near": (grasp, NEAR_M * d / np.linalg.norm(d)),
        "over": (high, NEAR_M * np.array([np.cos(angle), np.sin(angle), 0.0])),
    }


def main() -> None:
    parser = scene_parser(__doc__.split("\n\n")[0], host="127.0.0.68")
    parser.add_argument("--budget", default="fast", help="CEM budget (config/budgets.yaml)")
    parser.add_argument(
        "--schedule", default="hold", help="the plans' schedule (gripper_schedule.py): hold/z"
    )
    args = parser.parse_args()

    import torch

    from vjepa2_ros.evaluation.sim_episodes import SimEvalConfig
    from vjepa2_ros.model.checkpoint import load_world_model
    from vjepa2_ros.planning.budgets import load_budget
    from vjepa2_ros.planning.cem import CEMPlanner
    from vjepa2_ros.planning.gripper_schedule import AXES, GripperSchedule
    from vjepa2_ros.sim.cell import SimCell
    from vjepa2_ros.sim.config import SimConfig

    model = load_world_model(args.model)
    cfg = SimEvalConfig.load()
    schedule = GripperSchedule.parse(args.schedule)
    errors: dict[str, list[float]] = {}
    with SimCell(SimConfig(host=args.host)) as cell, torch.inference_mode():
        for seed in range(args.seed, args.seed + args.seeds):
            _, grasp = grasp_scene(cell, seed, cfg)
            line = []
            goal_latents: dict[tuple, torch.Tensor] = {}  # "above" and "near" share a goal
            for name, (raise_goal, offset) in offsets(seed).items():
                goal = grasp["pose"] + np.concatenate([raise_goal, np.zeros(3)])
                key = tuple(raise_goal)
                if key not in goal_latents:
                    goal_latents[key] = model.encode(cell.render_goal(goal, 0.0)[None])[0]
                z_goal = goal_latents[key]
                now = np.concatenate([goal[:3] + offset, goal[3:6]])
                z_now = model.encode(cell.render_goal(now, 0.0)[None])[0]
                state = torch.tensor([*now, 0.0], dtype=torch.float32)
                budget = load_budget(args.budget, seed=seed)
                planner = CEMPlanner(model, budget, device=model.device)
                result = planner.plan(z_now, state, z_goal, schedule)
                want = np.clip(-offset, -budget.maxnorm, budget.maxnorm)  # the best move ...
                want *= [axis in schedule.axes for axis in AXES]  # ... along the planned axes
                error = float(np.linalg.norm(result.action[:3] - want))
                errors.setdefault(name, []).append(error)
                line.append(
                    f"{name} planned {np.round(result.action[:3] * 100, 1)} cm, wanted "
                    f"{np.round(want * 100, 1)}: error {error * 100:.1f} cm"
                )
            print(f"seed {seed}: " + "; ".join(line), flush=True)
    span = (
        f"seeds {args.seed}-{args.seed + args.seeds - 1}, budget {args.budget}, "
        f"schedule {args.schedule}, {args.model}"
    )
    for name, e in errors.items():
        e = np.array(e) * 100
        print(
            f"{span}: {name}: one-cycle error median {np.median(e):.1f} cm, "
            f"90th percentile {np.percentile(e, 90):.1f} cm, max {e.max():.1f} cm"
        )


if __name__ == "__main__":
    main()
