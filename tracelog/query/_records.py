"""Candidate lines to records: parse, check the trace field exactly, read the common fields.

Every field profile tracelog writes (see ``tracelog._fields.PROFILES``) is read,
dotted keys and nested objects alike, plus OpenTelemetry's legacy
``otelTraceID``/``otelSpanID`` names.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Callable
from typing import Any

from tracelog.query._ids import TraceId

__all__ = [
    "DamagedLine",
    "field",
    "level_number",
    "parse_line",
    "record_time",
    "trace_matches",
]

# (dotted key, nested path) per profile; the dotted form is what tracelog writes.
TRACE_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("trace_id", ()),
    ("trace.id", ("trace", "id")),
    ("dd.trace_id", ("dd", "trace_id")),
    ("logging.googleapis.com/trace", ()),
    ("otelTraceID", ()),
)
SPAN_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("span_id", ()),
    ("span.id", ("span", "id")),
    ("dd.span_id", ("dd", "span_id")),
    ("logging.googleapis.com/spanId", ()),
    ("otelSpanID", ()),
)
TIME_FIELDS = (("timestamp", ()), ("@timestamp", ()), ("time", ()))
LEVEL_FIELDS = (("level", ()), ("log.level", ("log", "level")), ("status", ()), ("severity", ()))
LOGGER_FIELDS = (
    ("logger", ()),
    ("log.logger", ("log", "logger")),
    ("logger.name", ("logger", "name")),
)
SERVICE_FIELDS = (
    ("service.name", ("service", "name")),
    ("service", ()),
    ("serviceContext.service", ("serviceContext", "service")),
)
MESSAGE_FIELDS = (("message", ()), ("msg", ()))

LEVELS = {
    "trace": 5,
    "debug": 10,
    "default": 10,
    "info": 20,
    "success": 25,
    "notice": 25,
    "warn": 30,
    "warning": 30,
    "error": 40,
    "exception": 40,
    "critical": 50,
    "fatal": 50,
    "alert": 50,
    "emergency": 50,
}

_BOM = b"\xef\xbb\xbf"
_FRACTION = re.compile(r"(\.\d{6})\d+")
# Times a datetime can show: years 1 to 9999, in UTC.
_FIRST, _LAST = -62135596800.0, 253402300799.0


class DamagedLine(Exception):
    """A candidate line that is not one JSON object; the message says why."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Candidate lines are few in a typical query, and importing orjson costs more
# (7-16 ms) than parsing a few hundred lines with json; so json parses the
# first ones and orjson, when installed, the rest of a big trace. json decides
# what is damaged either way (orjson's refusals are checked again with it), so
# a line's verdict does not depend on where it comes in the scan.
_ORJSON_AFTER = 256
_parsed = 0
_fast: Callable[[bytes], Any] | None = None


def _load_orjson() -> Callable[[bytes], Any] | None:
    try:
        import orjson  # noqa: PLC0415 - see above
    except ImportError:  # optional
        return None
    return orjson.loads


def _loads(line: bytes) -> Any:
    global _parsed, _fast
    if _fast is not None:
        try:
            return _fast(line)
        except ValueError:  # orjson.JSONDecodeError included
            pass
    else:
        _parsed += 1
        if _parsed == _ORJSON_AFTER:
            _fast = _load_orjson()
    return json.loads(line.decode("utf-8"), parse_constant=_reject_constant)


def parse_line(line: bytes) -> dict[str, Any]:
    """The JSON object on *line*.

    Raises:
        DamagedLine: the line is not valid UTF-8 JSON holding one object.
    """
    if line.startswith(_BOM):
        raise DamagedLine("starts with a byte-order mark")
    try:
        record = _loads(line)
    except RecursionError:
        raise DamagedLine("not valid JSON (nested too deeply)") from None
    except ValueError as error:  # UnicodeDecodeError and JSONDecodeError included
        raise DamagedLine(f"not valid JSON ({str(error)[:120]})") from None
    if not isinstance(record, dict):
        raise DamagedLine(f"a JSON {type(record).__name__}, not an object")
    return record


def field(record: dict[str, Any], names: tuple[tuple[str, tuple[str, ...]], ...]) -> Any:
    """The first of *names* present in *record*, dotted key or nested path; None if none."""
    for dotted, path in names:
        value = record.get(dotted)
        if value is not None:
            return value
        if path:
            node: Any = record
            for part in path:
                node = node.get(part) if isinstance(node, dict) else None
                if node is None:
                    break
            if node is not None:
                return node
    return None


def _normal_id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        return None
    # GCP: projects/PROJECT/traces/TRACE_ID
    return value.rsplit("/", 1)[-1].strip().lower()


def trace_matches(record: dict[str, Any], trace: TraceId) -> bool:
    """Whether a trace-ID field of *record* holds *trace* (any case; Datadog: its decimal)."""
    for dotted, path in TRACE_FIELDS:
        value = _normal_id(field(record, ((dotted, path),)))
        if value is None:
            continue
        if value == trace.hex or (dotted == "dd.trace_id" and value == trace.datadog):
            return True
    return False


def span_matches(record: dict[str, Any], span: str) -> bool:
    """Whether a span-ID field of *record* holds *span* (16 lowercase hex digits)."""
    decimal = str(int(span, 16))
    for dotted, path in SPAN_FIELDS:
        value = _normal_id(field(record, ((dotted, path),)))
        if value is not None and value in (span, decimal):
            return True
    return False


def span_of(record: dict[str, Any]) -> str | None:
    """The record's span ID as written (lowercased), or None."""
    return _normal_id(field(record, SPAN_FIELDS))


def level_name(record: dict[str, Any]) -> str:
    """The record's level, lowercase (``""`` when it has none)."""
    value = field(record, LEVEL_FIELDS)
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, int) and not isinstance(value, bool):
        return {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}.get(
            value, str(value)
        )
    return ""


def level_number(name: str) -> int | None:
    """The severity of a level name (stdlib numbers), None when unknown."""
    if name.isascii() and name.isdigit():
        return int(name)
    return LEVELS.get(name.lower())


def record_time(record: dict[str, Any]) -> float | None:
    """Seconds since the epoch from the record's timestamp, None when missing or unreadable.

    RFC 3339 / ISO 8601 text (a time without zone is taken as UTC; digits past
    the microsecond are dropped) or a number of seconds (milli-, micro- or
    nanoseconds when it is too large to be seconds).
    """
    value = field(record, TIME_FIELDS)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer past a double's range
            return None
        if not math.isfinite(number) or abs(number) > 1e20:
            return None
        while abs(number) > 1e11:  # ms, us or ns since the epoch
            number /= 1000
        return number if _FIRST <= number <= _LAST else None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.UTC)
        seconds = parsed.timestamp()
        return seconds if _FIRST <= seconds <= _LAST else None
    except (ValueError, OverflowError):
        return None
