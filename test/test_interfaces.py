"""One source per interface: the RViz config, the cell files and the recorded topics agree
with vjepa2_ros/interfaces.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from vjepa2_ros import interfaces as names

ROOT = Path(__file__).resolve().parent.parent


def test_rviz_config_shows_the_interface_in_the_robot_frame():
    rviz = yaml.safe_load((ROOT / "config" / "vjepa2.rviz").read_text())
    manager = rviz["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == names.BASE_FRAME
    topics = {d["Topic"]["Value"] for d in manager["Displays"] if isinstance(d.get("Topic"), dict)}
    known = {v for k, v in vars(names).items() if isinstance(v, str) and v.startswith("/")}
    assert topics <= known, topics - known
    for wanted in (names.CAMERA_IMAGE, names.GOAL_IMAGE, names.PLANNER_MARKERS, names.EE_POSE):
        assert wanted in topics


def test_cell_files_hold_only_known_nodes_and_keys():
    from vjepa2_ros.graph import NODES
    from vjepa2_ros.nodes.entrypoint import check_params_files
    from vjepa2_ros.nodes.params import config_parameter_names
    from vjepa2_ros.shell.runner import node_class

    for cell in ("cell_sim.yaml", "cell_example.yaml"):
        path = str(Path(ROOT / "config" / cell))
        for spec in NODES:
            check_params_files([path], spec.name, config_parameter_names(node_class(spec)))
    for spec in NODES:  # and every node's own files (model.yaml's `/**` reaches the model nodes)
        files = [str(ROOT / "config" / f) for f in spec.files]
        check_params_files(files, spec.name, config_parameter_names(node_class(spec)))


def test_a_cell_file_sets_the_model_for_the_model_nodes_only():
    """cell_example.yaml's `/**` model.device reaches camera_encoder and planner; the bridge's
    config (preflight, the sim rig, in-process runs) never sees it."""
    from vjepa2_ros.config import load_node_config, node_parameters
    from vjepa2_ros.graph import node_spec
    from vjepa2_ros.robot.config import RobotConfig

    cell = str(ROOT / "config" / "cell_example.yaml")
    for name in ("camera_encoder", "planner"):
        files = [str(ROOT / "config" / f) for f in node_spec(name).files] + [cell]
        assert node_parameters(files, name)["model.device"] == "cuda"
    bridge = [str(ROOT / "config" / "robot.yaml"), cell]
    assert not any(k.startswith("model.") for k in node_parameters(bridge, "franka_bridge"))
    assert load_node_config(RobotConfig, bridge, "franka_bridge").robot_ip == "172.16.0.2"


def test_one_model_configuration_for_both_model_nodes():
    """model.yaml holds the one value of each model setting; both model nodes read it, nested
    as `model`, and no other config file repeats it."""
    from vjepa2_ros.config import from_mapping, load_yaml, node_parameters, unflatten
    from vjepa2_ros.graph import MODEL_FILE, NODES, SHARED_GROUPS
    from vjepa2_ros.model.config import CameraEncoderConfig, ModelConfig
    from vjepa2_ros.planning.config import PlannerConfig

    owners = {n.name for n in NODES if MODEL_FILE in n.files}
    assert owners == {"camera_encoder", "planner"} == set(SHARED_GROUPS["model"])
    classes = {"camera_encoder": CameraEncoderConfig, "planner": PlannerConfig}
    models = []
    for name in sorted(owners):
        files = [str(ROOT / "config" / f) for f in next(n for n in NODES if n.name == name).files]
        config = from_mapping(classes[name], unflatten(node_parameters(files, name)))
        assert isinstance(config.model, ModelConfig)
        models.append(config.model)
    assert models[0] == models[1]
    for path in (ROOT / "config").glob("*.yaml"):
        if path.name in (MODEL_FILE, "cell_example.yaml", "train.yaml", "train_small.yaml"):
            continue
        text = load_yaml(path)
        for section in text.values() if isinstance(text, dict) else ():
            params = section.get("ros__parameters", {}) if isinstance(section, dict) else {}
            repeated = {"preset", "checkpoint", "device", "dtype", "model"} & set(params)
            assert not repeated, f"{path.name} repeats model setting(s) {repeated}"


def test_recorded_topics_are_the_interface_names():
    from vjepa2_ros.data import topics as T

    known = {v for k, v in vars(names).items() if isinstance(v, str) and v.startswith("/")}
    assert set(T.KNOWN_TOPICS) <= known, set(T.KNOWN_TOPICS) - known
    for topic in (
        names.GOAL_PROGRESS,
        names.PLANNER_CYCLE,
        names.ARM_STATE,
        names.MOTION,
        names.GOAL_GRIPPER,
    ):
        assert topic in T.EVAL_TOPICS


def test_end_effector_tf_in_the_robot_frame():
    pytest.importorskip(
        "tf2_msgs", reason="tf2_msgs is not on PyPI: the bridge's /tf is checked in a ROS 2 install"
    )
    from vjepa2_ros.nodes.conversions import ee_transform

    msg = ee_transform(
        [0.4, 0.1, 0.3, math.pi, 0.0, 0.0, 0.0], None, names.BASE_FRAME, names.EE_FRAME
    )
    (t,) = msg.transforms
    assert t.header.frame_id == "fr3_link0" and t.child_frame_id == names.EE_FRAME
    assert (t.transform.translation.x, t.transform.translation.z) == (0.4, 0.3)


def test_diagnostic_readers_read_only_keys_the_writers_define():
    """The evaluator, the demo and the graph driver read diagnostics and named vectors by key:
    every key they read is one that interfaces.py defines (what the nodes write)."""
    import re

    known = {*names.PLANNER_KEYS, *names.BRIDGE_KEYS, *names.PROGRESS_NAMES, *names.CYCLE_NAMES}
    readers = ("evaluation/episodes.py", "shell/demo.py", "shell/episode.py")
    pattern = re.compile(r"\b(?:kv|v|values)(?:\.get\(|\[)[\"'](\w+)[\"']")
    read = set()
    for reader in readers:
        read |= set(pattern.findall((ROOT / "vjepa2_ros" / reader).read_text()))
    assert {"cycle", "energy", "skipped", "safety_event", "actions_rejected"} <= read
    assert read <= known, f"keys no node writes: {sorted(read - known)}"
