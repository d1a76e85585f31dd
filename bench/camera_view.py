"""How well does the sim's exterior camera see each direction of motion? (issue 13)

    PYTHONPATH=$PWD python bench/camera_view.py [--position X Y Z --lookat X Y Z --fovy DEG]

One view cannot tell "towards the camera" from the other directions: a move along the line of
sight only changes the hand's size. What a pick-and-place needs is that the moves it makes,
vertical (z) and horizontal at a fixed height, each shift the hand by enough pixels for the
world model to tell 1 cm from 2 cm. Prints, for the camera in config/sim.yaml (or the one given),
the image shift per centimetre of hand motion around the objects (the pick-place sub-goals'
heights), along x, y, z, horizontally towards the camera and across it, at the camera's
resolution and at the small model's input size; and where the end-effector box of the sim cell
(config/cell_sim.yaml, plus the hand's 10 cm above the end effector) lands in the image.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools

import numpy as np

HAND_ABOVE_EE_M = 0.10  # the flange and hand above the end effector: must be in view too
PROBE_HEIGHTS_M = (0.065, 0.16)  # the grasp pose and the approach height (config/sim_eval.yaml)


def shifts_px_per_cm(camera, point: np.ndarray) -> dict[str, float]:
    """Image shift (px, at the camera's size) of a 1 cm move from `point` in each direction."""
    from vjepa2_ros.sim.scene import project

    towards = np.asarray(camera.position, float)[:2] - point[:2]
    towards /= np.linalg.norm(towards)
    directions = {
        "x": (1.0, 0.0, 0.0),
        "y": (0.0, 1.0, 0.0),
        "z": (0.0, 0.0, 1.0),
        "towards (horizontal)": (towards[0], towards[1], 0.0),
        "across (horizontal)": (-towards[1], towards[0], 0.0),
    }
    base = project(camera, [point])[0]
    return {
        name: float(np.linalg.norm(project(camera, [point + 0.01 * np.asarray(d)])[0] - base))
        for name, d in directions.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--position", type=float, nargs=3, help="camera position (m)")
    parser.add_argument("--lookat", type=float, nargs=3, help="camera look-at point (m)")
    parser.add_argument("--fovy", type=float, help="vertical field of view (degrees)")
    args = parser.parse_args()

    from vjepa2_ros.model.presets import spec_from_name
    from vjepa2_ros.sim.config import ObjectsConfig, SimConfig, cell_robot_config
    from vjepa2_ros.sim.scene import project

    camera = SimConfig.load().camera
    changes = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in (("position", args.position), ("lookat", args.lookat), ("fovy_deg", args.fovy))
        if v is not None
    }
    camera = dataclasses.replace(camera, **changes)
    model_px = spec_from_name("small").img_size
    scale = model_px / camera.width
    objects = ObjectsConfig()
    centre_xy = [np.mean(objects.x_range), np.mean(objects.y_range)]
    offset = np.subtract(camera.lookat, camera.position)
    elevation = np.degrees(np.arcsin(-offset[2] / np.linalg.norm(offset)))
    print(
        f"camera at {list(camera.position)} looking at {list(camera.lookat)}, "
        f"fovy {camera.fovy_deg} deg: {np.linalg.norm(offset):.2f} m away, "
        f"looking down {elevation:.0f} deg"
    )
    print(
        f"image shift per cm of hand motion (px at {camera.width} / at the small model's {model_px}):"
    )
    for z in PROBE_HEIGHTS_M:
        point = np.array([*centre_xy, z])
        row = shifts_px_per_cm(camera, point)
        cells = ", ".join(f"{k} {v:.2f}/{v * scale:.2f}" for k, v in row.items())
        print(f"  at {point.round(3).tolist()}: {cells}; weakest {min(row.values()):.2f}")
    safety = cell_robot_config().safety
    lo, hi = np.asarray(safety.workspace_min), np.asarray(safety.workspace_max)
    hi = hi + np.array([0.0, 0.0, HAND_ABOVE_EE_M])
    corners = np.array(list(itertools.product(*zip(lo, hi))))
    uv = project(camera, corners)
    inside = (
        (uv[:, 0] >= 0) & (uv[:, 0] < camera.width) & (uv[:, 1] >= 0) & (uv[:, 1] < camera.height)
    )
    print(
        f"end-effector box (+{HAND_ABOVE_EE_M} m of hand) in the image: u {uv[:, 0].min():.0f}.."
        f"{uv[:, 0].max():.0f}, v {uv[:, 1].min():.0f}..{uv[:, 1].max():.0f} "
        f"({int(inside.sum())} of {len(corners)} corners inside {camera.width}x{camera.height})"
    )


if __name__ == "__main__":
    main()
