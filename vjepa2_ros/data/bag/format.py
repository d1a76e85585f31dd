"""The rosbag2 format as this package uses it: a bag's files on disk, the message typestore,
and the one error every bag function raises."""

from __future__ import annotations

import os
from pathlib import Path

from rosbags.typesys import Stores, get_typestore

MCAP_MAGIC = b"\x89MCAP0\r\n"


class BagError(RuntimeError):
    """A bag is missing, empty, truncated beyond recovery or lacks topics; the message says which."""


def typestore(distro: str | None = None):
    """The ROS 2 message typestore for `distro` ($ROS_DISTRO, else the newest: Kilted, Jazzy)."""
    name = (distro or os.environ.get("ROS_DISTRO") or "").lower()
    for candidate in (f"ROS2_{name.upper()}", "ROS2_KILTED", "ROS2_JAZZY"):
        store = getattr(Stores, candidate, None)
        if store is not None:
            return get_typestore(store)
    raise BagError("rosbags has no ROS 2 Jazzy/Kilted typestore: install rosbags >= 0.10")


def bag_files(path: Path) -> tuple[Path, Path | None]:
    """(bag folder, its MCAP file or None); a path to the .mcap file itself is accepted."""
    if path.is_file() and path.suffix == ".mcap":
        return path.parent, path
    mcaps = sorted(path.glob("*.mcap"))
    return path, (mcaps[0] if mcaps else None)


def is_bag(path: Path) -> bool:
    """A rosbag2 folder (metadata.yaml or an .mcap file in it) or an .mcap file."""
    path = Path(path)
    if path.is_file():
        return path.suffix == ".mcap"
    return path.is_dir() and (
        (path / "metadata.yaml").is_file() or any(path.glob("*.mcap")) or any(path.glob("*.db3"))
    )
