"""ros2 launch vjepa2_ros pick_place.launch.py [use_sim:=true] [robot_ip:=...] [rviz:=true] ...

Starts the node graph of vjepa2_ros/graph.py (the same list `make demo` runs), each node with
its parameters from config/ (the same files), plus optional RViz and `ros2 bag record`.
"""

from __future__ import annotations

import os
import time

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
from vjepa2_ros.data.topics import record_topics
from vjepa2_ros.graph import nodes_for

SHARE = get_package_share_directory("vjepa2_ros")

ARGUMENTS = {
    "use_sim": (
        "true",
        "run the simulated FR3 cell (franky-sim + MuJoCo camera) instead of a robot",
    ),
    "robot_ip": (
        "",
        "FR3/Panda address; empty uses robot.yaml (or the sim's address with use_sim)",
    ),
    "checkpoint": ("", "V-JEPA 2-AC checkpoint; empty uses model.yaml"),
    "preset": ("", "model size preset (vitg-ac, small); empty uses model.yaml"),
    "device": ("", "torch device (cuda, cuda:0, cpu); empty uses model.yaml"),
    "budget": ("", "CEM budget from config/budgets.yaml (paper, notebook, fast)"),
    "rviz": ("false", "open RViz with config/vjepa2.rviz"),
    "record": ("false", "record the evaluation topics with ros2 bag record (MCAP)"),
    "record_latents": ("false", "with record:=true, also record /vjepa2/latent (large)"),
    "record_dir": ("runs", "with record:=true, the folder the bag is created in"),
    "goal_dir": ("", "folder of goal images, loaded in name order as sub-goals"),
}

# Per-node overrides taken from launch arguments when they are not empty.
OVERRIDES = {
    "franka_bridge": {"robot_ip": "robot_ip"},
    "camera_encoder": {"checkpoint": "checkpoint", "preset": "preset", "device": "device"},
    "planner": {
        "checkpoint": "checkpoint",
        "preset": "preset",
        "device": "device",
        "budget": "budget",
    },
    "goal_server": {"goal_dir": "goal_dir"},
}


def _nodes(context):
    use_sim = _truthy(context, "use_sim")
    actions = []
    for spec in nodes_for(use_sim):
        params: list = [os.path.join(SHARE, "config", spec.config)]
        extra = {}
        for param, arg in OVERRIDES.get(spec.name, {}).items():
            value = LaunchConfiguration(arg).perform(context)
            if value:
                extra[param] = value
        if spec.name == "franka_bridge":
            # A real arm (use_sim:=false) gets franky's realtime checks; the sim does not need them.
            extra["use_sim"] = use_sim
        if extra:
            params.append(extra)
        actions.append(
            Node(
                package="vjepa2_ros",
                executable=spec.executable,
                name=spec.name,
                parameters=params,
                output="screen",
                emulate_tty=True,
            )
        )
    return actions


def _truthy(context, name: str) -> bool:
    return LaunchConfiguration(name).perform(context).lower() in ("1", "true", "yes")


def _record(context):
    """`ros2 bag record` of the evaluation topics (vjepa2_ros/data/topics.py) into a new bag."""
    if not _truthy(context, "record"):
        return []
    topics = list(record_topics(include_latents=_truthy(context, "record_latents")))
    name = time.strftime("vjepa2_%Y%m%d_%H%M%S")
    out = os.path.join(LaunchConfiguration("record_dir").perform(context), name)
    return [
        ExecuteProcess(
            cmd=["ros2", "bag", "record", "-s", "mcap", "-o", out, *topics],
            output="screen",
        )
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            *(
                DeclareLaunchArgument(name, default_value=default, description=doc)
                for name, (default, doc) in ARGUMENTS.items()
            ),
            OpaqueFunction(function=_nodes),
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                output="screen",
                arguments=["-d", os.path.join(SHARE, "config", "vjepa2.rviz")],
                condition=IfCondition(LaunchConfiguration("rviz")),
            ),
            OpaqueFunction(function=_record),
        ]
    )
