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

How an event reaches a span, within its limits and never waiting for ever
on its lock, is `tracelog._append`'s concern.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tracelog import _errors
from tracelog._append import add_event, set_error
from tracelog._context import TraceContext
from tracelog._fields import PROFILES, ExceptionFields, Schema
from tracelog._json import JsonEncoder, safe_str
from tracelog._levels import level_number, severity_number
from tracelog._redact import DEFAULT_REDACT_KEYS, REDACTED, Redactor

__all__ = [
    "DEFAULT_VALUE_LENGTH",
    "SpanEvents",
    "recorded_by_instrumentation",
    "value_length",
]

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
                    set_error(span, self._description(exception))
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
            elif _on_span_already(span, exception):
                # The instrumentation's own event says it: one event per failure.
                if self.error_status and levelno >= _ERROR:
                    set_error(span, self._description(exception))
                return
            else:
                name = "exception"
                attributes["exception.type"] = self._text(exception.type)
                attributes["exception.message"] = self._text(exception.message)
                attributes["exception.stacktrace"] = self._text(exception.stacktrace)
                if text:
                    attributes["log.record.body"] = text
            add_event(span, name, attributes, timestamp_ns, self.length)
            if exception is not None and self.error_status and levelno >= _ERROR:
                set_error(span, self._description(exception))
        except Exception as exc:
            _errors.report("could not add a span event", exc)

    def _description(self, exception: ExceptionFields) -> str | None:
        if not exception.type:
            return None
        if not exception.message:
            return self._text(exception.type)  # as Python prints it
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


def recorded_by_instrumentation(exception: BaseException, *, later: bool = False) -> bool:
    """Whether an instrumentation records *exception* on its span itself.

    With *later*, note on the exception that it will (when the request
    ends, after the framework logged it: a Django view's, see
    tracelog.django), so a record carrying it becomes no second
    ``exception`` event. Never raises.
    """
    try:
        if later:
            # On the exception itself: built-in exceptions take no weak reference.
            exception._tracelog_recorded_later = True  # type: ignore[attr-defined]
        return getattr(exception, "_tracelog_recorded_later", False) is True
    except Exception:  # an exception object that takes no attribute
        return False


def _on_span_already(span: Any, exception: ExceptionFields) -> bool:
    """Whether *span* has an ``exception`` event for this type and message already.

    The instrumentation records an exception before the framework logs it
    (Celery's task failure): one event says it. Its type may be unqualified
    (``record_exception`` before OpenTelemetry SDK 1.2x).
    """
    for event in getattr(span, "events", None) or ():
        if getattr(event, "name", None) != "exception":
            continue
        attributes = getattr(event, "attributes", None) or {}
        theirs = attributes.get("exception.type")
        if attributes.get("exception.message") == exception.message and (
            isinstance(theirs, str)
            and (
                theirs == exception.type
                or exception.type.endswith("." + theirs)
                or theirs.endswith("." + exception.type)
            )
        ):
            return True
    return False


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
