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
from typing import Any, NamedTuple

from tracelog.query._ids import TraceId

__all__ = [
    "PROFILES",
    "DamagedLine",
    "Profile",
    "column_keys",
    "field",
    "level_number",
    "parse_line",
    "profile_of",
    "record_time",
    "seconds",
    "trace_matches",
]

Key = tuple[
    str, tuple[str, ...]
]  # (dotted key, nested path); the dotted form is what tracelog writes


class Profile(NamedTuple):
    """Where one field profile keeps the fields the query reads (see ``tracelog._fields``).

    Attributes:
        trace: the trace-ID field; with the span field and the own keys it
            decides the record's profile (see `profile_of`), and all else is
            read from that profile's names.
        span, time, level, logger, service: keys in order of preference.
        own: top-level keys the profile writes (not the record's extra fields).
        nested: top-level keys whose object holds the profile's nested forms.
    """

    name: str
    trace: Key
    span: Key
    time: tuple[Key, ...]
    level: tuple[Key, ...]
    logger: tuple[Key, ...]
    service: tuple[Key, ...]
    own: frozenset[str]
    nested: frozenset[str]


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


MESSAGE_FIELDS: tuple[Key, ...] = (("message", ()), ("msg", ()))

PROFILES: tuple[Profile, ...] = (
    Profile(
        name="otel",
        trace=("trace_id", ()),
        span=("span_id", ()),
        time=(("timestamp", ()),),
        level=(("level", ()),),
        logger=(("logger", ()),),
        service=(("service.name", ("service", "name")),),
        own=_names("timestamp level logger message trace_id span_id trace_flags service.name"),
        nested=frozenset(("service",)),
    ),
    Profile(
        name="ecs",
        trace=("trace.id", ("trace", "id")),
        span=("span.id", ("span", "id")),
        time=(("@timestamp", ()),),
        level=(("log.level", ("log", "level")),),
        logger=(("log.logger", ("log", "logger")),),
        service=(("service.name", ("service", "name")),),
        own=_names(
            "@timestamp log.level log.logger message trace.id span.id service.name ecs.version"
        ),
        nested=frozenset(("trace", "span", "log", "service", "ecs")),
    ),
    Profile(
        name="datadog",
        trace=("dd.trace_id", ("dd", "trace_id")),
        span=("dd.span_id", ("dd", "span_id")),
        time=(("timestamp", ()),),
        level=(("status", ()),),
        logger=(("logger.name", ("logger", "name")),),
        service=(("service", ()),),
        own=_names("timestamp status logger.name message dd.trace_id dd.span_id service"),
        nested=frozenset(("dd", "logger")),
    ),
    Profile(
        name="gcp",
        trace=("logging.googleapis.com/trace", ()),
        span=("logging.googleapis.com/spanId", ()),
        time=(("time", ()),),
        level=(("severity", ()),),
        logger=(("logger", ()),),
        service=(("serviceContext.service", ("serviceContext", "service")),),
        own=_names(
            "time severity logger message logging.googleapis.com/trace"
            " logging.googleapis.com/spanId logging.googleapis.com/trace_sampled"
            " serviceContext.service"
        ),
        nested=frozenset(("serviceContext",)),
    ),
    # OpenTelemetry's logging instrumentation: no JSON layout of its own, so the
    # other fields go by their usual names, the stdlib's (python-json-logger's)
    # first; any of them may be an ordinary extra, so a time or level is taken
    # only where it reads as one (see `raw_time`, `level_name`). Also used for
    # records with no trace field.
    Profile(
        name="legacy",
        trace=("otelTraceID", ()),
        span=("otelSpanID", ()),
        time=(("asctime", ()), ("timestamp", ()), ("@timestamp", ()), ("time", ())),
        level=(("levelname", ()), ("level", ())),
        logger=(("name", ()), ("logger", ())),
        service=(("otelServiceName", ()), ("service.name", ("service", "name")), ("service", ())),
        own=_names(
            "timestamp @timestamp time asctime level levelname logger name message msg"
            " otelTraceID otelSpanID otelTraceSampled otelServiceName service.name service"
        ),
        nested=frozenset(("service",)),
    ),
)
_FALLBACK = PROFILES[-1]
TRACE_FIELDS: tuple[Key, ...] = tuple(profile.trace for profile in PROFILES)

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
    """A candidate line that is not one JSON object; the message says why.

    What is damaged is decided here, the same on every Python: not valid UTF-8;
    a byte-order mark; not JSON (NaN and Infinity included); an integer of more
    digits than Python converts (4,300 by default); a JSON value that is not an
    object; nesting deeper than `MAX_DEPTH` levels (Python 3.13's json parses
    what 3.11's refused, so the interpreter's limit cannot be the rule).
    """


MAX_DEPTH = 512  # arrays and objects inside each other; tracelog itself writes a few
# A string (escapes included) or one bracket: strings are skipped whole so that
# brackets inside them do not count.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _too_deep(line: bytes) -> bool:
    """Whether *line* nests arrays and objects deeper than `MAX_DEPTH`."""
    if line.count(b"[") + line.count(b"{") <= MAX_DEPTH:  # cheap: most lines end here
        return False
    depth = 0
    for token in _TOKENS.finditer(line):
        char = token.group()
        if char in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif char in (b"]", b"}"):
            depth -= 1
    return False


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
    if _too_deep(line):
        raise DamagedLine(f"nested deeper than {MAX_DEPTH} levels")
    try:
        record = _loads(line)
    except RecursionError:  # a lowered recursion limit; MAX_DEPTH is checked above
        raise DamagedLine(f"nested deeper than {MAX_DEPTH} levels") from None
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


def _present(record: dict[str, Any], key: Key) -> Any:
    return field(record, (key,))


def profile_of(record: dict[str, Any]) -> Profile:
    """The record's profile, picked by its signature, not by any one field.

    tracelog renames only the extras that clash with the record's own profile,
    so an extra may be named like another profile's trace field. A profile's
    own trace field together with its span field (tracelog always writes both)
    outweighs a lone trace field; then the count of the profile's own top-level
    keys decides; `PROFILES` order only breaks ties. A record with no trace
    field at all is read with the most lenient names.
    """
    best, best_score = _FALLBACK, (False, -1)
    for profile in PROFILES:
        if _present(record, profile.trace) is None:
            continue
        score = (
            _present(record, profile.span) is not None,
            sum(1 for key in record if key in profile.own or key in profile.nested),
        )
        if score > best_score:
            best, best_score = profile, score
    return best


_GCP_TRACE = re.compile(r"projects/[^/]+/traces/([0-9a-fA-F]+)")


def _normal_id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        return None
    return value.lower()


def trace_matches(record: dict[str, Any], trace: TraceId) -> bool:
    """Whether the record's own trace-ID field holds *trace* (any case; Datadog: its decimal).

    Only the field of the record's profile counts: a field named like another
    profile's (an extra ``trace.id`` of a producer, say) does not make it a
    record of that trace.
    """
    profile = profile_of(record)
    value = _present(record, profile.trace)
    if profile.name == "gcp" and isinstance(value, str):
        found = _GCP_TRACE.fullmatch(value)
        if found:
            value = found[1]
    text = _normal_id(value)
    if text is None:
        return False
    return text == trace.hex or (profile.name == "datadog" and text == trace.datadog)


def span_matches(record: dict[str, Any], span: str) -> bool:
    """Whether the record's span-ID field holds *span* (16 lowercase hex digits)."""
    value = span_of(record)
    return value is not None and value in (span, str(int(span, 16)))


def span_of(record: dict[str, Any]) -> str | None:
    """The record's span ID as written (lowercased), or None."""
    return _normal_id(_present(record, profile_of(record).span))


def logger_of(record: dict[str, Any]) -> Any:
    """The record's logger name as written, or None."""
    return field(record, profile_of(record).logger)


def service_of(record: dict[str, Any]) -> Any:
    """The record's service name as written, or None."""
    return field(record, profile_of(record).service)


def message_of(record: dict[str, Any]) -> Any:
    """The record's message as written, or None."""
    return field(record, MESSAGE_FIELDS)


def _lenient(
    record: dict[str, Any], names: tuple[Key, ...], readable: Callable[[Any], bool]
) -> Any:
    """The first of *names* whose value is *readable*, else the first present, else None."""
    first = None
    for name in names:
        value = _present(record, name)
        if value is None:
            continue
        if readable(value):
            return value
        if first is None:
            first = value
    return first


def _is_time(value: Any) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value >= 1e9 and _seconds(value) is not None  # not a duration
    return _seconds(value) is not None


def _is_level(value: Any) -> bool:
    if isinstance(value, str):
        return level_number(value) is not None
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 50


def raw_time(record: dict[str, Any]) -> Any:
    """The record's timestamp as written, or None."""
    profile = profile_of(record)
    if profile is _FALLBACK:
        return _lenient(record, profile.time, _is_time)
    return field(record, profile.time)


def _raw_level(record: dict[str, Any]) -> Any:
    profile = profile_of(record)
    if profile is _FALLBACK:
        return _lenient(record, profile.level, _is_level)
    return field(record, profile.level)


_LEGACY_OWN = _names("otelTraceID otelSpanID otelTraceSampled otelServiceName message msg")


def column_keys(record: dict[str, Any]) -> frozenset[str]:
    """The top-level keys whose values the record's columns show (the rest are extras).

    A legacy record's common names are its own only where they were read: an
    extra ``time`` next to ``asctime`` is shown as a field.
    """
    profile = profile_of(record)
    if profile is not _FALLBACK:
        return profile.own
    used = (raw_time(record), _raw_level(record), logger_of(record), service_of(record))
    keys = set(_LEGACY_OWN)
    for names, value in zip(
        (profile.time, profile.level, profile.logger, profile.service), used, strict=True
    ):
        keys.update(name for name, _ in names if value is not None and record.get(name) is value)
    return frozenset(keys)


_NUMBERED = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}


def level_name(record: dict[str, Any]) -> str:
    """The record's level, lowercase (``""`` when it has none)."""
    value = _raw_level(record)
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, int) and not isinstance(value, bool):
        return _NUMBERED.get(value, str(value))
    return ""


def level_number(name: str) -> int | None:
    """The severity of a level name (stdlib numbers 0-50 allowed), None when unknown.

    A number past 50 (an HTTP status, say) is not a severity.
    """
    if name.isascii() and name.isdigit():
        number = int(name)
        return number if number <= 50 else None
    return LEVELS.get(name.lower())


def record_time(record: dict[str, Any]) -> float | None:
    """Seconds since the epoch from the record's timestamp, None when missing or unreadable.

    RFC 3339 / ISO 8601 text (a time without zone is taken as UTC; digits past
    the microsecond are dropped) or a number of seconds (milli-, micro- or
    nanoseconds when it is too large to be seconds).
    """
    return _seconds(raw_time(record))


def seconds(value: Any) -> float | None:
    """Seconds since the epoch from RFC 3339 text or an epoch number (see `record_time`)."""
    return _seconds(value)


def _seconds(value: Any) -> float | None:
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
