"""Run the node graph in one process, without `ros2 launch` (make demo, data collection, tests).

The node list is vjepa2_ros/graph.py and each node's parameters come from its config/ file: the
same sources the launch file uses, so the demo runs what a ROS 2 install launches.
"""

from __future__ import annotations

import importlib
import logging
import threading
import traceback
from collections.abc import Iterable
from typing import Any

from vjepa2_ros.graph import NodeSpec, nodes_for
from vjepa2_ros.nodes.params import node_parameters

log = logging.getLogger(__name__)


def node_class(spec: NodeSpec):
    return getattr(importlib.import_module(spec.module), spec.node_class)


def build_node(spec: NodeSpec, context, overrides: dict[str, Any] | None = None, **extra):
    """Construct `spec`'s node in `context` with config-file parameters plus `overrides`."""
    params = node_parameters(spec.config, spec.name)
    params.update(overrides or {})
    return node_class(spec)(context=context, parameter_overrides=params, **extra)


class GraphRunner:
    """A private rclpy context, the graph's nodes, and a multi-threaded executor in a thread."""

    def __init__(self, num_threads: int = 6) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import MultiThreadedExecutor

        self._rclpy = rclpy
        self.context = Context()
        rclpy.init(context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=num_threads, context=self.context)
        self.nodes: dict[str, Any] = {}
        self.errors: list[BaseException] = []  # exceptions raised by callbacks, in order
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def add(self, name: str, node) -> Any:
        self.nodes[name] = node
        self.executor.add_node(node)
        return node

    def start_graph(
        self,
        use_sim: bool,
        overrides: dict[str, dict[str, Any]] | None = None,
        only: Iterable[str] | None = None,
    ) -> None:
        """Build the graph's nodes in order (sim first, so the robot server is up for the bridge)."""
        overrides = overrides or {}
        wanted = set(only) if only is not None else None
        for spec in nodes_for(use_sim):
            if wanted is not None and spec.name not in wanted:
                continue
            self.add(spec.name, build_node(spec, self.context, overrides.get(spec.name)))

    def spin_in_background(self) -> None:
        def spin() -> None:
            while not self._stop.is_set() and self.context.ok():
                try:
                    self.executor.spin_once(timeout_sec=0.05)
                except Exception as exc:  # as with one process per node: the others go on
                    self.errors.append(exc)
                    log.error("callback failed: %s", "".join(traceback.format_exception(exc)))

        self._thread = threading.Thread(target=spin, name="graph-executor", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        """Destroy nodes in reverse order (planner before bridge before sim), then the context."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for name in reversed(list(self.nodes)):
            node = self.nodes.pop(name)
            self.executor.remove_node(node)
            node.destroy_node()  # nodes release their resources (robot, sim, threads) here
        self.executor.shutdown(timeout_sec=2)
        if self.context.ok():
            self._rclpy.shutdown(context=self.context)

    def __enter__(self) -> GraphRunner:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
