"""Interrupted recordings: read the messages a cut MCAP file still holds, and repair such a bag.

A recorder that dies mid-run leaves no metadata.yaml and an MCAP file cut after its last flushed
chunk. The records up to the cut are scanned directly (schemas, channels, messages, including
uncompressed records of a cut chunk); `repair_bag` rewrites them as a complete bag that
`ros2 bag info` and `ros2 bag play` accept.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import get_types_from_idl, get_types_from_msg

from vjepa2_ros.data.bag.format import MCAP_MAGIC, BagError, bag_files, typestore

_OP_SCHEMA, _OP_CHANNEL, _OP_MESSAGE, _OP_CHUNK = 0x03, 0x04, 0x05, 0x06
_OP_FOOTER, _OP_DATA_END = 0x02, 0x0F


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


def recover_messages(
    path: Path, mcap: Path, topics: Iterable[str] | None, expected: Mapping[str, int]
):
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


def repair_bag(path: str | Path) -> Path:
    """Rewrite an interrupted bag (no metadata.yaml / cut MCAP) as a complete rosbag2 bag.

    The recovered messages go into a new bag built beside it; only when that is complete does it
    replace the original folder. Returns the bag folder.
    """
    from rosbags.rosbag2.storage_mcap import get_qos

    folder, mcap = bag_files(Path(path))
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
