"""The package installs the way colcon installs an ament_python package, and lands where ROS looks."""

import shutil
import subprocess
import sys
from pathlib import Path

from vjepa2_ros.graph import NODES, console_scripts

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_FILES = [
    "setup.py",
    "setup.cfg",
    "package.xml",
    "resource",
    "vjepa2_ros",
    "launch",
    "config",
    "models",
]


def test_setup_py_install_lands_in_ament_and_ros2_launch_places(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in PACKAGE_FILES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pt"))
        else:
            shutil.copy2(path, src / name)
    root = tmp_path / "root"
    # What colcon's ament_python build does: setup.py install with an install prefix.
    subprocess.run(
        [sys.executable, "setup.py", "-q", "install", "--root", str(root), "--prefix", "/ws"],
        cwd=src,
        check=True,
        capture_output=True,
        timeout=300,
    )
    prefix = root / "ws"
    share = prefix / "share" / "vjepa2_ros"
    assert (prefix / "share/ament_index/resource_index/packages/vjepa2_ros").is_file()
    assert (share / "package.xml").read_text() == (ROOT / "package.xml").read_text()
    for folder in ("launch", "config"):
        expected = sorted(
            p.name
            for p in (ROOT / folder).iterdir()
            if p.suffix in {".py", ".yaml", ".rviz", ".xml"}
        )
        assert expected, f"{folder}/ is empty"
        assert sorted(p.name for p in (share / folder).iterdir()) == expected
    # `ros2 run vjepa2_ros <node>` looks for executables in lib/vjepa2_ros.
    for node in NODES:
        assert (prefix / "lib" / "vjepa2_ros" / node.executable).is_file(), node.executable
    modules = list(prefix.glob("lib/python3*/site-packages/vjepa2_ros/graph.py"))
    assert modules, "the Python package was not installed"


def test_console_scripts_cover_every_node():
    scripts = {entry.split(" = ")[0] for entry in console_scripts()}
    assert {n.executable for n in NODES} <= scripts
    assert "vjepa2-checkpoint" in scripts


def test_package_xml_declares_the_ros_dependencies():
    text = (ROOT / "package.xml").read_text()
    assert '<package format="3">' in text
    for dep in (
        "rclpy",
        "sensor_msgs",
        "geometry_msgs",
        "std_msgs",
        "std_srvs",
        "diagnostic_msgs",
        "visualization_msgs",
        "launch",
        "launch_ros",
        "launch_testing",
        "python3-numpy",
        "python3-scipy",
        "python3-opencv",
        "python3-pytest",
    ):
        assert f">{dep}</" in text, dep
    assert "<build_type>ament_python</build_type>" in text
