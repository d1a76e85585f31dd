"""Reading post-training episodes from a real rosbag2 (MCAP) written with the rosbags library."""

from __future__ import annotations

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from vjepa2_ros.data.episodes import DatasetConfig, DatasetError, load_dataset, read_episodes
from vjepa2_ros.nodes.conversions import ACTION_NAMES, STATE_NAMES

TS = get_typestore(Stores.ROS2_JAZZY)
Image = TS.types["sensor_msgs/msg/Image"]
JointState = TS.types["sensor_msgs/msg/JointState"]
Header = TS.types["std_msgs/msg/Header"]
Time = TS.types["builtin_interfaces/msg/Time"]
NS = 1_000_000_000


def header(t_ns: int):
    return Header(stamp=Time(sec=t_ns // NS, nanosec=t_ns % NS), frame_id="")


def image(t_ns: int, value: int):
    pixels = np.full((4, 6, 3), value, np.uint8)
    return Image(
        header=header(t_ns),
        height=4,
        width=6,
        encoding="rgb8",
        is_bigendian=0,
        step=18,
        data=pixels.reshape(-1),
    )


def vector(t_ns: int, names, values):
    return JointState(
        header=header(t_ns),
        name=list(names),
        position=np.asarray(values, np.float64),
        velocity=np.zeros(0),
        effort=np.zeros(0),
    )


def write_bag(path, frames_ns, states_ns, with_states=True, actions_ns=()):
    """Camera at `frames_ns` (pixel value = index), ee_state x = 0.01 * t in seconds."""
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        cam = w.add_connection("/camera/image_raw", Image.__msgtype__, typestore=TS)
        st = (
            w.add_connection("/franka/ee_state", JointState.__msgtype__, typestore=TS)
            if with_states
            else None
        )
        act = w.add_connection("/vjepa2/action", JointState.__msgtype__, typestore=TS)
        msgs = [(t, cam, image(t, i)) for i, t in enumerate(frames_ns)]
        if with_states:
            for t in states_ns:
                s = [
                    0.4 + 0.01 * t / NS,
                    0.0,
                    0.3,
                    np.pi,
                    0.0,
                    0.1 * t / NS,
                    min(1.0, t / (4 * NS)),
                ]
                msgs.append((t, st, vector(t, STATE_NAMES, s)))
        for t in actions_ns:
            msgs.append((t, act, vector(t, ACTION_NAMES, [t / NS, 0, 0, 0, 0, 0, 1])))
        for t, conn, msg in sorted(msgs, key=lambda m: m[0]):
            w.write(conn, t, TS.serialize_cdr(msg, msg.__msgtype__))
    return path


def test_frames_are_aligned_to_the_nearest_state_and_actions_are_state_differences(tmp_path):
    t0 = 10 * NS
    frames = [t0 + k * NS // 8 for k in range(16)]  # 8 Hz camera -> sub-sampled to 4 Hz
    states = [t0 + k * NS // 100 + 3_000_000 for k in range(200)]  # 100 Hz, offset 3 ms
    actions = [t0 + k * NS // 4 + NS // 10 for k in range(8)]
    bag = write_bag(tmp_path / "bag", frames, states, actions_ns=actions)
    (ep,) = read_episodes(bag)
    assert ep.frames.shape == (8, 4, 6, 3) and ep.frames.dtype == np.uint8
    assert ep.frames[:, 0, 0, 0].tolist() == [0, 2, 4, 6, 8, 10, 12, 14]  # every other frame
    assert np.array_equal(ep.stamps_ns, frames[::2])
    # Nearest state to frame k is 3 ms later: x = 0.4 + 0.01 * (t + 0.003).
    t = (np.array(frames[::2]) - 0) / NS + 0.003
    np.testing.assert_allclose(ep.states[:, 0], 0.4 + 0.01 * t, atol=1e-6)
    assert ep.actions.shape == (7, 7)
    np.testing.assert_allclose(ep.actions[:, 0], 0.01 * 0.25, atol=1e-6)  # dx per 250 ms
    np.testing.assert_allclose(ep.actions[:, 5], 0.1 * 0.25, atol=1e-5)  # dyaw
    np.testing.assert_allclose(ep.actions[:, 6], np.diff(ep.states[:, 6]), atol=1e-6)
    # Commanded actions: the last one sent before each next frame.
    assert ep.commanded.shape == (7, 7)
    np.testing.assert_allclose(
        ep.commanded[:, 0], (np.array(frames[::2][:-1]) + NS // 10) / NS, atol=1e-6
    )


def test_frames_without_a_state_split_the_episode(tmp_path):
    t0 = NS
    frames = [t0 + k * NS // 4 for k in range(12)]
    states = [t for t in frames if not (frames[4] <= t <= frames[6])]  # states missing for 3 frames
    bag = write_bag(tmp_path / "bag", frames, states)
    eps = read_episodes(bag, DatasetConfig(min_frames=3))
    assert [len(e) for e in eps] == [4, 5]
    assert load_dataset(tmp_path)[1].name == "bag#1"


def test_missing_topic_names_the_bag_and_topic(tmp_path):
    frames = [NS + k * NS // 4 for k in range(5)]
    bag = write_bag(tmp_path / "no_state", frames, [], with_states=False)
    with pytest.raises(DatasetError, match=r"no_state.*/franka/ee_state"):
        read_episodes(bag)


def test_clock_mismatch_and_empty_folders_are_explained(tmp_path):
    frames = [NS + k * NS // 4 for k in range(5)]
    bag = write_bag(tmp_path / "skew", frames, [t + 2 * NS for t in frames])
    with pytest.raises(DatasetError, match="same clock"):
        read_episodes(bag)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no rosbag2"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nowhere")
