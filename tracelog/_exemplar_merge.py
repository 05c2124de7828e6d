"""A scrape's exemplars: per sample, the most recent whole exemplar any process wrote.

Reads every process's exemplar file (see `_exemplar_file`) in one pass: the
time of every slot of an entry is read at once, as an array of doubles, and
each bucket keeps the newest; only those are then checked (CRC) and decoded.
A slot being written as its file was copied fails its CRC and is read again;
if it still fails, the next newest slot of that bucket, in any file, serves.
"""

from __future__ import annotations

import bisect
import glob
import itertools
import json
import math
import operator
import os
import struct
import zlib

from prometheus_client.samples import Exemplar

from tracelog import _exemplar
from tracelog._errors import report
from tracelog._exemplar_file import (
    MAGIC,
    MAX_PAYLOAD,
    PAIR,
    PREFIX,
    SLOT,
    SUFFIX,
    decode,
    entries,
)

__all__ = ["SampleKey", "latest", "sample_key_labels"]

# A sample as it is exposed: its name and labels, sorted, but "le" last.
SampleKey = tuple[str, tuple[tuple[str, str], ...]]


def sample_key_labels(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The labels of a `SampleKey`: sorted by name, a bucket's ``le`` last."""
    ordered = tuple(sorted(item for item in labels.items() if item[0] != "le"))
    return (*ordered, ("le", labels["le"])) if "le" in labels else ordered


_FILES = f"{PREFIX}*{SUFFIX}"
_RETRIES = 3
_STRIDE = SLOT // 8  # doubles from one slot's time to the next
_TIME = struct.Struct("<d")


class _Series:
    """One entry key: its samples' keys, and its buckets' bounds."""

    __slots__ = ("bounds", "counter", "identity", "samples")

    def __init__(self, sample: str, labels: dict[str, str], bounds: list[str] | None) -> None:
        self.counter = bounds is None
        # Histograms whose processes bucket differently share an identity.
        self.identity = (sample, json.dumps(labels, sort_keys=True))
        self.bounds = [] if bounds is None else [_bound(b) for b in bounds]
        ordered = tuple(sorted(labels.items()))
        self.samples: list[SampleKey] = (
            [(sample, ordered)]
            if bounds is None
            else [(sample, (*ordered, ("le", le))) for le in bounds]
        )


def _series(key: str, pairs: int) -> _Series | None:
    """The series an entry's key names; None if it is not one."""
    try:
        sample, labels, bounds = json.loads(key)
    except ValueError:
        return None
    if not (
        isinstance(sample, str)
        and isinstance(labels, dict)
        and all(isinstance(v, str) for v in labels.values())
        and (
            pairs == 1
            if bounds is None
            else isinstance(bounds, list)
            and len(bounds) == pairs
            and all(isinstance(b, str) for b in bounds)
        )
    ):
        return None
    return _Series(sample, labels, bounds)


def _bound(le: str) -> float:
    try:
        return float(le)
    except ValueError:
        return math.nan


def _used(path: str) -> bytes | None:
    """The used part of an exemplar file, or None if it is not one.

    Read, not mapped: a file cut short under a mapping would kill the
    process with SIGBUS.
    """
    with open(path, "rb", buffering=0) as file:
        head = os.pread(file.fileno(), 8, 0)
        if len(head) < 8 or head[:4] != MAGIC:
            return None
        (used,) = struct.unpack_from("<I", head, 4)
        return file.read(used)


# Decoded labels by payload (a span's labels sit on several buckets); None if invalid.
_Decoded = dict[bytes, "dict[str, str] | None"]
_SLOT_HEAD = struct.Struct("<I4xddH")  # HEAD, then the payload's length
_MISSING = object()
_new_tuple = tuple.__new__


def _labels(payload: bytes) -> dict[str, str] | None:
    """The labels in *payload*, if they decode and fit OpenMetrics' 128 characters."""
    try:
        labels = decode(payload)
    except (ValueError, IndexError, struct.error):
        return None
    # Characters are at most bytes: a short payload fits without counting.
    if not labels or (
        len(payload) > _exemplar.MAX_RUNES
        and sum(len(k) + len(v) for k, v in labels.items()) > _exemplar.MAX_RUNES
    ):
        return None
    return labels


def _slot(data: bytes, pos: int, decoded: _Decoded) -> Exemplar | None:
    """The exemplar in the slot at *pos* (wholly inside *data*), or None if empty, torn, invalid."""
    crc, stamp, value, size = _SLOT_HEAD.unpack_from(data, pos)
    if not stamp > 0 or size > MAX_PAYLOAD:
        return None
    end = pos + _SLOT_HEAD.size + size
    if zlib.crc32(data[pos + 8 : pos + 24], zlib.crc32(data[pos + 24 : end])) != crc:
        return None
    payload = data[pos + _SLOT_HEAD.size : end]
    labels = decoded.get(payload, _MISSING)
    if labels is _MISSING:
        labels = decoded[payload] = _labels(payload)
    if labels is None:
        return None
    return _new_tuple(Exemplar, (labels, value, stamp))


def _reread(path: str, pos: int, decoded: _Decoded) -> Exemplar | None:
    """The slot at *pos* read again: it was being written as its file was copied."""
    try:
        with open(path, "rb") as file:
            for _ in range(_RETRIES):
                data = os.pread(file.fileno(), SLOT, pos)
                if len(data) < SLOT:
                    return None
                exemplar = _slot(data, 0, decoded)
                if exemplar is not None:
                    return exemplar
    except OSError:
        pass
    return None


class _Files:
    """The used part of every exemplar file of a directory, and where each series sits."""

    def __init__(self, path: str) -> None:
        self.names: list[str] = []
        self.data: list[bytes] = []
        self.offsets: list[dict[str, int]] = []
        for name in sorted(glob.glob(os.path.join(glob.escape(path), _FILES))):
            try:
                data = _used(name)
            except FileNotFoundError:  # removed since the directory was listed
                continue
            except Exception as exc:
                report("metrics: an exemplar file could not be read", exc)
                continue
            if data is not None:
                self.names.append(name)
                self.data.append(data)
                self.offsets.append({})

    def slots(self, key: str, index: int) -> list[tuple[float, int, int]]:
        """Every written slot of bucket *index* of *key*, in any file, newest first."""
        found = []
        for number, data in enumerate(self.data):
            offset = self.offsets[number].get(key)
            if offset is not None:
                for pos in (offset + index * PAIR, offset + index * PAIR + SLOT):
                    (stamp,) = struct.unpack_from("<d", data, pos + 8)
                    if stamp > 0:
                        found.append((stamp, number, pos))
        return sorted(found, reverse=True)

    def exemplar(self, number: int, pos: int, decoded: _Decoded) -> Exemplar | None:
        """The exemplar in file *number* at *pos*; read again if it was written as it was copied."""
        data = self.data[number]
        exemplar = _slot(data, pos, decoded)
        if exemplar is None and _TIME.unpack_from(data, pos + 8)[0] > 0:
            exemplar = _reread(self.names[number], pos, decoded)
        return exemplar

    def newest(self, number: int, key: str, index: int, decoded: _Decoded) -> Exemplar | None:
        """The newer whole exemplar of bucket *index* of *key* in file *number*."""
        data = self.data[number]
        pos = self.offsets[number][key] + index * PAIR
        (first,), (second,) = (
            _TIME.unpack_from(data, pos + 8),
            _TIME.unpack_from(data, pos + SLOT + 8),
        )
        order = (pos + SLOT, pos) if second > first else (pos, pos + SLOT)
        for at in order:
            exemplar = self.exemplar(number, at, decoded)
            if exemplar is not None:
                return exemplar
        return None


# Parsed entry keys, kept across scrapes: a series keeps its key for the life of a process.
_parsed: dict[str, _Series | None] = {}
_MAX_PARSED = 1 << 16


def _entry(key: str, pairs: int) -> _Series | None:
    entry = _parsed.get(key, _UNPARSED)
    if entry is _UNPARSED:
        if len(_parsed) >= _MAX_PARSED:
            _parsed.clear()
        entry = _parsed[key] = _series(key, pairs)
    return entry  # type: ignore[return-value]


_UNPARSED = object()


def latest(path: str) -> dict[SampleKey, Exemplar]:
    """Per sample, the most recent whole exemplar any process wrote, if valid OpenMetrics.

    Valid: labels of at most 128 characters, and a value within its bucket
    (above the bound below it among every process's buckets of the series).
    A file that cannot be read is skipped (reported once): the scrape still
    serves every count and the other processes' exemplars.
    """
    files = _Files(path)
    series: dict[str, _Series] = {}
    # Per key: the newest time of each bucket, and the file it is in.
    newest: dict[str, tuple[list[float], list[int]]] = {}
    for number, data in enumerate(files.data):
        view = memoryview(data)
        offsets = files.offsets[number]
        for key, offset, pairs in entries(data, len(data)):
            entry = _entry(key, pairs)
            if entry is None:
                continue
            series[key] = entry
            offsets[key] = offset
            # Every slot's time at once (8-aligned doubles, one per slot), then each pair's newest.
            stamps = view[offset : offset + pairs * PAIR].cast("d")[1::_STRIDE].tolist()
            here: list[float] = list(map(max, stamps[0::2], stamps[1::2]))
            kept = newest.get(key)
            if kept is None:
                newest[key] = (here, [number] * pairs)
                continue
            times, where = kept
            for index in itertools.compress(range(pairs), map(operator.gt, here, times)):
                times[index] = here[index]
                where[index] = number
    layouts: dict[tuple[str, str], list[float]] = {}
    for entry in series.values():
        if not entry.counter:
            layouts.setdefault(entry.identity, []).extend(entry.bounds)
    every = {
        identity: sorted({b for b in bounds if not math.isnan(b)})
        for identity, bounds in layouts.items()
    }
    found: dict[SampleKey, Exemplar] = {}
    decoded: _Decoded = {}
    for key, (times, where) in newest.items():
        entry = series[key]
        for index, stamp in enumerate(times):
            if not stamp > 0:
                continue
            exemplar = files.newest(where[index], key, index, decoded)
            if exemplar is None:  # torn for good, or invalid: the next newest, in any file
                for _, number, pos in files.slots(key, index):
                    if number == where[index]:
                        continue
                    exemplar = files.exemplar(number, pos, decoded)
                    if exemplar is not None:
                        break
                else:
                    continue
            if entry.counter:
                valid = exemplar.value >= 0
            else:
                upper = entry.bounds[index]
                bounds = every[entry.identity]
                at = bisect.bisect_left(bounds, upper)
                # The first bucket has no bound below it (-inf is in it too).
                valid = (at == 0 or bounds[at - 1] < exemplar.value) and exemplar.value <= upper
            if valid:
                sample = entry.samples[index]
                # Processes that bucket a series differently write it under other keys.
                other = found.get(sample)
                if other is None or exemplar.timestamp > other.timestamp:  # type: ignore[operator]
                    found[sample] = exemplar
    return found
