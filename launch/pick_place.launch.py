"""ros2 launch vjepa2_ros pick_place.launch.py [use_sim:=true] [robot_ip:=...] [rviz:=true] ...

Starts the node graph of vjepa2_ros/graph.py (the same list `make demo` runs), each node with
its parameters from config/ (the same files), plus optional RViz and `ros2 bag record`.
"""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
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

RECORD_TOPICS = [
    "/camera/image_raw",
    "/camera/camera_info",
    "/vjepa2/goal/image",
    "/vjepa2/goal/index",
    "/vjepa2/action",
    "/franka/ee_state",
    "/franka/ee_pose",
    "/joint_states",
    "/vjepa2/planner/diagnostics",
    "/diagnostics",
    "/sim/ground_truth",
]


def _nodes(context):
    use_sim = LaunchConfiguration("use_sim").perform(context).lower() in ("1", "true", "yes")
    actions = []
    for spec in nodes_for(use_sim):
        params: list = [os.path.join(SHARE, "config", spec.config)]
        extra = {}
        for param, arg in OVERRIDES.get(spec.name, {}).items():
            value = LaunchConfiguration(arg).perform(context)
            if value:
                extra[param] = value
        if spec.name == "franka_bridge" and use_sim and "robot_ip" not in extra:
            extra["use_sim"] = True
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
            ExecuteProcess(
                cmd=["ros2", "bag", "record", "-s", "mcap", "-o", "runs/bag", *RECORD_TOPICS],
                output="screen",
                condition=IfCondition(LaunchConfiguration("record")),
            ),
        ]
    )
