"""Bad input at every entry: one clear error naming what is wrong, and nothing changed.

Goal images (empty, oversized, truncated, wrong encoding), checkpoints (empty, non-finite),
parameter files (unknown keys, unknown node sections), and a node that cannot start: exit
status 1 with one line, never a second traceback.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from vjepa2_ros.config import ConfigError
from vjepa2_ros.model.checkpoint import CheckpointError, inspect_checkpoint, load_world_model


# ---- goal images --------------------------------------------------------------------------
@pytest.mark.ros
def test_bad_goal_images_are_refused_and_the_active_goal_stays(ros):
    from sensor_msgs.msg import Image

    from vjepa2_ros import interfaces as names
    from vjepa2_ros.nodes.conversions import image_from_array
    from vjepa2_ros.nodes.goal_server import GoalServerNode

    logs = []
    server = ros.add(
        GoalServerNode(
            context=ros.context,
            parameter_overrides={"interactive_marker": False, "max_image_side": 512},
        )
    )
    original = server.get_logger().error
    server.get_logger().error = lambda msg, **kw: (logs.append(msg), original(msg, **kw))
    client = ros.node("bad_goal_client")
    pub = client.create_publisher(Image, names.GOAL_ADD, 10)
    ros.wait_for(lambda: pub.get_subscription_count() > 0, what="discovery")
    good = np.full((32, 32, 3), 9, np.uint8)
    pub.publish(image_from_array(good, "rgb8"))
    ros.wait_for(lambda: len(server.sequence.goals) == 1, what="good goal")

    empty = image_from_array(np.zeros((1, 1, 3), np.uint8), "rgb8")
    empty.width = empty.height = 0
    empty.data = b""
    truncated = image_from_array(good, "rgb8")
    truncated.data = bytes(truncated.data)[:100]
    cases = {
        "is empty (0x0)": empty,
        "larger than max_image_side = 512": image_from_array(
            np.zeros((600, 8, 3), np.uint8), "rgb8"
        ),
        "do not hold": truncated,
        "not supported": image_from_array(np.zeros((8, 8), np.uint8), "mono8"),
    }
    for k, (needle, msg) in enumerate(cases.items(), start=1):
        pub.publish(msg)
        ros.wait_for(lambda k=k: len(logs) >= k, what=f"refusal: {needle}")
        assert needle in logs[-1], logs[-1]
    assert len(server.sequence.goals) == 1 and server.sequence.index == 0


# ---- checkpoints --------------------------------------------------------------------------
def test_empty_checkpoint_is_named(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        load_world_model(path)
    report = inspect_checkpoint(path)
    assert not report.ok and "is empty" in report.problems[0]


def test_non_finite_weights_are_not_loadable(tmp_path):
    from vjepa2_ros.model.presets import spec_from_name
    from vjepa2_ros.model.world_model import WorldModel

    model = WorldModel.build(spec_from_name("small"), "cpu", torch.float32, seed=0)
    encoder = model.encoder.state_dict()
    predictor = model.predictor.state_dict()
    first = next(iter(predictor))
    predictor[first] = torch.full_like(predictor[first], float("nan"))
    path = tmp_path / "nan.pt"
    torch.save({"encoder": encoder, "predictor": predictor}, path)
    report = inspect_checkpoint(path, "small")
    assert not report.ok and "NaN or inf" in report.format() and first in report.format()
    with pytest.raises(CheckpointError, match="NaN or inf"):
        load_world_model(path, "small")


# ---- parameter files ----------------------------------------------------------------------
def test_params_file_typos_are_errors_not_silence(tmp_path):
    from vjepa2_ros.nodes.entrypoint import check_params_files
    from vjepa2_ros.nodes.franka_bridge import FrankaBridgeNode
    from vjepa2_ros.nodes.params import config_parameter_names

    known = config_parameter_names(FrankaBridgeNode)
    good = tmp_path / "cell.yaml"
    good.write_text("franka_bridge:\n  ros__parameters:\n    safety:\n      max_tilt_rad: 0.5\n")
    check_params_files([str(good)], "franka_bridge", known)
    typo = tmp_path / "typo.yaml"
    typo.write_text("franka_bridge:\n  ros__parameters:\n    safety:\n      max_tilt: 0.5\n")
    with pytest.raises(
        ConfigError, match=r"unknown parameter\(s\) for franka_bridge: safety.max_tilt"
    ):
        check_params_files([str(typo)], "franka_bridge", known)
    section = tmp_path / "section.yaml"
    section.write_text("franka_bridg:\n  ros__parameters:\n    auto_arm: true\n")
    with pytest.raises(ConfigError, match="section 'franka_bridg' names no node"):
        check_params_files([str(section)], "franka_bridge", known)
    # `/**`: the model nodes' shared model.* group is theirs (the bridge ignores it, as ROS
    # does); a typo in it is still an error for a model node, and for the bridge in its own
    # section.
    shared = tmp_path / "shared.yaml"
    shared.write_text("/**:\n  ros__parameters:\n    model:\n      device: cuda\n")
    check_params_files([str(shared)], "franka_bridge", known)
    from vjepa2_ros.nodes.planner import PlannerNode

    planner_known = config_parameter_names(PlannerNode)
    check_params_files([str(shared)], "planner", planner_known)
    shared_typo = tmp_path / "shared_typo.yaml"
    shared_typo.write_text("/**:\n  ros__parameters:\n    model:\n      devise: cuda\n")
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) for planner: model.devise"):
        check_params_files([str(shared_typo)], "planner", planner_known)
    # ... and in one node's section it is refused (the two model nodes would differ), even for
    # a node that declares it.
    own = tmp_path / "own.yaml"
    own.write_text("planner:\n  ros__parameters:\n    model:\n      device: cuda\n")
    with pytest.raises(ConfigError, match=r"model\.device in the planner section.*`/\*\*:`"):
        check_params_files([str(own)], "planner", planner_known)


def test_a_node_that_cannot_start_says_so_once_and_exits_1(tmp_path):
    """A misnamed budget: one line naming it, exit status 1, no traceback."""
    code = "import sys; from vjepa2_ros.nodes.planner import main; main(sys.argv)"
    result = subprocess.run(
        [sys.executable, "-c", code, "--ros-args", "-p", "budget:=turbo"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "cannot start" in output and "turbo" in output and "known budgets" in output
    assert "Traceback" not in output, output
