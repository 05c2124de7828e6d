"""``--logs PATH``: the newest lines of log files parse as JSON and carry trace IDs.

Files are found as ``tracelog query`` finds them (directories walked for log
names, each file once) and lines are read with its parser and field
profiles. Only the last `SAMPLE` bytes of each file are read (the newest
lines show the current set-up, and a huge file costs no more than a small
one); gzip files are read up to `SAMPLE` bytes from their start.
"""

from __future__ import annotations

import collections
import gzip
import json
import os
import re
import zlib
from collections.abc import Iterable
from typing import Any

from tracelog._doctor._report import DoctorCheck
from tracelog.query._records import DamagedLine, field, parse_line, profile_of
from tracelog.query._sources import discover

__all__ = ["SAMPLE", "files_check"]

SAMPLE = 1 << 20  # bytes read from each file
_HEX = re.compile(r"[0-9a-fA-F]{32}")
_GCP = re.compile(r"projects/[^/]+/traces/([0-9a-fA-F]{32})")
_EXAMPLES = 3
_START = 60  # characters of a line that is not JSON shown


def _sample(path: str) -> tuple[list[bytes], bool]:
    """The complete lines among the last `SAMPLE` bytes of *path* (the first, for gzip).

    A line is complete when a line end follows it: the last one of a file
    may be half-written. The flag says whether the first line is the file's
    first (then lines can be numbered as in the file).
    """
    with open(path, "rb") as file:
        if file.read(2) == b"\x1f\x8b":
            file.seek(0)
            try:
                with gzip.GzipFile(fileobj=file) as unzipped:
                    data = unzipped.read(SAMPLE)
            except (OSError, EOFError, zlib.error) as error:
                raise OSError(f"damaged or truncated gzip data ({error})") from None
            return data.split(b"\n")[:-1], True  # the last is cut by the sample, or empty
        size = file.seek(0, os.SEEK_END)
        start = max(0, size - SAMPLE)
        file.seek(start)
        data = file.read(SAMPLE)
    lines = data.split(b"\n")
    if start > 0:
        lines = lines[1:]  # begins mid-line
    # An unterminated last line is still being written (tracelog ends every line).
    return lines[:-1], start == 0


def _where(path: str, number: int, from_start: bool, line: bytes) -> str:
    """``path:line: "start of the line"``, numbered from the end of a file read in part."""
    start = line[:_START].decode("utf-8", "backslashreplace")
    text = json.dumps(start + ("..." if len(line) > _START else ""), ensure_ascii=False)
    if from_start:
        return f"{path}:{number}: {text}"
    return f"{path}, line {number} of its last {SAMPLE >> 20} MiB: {text}"


def _has_trace_id(record: dict[str, Any]) -> str | None:
    """The name of the profile whose trace field holds a valid trace ID, or None."""
    profile = profile_of(record)
    value = field(record, (profile.trace,))
    if profile.name == "datadog":
        text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
        if text.isdigit():  # datadog64, or a 64-bit ID in datadog
            return profile.name if int(text) > 0 else None
    if not isinstance(value, str):
        return None
    found = _GCP.fullmatch(value)
    if found:
        value = found[1]
    return profile.name if _HEX.fullmatch(value) and int(value, 16) else None


def files_check(paths: Iterable[str]) -> list[DoctorCheck]:
    """The ``log-files`` check."""
    name = "log-files"
    warnings: list[str] = []
    try:
        sources = discover(list(paths), warnings.append)
    except OSError as error:
        return [DoctorCheck.problem(name, str(error), "give existing files or directories")]
    files = [source for source in sources if source.kind == "file"]
    streams = [source.path for source in sources if source.kind != "file"]
    if not files and streams:
        return [
            DoctorCheck.problem(
                name,
                f"{', '.join(streams)}: not a regular file (a FIFO or a pipe): its newest lines"
                " cannot be read without waiting on its writer",
                "give the log files, or the directory that holds them",
            )
        ]
    if not files:
        return [
            DoctorCheck.problem(
                name,
                "no log file found (directories are searched for *.log, *.jsonl, *.ndjson,"
                " *.json and rotated forms)",
                "give the log files, or the directory that holds them",
            )
        ]
    lines = damaged = 0
    with_ids: collections.Counter[str] = collections.Counter()
    examples: list[str] = []
    for source in files:
        try:
            sample, from_start = _sample(source.path)
        except OSError as error:
            warnings.append(f"{source.path}: {error.strerror or error}; skipped")
            continue
        for number, raw in enumerate(sample, 1):
            line = raw.rstrip(b"\r")
            if not line.strip():
                continue
            lines += 1
            try:
                record = parse_line(line)
            except DamagedLine:
                damaged += 1
                if len(examples) < _EXAMPLES:
                    examples.append(_where(source.path, number, from_start, line))
                continue
            profile = _has_trace_id(record)
            if profile is not None:
                with_ids[profile] += 1
    read = f"{len(files)} file{'s' if len(files) != 1 else ''}, {lines} lines read"
    if warnings:
        read += f" ({len(warnings)} unread: {warnings[0]})"
    ids = sum(with_ids.values())
    profiles = ", ".join(f"{count} {profile}" for profile, count in with_ids.most_common())
    if lines == 0:
        return [
            DoctorCheck.problem(
                name,
                f"{read}: no complete line in the {SAMPLE >> 20} MiB read of each file (a line"
                " counts once its line end is written)",
                "give files that hold logs",
            )
        ]
    if damaged:
        return [
            DoctorCheck.problem(
                name,
                f"{read}: {damaged} not JSON objects, plain text most likely:"
                f" {'; '.join(examples)}",
                "send every line through tracelog's output (tracelog.configure(), or"
                " tracelog.logging_config() where a framework sets logging up); let nothing"
                " else (print, a second handler, a traceback on stderr) write to these files",
            )
        ]
    if not ids:
        return [
            DoctorCheck.problem(
                name,
                f"{read}: none carries a trace ID",
                "set an SDK tracer provider and call tracelog.configure() in the process"
                " writing these files, and log inside spans (a request's, say)",
            )
        ]
    return [DoctorCheck.ok(name, f"{read}: all JSON, {ids} with trace IDs ({profiles})")]
