"""Log records to span events: the one conversion stdlib, structlog and loguru share.

A record at or above the bridge's level becomes an event on the span that
was current where it was logged, if that span is still recording. The event
is named after the message and carries the attributes the record has as an
OpenTelemetry LogRecord (its extra fields, ``code.function.name``,
``code.file.path``, ``code.line.number``), plus what a LogRecord says in
fields of its own: ``log.record.severity_text``,
``log.record.severity_number`` and ``otel.scope.name`` (the logger). A record
with an exception becomes one standard OpenTelemetry ``exception`` event
instead (``exception.type``, ``exception.message``, ``exception.stacktrace``,
the message under ``log.record.body``), and with *error_status* a record at
ERROR or above with an exception sets the span's status to ERROR.

Values are made valid attributes by `tracelog._attributes`, as for
LogRecords, and cut at the length limit. How an event reaches a span,
within its limits and never waiting for ever on its lock, is
`tracelog._append`'s concern.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tracelog import _errors
from tracelog._append import add_event, set_error
from tracelog._attributes import AttributeMaker
from tracelog._context import TraceContext
from tracelog._fields import ExceptionFields
from tracelog._levels import level_number, severity_number
from tracelog._redact import DEFAULT_REDACT_KEYS

__all__ = [
    "DEFAULT_VALUE_LENGTH",
    "SpanEvents",
    "recorded_by_instrumentation",
    "value_length",
]

DEFAULT_VALUE_LENGTH = 4096
"""Attribute values (and event names) longer than this are cut, by default."""

_ERROR = 40
# Records from these loggers never become events: an exporter or tracelog
# itself logging while an event is added must not feed the bridge.
_INTERNAL = ("opentelemetry", "tracelog")


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

    __slots__ = ("_maker", "_sites", "error_status", "gate", "length", "level")

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
        self._maker = AttributeMaker(redact=redact, length=self.length)
        self._sites: dict[tuple[Any, ...], dict[str, Any]] = {}

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
            maker = self._maker
            attributes = maker.extras(extras, trace, skip) if extras else {}
            # The log and code attributes repeat for every record of a call site.
            site = (levelno, level_text, logger, function, path, line)
            standard = self._sites.get(site)
            if standard is None:
                standard = self._site(site)
            attributes.update(standard)
            if type(message) is str and len(message) <= self.length and message.isascii():
                text = message
            else:
                text = maker.text(message)
            if exception is None:
                name = text or "log"
            elif _on_span_already(span, exception):
                # The instrumentation's own event says it: one event per failure.
                if self.error_status and levelno >= _ERROR:
                    set_error(span, self._description(exception))
                return
            else:
                name = "exception"
                maker.exception(exception, attributes)
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
            return self._maker.text(exception.type)  # as Python prints it
        return self._maker.text(f"{exception.type}: {exception.message}")

    def _site(self, site: tuple[Any, ...]) -> dict[str, Any]:
        """The log and code attributes of a call site, made valid once."""
        levelno, level_text, logger, function, path, line = site
        maker = self._maker
        standard: dict[str, Any] = {
            "log.record.severity_text": maker.text(level_text),
            "log.record.severity_number": severity_number(levelno),
        }
        if logger is not None:
            standard["otel.scope.name"] = maker.text(logger)
        standard.update(maker.code(function, path, line))
        if len(self._sites) >= _MAX_SITES:
            self._sites.clear()
        self._sites[site] = standard
        return standard


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


_MAX_SITES = 4096
