"""Shared pytest fixtures.

`ros` gives a test a private, initialised rclpy context, a multi-threaded executor spinning in a
background thread, and a clean shutdown (nodes destroyed, context shut down) afterwards:

    def test_x(ros):
        node = ros.node("talker")
        pub = node.create_publisher(Image, "/x", 10)
        ros.wait_for(lambda: pub.get_subscription_count() > 0)
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

# Keep every test run on its own DDS domain and on loopback, so concurrent runs (CI, a developer's
# shell) never see each other's topics. Set before rclpy is imported anywhere.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"


class RosHarness:
    """An rclpy context with a background executor; create nodes with `node()` or `add()`."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        self._rclpy = rclpy
        self.context = Context()
        rclpy.init(context=self.context)
        # Single-threaded, like the nodes' own entry points: rclpy's MultiThreadedExecutor spins
        # its main thread at every message (27-100% of a core here during the flood test, which
        # is load on the very stream the test measures). Test callbacks only record and return.
        self.executor = SingleThreadedExecutor(context=self.context)
        self._nodes: list = []
        self._alone: list = []  # (node, executor, thread) from add_alone
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name="ros-test-executor", daemon=True)
        self._thread.start()

    def _spin(self, executor=None) -> None:
        executor = executor or self.executor
        while not self._stop.is_set() and self.context.ok():
            executor.spin_once(timeout_sec=0.05)

    def node(self, name: str, **kwargs):
        """A plain rclpy Node in this context, spun by the background executor."""
        from rclpy.node import Node

        return self.add(Node(name, context=self.context, **kwargs))

    def add(self, node):
        """Spin an already constructed node (built with `context=ros.context`)."""
        self._nodes.append(node)
        self.executor.add_node(node)
        return node

    def add_alone(self, node):
        """Spin `node` in the executor its entry point uses (entrypoint.make_executor), in a
        thread of its own: for tests that depend on how the node's callbacks are scheduled."""
        from vjepa2_ros.nodes.entrypoint import make_executor

        executor = make_executor(getattr(node, "executor_threads", 1), context=self.context)
        executor.add_node(node)
        thread = threading.Thread(
            target=self._spin, args=(executor,), name=f"ros-test-{node.get_name()}", daemon=True
        )
        thread.start()
        self._alone.append((node, executor, thread))
        return node

    def remove(self, node) -> None:
        self.executor.remove_node(node)
        self._nodes.remove(node)
        node.destroy_node()

    @staticmethod
    def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
        """Poll `predicate` until true; fail the test with `what` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.01)
        pytest.fail(f"timed out after {timeout:.1f} s waiting for {what or predicate}")

    def shutdown(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for node, executor, thread in self._alone:
            thread.join(timeout=5)
            executor.remove_node(node)
            node.destroy_node()
            executor.shutdown(timeout_sec=2)
        self._alone.clear()
        for node in list(self._nodes):
            self.executor.remove_node(node)
            node.destroy_node()
        self._nodes.clear()
        self.executor.shutdown(timeout_sec=2)
        if self.context.ok():
            self._rclpy.shutdown(context=self.context)


@pytest.fixture
def ros():
    harness = RosHarness()
    try:
        yield harness
    finally:
        harness.shutdown()


def shared_folder(name: str, what: str) -> Path:
    """../shared/<name>, or skip the test saying so (fail in CI, which has ../shared)."""
    folder = SHARED / name
    if not folder.is_dir():
        if os.environ.get("CI"):  # CI has ../shared: a missing folder there is a broken checkout
            pytest.fail(f"{folder} not found: clone the project beside ../shared")
        pytest.skip(
            f"{what} live in ../shared/{name}, which this clone does not have ({folder}); "
            "clone the project beside ../shared to run this test"
        )
    return folder


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return shared_folder("fixtures", "the golden fixtures")


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return shared_folder("reference", "the released checkpoint's key lists")
