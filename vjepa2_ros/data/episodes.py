"""Post-training data from rosbag2 recordings: (frames, states, actions) episodes aligned by stamp.

A bag recorded on the robot (or in the sim) holds camera images and end-effector states on the
same topics the planner uses. For each camera frame (sub-sampled to the model's frame rate, 4 Hz
like DROID) we take the end-effector state nearest in time, within a tolerance; frames without
one are dropped and the episode is split where frames are missing.

Actions are the differences between consecutive aligned states (`pose.action_between`), exactly
as the reference DROID loader builds them (`poses_to_diffs` of the recorded cartesian states):
the model learns what motion happened between two frames, not what was commanded, so imperfect
tracking, clipping by the safety filter and blocked motions are all labelled truthfully. The
commanded actions on /vjepa2/action are kept alongside when the bag has them, for inspection.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vjepa2_ros import interfaces as names
from vjepa2_ros.config import require
from vjepa2_ros.data import bag as bag_io
from vjepa2_ros.data.messages import ACTION_NAMES, STATE_NAMES, msg_to_vector, rgb_from_image
from vjepa2_ros.pose.tensors import action_between


class DatasetError(ValueError):
    """A recording cannot be used for post-training; the message names the bag and the problem."""


@dataclass(frozen=True)
class DatasetConfig:
    image_topic: str = names.CAMERA_IMAGE
    state_topic: str = names.EE_STATE
    action_topic: str = names.ACTION  # optional: read when present (commanded actions)
    frame_rate_hz: float = 4.0  # frames are sub-sampled to this rate; 0 keeps every frame
    state_tolerance_s: float = 0.05  # a frame needs an ee_state within this time of its stamp
    max_gap_s: float = 0.6  # a larger gap between kept frames splits the episode
    min_frames: int = 3  # shorter pieces are dropped (a clip needs frames_per_clip frames)

    def __post_init__(self) -> None:
        require(self.frame_rate_hz >= 0.0, "dataset frame_rate_hz must be >= 0 (0 keeps all)")
        require(self.state_tolerance_s > 0.0, "dataset state_tolerance_s must be > 0 seconds")
        require(self.max_gap_s > 0.0, "dataset max_gap_s must be > 0 seconds")
        require(self.min_frames >= 2, "dataset min_frames must be >= 2")


@dataclass
class Episode:
    """One contiguous stretch of a recording at the model's frame rate."""

    name: str
    frames: np.ndarray  # uint8 [T, H, W, 3] RGB
    states: np.ndarray  # float32 [T, 7] x y z roll pitch yaw gripper
    actions: np.ndarray  # float32 [T-1, 7] state differences (reference convention)
    stamps_ns: np.ndarray  # int64 [T] camera stamps
    commanded: np.ndarray | None = field(default=None)  # float32 [T-1, 7] last command per gap

    def __len__(self) -> int:
        return len(self.frames)


def find_bags(paths: list[str | Path] | str | Path) -> list[Path]:
    """Every rosbag2 bag at or below `paths` (data.bag.find_bags for each)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    try:
        return [bag for path in paths for bag in bag_io.find_bags(path)]
    except bag_io.BagError as exc:
        raise DatasetError(f"{exc}; record episodes first (vjepa2-collect)") from exc


def _stamp_ns(msg, receive_ns: int) -> int:
    """Header stamp of a message (the source time); the bag's receive time if unset."""
    stamp = msg.header.stamp
    ns = int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
    return ns if ns > 0 else int(receive_ns)


def _read_topics(bag: Path, config: DatasetConfig) -> dict[str, list]:
    """topic -> [(source stamp ns, message)] for the dataset's topics (the one bag reader)."""
    needed = (config.image_topic, config.state_topic)
    try:
        read = bag_io.read_bag(bag, (*needed, config.action_topic), required=needed)
    except bag_io.BagError as exc:
        raise DatasetError(
            f"{exc}. Post-training needs {' and '.join(needed)} recorded together "
            "(vjepa2-collect or record:=true)."
        ) from exc
    except Exception as exc:  # rosbags raises several unrelated types for broken files
        raise DatasetError(f"bag {bag} cannot be read: {exc}") from exc
    if read.recovered:  # an interrupted recording: train on what it holds, and say so
        warnings.warn(f"{bag}: {read.recovered}", stacklevel=2)
    return {
        topic: [(_stamp_ns(msg, t_ns), msg) for t_ns, msg in read.messages.get(topic, [])]
        for topic in (*needed, config.action_topic)
    }


def _subsample(stamps: np.ndarray, rate_hz: float) -> np.ndarray:
    """Indices of frames at most `rate_hz` apart (greedy, keeps the first frame)."""
    if rate_hz <= 0 or len(stamps) == 0:
        return np.arange(len(stamps))
    period = 1e9 / rate_hz
    keep = [0]
    for i in range(1, len(stamps)):  # per frame on load, not a hot path
        if stamps[i] - stamps[keep[-1]] >= 0.75 * period:
            keep.append(i)
    return np.asarray(keep)


def _nearest(sorted_stamps: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of the nearest element of `sorted_stamps` for each query."""
    right = np.clip(np.searchsorted(sorted_stamps, queries), 1, len(sorted_stamps) - 1)
    left = right - 1
    choose_left = np.abs(queries - sorted_stamps[left]) <= np.abs(sorted_stamps[right] - queries)
    return np.where(choose_left, left, right)


def read_episodes(bag: str | Path, config: DatasetConfig | None = None) -> list[Episode]:
    """The usable episodes of one bag (one per contiguous stretch of aligned frames)."""
    config = config or DatasetConfig()
    bag = Path(bag)
    topics = _read_topics(bag, config)
    images = sorted(topics[config.image_topic], key=lambda x: x[0])
    states = sorted(topics[config.state_topic], key=lambda x: x[0])
    if not images or not states:
        empty = [
            t for t, v in ((config.image_topic, images), (config.state_topic, states)) if not v
        ]
        raise DatasetError(f"bag {bag} has no messages on {', '.join(empty)}")

    try:
        state_stamps = np.array([s for s, _ in states], dtype=np.int64)
        state_values = np.stack([msg_to_vector(m, STATE_NAMES) for _, m in states])
    except ValueError as exc:
        raise DatasetError(f"bag {bag}: bad {config.state_topic} message: {exc}") from exc
    img_stamps = np.array([s for s, _ in images], dtype=np.int64)
    idx = _subsample(img_stamps, config.frame_rate_hz)
    if len(state_stamps) == 1:
        nearest = np.zeros(len(idx), dtype=np.int64)
    else:
        nearest = _nearest(state_stamps, img_stamps[idx])
    ok = np.abs(state_stamps[nearest] - img_stamps[idx]) <= config.state_tolerance_s * 1e9
    idx, nearest = idx[ok], nearest[ok]
    if len(idx) == 0:
        raise DatasetError(
            f"bag {bag}: no camera frame has an {config.state_topic} message within "
            f"{config.state_tolerance_s} s; check that both use the same clock"
        )

    commands = topics[config.action_topic]
    cmd_stamps = np.array([s for s, _ in commands], dtype=np.int64)
    cmd_values = (
        np.stack([msg_to_vector(m, ACTION_NAMES) for _, m in sorted(commands, key=lambda x: x[0])])
        if commands
        else None
    )
    if commands:
        cmd_stamps = np.sort(cmd_stamps)

    # Split where frames are missing (dropped, or no aligned state).
    gaps = np.diff(img_stamps[idx]) > config.max_gap_s * 1e9
    pieces = np.split(np.arange(len(idx)), np.flatnonzero(gaps) + 1)
    episodes = []
    for k, piece in enumerate(pieces):
        if len(piece) < config.min_frames:
            continue
        fi, si = idx[piece], nearest[piece]
        try:
            frames = np.stack([rgb_from_image(images[i][1]) for i in fi])
        except ValueError as exc:
            raise DatasetError(f"bag {bag}: bad {config.image_topic} message: {exc}") from exc
        st = state_values[si]
        act = action_between(torch.from_numpy(st[:-1]), torch.from_numpy(st[1:])).numpy()
        commanded = None
        if cmd_values is not None:
            # The last command sent before each next frame (what the policy asked for in that gap).
            j = np.searchsorted(cmd_stamps, img_stamps[fi[1:]], side="right") - 1
            commanded = np.where((j >= 0)[:, None], cmd_values[np.clip(j, 0, None)], np.nan).astype(
                np.float32
            )
        episodes.append(
            Episode(
                name=f"{bag.name}#{k}",
                frames=frames,
                states=st.astype(np.float32),
                actions=act.astype(np.float32),
                stamps_ns=img_stamps[fi],
                commanded=commanded,
            )
        )
    return episodes


def load_dataset(paths, config: DatasetConfig | None = None) -> list[Episode]:
    """Episodes from every bag at or below `paths`; DatasetError if none is usable."""
    episodes: list[Episode] = []
    for bag in find_bags(paths):
        episodes += read_episodes(bag, config)
    if not episodes:
        raise DatasetError(
            f"no usable episodes in {paths}: every piece was shorter than min_frames"
        )
    return episodes
