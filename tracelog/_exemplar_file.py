"""Exemplars in multiprocess mode: one memory-mapped file per process, merged when scraped.

prometheus_client's multiprocess mode keeps each process's values in
memory-mapped files of its own and drops exemplars. tracelog keeps them the
same way, beside those files, in ``exemplars_<pid>.tracelog``: each process
writes only its own file, with no lock shared between processes; a scrape
reads every process's file and keeps, per bucket, the most recent exemplar.

The file: an 8-byte header (magic, bytes used), then one entry per series:
its key (JSON: sample name, labels, bucket bounds), then one pair of slots per
bucket (one for a counter). An exemplar is written whole into one slot of its
pair, the two taking turns, with a CRC-32 over its time, value and labels. A
reader in another process may copy a slot while it is being written: the
CRC tells it, and it takes the pair's other slot (the exemplar before), so a
scrape never shows a torn exemplar, and a process killed in the middle of a
write keeps the one before. `tracelog._multiprocess` reads the files.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import threading
import time
import weakref
import zlib
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client.utils import floatToGoString

from tracelog._errors import report
from tracelog._exemplar import Labels

__all__ = [
    "HEAD",
    "MAGIC",
    "MAX_PAYLOAD",
    "PAIR",
    "PREFIX",
    "SLOT",
    "SUFFIX",
    "Slots",
    "decode",
    "directory",
    "encode",
    "entries",
    "slots",
]

MAGIC = b"TLX1"
PREFIX, SUFFIX = "exemplars_", ".tracelog"
# Labels of one exemplar, encoded: at most 128 characters of names (ASCII) and values
# (up to 4 bytes each in UTF-8), with 3 bytes of lengths per label, come to 512 bytes.
MAX_PAYLOAD = 512
# A slot: CRC-32, padding, time (8-aligned, so a reader can view every slot's time as one
# array of doubles), value, the u16 length of the payload, the payload. The CRC is of the
# length and payload followed by the time and value: the labels' CRC is computed once.
HEAD = struct.Struct("<I4xdd")
SLOT = 544  # HEAD.size + 2 + MAX_PAYLOAD, rounded up to 8
PAIR = 2 * SLOT
_INITIAL_SIZE = 1 << 16
_U32 = struct.Struct("<I")
_ENTRY = struct.Struct("<II")  # key length, slot pairs
_pack_dd = struct.Struct("<dd").pack
_pack_head = HEAD.pack
_pack_u32 = _U32.pack
_pack_u16 = struct.Struct("<H").pack
_unpack_u16 = struct.Struct("<H").unpack_from
_crc32 = zlib.crc32
_time = time.time


def directory() -> str | None:
    """The multiprocess directory, as prometheus_client reads it (None when unset)."""
    deprecated = "prometheus_multiproc_dir"
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get(deprecated)


def encode(labels: Mapping[str, str]) -> bytes:
    """The u16 length and payload of *labels* (already checked: at most 128 characters)."""
    parts: list[bytes] = []
    for name, value in labels.items():
        raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
        parts += (bytes((len(raw_name),)), raw_name, _pack_u16(len(raw_value)), raw_value)
    payload = b"".join(parts)
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"exemplar labels take {len(payload)} bytes, over {MAX_PAYLOAD}")
    return _pack_u16(len(payload)) + payload


def decode(payload: bytes) -> dict[str, str]:
    """The labels `encode` wrote (without its length).

    Raises:
        ValueError, IndexError, struct.error: *payload* is not such labels.
    """
    labels = {}
    pos, end = 0, len(payload)
    while pos < end:
        size = payload[pos]
        name = payload[pos + 1 : pos + 1 + size].decode("utf-8")
        pos += 1 + size
        (size,) = _unpack_u16(payload, pos)
        labels[name] = payload[pos + 2 : pos + 2 + size].decode("utf-8")
        pos += 2 + size
    if pos != end:
        raise ValueError("labels overrun their payload")
    return labels


def _encoded(labels: Mapping[str, str]) -> tuple[bytes, int]:
    """`encode(labels)` and its CRC-32, kept on a span's labels (`_exemplar.Labels`)."""
    data = encode(labels)
    encoded = (data, _crc32(data))
    if type(labels) is Labels:
        labels.encoded = encoded
    return encoded


class Slots:
    """The slot pairs of one series (a histogram's buckets, or a counter) in this process's file.

    Args:
        file: the process's file.
        key: the series' key in it.
        bounds: a histogram's bucket bounds (one pair each), or None (a counter: one pair).
    """

    __slots__ = ("__weakref__", "_file", "_turns", "bounds", "key", "offset", "pairs")

    def __init__(self, file: _File, key: str, bounds: Sequence[float] | None) -> None:
        self._file = file
        self.key = key
        self.bounds = list(bounds or ())
        self.pairs = len(self.bounds) or 1
        self.offset = -1
        self._turns = bytearray(self.pairs)

    def observe(self, amount: float, labels: Mapping[str, str]) -> None:
        """Write the exemplar of the bucket *amount* falls in (none for NaN); never raises."""
        try:
            # The first bound >= amount, as prometheus_client counts it.
            bounds = self.bounds
            index = bisect_left(bounds, amount)
            if index < len(bounds) and amount <= bounds[index]:
                # What `write` does, inlined: this is the hot path of every observation.
                data = self._file.map
                if data is None:
                    data = self._file.reopen()
                    if data is None:
                        return
                try:
                    payload, crc = labels.encoded  # type: ignore[attr-defined]
                except AttributeError:  # labels given by hand, or this span's first exemplar
                    payload, crc = _encoded(labels)
                stamp = _time()
                record = _pack_head(_crc32(_pack_dd(stamp, amount), crc), stamp, amount) + payload
                turns = self._turns
                turn = turns[index]
                turns[index] = turn ^ 1
                pos = self.offset + index * PAIR + turn * SLOT
                data[pos : pos + len(record)] = record
        except Exception as exc:  # counted already; only the exemplar is lost
            report("metrics: exemplar not attached", exc)

    def write(self, index: int, amount: float, labels: Mapping[str, str]) -> None:
        """Write the exemplar of pair *index*, into the slot not written last; never raises."""
        try:
            data = self._file.map
            if data is None:
                data = self._file.reopen()
                if data is None:
                    return
            try:
                payload, crc = labels.encoded  # type: ignore[attr-defined]
            except AttributeError:
                payload, crc = _encoded(labels)
            stamp = _time()
            record = _pack_head(_crc32(_pack_dd(stamp, amount), crc), stamp, amount) + payload
            turns = self._turns
            turn = turns[index]
            turns[index] = turn ^ 1
            pos = self.offset + index * PAIR + turn * SLOT
            data[pos : pos + len(record)] = record
        except Exception as exc:
            report("metrics: exemplar not attached", exc)


class _File:
    """This process's exemplar file; written without a lock, grown under an in-process one."""

    def __init__(self) -> None:
        self.map: mmap.mmap | None = None
        self._lock = threading.Lock()
        self._file: Any = None
        self._used = 0
        self._offsets: dict[str, int] = {}
        self._slots: weakref.WeakSet[Slots] = weakref.WeakSet()
        self._failed = False

    def slots(self, key: str, bounds: Sequence[float] | None) -> Slots:
        made = Slots(self, key, bounds)
        with self._lock:
            self._slots.add(made)
            if self.map is not None:
                self._place(made)
        if self.map is None:
            self.reopen()
        return made

    def reopen(self) -> mmap.mmap | None:
        """Open (or after a fork, open anew) this process's file and place every series in it."""
        with self._lock:
            if self.map is not None or self._failed:
                return self.map
            try:
                self._open()
                for made in list(self._slots):
                    self._place(made)
            except Exception as exc:
                self._failed = True
                self.map = None
                report("metrics: multiprocess exemplars are not kept", exc)
            return self.map

    def forked(self) -> None:
        """In a forked child: this file is the parent's; the child opens its own when it writes."""
        self._lock = threading.Lock()  # another thread may have held it at the fork
        self.map = None
        self._file = None
        self._offsets = {}
        self._failed = False
        for made in self._slots:
            made.offset = -1

    def _open(self) -> None:
        path = directory()
        if not path:
            raise RuntimeError("PROMETHEUS_MULTIPROC_DIR is not set")
        name = os.path.join(path, f"{PREFIX}{os.getpid()}{SUFFIX}")
        file = open(name, "a+b")  # noqa: SIM115 - kept open with its mapping
        size = os.fstat(file.fileno()).st_size
        if size == 0:
            size = _INITIAL_SIZE
            file.truncate(size)
        data = mmap.mmap(file.fileno(), size)
        offsets: dict[str, int] = {}
        if data[:4] == MAGIC:  # this pid's file of an earlier process: keep its exemplars
            used = min(_U32.unpack_from(data, 4)[0], size)
            for key, offset, _ in entries(data, used):
                offsets[key] = offset
        else:
            used = 8
            data[:8] = MAGIC + _pack_u32(used)
        self._file, self.map, self._used, self._offsets = file, data, used, offsets

    def _place(self, made: Slots) -> None:
        offset = self._offsets.get(made.key)
        if offset is None:
            key = made.key.encode("utf-8")
            padded = key + b" " * (-len(key) % 8)
            size = _ENTRY.size + len(padded) + made.pairs * PAIR
            assert self.map is not None
            while self._used + size > len(self.map):
                self._file.truncate(2 * len(self.map))
                # The old mapping stays valid for a writer holding it (same file pages).
                self.map = mmap.mmap(self._file.fileno(), 2 * len(self.map))
            start = self._used
            self.map[start : start + _ENTRY.size + len(padded)] = (
                _ENTRY.pack(len(key), made.pairs) + padded
            )
            offset = self._offsets[made.key] = start + _ENTRY.size + len(padded)
            self._used = start + size
            self.map[4:8] = _pack_u32(self._used)  # readers see the entry once it is whole
        made.offset = offset


_file = _File()


def _forked() -> None:
    _file.forked()


# A forked child (gunicorn's workers, --preload or not) writes a file of its own.
os.register_at_fork(after_in_child=_forked)


def slots(sample: str, labels: Mapping[str, str], bounds: Sequence[float] | None) -> Slots:
    """The slot pairs of one series in this process's file: one per bucket bound, else one."""
    # The bounds as prometheus_client writes them in "le" (its floatToGoString).
    les = None if bounds is None else [floatToGoString(b) for b in bounds]  # type: ignore[no-untyped-call]
    key = json.dumps([sample, dict(labels), les], sort_keys=True)
    return _file.slots(key, bounds)


def entries(data: bytes | mmap.mmap, used: int) -> list[tuple[str, int, int]]:
    """(key, offset of its slots, pairs) of each whole entry up to *used*."""
    found = []
    pos = 8
    while pos + _ENTRY.size <= used:
        size, pairs = _ENTRY.unpack_from(data, pos)
        start = pos + _ENTRY.size
        offset = start + size + (-size % 8)
        end = offset + pairs * PAIR
        if end > used or pairs == 0:
            break  # not (yet) a whole entry
        try:
            key = bytes(data[start : start + size]).decode("utf-8")
        except UnicodeDecodeError:
            break
        found.append((key, offset, pairs))
        pos = end
    return found
