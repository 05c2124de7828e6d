"""Log records to OpenTelemetry LogRecords: the one conversion stdlib, structlog and loguru share.

`OtelLogs.emit` sends a record to the global ``LoggerProvider`` as one
LogRecord, through a Logger named after the record's logger (its
instrumentation scope, as the SDK's ``LoggingHandler`` names it): body the
message; trace ID, span ID and flags those stamped where the record was made;
severity number and text; timestamp and observed timestamp; the extra fields
as attributes (redacted, made valid by `tracelog._attributes`, never cut:
the provider's limits apply), then ``code.*``, ``code.stacktrace`` and
``exception.*`` as the semantic conventions name them.

It never raises and never recurses: records of the ``opentelemetry.*`` and
``tracelog.*`` loggers are not sent, nor is anything logged while a record is
being sent in this thread or while OpenTelemetry suppresses instrumentation
(its processors do so while they export), so an exporter that logs cannot
feed itself. With no provider set (the API's default), nothing is done.

The Logs API changed shape across the versions tracelog supports: up to
1.38 the SDK's Logger takes the SDK's own ``LogRecord`` (with the resource),
from 1.35 a record takes ``context=`` instead of IDs, from 1.39 the API's
``LogRecord`` is the one to emit. The record is built the way the installed
version's own ``LoggingHandler`` builds it.
"""

from __future__ import annotations

import inspect
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import _logs
from opentelemetry import trace as otel_trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from tracelog import _context, _errors
from tracelog._attributes import AttributeMaker
from tracelog._context import TraceContext
from tracelog._events import is_internal
from tracelog._fields import ExceptionFields
from tracelog._levels import severity_number
from tracelog._redact import DEFAULT_REDACT_KEYS

__all__ = ["INACTIVE_PROVIDERS", "OtelLogs"]

_SEVERITIES = {number.value: number for number in SeverityNumber}
INACTIVE_PROVIDERS = tuple(
    cls
    for cls in (
        getattr(_logs, "NoOpLoggerProvider", None),
        getattr(sys.modules["opentelemetry._logs._internal"], "ProxyLoggerProvider", None),
    )
    if isinstance(cls, type)
)
"""The API's stand-ins for an unset LoggerProvider: LogRecords given them go nowhere."""
_NO_SPAN_CONTEXT = otel_trace.set_span_in_context(otel_trace.INVALID_SPAN, Context())
_INVALID_IDS = (0, 0, TraceFlags(TraceFlags.DEFAULT))
_read_context = _context._read_context
_local = threading.local()


class _Shape:
    """How the installed Logs API wants a record built for one provider."""

    __slots__ = ("by_context", "cls", "sdk")

    def __init__(self, provider: Any) -> None:
        sdk_logs = sys.modules.get("opentelemetry.sdk._logs")
        sdk_record = getattr(sdk_logs, "LogRecord", None) if sdk_logs is not None else None
        sdk_provider = getattr(sdk_logs, "LoggerProvider", None) if sdk_logs is not None else None
        # Up to 1.38 the SDK has a LogRecord of its own, carrying the resource;
        # its Logger needs it (up to 1.36 it takes nothing else).
        self.sdk = (
            isinstance(sdk_record, type)
            and isinstance(sdk_provider, type)
            and isinstance(provider, sdk_provider)
        )
        cls: Any = sdk_record if self.sdk else _logs.LogRecord
        self.cls = cls
        self.by_context = "context" in inspect.signature(cls).parameters


class OtelLogs:
    """Sends log records to the global OpenTelemetry LoggerProvider; never raises.

    Args:
        redact: key words whose values are replaced by ``"[REDACTED]"``.
    """

    __slots__ = ("_loggers", "_maker", "_provider", "_shape")

    def __init__(self, *, redact: Any = DEFAULT_REDACT_KEYS) -> None:
        self._maker = AttributeMaker(redact=redact, length=None)
        self._provider: Any = None
        self._shape: _Shape | None = None
        self._loggers: dict[str, tuple[Any, Any]] = {}

    def emit(
        self,
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
        timestamp_ns: int,
        stack: str | None = None,
        skip: frozenset[str] = frozenset(),
    ) -> None:
        """Send one record as a LogRecord, stamped with *trace* (its IDs where it was made).

        Keys of *extras* in *skip* are not attributes.
        """
        if getattr(_local, "busy", False):
            return  # logged while a record is being sent: it would feed itself
        try:
            name = "" if logger is None else logger
            if is_internal(name):
                return
            context = _read_context()
            if context.get(_SUPPRESS_INSTRUMENTATION_KEY):
                return  # an exporter at work (its HTTP client's records, say)
            provider = _logs.get_logger_provider()
            if provider is not self._provider:
                self._use(provider)
            shape = self._shape
            if shape is None:
                return  # no provider set: nowhere to send
            target = self._loggers.get(name)
            if target is None:
                target = self._logger(provider, name)
            _local.busy = True
            try:
                target[0].emit(
                    self._record(
                        shape,
                        target[1],
                        context,
                        trace,
                        message,
                        levelno,
                        level_text,
                        function,
                        path,
                        line,
                        extras,
                        exception,
                        timestamp_ns,
                        stack,
                        skip,
                    )
                )
            finally:
                _local.busy = False
        except Exception as exc:
            _errors.report("could not send a log record to OpenTelemetry", exc)

    def _use(self, provider: Any) -> None:
        """Start sending to *provider* (the global one changed)."""
        self._loggers = {}
        self._shape = None if isinstance(provider, INACTIVE_PROVIDERS) else _Shape(provider)
        self._provider = provider

    def _logger(self, provider: Any, name: str) -> tuple[Any, Any]:
        logger = provider.get_logger(self._maker.text(name))
        loggers = self._loggers
        if len(loggers) >= 4096:
            loggers.clear()
        entry = loggers[name] = (logger, getattr(logger, "resource", None))
        return entry

    def _record(
        self,
        shape: _Shape,
        resource: Any,
        context: Any,
        trace: TraceContext | None,
        message: Any,
        levelno: int,
        level_text: str,
        function: str | None,
        path: str | None,
        line: int | None,
        extras: Mapping[Any, Any] | None,
        exception: ExceptionFields | None,
        timestamp_ns: int,
        stack: str | None,
        skip: frozenset[str],
    ) -> Any:
        maker = self._maker
        attributes = maker.extras(extras, trace, skip) if extras else {}
        attributes.update(maker.code(function, path, line))
        if stack:
            attributes["code.stacktrace"] = maker.text(stack)
        if exception is not None:
            maker.exception(exception, attributes)
        body = message if type(message) is str and message.isascii() else maker.text(message)
        fields: dict[str, Any] = {
            "timestamp": timestamp_ns,
            "observed_timestamp": time.time_ns(),
            "severity_text": maker.text(level_text),
            "severity_number": _SEVERITIES[severity_number(levelno)],
            "body": body,
            "attributes": attributes,
        }
        if shape.by_context:
            fields["context"] = _context_of(trace, context)
        else:
            fields["trace_id"], fields["span_id"], fields["trace_flags"] = (
                _INVALID_IDS if trace is None else trace.rendered("otel-ids", _ids)["ids"]
            )
        if shape.sdk:
            fields["resource"] = resource
        return shape.cls(**fields)


def _context_of(trace: TraceContext | None, current: Any) -> Any:
    """The Context whose span has *trace*'s IDs: the current one when it does."""
    if trace is None:
        return _NO_SPAN_CONTEXT
    if _context.current() is trace:  # logged here, in this span: the usual case
        return current
    return trace.rendered("otel-context", _span_context)["context"]


def _span_context(trace: TraceContext) -> dict[str, Any]:
    trace_id, span_id, flags = _ids(trace)["ids"]
    span = NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False, trace_flags=flags))
    return {"context": otel_trace.set_span_in_context(span, Context())}


def _ids(trace: TraceContext) -> dict[str, Any]:
    return {
        "ids": (
            int(trace.trace_id, 16),
            int(trace.span_id, 16),
            TraceFlags(int(trace.trace_flags, 16)),
        )
    }
