"""`ros2 launch vjepa2_ros pick_place.launch.py` as a user runs it: stop, failure, missing tools.

The real launch stack (ros2cli + launch from ../shared/ros-launch, or a ROS 2 install) starts
the package from an ament prefix, as after `colcon build`. Each test watches every process the
launch started (psutil), not only the launch's own exit.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ament_prefix import SKIP_REASON, launch_env, launch_stack_available, make_prefix
from franky_sim_server import free_loopback_host

if not launch_stack_available():
    pytest.skip(SKIP_REASON, allow_module_level=True)

import psutil

pytestmark = [pytest.mark.ros, pytest.mark.sim]
NODES = ("sim_camera", "franka_bridge", "camera_encoder", "goal_server", "planner")


class Launch:
    """One `ros2 launch` in its own process group, its output kept."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        prefix = make_prefix(tmp_path)
        cmd = [
            str(Path(sys.executable).parent / "ros2"),
            "launch",
            "vjepa2_ros",
            "pick_place.launch.py",
            f"sim_host:={free_loopback_host()}",
            *args,
        ]
        self.log = tmp_path / "launch.log"
        self.out = open(self.log, "w")
        self.proc = subprocess.Popen(
            cmd,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            env=launch_env(prefix),
            start_new_session=True,
        )
        self.ps = psutil.Process(self.proc.pid)
        self.children: dict[int, psutil.Process] = {}

    def text(self) -> str:
        self.out.flush()
        return self.log.read_text()

    def watch(self) -> list[psutil.Process]:
        """Every process the launch started so far (kept even after they exit)."""
        try:
            for child in self.ps.children(recursive=True):
                self.children.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass
        return list(self.children.values())

    def wait_for(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.watch()
            if predicate():
                return
            if self.proc.poll() is not None and not predicate():
                break
            time.sleep(0.2)
        pytest.fail(f"no {what} within {timeout:.0f} s; launch output:\n{self.text()[-3000:]}")

    def alive(self) -> list[psutil.Process]:
        return [p for p in self.watch() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    def finish(self, timeout: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            for p in self.alive():  # never leave anything behind, whatever the test found
                p.kill()
            self.out.close()


def test_ctrl_c_stops_every_process_cleanly_within_5_s(tmp_path):
    # dtype:= reaches the shared model settings (model.yaml's `/**`) over their file's value.
    launch = Launch(tmp_path, "use_sim:=true", "preset:=small", "dtype:=float32")
    try:
        launch.wait_for(
            lambda: all(f"[{n}-" in launch.text() for n in NODES) and "discovery:" in launch.text(),
            180,
            "all five nodes up",
        )
        launch.wait_for(lambda: "connected to the robot" in launch.text(), 120, "bridge connected")
        launch.wait_for(lambda: "preset small on cpu (float32)" in launch.text(), 60, "encoder")
        nodes = launch.alive()
        assert len(nodes) >= 5
        t0 = time.monotonic()
        # Ctrl-C in a terminal: SIGINT to the whole process group (launch and every node).
        os.killpg(launch.proc.pid, signal.SIGINT)
        status = launch.proc.wait(30)
        launch.wait_for(lambda: not launch.alive(), 10, "every process gone")
        elapsed = time.monotonic() - t0
        text = launch.text()
        assert elapsed <= 5.0, f"took {elapsed:.1f} s to stop"
        assert status == 0, text[-2000:]
        assert "Traceback" not in text and "KeyboardInterrupt" not in text, text[-3000:]
        assert "process has died" not in text, text[-3000:]
        for n in NODES:  # launch reports each node's clean exit (status 0)
            assert re.search(rf"\[{n}-\d+\]: process has finished cleanly", text), n
    finally:
        launch.finish()


def test_a_node_that_fails_at_start_stops_the_whole_launch(tmp_path):
    launch = Launch(tmp_path, "use_sim:=true", "budget:=turbo")
    try:
        launch.proc.wait(180)
        text = launch.text()
        assert "cannot start" in text and "turbo" in text, text[-3000:]
        assert re.search(r"planner-\d+ exited \(status 1\): stopping all", text), text[-3000:]
        launch.wait_for(lambda: not launch.alive(), 20, "every process gone")
    finally:
        launch.finish()


def test_rviz_without_rviz2_starts_nothing_and_says_why(tmp_path):
    if shutil.which("rviz2"):
        pytest.skip("rviz2 is installed here: the missing-tool path cannot be shown")
    launch = Launch(tmp_path, "use_sim:=true", "rviz:=true")
    try:
        launch.proc.wait(60)
        text = launch.text()
        assert "rviz:=true needs rviz2" in text and "nothing was started" in text, text[-2000:]
        assert not launch.alive()
        assert not any(f"[{n}-" in text for n in NODES)
    finally:
        launch.finish()


def test_record_without_rosbag2_writes_a_readable_bag_with_the_package_recorder(tmp_path):
    from vjepa2_ros import interfaces as names
    from vjepa2_ros.data.bag import read_bag

    launch = Launch(tmp_path, "use_sim:=true", "record:=true", f"record_dir:={tmp_path / 'runs'}")
    try:
        launch.wait_for(
            lambda: "recording with vjepa2-record" in launch.text(), 120, "recorder fallback"
        )
        launch.wait_for(
            lambda: f"[recorder]: recording {names.CAMERA_IMAGE} " in launch.text(),
            120,
            "camera recorded",
        )
        launch.wait_for(
            lambda: any((tmp_path / "runs").glob("vjepa2_*/*.mcap")), 120, "a bag being written"
        )
        time.sleep(5.0)  # record a few seconds of the running graph
        os.killpg(launch.proc.pid, signal.SIGINT)
        launch.proc.wait(30)
    finally:
        launch.finish()
    (bag,) = (tmp_path / "runs").glob("vjepa2_*")
    data = read_bag(
        bag,
        topics=[names.CAMERA_IMAGE, names.EE_STATE],
        required=[names.CAMERA_IMAGE, names.EE_STATE],
    )
    assert data.messages[names.CAMERA_IMAGE] and data.messages[names.EE_STATE]
