"""Log records to span events: the one conversion stdlib, structlog and loguru share.

A record at or above the bridge's level becomes an event on the span that
was current where it was logged, if that span is still recording. The event
is named after the message and carries ``log.severity_text``,
``log.severity_number``, ``log.logger``, ``code.function.name``,
``code.file.path``, ``code.line.number`` and the caller's extra fields. A
record with an exception becomes one standard OpenTelemetry ``exception``
event instead (``exception.type``, ``exception.message``,
``exception.stacktrace``, the message under ``log.record.body``), and with
*error_status* a record at ERROR or above with an exception sets the span's
status to ERROR.

Values are made valid attributes before the span sees them: str, bool, int
and float stay (ints beyond 64 bits and text with lone surrogates become safe
text), lists and tuples of one such type stay as tuples, anything else
becomes a safe string (containers as JSON), text is cut at the length limit,
and sensitive keys are redacted as in the JSON output.

On the OpenTelemetry SDK's own span class the event is appended under the
span's lock, its attributes already valid and brought within the span's
limits here (without the SDK's warning per value cut), which costs about a
third of what ``Span.add_event`` costs re-validating them. Spans of other
implementations, and SDK subclasses that override ``add_event``, go through
their public ``add_event``.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Mapping
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.trace import Status, StatusCode

from tracelog import _errors
from tracelog._context import TraceContext
from tracelog._fields import PROFILES, ExceptionFields, Schema
from tracelog._json import JsonEncoder, safe_str
from tracelog._levels import level_number, severity_number
from tracelog._redact import DEFAULT_REDACT_KEYS, REDACTED, Redactor

__all__ = ["DEFAULT_VALUE_LENGTH", "SpanEvents", "value_length"]

DEFAULT_VALUE_LENGTH = 4096
"""Attribute values (and event names) longer than this are cut, by default."""

_ERROR = 40
_MAX_INT = 2**63 - 1
_MIN_INT = -(2**63)
_PRIMITIVES = (str, bool, int, float)
# Records from these loggers never become events: an exporter or tracelog
# itself logging while an event is added must not feed the bridge.
_INTERNAL = ("opentelemetry", "tracelog")
_STANDARD_KEYS = frozenset(
    {
        "log.severity_text",
        "log.severity_number",
        "log.logger",
        "log.record.body",
        "code.function.name",
        "code.file.path",
        "code.line.number",
        "exception.type",
        "exception.message",
        "exception.stacktrace",
    }
)


def value_length(explicit: int | None = None) -> int:
    """The length limit: *explicit*, else ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``, else 4096.

    Raises:
        TypeError, ValueError: *explicit* is not a positive int.
    """
    if explicit is not None:
        if isinstance(explicit, bool) or not isinstance(explicit, int):
            raise TypeError(f"attribute_value_length must be an int, not {explicit!r}")
        if explicit < 1:
            raise ValueError(f"attribute_value_length must be positive, not {explicit}")
        return explicit
    try:
        limit = int(os.environ.get("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", ""))
    except ValueError:
        return DEFAULT_VALUE_LENGTH
    return limit if limit > 0 else DEFAULT_VALUE_LENGTH


def is_internal(logger: str | None) -> bool:
    """Whether *logger* is OpenTelemetry's or tracelog's own (never bridged)."""
    if type(logger) is not str:
        return isinstance(logger, str) and is_internal(str.__str__(logger))
    known = _internal.get(logger)
    if known is None:
        known = logger in _INTERNAL or logger.startswith(("opentelemetry.", "tracelog."))
        if len(_internal) >= 4096:
            _internal.clear()
        _internal[logger] = known
    return known


_internal: dict[str, bool] = {}


class SpanEvents:
    """Adds log records to spans as events; never raises.

    Args:
        level: the lowest level that becomes an event (a name or a number).
        redact: key words whose values are replaced by ``"[REDACTED]"``.
        attribute_value_length: the longest attribute value (and event
            name); default ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``, else 4096.
        error_status: set the span's status to ERROR for a record at ERROR
            or above that carries an exception.
    """

    __slots__ = (
        "_json",
        "_keys",
        "_redactor",
        "_sites",
        "error_status",
        "gate",
        "length",
        "level",
    )

    def __init__(
        self,
        *,
        level: str | int = "INFO",
        redact: Any = DEFAULT_REDACT_KEYS,
        attribute_value_length: int | None = None,
        error_status: bool = True,
    ) -> None:
        self.level = level_number(level, option="span_events")
        self.length = value_length(attribute_value_length)
        self.error_status = bool(error_status)
        # Records from this level up need the bridge: events, or (ERROR and up) the status.
        self.gate = min(self.level, _ERROR) if self.error_status else self.level
        self._redactor = Redactor(redact)
        self._json = JsonEncoder()
        self._sites: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._keys: dict[str, tuple[str, object | None]] = {}

    def add(
        self,
        span: Any,
        trace: TraceContext | None,
        message: Any,
        levelno: int,
        level_text: str,
        logger: str | None,
        function: str | None,
        path: str | None,
        line: int | None,
        extras: Mapping[Any, Any] | None,
        exception: ExceptionFields | None,
        timestamp_ns: int | None = None,
        skip: frozenset[str] = frozenset(),
    ) -> None:
        """Add one record to *span* as an event, if it is still recording.

        The caller has checked the level against `gate` and that *span* is
        the one whose IDs (*trace*) were stamped on the record. A record
        below `level` only sets the status (with *error_status*, at ERROR
        and up, with an exception). Keys of *extras* in *skip* are not
        attributes.
        """
        try:
            if not span.is_recording():
                return
            if levelno < self.level:
                if exception is not None and self.error_status and levelno >= _ERROR:
                    _set_error(span, self._description(exception))
                return
            attributes = self._extras(extras, trace, skip) if extras else {}
            # The log and code attributes repeat for every record of a call site.
            site = (levelno, level_text, logger, function, path, line)
            standard = self._sites.get(site)
            if standard is None:
                standard = self._site(site)
            attributes.update(standard)
            if type(message) is str and len(message) <= self.length and message.isascii():
                text = message
            else:
                text = self._text(message)
            if exception is None:
                name = text or "log"
            else:
                name = "exception"
                attributes["exception.type"] = self._text(exception.type)
                attributes["exception.message"] = self._text(exception.message)
                attributes["exception.stacktrace"] = self._text(exception.stacktrace)
                if text:
                    attributes["log.record.body"] = text
            _add_event(span, name, attributes, timestamp_ns, self.length)
            if exception is not None and self.error_status and levelno >= _ERROR:
                _set_error(span, self._description(exception))
        except Exception as exc:
            _errors.report("could not add a span event", exc)

    def _description(self, exception: ExceptionFields) -> str | None:
        if not exception.type:
            return None
        return self._text(f"{exception.type}: {exception.message}")

    def _site(self, site: tuple[Any, ...]) -> dict[str, Any]:
        """The log and code attributes of a call site, made valid once."""
        levelno, level_text, logger, function, path, line = site
        standard: dict[str, Any] = {
            "log.severity_text": self._text(level_text),
            "log.severity_number": severity_number(levelno),
        }
        if logger is not None:
            standard["log.logger"] = self._text(logger)
        if function is not None:
            standard["code.function.name"] = self._text(function)
        if path is not None:
            standard["code.file.path"] = self._text(path)
        if type(line) is int and _MIN_INT <= line <= _MAX_INT:
            standard["code.line.number"] = line
        if len(self._sites) >= _MAX_SITES:
            self._sites.clear()
        self._sites[site] = standard
        return standard

    def _text(self, value: Any) -> str:
        """Text made a valid attribute value: cut at the limit, no lone surrogates."""
        text: str = value if type(value) is str else _plain_str(value)
        if len(text) > self.length:
            text = text[: self.length]
        if not text.isascii():
            text = _valid_utf8(text)[: self.length]
        return text

    def _extras(
        self, extras: Mapping[Any, Any], trace: TraceContext | None, skip: frozenset[str]
    ) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        keys = self._keys
        length = self.length
        ids: dict[str, Any] | None = None
        for raw_key, value in extras.items():
            if raw_key in skip:
                continue
            known = keys.get(raw_key) if type(raw_key) is str else None
            key, marker = self._key(raw_key) if known is None else known
            if marker is not None:
                if marker is _REDACT:
                    attributes[key] = REDACTED
                    continue
                if marker is _SKIP:
                    continue
                if trace is not None:  # a key trace IDs are stamped under
                    if ids is None:
                        ids = trace.rendered("span-events", _all_ids)
                    if ids.get(key, _ABSENT) == value:
                        continue  # IDs stamped by a processor or patcher: the span says them
            kind = type(value)
            if kind is str:
                attributes[key] = (
                    value if len(value) <= length and value.isascii() else self._text(value)
                )
            elif kind is int:
                attributes[key] = (
                    value if _MIN_INT <= value <= _MAX_INT else self._text(_int_text(value))
                )
            elif kind is float or kind is bool:
                attributes[key] = value
            elif value is not None:
                attributes[key] = self._value(value)
        return attributes

    def _key(self, raw_key: Any) -> tuple[str, object | None]:
        """An extra field's attribute key and what it is (cached for str keys).

        The marker is `_REDACT` for a sensitive key, `_ID` for a key trace IDs
        are stamped under, `_SKIP` for an empty key (OpenTelemetry has none),
        None otherwise. Keys are never cut: a cut key could hide a sensitive
        word or collide with another.
        """
        if isinstance(raw_key, (bytes, bytearray)):
            key = bytes(raw_key).decode("utf-8", "backslashreplace")
        else:
            key = _valid_utf8(_plain_str(raw_key))
        marker: object | None = None
        if not key:
            marker = _SKIP
        elif self._redactor and self._redactor.is_sensitive(key):
            marker = _REDACT
        elif key in _STANDARD_KEYS:
            key = f"extra.{key}"
        elif key in _ID_KEYS and type(raw_key) is str:
            marker = _ID
        if type(raw_key) is str:
            if len(self._keys) >= _MAX_KEYS:
                self._keys.clear()
            self._keys[raw_key] = (key, marker)
        return key, marker

    def _value(self, value: Any) -> Any:
        """A valid attribute value for anything but the plain str/int/float/bool."""
        if type(value) in (list, tuple):
            kinds = {type(item) for item in value}
            if not kinds:
                return ()
            if len(kinds) == 1:
                kind = kinds.pop()
                if kind is str:
                    return tuple(self._text(item) for item in value)
                if kind is int:
                    if all(_MIN_INT <= item <= _MAX_INT for item in value):
                        return tuple(value)
                elif kind is bool or kind is float:
                    return tuple(value)
        elif isinstance(value, (bytes, bytearray, memoryview)):
            return self._text(bytes(value).decode("utf-8", "backslashreplace"))
        elif isinstance(value, _PRIMITIVES):
            # Subclasses, read through the base type so an override cannot raise.
            if isinstance(value, str):
                return self._text(str.__str__(value))
            if isinstance(value, bool):
                return bool(value)
            if isinstance(value, int):
                number = int.__index__(value)
                return number if _MIN_INT <= number <= _MAX_INT else self._text(_int_text(number))
            return float.__float__(value)
        cleaned = self._redactor.clean(value)
        if isinstance(cleaned, (dict, list)):
            return self._text(self._json.dumps(cleaned))
        return self._text(safe_str(cleaned))


_ABSENT = object()
_REDACT = object()  # marks a sensitive key
_SKIP = object()  # marks a key that cannot be an attribute
_ID = object()  # marks a key a trace-ID field may be stamped under
_MAX_SITES = 4096
_MAX_KEYS = 8192
_ID_SCHEMAS = tuple(Schema(fields=profile, redact=()) for profile in PROFILES)
_ID_KEYS = frozenset(key for schema in _ID_SCHEMAS for key in schema.trace_keys)


def _all_ids(trace: TraceContext) -> dict[str, Any]:
    """The trace-ID fields of every profile, as a processor or patcher would stamp them."""
    ids: dict[str, Any] = {}
    for schema in _ID_SCHEMAS:
        ids.update(schema.trace_fields(trace))
    return ids


def _valid_utf8(text: str) -> str:
    r"""*text* with lone surrogates written as ``\udXXX`` (OTLP cannot encode them)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _plain_str(value: Any) -> str:
    """A str subclass as its plain text (read through str, so no override runs), else safe_str."""
    return str.__str__(value) if isinstance(value, str) else safe_str(value)


def _int_text(number: int) -> str:
    """An int beyond 64 bits as text (hex past Python's decimal digit limit)."""
    try:
        return str(number)
    except ValueError:
        return f"{number:#x}"


# The SDK's span classes whose events can be appended directly: those that do
# not override add_event. Filled as span classes are first seen; a class whose
# instances turn out not to have the SDK's internals is switched off.
_direct: dict[type, bool] = {}


def _can_append(cls: type) -> bool:
    known = _direct.get(cls)
    if known is None:
        sdk = sys.modules.get("opentelemetry.sdk.trace")
        base = getattr(sdk, "Span", None)
        known = (
            base is not None
            and isinstance(base, type)
            and issubclass(cls, base)
            and getattr(cls, "add_event", None) is getattr(base, "add_event", None)
            and callable(getattr(sdk, "Event", None))
        )
        _direct[cls] = known
    return known


# How long to wait for a span's lock. The SDK holds it while it turns
# attribute values into text; a value whose __str__ logs brings the bridge
# back to the same span in the same thread, where waiting would never end.
_LOCK_WAIT = 0.05
# The order in which an event's attributes are kept when the span's limit on
# their number is reached: the log record's own first, the extra fields after.
_PRIORITY = (
    "exception.type",
    "exception.message",
    "exception.stacktrace",
    "log.record.body",
    "log.severity_text",
    "log.severity_number",
    "log.logger",
    "code.function.name",
    "code.file.path",
    "code.line.number",
)


def _add_event(
    span: Any, name: str, attributes: dict[str, Any], timestamp_ns: int | None, length: int
) -> None:
    cls = type(span)
    if not (_direct.get(cls) or _can_append(cls)):
        # Another implementation: its add_event applies its own rules.
        span.add_event(name, attributes, timestamp_ns)
        return
    sdk = sys.modules["opentelemetry.sdk.trace"]
    try:
        limits, lock, events = span._limits, span._lock, span._events
        span._end_time  # noqa: B018 - read under the lock below
    except AttributeError:  # not the SDK span this was written for: the public API
        _direct[cls] = False
        span.add_event(name, attributes, timestamp_ns)
        return
    # What Span.add_event does, minus re-validating valid attributes, and
    # within the span's limits without a warning per value cut or dropped.
    event = sdk.Event(name, _within(attributes, limits, length), timestamp_ns)
    if not lock.acquire(timeout=_LOCK_WAIT):
        _errors.report("a span event was dropped: its span stayed locked (a value logged?)")
        return
    try:
        if span._end_time is None:
            events.append(event)
    finally:
        lock.release()


def _set_error(span: Any, description: str | None) -> None:
    """Set *span*'s status to ERROR, never waiting for ever on an SDK span's lock."""
    if _direct.get(type(span)):
        lock = getattr(span, "_lock", None)
        if lock is not None:
            if not lock.acquire(timeout=_LOCK_WAIT):
                _errors.report("a span status was not set: its span stayed locked")
                return
            lock.release()
    span.set_status(Status(StatusCode.ERROR, description))


def _within(attributes: dict[str, Any], limits: Any, length: int) -> Mapping[str, Any]:
    """*attributes* within a span's limits: values cut shorter, the least important dropped."""
    value_limit = limits.max_attribute_length
    if value_limit is not None and value_limit < length:
        attributes = {key: _cut(value, value_limit) for key, value in attributes.items()}
    count = limits.max_event_attributes
    if count is None or len(attributes) <= count:
        return attributes
    ordered = {key: attributes[key] for key in _PRIORITY if key in attributes}
    ordered.update(attributes)
    kept = dict(itertools.islice(ordered.items(), max(count, 0)))
    # BoundedAttributes carries the count of what was dropped to exporters.
    bounded = BoundedAttributes(count, kept, immutable=True)
    bounded.dropped = len(attributes) - len(kept)
    return bounded


def _cut(value: Any, limit: int) -> Any:
    if type(value) is str:
        return value[:limit]
    if type(value) is tuple and value and type(value[0]) is str:
        return tuple(item[:limit] for item in value)
    return value
