"""The `main()` of every node: init, build with its config file's values, spin, shut down cleanly.

Values from config/<file> are the node's defaults, so `ros2 run vjepa2_ros <node>` behaves like
the launch file and `make demo`; `--ros-args -p name:=value` or a launch file still override them.

What every node gets from here:
- Discovery on this machine only (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) unless the
  environment says otherwise: two demos on one lab network never see each other. A real cell
  spread over several machines sets the variable (README "Security").
- Parameter files checked: an unknown key for this node, or a section naming no node of this
  package, is one clear error before anything starts (ROS itself ignores both silently).
- One clear error and exit status 1 when the node cannot start (a bad config, no checkpoint,
  the robot's address taken), never a second traceback.
- Ctrl-C and SIGTERM end it cleanly, once: destroy_node runs (the bridge stops the arm and
  disconnects), no KeyboardInterrupt traceback, exit status 0.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from vjepa2_ros.config import ConfigError, load_yaml, node_parameters, section_parameters

DISCOVERY_RANGE = "ROS_AUTOMATIC_DISCOVERY_RANGE"
# Parameters every rclpy node accepts besides its own.
ROS_OWN_PARAMETERS = ("use_sim_time", "start_type_description_service")


def default_discovery_range() -> str:
    """Keep discovery on this machine unless the environment chose otherwise; returns it."""
    return os.environ.setdefault(DISCOVERY_RANGE, "LOCALHOST")


def params_files(argv: list[str]) -> list[str]:
    """The `--params-file` arguments of a ROS command line."""
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--params-file"]


def check_params_files(files: list[str], node_name: str, known: set[str]) -> None:
    """Unknown node sections and unknown keys for `node_name` are errors (named, with the fix).

    In a `/**` section (every node), another node's shared group (graph.SHARED_GROUPS, e.g.
    `model.*` for the model nodes) is theirs, not unknown. A shared group belongs in `/**` only:
    in one node's section it would make that node's model differ from the other's (and rcl
    applies the shared file's `/**` after it).
    """
    from vjepa2_ros.graph import NODES, foreign_shared_key, shared_group

    nodes = {n.name for n in NODES} | {"recorder", "/**"}
    for file in files:
        data = load_yaml(file)
        for section in data:
            name = str(section).lstrip("/")
            if str(section) != "/**" and name not in nodes:
                raise ConfigError(
                    f"{file}: section {section!r} names no node of vjepa2_ros; nodes: "
                    f"{', '.join(sorted(nodes - {'/**'}))} (or /** for all)"
                )
        everyone = section_parameters(data, "/**")
        own = {**section_parameters(data, node_name), **section_parameters(data, f"/{node_name}")}
        theirs = {k for k in everyone if foreign_shared_key(node_name, k)}
        misplaced = sorted(k for k in own if shared_group(k))
        if misplaced:
            raise ConfigError(
                f"{file}: {', '.join(misplaced)} in the {node_name} section: shared settings are "
                "set once for every node that uses them, in a `/**:` section "
                "(config/cell_example.yaml shows how)"
            )
        unknown = sorted(
            k
            for k in {**everyone, **own}
            if k not in known and k not in ROS_OWN_PARAMETERS and (k in own or k not in theirs)
        )
        if unknown:
            raise ConfigError(
                f"{file}: unknown parameter(s) for {node_name}: {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )


def usage(node_class, config_files: str | tuple[str, ...], node_name: str) -> str:
    """`<node> --help`: what it is, how to set parameters, every parameter with its default."""
    import dataclasses

    from vjepa2_ros.config import field_docs, flatten

    module = sys.modules[node_class.__module__]
    doc = (module.__doc__ or "").strip().splitlines()[0]
    defaults = flatten(dataclasses.asdict(node_class.config_class()))
    files = (config_files,) if isinstance(config_files, str) else tuple(config_files)
    defaults.update(node_parameters(list(files), node_name))
    docs = field_docs(node_class.config_class)
    lines = [
        doc,
        "",
        f"usage: ros2 run vjepa2_ros <executable> [--ros-args -p NAME:=VALUE ...] "
        f"[--params-file FILE]  (defaults from {', '.join('config/' + f for f in files)})",
        "",
        "parameters:",
    ]
    lines += [f"  {k} = {v!r}    {docs.get(k, '')}".rstrip() for k, v in sorted(defaults.items())]
    return "\n".join(lines)


def make_executor(threads: int, context=None):
    """One thread: SingleThreadedExecutor. rclpy's MultiThreadedExecutor costs ~50% of a core
    per 100 Hz subscription on the 2-core dev box (measured: 47-55% vs 16%); only a node whose
    callbacks must not queue behind each other (franka_bridge: stop during home) pays it."""
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

    if threads <= 1:
        return SingleThreadedExecutor(context=context)
    return MultiThreadedExecutor(num_threads=threads, context=context)


def spin_node(node_class, config_files: str | tuple[str, ...], node_name: str, args=None):
    """Run `node_class` as `node_name` with its config files' values as defaults, until a signal."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.signals import SignalHandlerOptions

    from vjepa2_ros.nodes.params import config_parameter_names

    argv = list(sys.argv if args is None else args)
    own = argv[: argv.index("--ros-args")] if "--ros-args" in argv else argv
    if "-h" in own or "--help" in own:
        print(usage(node_class, config_files, node_name))
        return
    default_discovery_range()
    stop = threading.Event()

    def on_signal(*_) -> None:
        # Once: the teardown runs to its end. ros2 launch sends its own SIGINT after the
        # terminal's, and Python puts its own handlers back to "die" while the interpreter
        # shuts down (torch and MuJoCo make that take a while): an ignored signal stays ignored.
        stop.set()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    status = 0
    executor = make_executor(getattr(node_class, "executor_threads", 1))
    try:
        check_params_files(params_files(argv), node_name, config_parameter_names(node_class))
        files = [config_files] if isinstance(config_files, str) else list(config_files)
        node = node_class(parameter_overrides=node_parameters(files, node_name))
        node.get_logger().info(
            f"discovery: {os.environ[DISCOVERY_RANGE]} ({DISCOVERY_RANGE}; widen it for a cell "
            "spread over several machines)"
        )
        executor.add_node(node)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except (ConfigError, FileNotFoundError, OSError, ValueError, RuntimeError) as exc:
        print(f"[{node_name}] cannot start: {exc}", file=sys.stderr, flush=True)
        status = 1
    except ExternalShutdownException:
        pass
    finally:
        executor.shutdown(timeout_sec=5)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    if status:
        sys.exit(status)
