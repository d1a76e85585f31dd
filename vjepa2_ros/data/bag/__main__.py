"""`python -m vjepa2_ros.data.bag repair BAG...`: make interrupted bags complete."""

from __future__ import annotations

from pathlib import Path

from vjepa2_ros.data.bag.format import BagError
from vjepa2_ros.data.bag.recovery import repair_bag


def main(argv: list[str] | None = None) -> int:
    """`python -m vjepa2_ros.data.bag repair BAG...`: make interrupted bags complete."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m vjepa2_ros.data.bag")
    parser.add_argument("command", choices=["repair"])
    parser.add_argument("bags", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for bag in args.bags:
        try:
            print(f"repaired {repair_bag(bag)}")
        except BagError as exc:
            print(f"error: {exc}")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
