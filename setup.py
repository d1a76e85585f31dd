"""ament_python build of vjepa2_ros.

`colcon build` (ROS 2 workspace) and `pip install .` (the project-local venv) both use this file.
Data files land under share/vjepa2_ros, where ament and `ros2 launch` look for them.
"""

import runpy
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "vjepa2_ros"

# One console script per node plus the CLIs; the list lives in vjepa2_ros/graph.py (pure data).
_GRAPH = runpy.run_path(str(Path(__file__).resolve().parent / PACKAGE / "graph.py"))
CONSOLE_SCRIPTS = _GRAPH["console_scripts"]()


def _files(pattern: str) -> list[str]:
    return sorted(path for path in glob(pattern, recursive=True) if not path.endswith("/"))


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", _files("launch/*.py")),
        (
            f"share/{PACKAGE}/config",
            _files("config/*.yaml") + _files("config/*.rviz") + _files("config/*.xml"),
        ),
        (
            f"share/{PACKAGE}/models",
            _files("models/*.md")
            + _files("models/*.pt")
            + _files("models/*.npz")
            + _files("models/*.yaml"),
        ),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="vjepa2_ros maintainers",
    maintainer_email="vjepa2-ros@example.org",
    description="V-JEPA 2-AC world-model planning for Franka arms on ROS 2",
    license="Apache-2.0",
    entry_points={"console_scripts": CONSOLE_SCRIPTS},
)
