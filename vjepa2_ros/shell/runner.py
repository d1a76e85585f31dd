"""Run the node graph without `ros2 launch` (make demo, data collection, tests).

The node list is vjepa2_ros/graph.py and each node's parameters come from its config/ file: the
same sources the launch file uses, so the demo runs what a ROS 2 install launches. Nodes run
in this process (tests can look inside them) except those named in `processes`, which run as
their own process like under `ros2 launch`: the simulator's 1 kHz physics loop is Python and
must not share a GIL with the planner.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from typing import Any

import yaml

from vjepa2_ros.config import node_parameters, resolve_config
from vjepa2_ros.graph import NodeSpec, cell_file, nodes_for

log = logging.getLogger(__name__)
PROCESS_READY_TIMEOUT_S = 120.0
PROCESS_STOP_TIMEOUT_S = 15.0
# Topics every rclpy node publishes at construction; any other publisher means "set up".
_BUILTIN_TOPICS = {"/rosout", "/parameter_events"}


def node_class(spec: NodeSpec):
    return getattr(importlib.import_module(spec.module), spec.node_class)


def build_node(
    spec: NodeSpec, context, overrides: dict[str, Any] | None = None, cell: str = "", **extra
):
    """Construct `spec`'s node in `context` with its config files' parameters, then the cell
    file's (if any), then `overrides`."""
    params = node_parameters([*spec.files, cell] if cell else list(spec.files), spec.name)
    params.update(overrides or {})
    return node_class(spec)(context=context, parameter_overrides=params, **extra)


def ros_arg(name: str, value: Any) -> str:
    """`name:=value` for `--ros-args -p`, the value in YAML as ROS parses it."""
    if isinstance(value, tuple):
        value = list(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return f"{name}:={text.removesuffix('...').strip()}"


def _die_with_parent() -> None:
    """In the child: SIGTERM when the parent dies (a killed demo leaves no node behind)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class NodeProcess:
    """One node in its own Python process, its output forwarded with a `[name]` prefix."""

    def __init__(self, spec: NodeSpec, overrides: dict[str, Any], cell: str = "") -> None:
        self.spec = spec
        args = ["--ros-args", "-r", f"__node:={spec.name}"]
        if cell:
            args += ["--params-file", str(resolve_config(cell))]
        for name, value in overrides.items():
            args += ["-p", ros_arg(name, value)]
        code = f"import sys; from {spec.module} import main; main(sys.argv)"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            preexec_fn=_die_with_parent,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._forward, daemon=True).start()

    def _forward(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            print(f"[{self.spec.name}] {line}", end="", flush=True)

    def stop(self) -> int:
        """SIGINT (the node's clean shutdown), then SIGKILL if it does not exit in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(PROCESS_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.error("%s did not exit after SIGINT: killing it", self.spec.name)
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class GraphRunner:
    """A private rclpy context, the graph's nodes, and a multi-threaded executor in a thread."""

    def __init__(self, num_threads: int = 1) -> None:
        import rclpy
        from rclpy.context import Context

        from vjepa2_ros.nodes.entrypoint import make_executor

        self._rclpy = rclpy
        self.context = Context()
        rclpy.init(context=self.context)
        self.executor = make_executor(num_threads, self.context)
        self.nodes: dict[str, Any] = {}
        self.processes: dict[str, NodeProcess] = {}
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
        processes: Iterable[str] = (),
        cell: str = "",
    ) -> None:
        """Build the graph's nodes in order (sim first, so the robot server is up for the bridge).

        `cell`: the cell parameter file (default: config/cell_sim.yaml with use_sim).
        """
        overrides = overrides or {}
        cell = cell_file(use_sim, cell)
        wanted = set(only) if only is not None else None
        for spec in nodes_for(use_sim):
            if wanted is not None and spec.name not in wanted:
                continue
            if spec.name in processes:
                self.start_process(spec, overrides.get(spec.name, {}), cell)
            else:
                node = build_node(spec, self.context, overrides.get(spec.name), cell)
                self.add(spec.name, node)

    def start_process(
        self, spec: NodeSpec, overrides: dict[str, Any], cell: str = ""
    ) -> NodeProcess:
        """Start `spec` as its own process; return once it has created its publishers."""
        process = NodeProcess(spec, overrides, cell)
        self.processes[spec.name] = process
        probe = self._probe()
        deadline = time.monotonic() + PROCESS_READY_TIMEOUT_S
        while True:
            if process.proc.poll() is not None:
                raise RuntimeError(
                    f"node {spec.name} exited with code {process.proc.returncode}:\n"
                    + "".join(process.lines[-30:])
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"node {spec.name} not up within {PROCESS_READY_TIMEOUT_S} s")
            try:
                topics = probe.get_publisher_names_and_types_by_node(spec.name, "/")
            except Exception:  # not discovered yet
                topics = []
            if {name for name, _ in topics} - _BUILTIN_TOPICS:
                return process
            time.sleep(0.1)

    def _probe(self):
        if "graph_probe" not in self.nodes:
            from rclpy.node import Node

            self.add("graph_probe", Node("graph_runner_probe", context=self.context))
        return self.nodes["graph_probe"]

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
        for name in reversed(list(self.processes)):
            self.processes.pop(name).stop()
        self.executor.shutdown(timeout_sec=2)
        if self.context.ok():
            self._rclpy.shutdown(context=self.context)

    def __enter__(self) -> GraphRunner:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
