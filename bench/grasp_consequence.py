"""Does the world model's energy prefer closing the hand for what closing does to the cup?
(issue 13: the fingers themselves are nearly invisible, bench/gripper_visibility.py)

    PYTHONPATH=$PWD python bench/grasp_consequence.py [--seeds 5] [--seed 900] [--model M]

Each seed: a fresh scene; the observation is the hand open around the cup at the pick-place
grasp pose (rendered, SimCell.render_goal), with its state. Two goal images: the paper's
"grasped" (the hand closed on the cup, same pose) and "lifted" (the cup in the closed hand
LIFT_M higher). Two-step action sequences are rolled out through the model as the planner
does (rollout_energies): close then lift, stay open then lift, open then lift 1 cm off to the
side (for scale), and close or stay open in place. A model that learned the cup rides in a
closed hand gives "close, lift" a clearly lower energy against "lifted" than "open, lift"
(a positive gain). Seeds 900+ are not used for training.
"""

from __future__ import annotations

import os

import numpy as np

from bench.grasp_scene import grasp_scene, scene_parser

os.environ.setdefault("MUJOCO_GL", "egl")

LIFT_M = 0.05  # one action's largest step (maxnorm): the lift a two-step plan can make
SIDE_M = 0.01  # for scale: a 1 cm miss at the end of the lift


def sequences(close: float) -> dict[str, np.ndarray]:
    """Named two-step action sequences [2, 7] from the open hand at the grasp pose."""
    up = np.array([0, 0, LIFT_M, 0, 0, 0, 0], dtype=np.float32)
    shut = np.array([0, 0, 0, 0, 0, 0, close], dtype=np.float32)
    still = np.zeros(7, dtype=np.float32)
    side = up + np.array([SIDE_M, 0, 0, 0, 0, 0, 0], dtype=np.float32)
    return {
        "close, lift": np.stack([shut, up]),
        "open, lift": np.stack([still, up]),
        "open, lift 1 cm off": np.stack([still, side]),
        "close, stay": np.stack([shut, still]),
        "open, stay": np.stack([still, still]),
    }


def main() -> None:
    args = scene_parser(__doc__.split("\n\n")[0], host="127.0.0.69").parse_args()

    import torch

    from vjepa2_ros.evaluation.sim_episodes import SimEvalConfig
    from vjepa2_ros.model.checkpoint import load_world_model
    from vjepa2_ros.planning.rollout import default_apply_action, rollout_energies
    from vjepa2_ros.sim.cell import SimCell
    from vjepa2_ros.sim.config import SimConfig

    model = load_world_model(args.model)
    cfg = SimEvalConfig.load()
    up = np.array([0.0, 0.0, LIFT_M])
    gains: dict[str, list[float]] = {"grasped": [], "lifted": [], "miss": []}
    with SimCell(SimConfig(host=args.host)) as cell, torch.inference_mode():
        for seed in range(args.seed, args.seed + args.seeds):
            cup, grasp = grasp_scene(cell, seed, cfg)
            pose, held = grasp["pose"], grasp["gripper"]
            lifted = np.concatenate([pose[:3] + up, pose[3:]])
            images = [
                cell.render_goal(pose, 0.0),  # now: open around the cup
                cell.render_goal(pose, held),  # goal "grasped"
                cell.render_goal(lifted, held, {"cup": cup + up}),  # goal "lifted"
            ]
            z = model.encode(np.stack(images))
            state = torch.tensor([*pose[:6], 0.0], dtype=torch.float32)
            named = sequences(close=held)
            actions = torch.from_numpy(np.stack(list(named.values())))
            print(f"seed {seed} (closedness on the cup {held:.2f}):")
            for label, k in (("grasped", 1), ("lifted", 2)):
                cost = rollout_energies(model, z[0], state, actions, z[k], default_apply_action())
                e = dict(zip(named, cost.energies.double().numpy()))
                if label == "grasped":  # closing in place, toward the hand closed on the cup
                    gains["grasped"].append(e["open, stay"] - e["close, stay"])
                else:  # closing before the lift, toward the cup lifted in the hand
                    gains["lifted"].append(e["open, lift"] - e["close, lift"])
                    gains["miss"].append(e["open, lift 1 cm off"] - e["open, lift"])
                values = ", ".join(f"{n} {v:.4f}" for n, v in e.items())
                print(f"  goal {label:8s} {values}")
    span = f"seeds {args.seed}-{args.seed + args.seeds - 1}"
    for key, what in (
        ("grasped", "closing in place, toward 'grasped'"),
        ("lifted", "closing before the lift, toward 'lifted'"),
        ("miss", "ending the lift 1 cm off (for scale)"),
    ):
        g = np.array(gains[key])
        sign = "costs" if key == "miss" else "gains"
        g = -g if key == "miss" else g
        print(f"{span}: {what} {sign} {g.mean():+.4f} energy ({g.min():+.4f} to {g.max():+.4f})")


if __name__ == "__main__":
    main()
