"""ros2 launch vjepa2_ros pick_place.launch.py [use_sim:=true] [robot_ip:=...] [rviz:=true] ...

Starts the node graph of vjepa2_ros/graph.py (the same list `make demo` runs), each node with
its parameters from config/ (the same files), then the cell file (config/cell_sim.yaml with
use_sim, else `cell:=`), then `params_file:=`, then the launch arguments; plus optional RViz,
recording and, for a real cell, a camera driver. `ros2 launch ... --show-args` lists them all.

Behaviour a user can rely on:
- One required process exits (a node that fails at start, a camera driver that dies): the whole
  launch shuts down, with one line naming it. Ctrl-C ends every node cleanly (exit status 0).
- A missing optional tool (rviz2, rosbag2, a camera driver package) is named before anything
  starts; recording falls back to the package's own recorder (vjepa2-record).
- Discovery stays on this machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) unless
  `discovery_range:=subnet`; `security:=<keystore>` runs every node under SROS2 with its own
  enclave (README "Security").
"""

from __future__ import annotations

import os
import shutil
import time

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    ExecuteProcess,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
    SetEnvironmentVariable,
)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
from vjepa2_ros.data.topics import record_topics
from vjepa2_ros.graph import cell_file, nodes_for

SHARE = get_package_share_directory("vjepa2_ros")

ARGUMENTS = {
    "use_sim": (
        "true",
        "run the simulated FR3 cell (franky-sim + MuJoCo camera) instead of a robot",
    ),
    "robot_ip": ("", "real FR3/Panda FCI address; empty uses robot.yaml (use_sim: sim_host)"),
    "sim_host": ("127.0.0.2", "use_sim: loopback address of the simulator (the bridge follows)"),
    "cell": (
        "",
        "cell parameter file (safety box, home, arming); empty: the sim cell with use_sim",
    ),
    "params_file": ("", "extra ROS parameter file applied after the cell file (per-run overrides)"),
    "auto_arm": ("", "true: the bridge arms when it first connects; empty: the cell file decides"),
    "checkpoint": ("", "V-JEPA 2-AC checkpoint; empty uses config/ (models/ default)"),
    "preset": ("", "model size preset (vitg-ac, small); empty uses config/"),
    "device": ("", "torch device (cuda, cuda:0, cpu); empty uses config/"),
    "dtype": ("", "auto (bfloat16 on cuda), float32, bfloat16, float16; empty uses config/"),
    "compile": ("", "true: torch.compile the planner's rollout (GPU); empty uses config/"),
    "torch_threads": ("", "planner CPU threads (0: all cores); empty uses config/ and the cell"),
    "budget": ("", "CEM budget from config/budgets.yaml (paper, notebook, fast)"),
    "stable_cycles": ("", "goal policy: arrival cycles that count as reached; empty: goals.yaml"),
    "max_cycles": ("", "goal policy: planning cycles per sub-goal; empty: goals.yaml"),
    "goal_dir": ("", "folder of goal images, loaded in name order as sub-goals"),
    "gripper_schedules": (
        "",
        "per sub-goal, comma-separated: free, hold, close, open (e.g. hold,hold,close,hold,hold,"
        "hold for pick-and-place); empty: goals.yaml",
    ),
    "camera": ("none", "use_sim:=false: camera driver to start (usb_cam, realsense2_camera, none)"),
    "rviz": ("false", "open RViz with config/vjepa2.rviz"),
    "record": ("false", "record the evaluation topics (rosbag2 MCAP; else vjepa2-record)"),
    "record_latents": ("false", "with record:=true, also record /vjepa2/latent (large)"),
    "record_dir": ("runs", "with record:=true, the folder the bag is created in"),
    "discovery_range": ("localhost", "ROS discovery: localhost (this machine), subnet, off"),
    "security": ("", "SROS2 keystore folder: run every node with its enclave (Enforce)"),
}

# node -> {parameter: launch argument}, taken when the argument is not empty.
# The model arguments set model.* (config/model.yaml) of every node that runs the model.
MODEL_OVERRIDES = {
    "model.checkpoint": "checkpoint",
    "model.preset": "preset",
    "model.device": "device",
    "model.dtype": "dtype",
}
OVERRIDES = {
    "franka_bridge": {"auto_arm": "auto_arm"},
    "camera_encoder": MODEL_OVERRIDES,
    "planner": {
        **MODEL_OVERRIDES,
        "compile": "compile",
        "torch_threads": "torch_threads",
        "budget": "budget",
    },
    "goal_server": {
        "goal_dir": "goal_dir",
        "gripper_schedules": "gripper_schedules",
        "policy.stable_cycles": "stable_cycles",
        "policy.max_cycles": "max_cycles",
    },
}
TYPED = {
    "auto_arm": bool,
    "compile": bool,
    "torch_threads": int,
    "stable_cycles": int,
    "max_cycles": int,
}

# Camera drivers for a real cell: package, executable, the driver's colour topic, parameters.
CAMERAS = {
    "usb_cam": ("usb_cam", "usb_cam_node_exe", "image_raw", {"pixel_format": "yuyv2rgb"}),
    "realsense2_camera": (
        "realsense2_camera",
        "realsense2_camera_node",
        "/camera/camera/color/image_raw",
        {"enable_depth": False, "rgb_camera.color_format": "RGB8"},
    ),
}


def _arg(context, name: str) -> str:
    return LaunchConfiguration(name).perform(context).strip()


def _truthy(context, name: str) -> bool:
    return _arg(context, name).lower() in ("1", "true", "yes", "on")


def _value(name: str, text: str):
    kind = TYPED.get(name)
    if kind is bool:
        return text.lower() in ("1", "true", "yes", "on")
    return kind(text) if kind else text


def _have_package(name: str) -> bool:
    try:
        get_package_share_directory(name)
    except PackageNotFoundError:
        return False
    return True


def _fail(message: str) -> list:
    return [
        LogInfo(msg=f"[pick_place.launch] {message}"),
        EmitEvent(event=Shutdown(reason=message)),
    ]


def _graph(context):
    """Check the optional tools first, then start the nodes (or nothing at all)."""
    use_sim = _truthy(context, "use_sim")
    camera = _arg(context, "camera")
    if _truthy(context, "rviz") and shutil.which("rviz2") is None:
        return _fail(
            "rviz:=true needs rviz2, which is not installed (apt install ros-$ROS_DISTRO-rviz2); "
            "nothing was started"
        )
    if not use_sim and camera != "none":
        if camera not in CAMERAS:
            return _fail(f"camera:={camera} is unknown; use one of {', '.join(CAMERAS)} or none")
        if not _have_package(CAMERAS[camera][0]):
            return _fail(
                f"camera:={camera} needs the ROS package {CAMERAS[camera][0]} (apt install "
                f"ros-$ROS_DISTRO-{CAMERAS[camera][0].replace('_', '-')}); nothing was started"
            )
    cell = cell_file(use_sim, _arg(context, "cell"))
    files = [os.path.join(SHARE, "config", cell)] if cell and not os.path.isabs(cell) else []
    files += [cell] if cell and os.path.isabs(cell) else []
    if _arg(context, "params_file"):
        files.append(os.path.expanduser(_arg(context, "params_file")))
    security = _arg(context, "security")
    actions: list = []
    for spec in nodes_for(use_sim):
        extra = {
            param: _value(arg, _arg(context, arg))
            for param, arg in OVERRIDES.get(spec.name, {}).items()
            if _arg(context, arg)
        }
        if spec.name == "sim_camera":
            extra["host"] = _arg(context, "sim_host")
        if spec.name == "franka_bridge":
            extra["use_sim"] = use_sim  # a real arm gets franky's realtime checks
            ip = _arg(context, "sim_host") if use_sim else _arg(context, "robot_ip")
            if ip:
                extra["robot_ip"] = ip
        actions.append(_node(spec.executable, spec.name, spec.files, files, extra, security))
    if not use_sim and camera != "none":
        package, executable, topic, params = CAMERAS[camera]
        actions.append(
            Node(
                package=package,
                executable=executable,
                name="camera",
                parameters=[params],
                remappings=[(topic, "/camera/image_raw")],
                output="screen",
            )
        )
    if _truthy(context, "rviz"):
        actions.append(
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                output="screen",
                arguments=["-d", os.path.join(SHARE, "config", "vjepa2.rviz")],
            )
        )
    actions += _record(context, security)
    # Any of these exiting ends the launch, with one line naming it.
    actions.append(RegisterEventHandler(OnProcessExit(on_exit=_on_exit)))
    return actions


def _on_exit(event, context):
    """A process ended on its own: stop everything (once; not for exits during shutdown)."""
    if context.is_shutdown:
        return []
    name = event.action.name  # the process name launch prints, e.g. planner-5
    return [
        LogInfo(msg=f"[pick_place.launch] {name} exited (status {event.returncode}): stopping all"),
        EmitEvent(event=Shutdown(reason=f"{name} exited")),
    ]


def _node(executable: str, name: str, own: tuple, files: list[str], extra: dict, security: str):
    params: list = [os.path.join(SHARE, "config", f) for f in own] + files
    if extra:
        params.append(extra)
    return Node(
        package="vjepa2_ros",
        executable=executable,
        name=name,
        parameters=params,
        ros_arguments=["--enclave", f"/vjepa2_ros/{name}"] if security else [],
        output="screen",
        emulate_tty=True,
        sigterm_timeout="10",
    )


def _record(context, security: str) -> list:
    """rosbag2 (MCAP) where installed, else the package's recorder node: the same topics."""
    if not _truthy(context, "record"):
        return []
    latents = _truthy(context, "record_latents")
    name = time.strftime("vjepa2_%Y%m%d_%H%M%S")
    folder = os.path.expanduser(_arg(context, "record_dir"))
    if _have_package("rosbag2_py") and shutil.which("ros2"):
        topics = list(record_topics(include_latents=latents))
        cmd = ["ros2", "bag", "record", "-s", "mcap", "-o", os.path.join(folder, name), *topics]
        return [ExecuteProcess(cmd=cmd, output="screen", name="rosbag2_record")]
    params = {"output_dir": folder, "bag_name": name, "include_latents": latents}
    return [
        LogInfo(msg="[pick_place.launch] rosbag2 is not installed: recording with vjepa2-record"),
        _node("vjepa2-record", "recorder", "recorder.yaml", [], params, security),
    ]


def _environment(context):
    """Discovery range and SROS2 settings for every process this launch starts."""
    actions = [
        SetEnvironmentVariable(
            "ROS_AUTOMATIC_DISCOVERY_RANGE", _arg(context, "discovery_range").upper()
        )
    ]
    keystore = _arg(context, "security")
    if keystore:
        actions += [
            SetEnvironmentVariable("ROS_SECURITY_KEYSTORE", os.path.expanduser(keystore)),
            SetEnvironmentVariable("ROS_SECURITY_ENABLE", "true"),
            SetEnvironmentVariable("ROS_SECURITY_STRATEGY", "Enforce"),
        ]
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            *(
                DeclareLaunchArgument(name, default_value=default, description=doc)
                for name, (default, doc) in ARGUMENTS.items()
            ),
            OpaqueFunction(function=_environment),
            OpaqueFunction(function=_graph),
        ]
    )
