"""The package as colcon installs it, for `ros2 launch` in tests on a machine without ROS.

`ros2 launch vjepa2_ros ...` looks the package up in the ament index on AMENT_PREFIX_PATH: the
marker share/ament_index/resource_index/packages/vjepa2_ros, the data under share/vjepa2_ros
and the executables under lib/vjepa2_ros. `make_prefix` builds that prefix from the checkout
(links, no copies: the running code is the tested code) with the venv's console scripts, which
`pip install -e .` created from the same entry point list colcon uses (vjepa2_ros/graph.py).
The launch stack itself comes from ../shared/ros-launch (installed by scripts/setup_env.sh).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAUNCH_STACK = ROOT.parent / "shared" / "ros-launch"
SKIP_REASON = (
    "the ROS 2 launch stack (launch, launch_ros, launch_testing, ros2cli) is not installed: it "
    "comes from ../shared/ros-launch, which this clone does not have (CI has it; a ROS 2 "
    "install has it too)"
)


def launch_stack_available() -> bool:
    try:
        import launch_ros  # noqa: F401
        import launch_testing  # noqa: F401

        import launch  # noqa: F401
    except ImportError:
        return False
    return shutil.which("ros2", path=str(Path(sys.executable).parent)) is not None


def make_prefix(base: Path) -> Path:
    """An ament prefix for vjepa2_ros under `base`; returns it (idempotent)."""
    from vjepa2_ros.graph import CLIS, NODES

    prefix = base / "ament_prefix"
    share = prefix / "share" / "vjepa2_ros"
    index = prefix / "share" / "ament_index" / "resource_index" / "packages"
    lib = prefix / "lib" / "vjepa2_ros"
    for folder in (share, index, lib):
        folder.mkdir(parents=True, exist_ok=True)
    (index / "vjepa2_ros").touch()
    for name in ("config", "models", "package.xml"):
        link = share / name
        if not link.exists():
            link.symlink_to(ROOT / name)
    # `ros2 launch` finds launch files with os.walk, which does not enter linked folders: the
    # launch folder is real, its files are links.
    (share / "launch").mkdir(exist_ok=True)
    for launch_file in (ROOT / "launch").glob("*.launch.py"):
        link = share / "launch" / launch_file.name
        if not link.exists():
            link.symlink_to(launch_file)
    bin_dir = Path(sys.executable).parent
    for executable in [n.executable for n in NODES] + list(CLIS):
        link = lib / executable
        if not link.exists():
            link.symlink_to(bin_dir / executable)
    return prefix


def launch_env(prefix: Path, **extra: str) -> dict[str, str]:
    """The environment for `ros2 launch`: the prefix first, the venv's tools on PATH."""
    env = dict(os.environ)
    env["AMENT_PREFIX_PATH"] = os.pathsep.join(
        p for p in (str(prefix), env.get("AMENT_PREFIX_PATH", "")) if p
    )
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env
