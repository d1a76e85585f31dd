"""Where the package's data (config/, models/, launch/) lives: source tree or ROS install."""

from __future__ import annotations

from pathlib import Path

PACKAGE = "vjepa2_ros"
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def share_dir() -> Path:
    """The folder holding config/, models/ and launch/.

    A source checkout (the project venv, tests, `make demo`) uses the checkout itself; a colcon
    install uses share/vjepa2_ros from the ament index.
    """
    if (_SOURCE_ROOT / "config").is_dir() and (_SOURCE_ROOT / "package.xml").is_file():
        return _SOURCE_ROOT
    try:
        from ament_index_python.packages import get_package_share_directory
    except ImportError as exc:  # pragma: no cover - only without a source tree and without ROS
        raise FileNotFoundError(
            "vjepa2_ros data folder not found: run from a source checkout or a sourced ROS 2 "
            "workspace where `colcon build` installed vjepa2_ros"
        ) from exc
    return Path(get_package_share_directory(PACKAGE))


def config_dir() -> Path:
    return share_dir() / "config"


def models_dir() -> Path:
    return share_dir() / "models"


def launch_dir() -> Path:
    return share_dir() / "launch"
