"""How much the model's encoder sees the gripper, against how much it sees a translation (issue
13: the planner cannot grasp when the energy barely depends on the hand).

    PYTHONPATH=$PWD python bench/gripper_visibility.py [--seeds 5] [--seed 900] [--fovy 42]

Each seed: a fresh scene; goal images rendered without moving the arm (SimCell.render_goal) at
the pick-place grasp pose above the cup: the hand open, the hand closed on the cup, and the
hand open moved 1, 2 and 5 cm along x, y and z. Each image goes through the committed model's
encoder (the planner's goal path), and the latent distance the energy uses (mean |z_a - z_b|,
layer-normalised) is printed. `gripper / 1 cm` says what closing the hand is worth in
centimetres of translation: near or below 1, CEM's gripper values are noise to the energy.
`--fovy`, `--position`, `--lookat` try another camera (the committed model was trained on the
default one; the encoder is frozen and random, so its sensitivity does not depend on training).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from bench.grasp_scene import grasp_scene, scene_parser

os.environ.setdefault("MUJOCO_GL", "egl")

OFFSETS_M = (0.01, 0.02, 0.05)


def main() -> None:
    parser = scene_parser(__doc__.split("\n\n")[0], host="127.0.0.68")
    parser.add_argument("--fovy", type=float, default=None, help="camera fovy (degrees)")
    parser.add_argument("--position", type=float, nargs=3, default=None, help="camera x y z")
    parser.add_argument("--lookat", type=float, nargs=3, default=None, help="camera target")
    args = parser.parse_args()

    import torch

    from vjepa2_ros.evaluation.sim_episodes import SimEvalConfig
    from vjepa2_ros.model.checkpoint import load_world_model
    from vjepa2_ros.sim.cell import SimCell
    from vjepa2_ros.sim.config import SimConfig

    camera = SimConfig().camera
    changes = {"fovy_deg": args.fovy, "position": args.position, "lookat": args.lookat}
    camera = dataclasses.replace(
        camera, **{k: tuple(v) if isinstance(v, list) else v for k, v in changes.items() if v}
    )
    print(f"camera: fovy {camera.fovy_deg} deg, at {camera.position} looking at {camera.lookat}")
    model = load_world_model(args.model, parts=("encoder",))
    cfg = SimEvalConfig.load()
    rows = []
    with SimCell(SimConfig(host=args.host, camera=camera)) as cell, torch.no_grad():
        for seed in range(args.seed, args.seed + args.seeds):
            _, grasp = grasp_scene(cell, seed, cfg)
            pose = grasp["pose"]
            held = grasp["gripper"]  # closedness of fingers closed on the cup
            images = [cell.render_goal(pose, 0.0), cell.render_goal(pose, held)]
            images.append(cell.render_goal(pose, 1.0))
            for axis in range(3):
                for d in OFFSETS_M:
                    moved = pose.copy()
                    moved[axis] += d
                    images.append(cell.render_goal(moved, 0.0))
            z = model.encode(np.stack(images))
            dist = (z[1:] - z[0]).abs().mean(dim=(1, 2)).double().numpy()
            grip, shut, moves = dist[0], dist[1], dist[2:].reshape(3, len(OFFSETS_M))
            rows.append((grip, shut, moves))
            per_cm = moves[:, 0].mean()
            print(
                f"seed {seed}: on the cup (closedness {held:.2f}) {grip:.4f}, shut {shut:.4f}; "
                f"1/2/5 cm x {moves[0].round(4)}, y {moves[1].round(4)}, z {moves[2].round(4)}; "
                f"on the cup / 1 cm {grip / per_cm:.2f}, shut / 1 cm {shut / per_cm:.2f}"
            )
    grip, shut = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    per_cm = np.array([r[2][:, 0].mean() for r in rows])
    print(
        f"mean over {len(rows)} seeds ({args.seed}-{args.seed + args.seeds - 1}): on the cup "
        f"{grip.mean():.4f}, shut {shut.mean():.4f}, 1 cm {per_cm.mean():.4f}; on the cup / 1 cm "
        f"{np.mean(grip / per_cm):.2f}, shut / 1 cm {np.mean(shut / per_cm):.2f}"
    )


if __name__ == "__main__":
    main()
