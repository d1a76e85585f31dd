"""BagWriter: a standard rosbag2 MCAP bag (`<name>/<name>.mcap` + metadata.yaml, what
`ros2 bag record -s mcap` makes), written without ROS with the `rosbags` library.

Complete MCAP chunks are flushed to disk every `flush_period_s`, so a recorder killed with SIGKILL
loses at most that much (recovery.py reads what it left); the writer closes itself at exit.
"""

from __future__ import annotations

import atexit
import threading
import time
from pathlib import Path
from typing import Any

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability
from rosbags.interfaces import QosTime as _QosTime
from rosbags.rosbag2 import StoragePlugin, Writer

from vjepa2_ros.data.bag.format import BagError, typestore


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
