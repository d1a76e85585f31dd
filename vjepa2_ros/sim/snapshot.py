"""Write a PNG of the sim camera's view: `python -m vjepa2_ros.sim.snapshot --out docs/sim_camera.png`."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from vjepa2_ros.config import from_mapping, to_mapping
from vjepa2_ros.sim.config import SimConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/sim_camera.png", help="PNG file to write")
    parser.add_argument("--config", default="sim.yaml", help="sim config (config/sim.yaml)")
    parser.add_argument("--seed", type=int, default=None, help="object placement seed")
    parser.add_argument("--size", type=int, default=None, help="square image size in pixels")
    parser.add_argument("--settle", type=float, default=0.3, help="simulated seconds to settle")
    args = parser.parse_args(argv)

    import cv2

    from vjepa2_ros.sim.cell import SimCell

    values = to_mapping(SimConfig.load(args.config))
    values["host"] = f"127.0.{random.randint(1, 254)}.{random.randint(2, 254)}"
    if args.seed is not None:
        values["seed"] = args.seed
    if args.size is not None:
        values["camera"]["width"] = values["camera"]["height"] = args.size
    config = from_mapping(SimConfig, values)
    with SimCell(config) as cell:
        cell.wait_sim_time(args.settle)
        image = cell.render()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), image[..., ::-1]):
        raise SystemExit(f"could not write {out}")
    print(f"wrote {out} ({image.shape[1]}x{image.shape[0]}, seed {config.seed})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
