"""The recorder node writes what was published, and an interrupted recording stays readable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from vjepa2_ros import interfaces as names
from vjepa2_ros.data import topics as T
from vjepa2_ros.data.bag import BagError, read_bag, repair_bag
from vjepa2_ros.nodes.conversions import (
    ACTION_NAMES,
    STATE_NAMES,
    image_from_array,
    image_to_array,
    vector_to_msg,
)

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parent.parent

RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


def _diag(name: str, **values):
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    status = DiagnosticStatus(name=name)
    status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
    return DiagnosticArray(status=[status])


def test_recorder_bag_reads_back_every_published_message(ros, tmp_path):
    from sensor_msgs.msg import TimeReference
    from std_msgs.msg import Int32, String

    from vjepa2_ros.nodes.recorder import RecorderNode

    talker = ros.node("recorder_test_talker")
    # Latched before the recorder exists: it must still get it (transient-local matching).
    index_pub = talker.create_publisher(Int32, names.GOAL_INDEX, LATCHED)
    index_pub.publish(Int32(data=0))

    recorder = ros.add(
        RecorderNode(
            context=ros.context,
            parameter_overrides={
                "output_dir": str(tmp_path),
                "bag_name": "run",
                "discovery_period_s": 0.05,
            },
        )
    )
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    stamp = talker.get_clock().now()
    messages = {
        names.CAMERA_IMAGE: [image_from_array(frame, "rgb8", stamp=stamp)] * 5,
        names.GOAL_IMAGE: [image_from_array(frame[::-1], "rgb8", stamp=stamp)] * 2,
        names.ACTION: [vector_to_msg([i, 0, 0, 0, 0, 0, 0], ACTION_NAMES) for i in range(12)],
        names.EE_STATE: [vector_to_msg([0.1 * i, 0, 0, 0, 0, 0, 0], STATE_NAMES) for i in range(7)],
        names.MOTION: [TimeReference(source="settled") for _ in range(4)],
        names.GOAL_GRIPPER: [TimeReference(source=m) for m in ("hold", "close_in_place")],
        names.ARM_STATE: [String(data="armed")],
        names.PLANNER_CYCLE: [vector_to_msg([0.0] * 9, names.CYCLE_NAMES) for _ in range(3)],
        names.GOAL_PROGRESS: [vector_to_msg([0, 1, 3, 0.1, 0.01], names.PROGRESS_NAMES)],
        names.PLANNER_DIAGNOSTICS: [_diag("vjepa2/planner", cycle=i) for i in range(6)],
        names.DIAGNOSTICS: [_diag("franka_bridge", state="ok") for _ in range(3)],
        names.SIM_GROUND_TRUTH: [vector_to_msg([1.0], ["ee.x"]) for _ in range(8)],
        names.SIM_GOAL_TRUTH: [vector_to_msg([2.0], ["ee.x"])],
    }
    pubs = {}
    for topic, msgs in messages.items():
        latched = (names.GOAL_IMAGE, names.ARM_STATE, names.MOTION, names.GOAL_GRIPPER)
        qos = LATCHED if topic in latched else RELIABLE
        pubs[topic] = talker.create_publisher(type(msgs[0]), topic, qos)
    ros.wait_for(
        lambda: recorder.subscribed == sorted(T.EVAL_TOPICS), what="the recorder to subscribe"
    )
    for topic, pub in pubs.items():
        ros.wait_for(lambda pub=pub: pub.get_subscription_count() >= 1, what=f"{topic} match")
    for topic, msgs in messages.items():
        for msg in msgs:
            pubs[topic].publish(msg)
    expected = {topic: len(msgs) for topic, msgs in messages.items()} | {names.GOAL_INDEX: 1}
    ros.wait_for(lambda: recorder.counts == expected, what=f"counts {expected}")
    ros.remove(recorder)  # destroy_node closes the bag

    bag = read_bag(tmp_path / "run")
    assert bag.recovered == ""
    assert {t: len(m) for t, m in bag.messages.items()} == expected
    assert bag.counts == expected
    assert bag.types[names.MOTION] == "sensor_msgs/msg/TimeReference"
    assert bag.types[names.ARM_STATE] == "std_msgs/msg/String"
    assert [m.source for _, m in bag.messages[names.GOAL_GRIPPER]] == ["hold", "close_in_place"]
    assert bag.messages[names.GOAL_INDEX][0][1].data == 0
    np.testing.assert_array_equal(image_to_array(bag.messages[names.CAMERA_IMAGE][0][1]), frame)
    positions = [m.position[0] for _, m in bag.messages[names.ACTION]]
    assert positions == list(range(12))
    stamps = [t for t, _ in bag.messages[names.ACTION]]
    assert stamps == sorted(stamps) and stamps[0] > 0


def _start_recorder(tmp_path: Path, name: str) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "vjepa2_ros.nodes.recorder",
        "--ros-args",
        "-p",
        f"output_dir:={tmp_path}",
        "-p",
        f"bag_name:={name}",
        "-p",
        "flush_period_s:=0.1",
        "-p",
        "discovery_period_s:=0.05",
        "-p",
        f"topics:=['{names.ACTION}']",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def _publish_actions(ros, proc: subprocess.Popen, n: int):
    node = ros.node(f"actions_{proc.pid}")
    pub = node.create_publisher(type(vector_to_msg([0] * 7, ACTION_NAMES)), names.ACTION, RELIABLE)
    ros.wait_for(lambda: pub.get_subscription_count() >= 1, timeout=60, what="the recorder")
    for i in range(n):
        pub.publish(vector_to_msg([i, 0, 0, 0, 0, 0, 1], ACTION_NAMES))


def _recorded(path: Path) -> int:
    try:
        return len(read_bag(path).messages.get(names.ACTION, []))
    except BagError:
        return 0


def test_killed_recorder_leaves_a_readable_bag(ros, tmp_path):
    proc = _start_recorder(tmp_path, "killed")
    try:
        _publish_actions(ros, proc, 20)
        # Flushed within flush_period_s: the bag on disk holds all 20 while the recorder runs.
        ros.wait_for(lambda: _recorded(tmp_path / "killed") == 20, what="20 flushed messages")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    bag = read_bag(tmp_path / "killed", required=[names.ACTION])
    assert "interrupted" in bag.recovered, bag.recovered
    assert [m.position[0] for _, m in bag.messages[names.ACTION]] == list(range(20))
    assert not (tmp_path / "killed" / "metadata.yaml").exists()

    # Repaired into a complete bag: metadata.yaml + indexed MCAP, read by the standard reader.
    repair_bag(tmp_path / "killed")
    from rosbags.rosbag2 import Reader

    with Reader(tmp_path / "killed") as reader:
        assert {c.topic: c.msgcount for c in reader.connections} == {names.ACTION: 20}
    assert read_bag(tmp_path / "killed").recovered == ""


def test_interrupted_recorder_closes_the_bag(ros, tmp_path):
    proc = _start_recorder(tmp_path, "stopped")
    try:
        _publish_actions(ros, proc, 5)
        ros.wait_for(lambda: _recorded(tmp_path / "stopped") == 5, what="5 flushed messages")
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    bag = read_bag(tmp_path / "stopped")
    assert bag.recovered == "" and bag.counts == {names.ACTION: 5}


def test_recorder_config_rejects_bad_values():
    from vjepa2_ros.config import ConfigError

    with pytest.raises(ConfigError, match="absolute topic names"):
        T.RecorderConfig(topics=["camera/image_raw"])
    with pytest.raises(ConfigError, match="flush_period_s"):
        T.RecorderConfig(flush_period_s=0)
    assert T.RecorderConfig(topics=[""]).selected_topics() == T.EVAL_TOPICS
    assert names.LATENT in T.RecorderConfig(include_latents=True).selected_topics()
