"""rosbag2 (MCAP) writing and reading without ROS, robust to a recorder that dies mid-run.

`BagWriter` writes a standard rosbag2 folder (`<name>/<name>.mcap` + `metadata.yaml`, what
`ros2 bag record -s mcap` makes) with the `rosbags` library, and flushes complete MCAP chunks to
disk every `flush_period_s`, so a recorder killed with SIGKILL loses at most that much. It closes
itself at interpreter exit. `read_bag` reads a bag into per-topic lists of (receive time ns,
message); a bag without metadata.yaml or with a cut MCAP file (an interrupted recording) is
recovered by scanning the MCAP records up to the cut. `repair_bag` rewrites such a bag into a
complete one that `ros2 bag info` and `ros2 bag play` accept.
"""

from __future__ import annotations

import atexit
import os
import shutil
import struct
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability
from rosbags.interfaces import QosTime as _QosTime
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore

MCAP_MAGIC = b"\x89MCAP0\r\n"
_OP_SCHEMA, _OP_CHANNEL, _OP_MESSAGE, _OP_CHUNK = 0x03, 0x04, 0x05, 0x06
_OP_FOOTER, _OP_DATA_END = 0x02, 0x0F


class BagError(RuntimeError):
    """A bag is missing, empty, truncated beyond recovery or lacks topics; the message says which."""


def typestore(distro: str | None = None):
    """The ROS 2 message typestore for `distro` ($ROS_DISTRO, else the newest: Kilted, Jazzy)."""
    name = (distro or os.environ.get("ROS_DISTRO") or "").lower()
    for candidate in (f"ROS2_{name.upper()}", "ROS2_KILTED", "ROS2_JAZZY"):
        store = getattr(Stores, candidate, None)
        if store is not None:
            return get_typestore(store)
    raise BagError("rosbags has no ROS 2 Jazzy/Kilted typestore: install rosbags >= 0.10")


def latched_qos(depth: int = 1) -> Qos:
    """The offered QoS of a latched (transient-local) topic, so `ros2 bag play` re-latches it."""
    zero = _QosTime(sec=0, nsec=0)
    return Qos(
        history=QosHistory.KEEP_LAST,
        depth=depth,
        reliability=QosReliability.RELIABLE,
        durability=QosDurability.TRANSIENT_LOCAL,
        deadline=zero,
        lifespan=zero,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=zero,
        avoid_ros_namespace_conventions=False,
    )


class BagWriter:
    """Append serialized messages to a new rosbag2 MCAP bag; thread-safe; closes at exit."""

    def __init__(self, path: str | Path, flush_period_s: float = 1.0, store=None) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"{self.path} exists already: choose a new bag name")
        self.flush_period_s = flush_period_s
        self.store = store or typestore()
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._closed = False
        atexit.register(self.close)

    def add_topic(self, topic: str, msgtype: str, latched: bool = False) -> None:
        """Declare a topic and its type (e.g. sensor_msgs/msg/Image) before writing to it."""
        with self._lock:
            if topic in self._connections:
                return
            qos = [latched_qos()] if latched else []
            self._connections[topic] = self._writer.add_connection(
                topic, msgtype, typestore=self.store, offered_qos_profiles=qos
            )
            self.counts[topic] = 0

    def write(self, topic: str, stamp_ns: int, data: bytes) -> None:
        """Write one CDR-serialized message received at `stamp_ns`."""
        with self._lock:
            if self._closed:
                return
            connection = self._connections.get(topic)
            if connection is None:
                raise BagError(f"topic {topic} was not added to the bag: call add_topic first")
            self._writer.write(connection, int(stamp_ns), bytes(data))
            self.counts[topic] += 1
            if time.monotonic() - self._last_flush >= self.flush_period_s:
                self._flush_locked()

    def write_msg(self, topic: str, stamp_ns: int, msg) -> None:
        """Serialize a typestore message object (tests, offline tools) and write it."""
        msgtype = self._connections[topic].msgtype
        self.write(topic, stamp_ns, self.store.serialize_cdr(msg, msgtype))

    def flush(self) -> None:
        """Put every message written so far on disk as complete MCAP chunks."""
        with self._lock:
            if not self._closed:
                self._flush_locked()

    def _flush_locked(self) -> None:
        # rosbags buffers a chunk in memory until 1 MiB; close it early and flush the file so a
        # killed process leaves whole chunks behind (relies on rosbags' McapWriter internals).
        storage = self._writer.storage
        if getattr(storage, "chunk", None) is not None and storage.chunk.bio.tell():
            storage.close_chunk()
        bio = getattr(storage, "bio", None)
        if bio is not None:
            bio.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Finish the MCAP summary and write metadata.yaml (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._writer.close()
        atexit.unregister(self.close)

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# Reading


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


@dataclass
class _Recovered:
    schemas: dict[int, tuple[str, str, str]]  # id -> (name, encoding, data)
    channels: dict[int, tuple[str, int, bytes]]  # id -> (topic, schema id, metadata)
    messages: list[tuple[int, int, bytes]]  # (channel id, log time, data)
    complete: bool  # a Footer was reached
    stop_offset: int  # byte offset where reading stopped
    lost_chunks: int = 0  # compressed chunks cut in the middle (unreadable)


def _read_str(buf: memoryview, pos: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<I", buf, pos)
    return bytes(buf[pos + 4 : pos + 4 + n]).decode(), pos + 4 + n


def _scan_records(buf: memoryview, pos: int, end: int, out: _Recovered) -> tuple[int, bool]:
    """Parse MCAP records in buf[pos:end]; return (where parsing stopped, reached the footer)."""
    while pos + 9 <= end:
        op = buf[pos]
        (length,) = struct.unpack_from("<Q", buf, pos + 1)
        body = pos + 9
        if op == _OP_CHUNK:
            # Chunk: start, end, uncompressed size (u64), crc (u32), compression, records.
            if body + 36 > end:
                return pos, False
            compression, rec_pos = _read_str(buf, body + 28)
            if rec_pos + 8 > end:
                return pos, False
            (size,) = struct.unpack_from("<Q", buf, body + 16)
            (crc,) = struct.unpack_from("<I", buf, body + 24)
            (rec_len,) = struct.unpack_from("<Q", buf, rec_pos)
            rec_start, cut = rec_pos + 8, body + length > end
            if not compression:  # a cut chunk still yields its whole records
                _scan_records(buf, rec_start, min(rec_start + rec_len, end), out)
            elif cut:
                out.lost_chunks += 1
            else:
                from rosbags.rosbag2.storage_mcap import decompress

                data = decompress(
                    bytes(buf[rec_start : rec_start + rec_len]), compression, size, crc
                )
                _scan_records(memoryview(data), 0, len(data), out)
            if cut:
                return end, False
            pos = body + length
            continue
        if body + length > end:
            return pos, False
        if op == _OP_SCHEMA:
            (sid,) = struct.unpack_from("<H", buf, body)
            name, p = _read_str(buf, body + 2)
            encoding, p = _read_str(buf, p)
            data, _ = _read_str(buf, p)
            out.schemas[sid] = (name, encoding, data)
        elif op == _OP_CHANNEL:
            cid, sid = struct.unpack_from("<HH", buf, body)
            topic, p = _read_str(buf, body + 4)
            _, p = _read_str(buf, p)  # message encoding (cdr)
            (meta_len,) = struct.unpack_from("<I", buf, p)
            out.channels[cid] = (topic, sid, bytes(buf[p + 4 : p + 4 + meta_len]))
        elif op == _OP_MESSAGE:
            cid, _seq, log_time, _pub = struct.unpack_from("<HIQQ", buf, body)
            out.messages.append((cid, log_time, bytes(buf[body + 22 : body + length])))
        elif op in (_OP_DATA_END, _OP_FOOTER):
            return body + length, True
        pos = body + length
    return pos, False


def _scan_mcap(path: Path) -> _Recovered:
    data = path.read_bytes()
    if not data.startswith(MCAP_MAGIC):
        raise BagError(f"{path} is not an MCAP file (bad magic bytes): re-record the run")
    out = _Recovered({}, {}, [], complete=False, stop_offset=len(MCAP_MAGIC))
    out.stop_offset, out.complete = _scan_records(memoryview(data), len(MCAP_MAGIC), len(data), out)
    return out


def _register_schema(store, name: str, encoding: str, data: str) -> None:
    if encoding == "ros2msg":
        store.register(get_types_from_msg(data, name))
    elif encoding == "ros2idl":
        sep = "=" * 80 + "\n"
        parts = data.split(sep)[1:] if data.startswith(f"{sep}IDL: ") else [f"IDL: x\n{data}"]
        for part in parts:
            store.register(get_types_from_idl(part.split("\n", 1)[1]))


def _recover(path: Path, mcap: Path, topics: Iterable[str] | None, expected: Mapping[str, int]):
    scan = _scan_mcap(mcap)
    store = typestore()
    for name, encoding, data in scan.schemas.values():
        if name not in store.fielddefs:
            try:
                _register_schema(store, name, encoding, data)
            except Exception:  # an unparsable definition: that topic cannot be decoded
                pass
    wanted = set(topics) if topics is not None else None
    messages: dict[str, list[tuple[int, Any]]] = {}
    types: dict[str, str] = {}
    for topic, sid, _ in scan.channels.values():
        if wanted is None or topic in wanted:
            types[topic] = scan.schemas[sid][0] if sid in scan.schemas else ""
            messages.setdefault(topic, [])
    for cid, stamp, raw in scan.messages:
        topic, sid, _ = scan.channels.get(cid, ("", 0, b""))
        if topic not in messages or types[topic] not in store.fielddefs:
            continue
        messages[topic].append((stamp, store.deserialize_cdr(raw, types[topic])))
    for msgs in messages.values():
        msgs.sort(key=lambda item: item[0])
    got = sum(len(m) for m in messages.values())
    note = f"recovered {got} message(s) from {mcap.name}"
    if not scan.complete:
        note += f" (file cut at byte {scan.stop_offset}: the recording was interrupted)"
    lost = {t: n - len(messages.get(t, [])) for t, n in expected.items() if t in messages}
    lost = {t: n for t, n in lost.items() if n > 0}
    if lost:
        note += "; lost: " + ", ".join(f"{n} on {t}" for t, n in sorted(lost.items()))
    return messages, types, note, scan


def _bag_files(path: Path) -> tuple[Path, Path | None]:
    """(bag folder, its MCAP file or None); a path to the .mcap file itself is accepted."""
    if path.is_file() and path.suffix == ".mcap":
        return path.parent, path
    mcaps = sorted(path.glob("*.mcap"))
    return path, (mcaps[0] if mcaps else None)


def is_bag(path: Path) -> bool:
    """A rosbag2 folder (metadata.yaml or an .mcap file in it) or an .mcap file."""
    path = Path(path)
    if path.is_file():
        return path.suffix == ".mcap"
    return path.is_dir() and (
        (path / "metadata.yaml").is_file() or any(path.glob("*.mcap")) or any(path.glob("*.db3"))
    )


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
    folder, mcap = _bag_files(path)
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
        messages, types, recovered, scan = _recover(folder, mcap, topics, expected)
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


def repair_bag(path: str | Path) -> Path:
    """Rewrite an interrupted bag (no metadata.yaml / cut MCAP) as a complete rosbag2 bag.

    The recovered messages go into a new bag built beside it; only when that is complete does it
    replace the original folder. Returns the bag folder.
    """
    from rosbags.rosbag2.storage_mcap import get_qos

    folder, mcap = _bag_files(Path(path))
    if mcap is None:
        raise BagError(f"{folder}: no .mcap file to repair")
    scan = _scan_mcap(mcap)
    if not scan.messages:
        raise BagError(f"{mcap}: no complete message could be recovered")
    store = typestore()
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.repair-", dir=folder.parent))
    try:
        writer = Writer(work / folder.name, version=9, storage_plugin=StoragePlugin.MCAP)
        writer.open()
        conns = {}
        for cid, (topic, sid, meta) in scan.channels.items():
            name, encoding, data = scan.schemas[sid]
            if name not in store.fielddefs:
                _register_schema(store, name, encoding, data)
            try:
                qos = get_qos(meta)
            except Exception:
                qos = []
            conns[cid] = writer.add_connection(
                topic, name, typestore=store, offered_qos_profiles=qos
            )
        for cid, stamp, raw in sorted(scan.messages, key=lambda m: m[1]):
            writer.write(conns[cid], stamp, raw)
        writer.close()
        broken = work / f"{folder.name}.interrupted"
        folder.rename(broken)
        (work / folder.name).rename(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


def main(argv: list[str] | None = None) -> int:
    """`python -m vjepa2_ros.data.bag repair BAG...`: make interrupted bags complete."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m vjepa2_ros.data.bag")
    parser.add_argument("command", choices=["repair"])
    parser.add_argument("bags", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for bag in args.bags:
        try:
            print(f"repaired {repair_bag(bag)}")
        except BagError as exc:
            print(f"error: {exc}")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
