"""Standard-library ``logging`` integration.

- `install_record_factory` stamps every record with the current span's IDs
  when it is created, in the thread or task that logs it, so IDs stay right
  behind a ``QueueHandler``. `TraceContextFilter` does the same per
  handler or logger, for ``dictConfig``.
- `JsonFormatter` (built on python-json-logger) and `ConsoleFormatter` write
  tracelog's record schema.
- `QueueHandler` keeps exceptions structured across a queue.
- `SpanEventFilter` adds records to the current span as events.

A stamp is one private record attribute, so no ``extra=`` key can collide
with it. `TraceContextFilter` (and ``install_record_factory(compat=True)``)
also set ``otelTraceID``, ``otelSpanID`` and ``otelTraceSampled``, the names
OpenTelemetry's ``LoggingInstrumentor`` uses, for ``%(otelTraceID)s`` format
strings.
"""

from __future__ import annotations

import copy
import logging
import logging.handlers
import time
from collections.abc import Callable, Mapping, Sequence
from itertools import islice
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS, BaseJsonFormatter

from tracelog import _context, _errors
from tracelog._context import TraceContext
from tracelog._events import SpanEvents, is_internal, recorded_by_instrumentation
from tracelog._fields import ExceptionFields, exception_fields, exception_from
from tracelog._json import safe_str
from tracelog._redact import DEFAULT_REDACT_KEYS
from tracelog._render import ERROR_KEY, Renderer

__all__ = [
    "ConsoleFormatter",
    "JsonFormatter",
    "QueueHandler",
    "SpanEventFilter",
    "TraceContextFilter",
    "check_on_next_record",
    "handler",
    "install_record_factory",
    "set_compat_attributes",
    "stamp",
    "uninstall_record_factory",
]

STAMP = "_tracelog_trace"
"""Record attribute holding the `TraceContext` (or None) captured at emit time."""
_EXCEPTION = "_tracelog_exception"
# The record's extra fields as the formatter read them, for the span-event bridge.
_FIELDS = "_tracelog_fields"
_UNSTAMPED = object()
_HERE: Any = object()  # stamp(): the IDs current where the record is made
_NO_SPAN = {"otelTraceID": "0", "otelSpanID": "0", "otelTraceSampled": False}

# Attributes of a fresh LogRecord; extras, stamps and formatter fields follow them.
_STANDARD_COUNT = len(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)
_RESERVED = frozenset(RESERVED_ATTRS) | {
    "message",
    "asctime",
    "taskName",
    "exc_text",
    "stack_info",
    "otelServiceName",
    # uvicorn's copy of the message with ANSI colour codes, for its own formatter
    "color_message",
}
# Django passes the request (a socket, for runserver's django.server lines)
# to its handlers, AdminEmailHandler's for one: an object, not a field.
_HANDLER_ONLY = "request"


_current = _context.current


def stamp(
    record: logging.LogRecord, *, compat: bool = False, trace: TraceContext | None = _HERE
) -> None:
    """Capture the current span's IDs on *record* (call it in the emitting thread).

    Outside any span, the IDs of the request this thread or task is handling,
    if a middleware of tracelog's kept them (`_context.keep_request_trace`):
    servers log about a request after its span has ended.

    Args:
        record: the record to stamp.
        compat: also set ``otelTraceID``, ``otelSpanID`` and
            ``otelTraceSampled`` (``"0"``, ``"0"``, False outside a span), as
            OpenTelemetry's ``LoggingInstrumentor`` does, for format strings.
        trace: these IDs instead (None: none) of those current here.
    """
    if trace is _HERE:
        trace = _current() or _context.request_trace()
    record.__dict__[STAMP] = trace
    if compat:
        set_compat_attributes(record)


def set_compat_attributes(record: logging.LogRecord) -> None:
    """Set ``LoggingInstrumentor``'s attributes from the record's stamp (or current IDs)."""
    attrs = record.__dict__
    trace = _trace_of(attrs)
    if trace is None:
        attrs.update(_NO_SPAN)
        return
    attrs.update(trace.rendered("stdlib", _compat_fields))


def _compat_fields(trace: TraceContext) -> dict[str, Any]:
    return {
        "otelTraceID": trace.trace_id,
        "otelSpanID": trace.span_id,
        "otelTraceSampled": trace.sampled,
    }


class _Installed:
    """The factory install_record_factory() set, what it wraps, and its switch."""

    __slots__ = ("check", "compat", "enabled", "factory", "previous")

    def __init__(self, previous: Callable[..., logging.LogRecord], *, compat: bool) -> None:
        self.previous = previous
        self.enabled = True
        self.compat = compat
        # Run once with the next record (see check_on_next_record).
        self.check: Callable[[], None] | None = None
        self.factory = _stamping_factory(previous, self)


def _stamping_factory(
    previous: Callable[..., logging.LogRecord], switch: _Installed
) -> Callable[..., logging.LogRecord]:
    # A closure with LogRecord's own signature: no *args packing, no instance
    # call. It runs for every record, so the cost matters.
    def factory(
        name: str,
        level: int,
        pathname: str,
        lineno: int,
        msg: object,
        args: Any,
        exc_info: Any,
        func: str | None = None,
        sinfo: str | None = None,
        **kwargs: Any,
    ) -> logging.LogRecord:
        record = previous(name, level, pathname, lineno, msg, args, exc_info, func, sinfo, **kwargs)
        if switch.enabled:
            try:
                stamp(record, compat=switch.compat)
            except Exception as exc:
                _errors.report("could not read the trace context", exc)
            check = switch.check
            if check is not None:
                switch.check = None
                try:
                    check()
                except Exception as exc:
                    _errors.report("could not check where log records go", exc)
        return record

    return factory


_installed: _Installed | None = None


def install_record_factory(*, compat: bool = False) -> bool:
    """Stamp every LogRecord with the current IDs as it is created.

    Wraps the current factory, so other factories keep working. Calling it
    again while installed does nothing.

    Args:
        compat: also set ``LoggingInstrumentor``'s ``otelTraceID``,
            ``otelSpanID`` and ``otelTraceSampled`` on every record, for
            format strings. Those names then become reserved: ``extra=``
            keys with them raise in ``logging``, as with the instrumentor.

    Returns:
        Whether this call installed it (False: it was installed already).
    """
    global _installed
    if _installed is not None:
        return False
    _installed = _Installed(logging.getLogRecordFactory(), compat=compat)
    logging.setLogRecordFactory(_installed.factory)
    return True


def check_on_next_record(check: Callable[[], None]) -> None:
    """Run *check* once, when the installed record factory makes its next record.

    A ``dictConfig`` runs to its end before any record is made: by then
    whatever it did to the handlers is complete and can be looked at.
    Without the factory installed, nothing is run.
    """
    installed = _installed
    if installed is not None:
        installed.check = check


def uninstall_record_factory() -> None:
    """Undo `install_record_factory`.

    If another factory has wrapped tracelog's since, tracelog's is switched
    off in place instead, so the other one keeps working.
    """
    global _installed
    installed, _installed = _installed, None
    if installed is None:
        return
    installed.enabled = False
    if logging.getLogRecordFactory() is installed.factory:
        logging.setLogRecordFactory(installed.previous)


def handler(*, options: Mapping[str, Any] | None = None) -> logging.Handler:
    """The handler `tracelog.configure` sets up, for a ``logging.config.dictConfig``.

    ``{"()": "tracelog.stdlib.handler", "options": {"service_name": "shop"}}``:
    when the dict is applied, this does what ``tracelog.configure(**options)``
    does (the record factory, structlog and loguru included) except placing
    the handler and setting the root level, which the dict does. `tracelog.
    logging_config` returns a whole dict with it in place.

    Raises:
        ValueError, TypeError: an option is invalid.
    """
    from tracelog import _logging_config  # noqa: PLC0415 - configure()'s machinery, when used

    return _logging_config.handler(options)


class TraceContextFilter(logging.Filter):
    """Stamps records with the current IDs; for ``dictConfig`` set-ups.

    Put it where the record is still in the emitting thread: on a logger, a
    handler, or the ``QueueHandler`` in front of a ``QueueListener``. A
    record stamped already (by the record factory or an earlier filter)
    keeps its IDs, so behind a listener it is right too. It also sets
    ``otelTraceID``, ``otelSpanID`` and ``otelTraceSampled`` for
    ``%(otelTraceID)s`` format strings, and never filters a record out.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            if STAMP not in record.__dict__:
                stamp(record)
            if "otelTraceID" not in record.__dict__:
                set_compat_attributes(record)
        except Exception as exc:
            _errors.report("could not read the trace context", exc)
        return True


def _trace_of(attrs: dict[str, Any]) -> TraceContext | None:
    trace = attrs.get(STAMP, _UNSTAMPED)
    if trace is _UNSTAMPED:
        # Stamped by OpenTelemetry's LoggingInstrumentor, or not at all.
        trace_id = attrs.get("otelTraceID")
        if isinstance(trace_id, str) and trace_id != "0":
            flags = "01" if attrs.get("otelTraceSampled") else "00"
            return _context.from_hex(trace_id, attrs.get("otelSpanID", ""), flags)
        return _context.current()
    return trace if isinstance(trace, TraceContext) else None


def _extras(attrs: dict[str, Any]) -> dict[str, Any]:
    """The fields a caller added to a record (``extra=``), in their order."""
    # A record's own attributes come first; what is added later (extras,
    # stamps, formatter fields) follows them, so only the tail is scanned.
    reserved = _RESERVED
    fields = {
        key: attrs[key]
        for key in islice(attrs, _STANDARD_COUNT, None)
        if key not in reserved
        and not (isinstance(key, str) and key[:1] == "_")
        and not (key in _NO_SPAN and _stamped_copy(attrs, key))
    }
    if _HANDLER_ONLY in fields:
        name = attrs.get("name")
        if isinstance(name, str) and name.startswith("django."):
            del fields[_HANDLER_ONLY]
    return fields


def _stamped_copy(attrs: dict[str, Any], key: str) -> bool:
    """Whether a LoggingInstrumentor-named attribute is tracelog's copy of the stamp.

    It is then not written as a field (``trace_id`` says it already); a
    caller's own ``extra={"otelTraceID": ...}`` is.
    """
    trace = attrs.get(STAMP, _UNSTAMPED)
    if trace is _UNSTAMPED:
        return True  # stamped by LoggingInstrumentor itself: the same IDs again
    if not isinstance(trace, TraceContext):
        return bool(attrs[key] == _NO_SPAN[key])
    ours = {"otelTraceID": trace.trace_id, "otelSpanID": trace.span_id}
    return bool(attrs[key] == ours.get(key, trace.sampled))


def _message(record: logging.LogRecord) -> tuple[str, str | None]:
    """The formatted message, and what went wrong if it could not be formatted."""
    try:
        return record.getMessage(), None
    except Exception as exc:
        args = record.args
        shown = [safe_str(arg) for arg in args] if isinstance(args, tuple) else safe_str(args)
        problem = f"message formatting failed: {type(exc).__name__}: {safe_str(exc)}; args: {shown}"
        return safe_str(record.msg), problem


def _exception_of(record: logging.LogRecord) -> ExceptionFields | None:
    """The record's exception as fields, rendered once per record and kept on it.

    From ``exc_info``, or as `QueueHandler` kept it across a queue.
    """
    attrs = record.__dict__
    if record.exc_info and record.exc_info[0] is not None:
        exception: ExceptionFields | None = attrs.get(_EXCEPTION)
        if exception is None:
            exception = attrs[_EXCEPTION] = exception_fields(record.exc_info)
        return exception
    return attrs.get(_EXCEPTION)


def _render(renderer: Renderer, record: logging.LogRecord, static: Mapping[str, Any]) -> str:
    attrs = record.__dict__
    msg = record.msg
    extras: dict[Any, Any] | None = dict(static) if static else None
    error = None
    if isinstance(msg, dict) and not record.args:
        # python-json-logger's convention: a dict message is a set of fields.
        message = ""
        extras = {**(extras or {}), **msg}
    elif type(msg) is str and not record.args:
        message = msg
    else:
        message, error = _message(record)
    record.message = message
    trace = _trace_of(attrs)
    if len(attrs) > _STANDARD_COUNT:
        fields = _extras(attrs)
        attrs[_FIELDS] = fields
        if fields:
            extras = fields if extras is None else {**extras, **fields}
    if error is not None:
        extras = extras or {}
        extras[ERROR_KEY] = error
    exception = _exception_of(record)
    if exception is None and record.exc_text:
        exception = ExceptionFields(type="", message="", stacktrace=record.exc_text)
    return renderer.render(
        record.created,
        record.levelname,
        record.name,
        message,
        trace,
        extras,
        exception,
        record.stack_info,
    )


def _render_safely(renderer: Renderer, record: logging.LogRecord, static: Mapping[str, Any]) -> str:
    try:
        return _render(renderer, record, static)
    except Exception as exc:
        _errors.report("could not format a log record", exc)
        # Whatever still renders: the renderer drops single fields that do not.
        attrs = getattr(record, "__dict__", {})
        try:
            extras: dict[Any, Any] = {**static, **_extras(attrs)}
        except Exception:
            extras = {}
        extras[ERROR_KEY] = f"{type(exc).__name__}: {safe_str(exc)}"
        try:
            trace = _trace_of(attrs)
        except Exception:
            trace = None
        created = attrs.get("created")
        return renderer.render(
            created if isinstance(created, (int, float)) else time.time(),
            safe_str(attrs.get("levelname", "error")),
            safe_str(attrs.get("name", "")),
            _message(record)[0],
            trace,
            extras,
        )


class JsonFormatter(BaseJsonFormatter):
    """python-json-logger formatter that writes tracelog's record schema.

    Uses python-json-logger's orjson backend when orjson is installed and
    its ``json`` backend otherwise; never raises, whatever the record holds.
    The positional arguments are accepted for ``logging.config`` and
    ignored: the fields come from the *fields* profile.

    Args:
        fields: ``"otel"``, ``"ecs"``, ``"datadog"`` or ``"gcp"``.
        service_name: the service name to write, if any.
        redact: key words whose values are replaced by ``"[REDACTED]"``.
        static_fields: fields added to every record.
        prefix: text written before each JSON object.
    """

    def __init__(
        self,
        fmt: str | Sequence[str] | None = None,
        datefmt: str | None = None,
        style: str = "%",
        validate: bool = True,
        *,
        fields: str = "otel",
        service_name: str | None = None,
        redact: Any = DEFAULT_REDACT_KEYS,
        static_fields: dict[str, Any] | None = None,
        prefix: str = "",
        defaults: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            fmt,
            datefmt,
            style,
            validate,
            prefix=prefix,
            static_fields=static_fields,
            defaults=defaults,
        )
        self.renderer = Renderer(
            format="json", fields=fields, service_name=service_name, redact=redact
        )
        self._static = {**self.defaults, **self.static_fields}

    def format(self, record: logging.LogRecord) -> str:
        line = _render_safely(self.renderer, record, self._static)
        return self.prefix + line if self.prefix else line

    def jsonify_log_record(self, log_data: dict[str, Any]) -> str:
        return self.renderer.text(log_data)


class ConsoleFormatter(logging.Formatter):
    """Human-friendly formatter with the same fields as `JsonFormatter`.

    Args:
        fields: the field profile.
        service_name: the service name to show, if any.
        redact: key words whose values are replaced by ``"[REDACTED]"``.
        colour: add ANSI colours.
    """

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: str = "%",
        validate: bool = True,
        *,
        fields: str = "otel",
        service_name: str | None = None,
        redact: Any = DEFAULT_REDACT_KEYS,
        colour: bool = False,
    ) -> None:
        super().__init__(None, datefmt)
        self.renderer = Renderer(
            format="console",
            fields=fields,
            service_name=service_name,
            redact=redact,
            colour=colour,
        )

    def format(self, record: logging.LogRecord) -> str:
        return _render_safely(self.renderer, record, {})


class QueueHandler(logging.handlers.QueueHandler):
    """A ``QueueHandler`` that keeps what tracelog needs across the queue.

    The standard one formats the exception into the message text and drops
    ``exc_info``; this one stamps the IDs (if no factory or filter did),
    formats the message once and keeps the exception as structured fields.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        try:
            if STAMP not in record.__dict__:
                stamp(record)
            record = copy.copy(record)
            if isinstance(record.msg, dict) and "exc_info" in record.msg:
                # A structlog event (ProcessorFormatter.wrap_for_formatter):
                # exc_info=True means the exception being handled here and now.
                event = dict(record.msg)
                fields = exception_from(event.pop("exc_info"))
                if fields is not None:
                    record.__dict__[_EXCEPTION] = fields
                record.msg = event
            if not (isinstance(record.msg, dict) and not record.args):
                message, error = _message(record)
                record.msg = message
                record.message = message
                if error is not None:
                    record.__dict__[ERROR_KEY] = error
            record.args = None
            if record.exc_info and record.exc_info[0] is not None:
                record.__dict__[_EXCEPTION] = exception_fields(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        except Exception as exc:
            _errors.report("could not prepare a record for the queue", exc)
        return record


class SpanEventFilter(logging.Filter):
    """Adds each record at or above *level* to the current span as an event.

    Put it where the record is still in the emitting thread: on a logger, a
    handler, or the ``QueueHandler`` in front of a ``QueueListener``. It
    never filters a record out. See `tracelog.configure` for what the event
    holds.

    Args:
        level: the lowest level that becomes an event.
        redact: key words whose values are replaced by ``"[REDACTED]"``.
        attribute_value_length: the longest attribute value; default
            ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``, else 4096.
        error_status: a record at ERROR or above with an exception sets the
            span's status to ERROR.
    """

    def __init__(
        self,
        level: str | int = "INFO",
        *,
        redact: Any = DEFAULT_REDACT_KEYS,
        attribute_value_length: int | None = None,
        error_status: bool = True,
    ) -> None:
        super().__init__()
        self.events = SpanEvents(
            level=level,
            redact=redact,
            attribute_value_length=attribute_value_length,
            error_status=error_status,
        )

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= self.events.gate:
            span_event(self.events, record)
        return True


def span_event(events: SpanEvents, record: logging.LogRecord) -> None:
    """Add *record* to the span it was stamped with, if current here; never raises."""
    try:
        if is_internal(record.name):
            return
        exc_info = record.exc_info
        if exc_info and exc_info[1] is not None and recorded_by_instrumentation(exc_info[1]):
            return  # the instrumentation adds its exception event when the request ends
        attrs = record.__dict__
        trace = _trace_of(attrs)
        span = _context.span_matching(trace)
        if span is None:
            return
        msg = record.msg
        extras: dict[Any, Any] | None = None
        if isinstance(msg, dict) and not record.args:
            message = ""
            extras = dict(msg)
        elif type(msg) is str and not record.args:
            message = msg
        else:
            formatted = attrs.get("message")  # by the formatter, if it ran first
            message = formatted if type(formatted) is str else _message(record)[0]
        fields = attrs.get(_FIELDS)
        if fields is None and len(attrs) > _STANDARD_COUNT:
            fields = _extras(attrs)
        if fields:
            extras = fields if extras is None else {**extras, **fields}
        exception = _exception_of(record)
        events.add(
            span,
            trace,
            message,
            record.levelno,
            record.levelname,
            record.name,
            record.funcName,
            record.pathname,
            record.lineno,
            extras,
            exception,
            int(record.created * 1e9),
        )
    except Exception as exc:
        _errors.report("could not add a span event", exc)
