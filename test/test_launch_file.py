"""pick_place.launch.py's decisions without running it: environment, enclaves, parameter files.

What `ros2 launch` would start is computed by the launch file's own functions on a real
launch context (the launch stack from ../shared/ros-launch or a ROS 2 install). The Fast DDS
wheels of this environment carry no DDS security plugins, so a secured graph cannot run here;
this checks everything the launch sets for one (README "Security").
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from ament_prefix import ROOT, SKIP_REASON, launch_env, launch_stack_available, make_prefix

if not launch_stack_available():
    pytest.skip(SKIP_REASON, allow_module_level=True)

from launch.actions import SetEnvironmentVariable
from launch_ros.actions import Node

from launch import LaunchContext
from vjepa2_ros import interfaces as names


@pytest.fixture(scope="module")
def launch_module(tmp_path_factory):
    prefix = make_prefix(tmp_path_factory.mktemp("ament"))
    os.environ.update({"AMENT_PREFIX_PATH": launch_env(prefix)["AMENT_PREFIX_PATH"]})
    spec = importlib.util.spec_from_file_location(
        "pick_place_launch", ROOT / "launch" / "pick_place.launch.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def context_with(module, **args) -> LaunchContext:
    ctx = LaunchContext()
    for name, (default, _doc) in module.ARGUMENTS.items():
        ctx.launch_configurations[name] = str(args.get(name, default))
    return ctx


def env_of(actions) -> dict[str, str]:
    ctx = LaunchContext()
    return {
        "".join(s.perform(ctx) for s in a.name): "".join(s.perform(ctx) for s in a.value)
        for a in actions
        if isinstance(a, SetEnvironmentVariable)
    }


def test_discovery_stays_on_this_machine_by_default(launch_module):
    env = env_of(launch_module._environment(context_with(launch_module)))
    assert env == {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    wide = env_of(launch_module._environment(context_with(launch_module, discovery_range="subnet")))
    assert wide["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET"


def test_security_sets_the_keystore_and_an_enclave_per_node(launch_module, tmp_path):
    ctx = context_with(launch_module, security=str(tmp_path / "keystore"))
    env = env_of(launch_module._environment(ctx))
    assert env["ROS_SECURITY_KEYSTORE"] == str(tmp_path / "keystore")
    assert env["ROS_SECURITY_ENABLE"] == "true" and env["ROS_SECURITY_STRATEGY"] == "Enforce"
    nodes = [a for a in launch_module._graph(ctx) if isinstance(a, Node)]
    assert len(nodes) == 5
    for node in nodes:
        args = [str(x) for x in (node._Node__ros_arguments or [])]
        name = node._Node__node_name
        assert args[-2:] == ["--enclave", f"/vjepa2_ros/{name}"], (name, args)


def test_the_policy_file_grants_each_node_only_its_part(launch_module):
    policy = (ROOT / "config" / "sros2_policy.xml").read_text()
    planner = policy.split('path="/vjepa2_ros/planner"')[1].split("</enclave>")[0]
    bridge = policy.split('path="/vjepa2_ros/franka_bridge"')[1].split("</enclave>")[0]
    action = names.ACTION.lstrip("/")
    assert f"<topic>{action}</topic>" in planner.split('subscribe="ALLOW"')[0]
    assert (
        policy.count(f"<topic>{action}</topic>") == 2
    )  # published by the planner, read by the bridge
    for service in (names.FRANKA_STOP, names.FRANKA_ARM, names.FRANKA_RECOVER):
        assert f"<service>{service.lstrip('/')}</service>" in bridge.split('reply="ALLOW"')[1]


def test_sim_launch_passes_the_cell_file_and_sim_host_to_the_bridge(launch_module):
    ctx = context_with(launch_module, sim_host="127.0.0.77", params_file="/tmp/extra.yaml")
    nodes = {n._Node__node_name: n for n in launch_module._graph(ctx) if isinstance(n, Node)}
    assert set(nodes) == {"sim_camera", "franka_bridge", "camera_encoder", "goal_server", "planner"}
    params = nodes["franka_bridge"]._Node__parameters
    files = [
        "".join(s.perform(ctx) for s in p.param_file) for p in params if hasattr(p, "param_file")
    ]
    assert [Path(f).name for f in files] == ["robot.yaml", "cell_sim.yaml", "extra.yaml"]
    assert any(not hasattr(p, "param_file") for p in params)  # the launch arguments' overrides
