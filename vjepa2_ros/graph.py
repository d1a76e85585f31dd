"""The node graph: which nodes run, from which module and config file.

One source of truth for setup.py (console scripts), launch/pick_place.launch.py and the demo
runner. Pure data: setup.py executes this file without importing the package.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeSpec:
    name: str  # ROS node name; also the section of its config file
    executable: str  # console script (`ros2 run vjepa2_ros <executable>`)
    module: str  # module with `main()` and the Node class
    config: str  # file in config/ holding `<name>: ros__parameters: ...`
    node_class: str  # the rclpy Node subclass in `module` (in-process runs: tests, make demo)
    when: str = "always"  # "always", "sim" (use_sim:=true only) or "real"
    shared: tuple[str, ...] = ()  # files in config/ of settings shared with other nodes (`/**`)

    @property
    def files(self) -> tuple[str, ...]:
        """Its parameter files in config/, in the order they are given (later ones win).

        Its own file first: rcl applies a node's `/**` entry before or after its own section by
        which one it met first, so a shared `/**` file first would make every later `/**` value
        (launch writes its arguments as one) lose to the node's own file.
        """
        return (self.config, *self.shared)


# The world model both model nodes run (camera_encoder and planner): `model.*` in its `/**`.
MODEL_FILE = "model.yaml"

NODES: tuple[NodeSpec, ...] = (
    NodeSpec(
        "sim_camera",
        "sim_camera",
        "vjepa2_ros.nodes.sim_camera",
        "sim.yaml",
        "SimCameraNode",
        when="sim",
    ),
    NodeSpec(
        "franka_bridge",
        "franka_bridge",
        "vjepa2_ros.nodes.franka_bridge",
        "robot.yaml",
        "FrankaBridgeNode",
    ),
    NodeSpec(
        "camera_encoder",
        "camera_encoder",
        "vjepa2_ros.nodes.camera_encoder",
        "camera_encoder.yaml",
        "CameraEncoderNode",
        shared=(MODEL_FILE,),
    ),
    NodeSpec(
        "goal_server",
        "goal_server",
        "vjepa2_ros.nodes.goal_server",
        "goals.yaml",
        "GoalServerNode",
    ),
    NodeSpec(
        "planner",
        "planner",
        "vjepa2_ros.nodes.planner",
        "planner.yaml",
        "PlannerNode",
        shared=(MODEL_FILE,),
    ),
)
# Parameter groups that several nodes declare, set once for all of them in a `/**` section
# (group -> the nodes that declare it). A node ignores another node's group in `/**`, as ROS does.
SHARED_GROUPS: dict[str, tuple[str, ...]] = {
    "model": tuple(n.name for n in NODES if MODEL_FILE in n.shared),
}


def shared_group(key: str) -> str | None:
    """The shared group a parameter key belongs to (`model.device` -> `model`), or None."""
    group = key.split(".")[0]
    return group if group in SHARED_GROUPS else None


def foreign_shared_key(node_name: str, key: str) -> bool:
    """Whether `key` in a `/**` section belongs to a shared group `node_name` does not declare
    (that node ignores it there, as ROS does)."""
    group = shared_group(key)
    return group is not None and node_name not in SHARED_GROUPS[group]


def node_spec(name: str) -> NodeSpec:
    """The graph's node called `name`."""
    for spec in NODES:
        if spec.name == name:
            return spec
    raise KeyError(f"no node {name!r} in the graph; nodes: {', '.join(n.name for n in NODES)}")


# Command-line tools (not nodes): name -> "module:function".
CLIS: dict[str, str] = {
    "vjepa2-checkpoint": "vjepa2_ros.model.checkpoint_cli:main",
    "vjepa2-train": "vjepa2_ros.train.cli:main",
    "vjepa2-collect-sim": "vjepa2_ros.train.collect_sim:main",
    "vjepa2-eval": "vjepa2_ros.evaluation.cli:main",
    "vjepa2-sim-eval": "vjepa2_ros.shell.sim_eval_cli:main",
    "vjepa2-calibrate": "vjepa2_ros.evaluation.calibrate:main",
    "vjepa2-preflight": "vjepa2_ros.shell.preflight:main",
    "vjepa2-validate-precision": "vjepa2_ros.planning.precision:main",
    "vjepa2-export-onnx": "vjepa2_ros.model.onnx_export:main",
    # The bag recorder node, for installs without rosbag2 (`ros2 run vjepa2_ros vjepa2-record`).
    "vjepa2-record": "vjepa2_ros.nodes.recorder:main",
}


def console_scripts() -> list[str]:
    """Entry points for setup.py: one per node plus the CLIs."""
    scripts = [f"{n.executable} = {n.module}:main" for n in NODES]
    scripts += [f"{name} = {target}" for name, target in CLIS.items()]
    return scripts


# The simulated cell's parameter file (safety box, home, arming): given to every node after its
# own file when use_sim is on; a real cell passes its own file (launch argument `cell`).
SIM_CELL = "cell_sim.yaml"


def cell_file(use_sim: bool, cell: str = "") -> str:
    """The cell parameter file a run uses: `cell` when given, else the sim's with use_sim."""
    return cell or (SIM_CELL if use_sim else "")


def nodes_for(use_sim: bool) -> tuple[NodeSpec, ...]:
    """The nodes a run starts: sim-only nodes with use_sim, real-only nodes without."""
    skip = "real" if use_sim else "sim"
    return tuple(n for n in NODES if n.when != skip)
