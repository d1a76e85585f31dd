"""read_bag: a rosbag2 bag as per-topic lists of (receive time ns, message), without ROS.

The one bag reader (evaluation, datasets, tests): a bag without metadata.yaml or with a cut MCAP
file is recovered from the MCAP records up to the cut (Bag.recovered says so); anything else that
is wrong raises BagError naming the bag and the problem.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vjepa2_ros.data.bag.format import BagError, bag_files, is_bag, typestore
from vjepa2_ros.data.bag.recovery import recover_messages


@dataclass
class Bag:
    """Messages of one bag: topic -> [(receive time ns, message)], in time order."""

    path: Path
    messages: dict[str, list[tuple[int, Any]]]
    types: dict[str, str]
    recovered: str = ""  # non-empty: what recovery found (the bag was cut or had no metadata)
    counts: dict[str, int] = field(default_factory=dict)  # messages per topic in the bag

    @property
    def name(self) -> str:
        return self.path.name

    def start_ns(self) -> int:
        stamps = [msgs[0][0] for msgs in self.messages.values() if msgs]
        return min(stamps) if stamps else 0

    def end_ns(self) -> int:
        stamps = [msgs[-1][0] for msgs in self.messages.values() if msgs]
        return max(stamps) if stamps else 0


def find_bags(path: str | Path) -> list[Path]:
    """The bag itself, or every bag folder below `path` (sorted; hidden folders skipped)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise BagError(f"{path} does not exist: give a rosbag2 folder or a folder of bags")
    if is_bag(path):
        return [path]
    found = sorted(
        {p.parent for p in path.rglob("metadata.yaml")}
        | {p.parent for p in path.rglob("*.mcap")}
        | {p.parent for p in path.rglob("*.db3")}
    )
    bags = [b for b in found if is_bag(b) and not b.name.startswith(".")]
    if not bags:
        raise BagError(
            f"{path} holds no rosbag2 bag (no metadata.yaml, .mcap or .db3 file below it)"
        )
    return bags


def _metadata_counts(folder: Path) -> dict[str, int]:
    import yaml

    try:
        info = yaml.safe_load((folder / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        return {
            t["topic_metadata"]["name"]: int(t["message_count"])
            for t in info.get("topics_with_message_count", [])
        }
    except Exception:
        return {}


def read_bag(
    path: str | Path,
    topics: Iterable[str] | None = None,
    required: Iterable[str] = (),
) -> Bag:
    """Read `topics` (all when None) of a rosbag2 bag; raise BagError naming what is wrong.

    `required` topics must hold at least one message. Bags without metadata.yaml or with a cut
    MCAP file are recovered from the MCAP records (Bag.recovered says so).
    """
    from rosbags.highlevel import AnyReader

    path = Path(path)
    if not path.exists():
        raise BagError(f"no bag at {path}: give a rosbag2 folder or a run folder holding bags")
    folder, mcap = bag_files(path)
    topics = list(topics) if topics is not None else None
    expected = _metadata_counts(folder)
    recovered = ""
    counts: dict[str, int] = {}
    try:
        if not (folder / "metadata.yaml").is_file():
            raise FileNotFoundError("metadata.yaml")
        messages: dict[str, list[tuple[int, Any]]] = {}
        types: dict[str, str] = {}
        with AnyReader([folder], default_typestore=typestore()) as reader:
            conns = [c for c in reader.connections if topics is None or c.topic in topics]
            for c in conns:
                messages.setdefault(c.topic, [])
                types[c.topic] = c.msgtype
            counts = {c.topic: c.msgcount for c in reader.connections}
            for conn, stamp, raw in reader.messages(connections=conns) if conns else ():
                messages[conn.topic].append((stamp, reader.deserialize(raw, conn.msgtype)))
    except Exception as exc:
        if mcap is None:
            raise BagError(
                f"{folder} is not a readable rosbag2 bag ({exc}); "
                "an MCAP file is needed to recover a bag without metadata.yaml"
            ) from exc
        messages, types, recovered, scan = recover_messages(folder, mcap, topics, expected)
        counts = {t: len(m) for t, m in messages.items()}
        if not scan.messages:
            raise BagError(
                f"{folder} is truncated or empty: {recovered}; nothing to evaluate"
            ) from exc
    if not any(messages.values()) and not any(counts.values()):
        raise BagError(f"{folder} is empty: it holds no messages")
    _check_required(folder, messages, types, required)
    return Bag(folder, messages, types, recovered, counts)


def _check_required(folder: Path, messages, types, required: Iterable[str]) -> None:
    missing = [t for t in required if t not in types]
    silent = [t for t in required if t in types and not messages.get(t)]
    if missing or silent:
        parts = []
        if missing:
            parts.append("missing topic(s) " + ", ".join(missing))
        if silent:
            parts.append("no messages on " + ", ".join(silent))
        raise BagError(
            f"{folder}: {'; '.join(parts)}. Record a run with record:=true (or the recorder "
            "node); the topic list is vjepa2_ros/data/topics.py"
        )
