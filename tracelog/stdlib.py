"""Standard-library ``logging`` integration.

- `install_record_factory` stamps every record with the current span's IDs
  when it is created, in the thread or task that logs it, so IDs stay right
  behind a ``QueueHandler``. `TraceContextFilter` does the same per
  handler or logger, for ``dictConfig``.
- `JsonFormatter` (built on python-json-logger) and `ConsoleFormatter` write
  tracelog's record schema.
- `QueueHandler` keeps exceptions structured across a queue.
- `SpanEventFilter` adds records to the current span as events.

A stamp is kept outside the record's ``__dict__``, so no ``extra=`` key can
collide with it and no handler that exports every record attribute
(OpenTelemetry's ``LoggingHandler``, structlog's ``ExtraAdder``) ever sees
it. `TraceContextFilter` (and ``install_record_factory(compat=True)``) also
set ``otelTraceID``, ``otelSpanID`` and ``otelTraceSampled``, the names
OpenTelemetry's ``LoggingInstrumentor`` uses, for ``%(otelTraceID)s`` format
strings.
"""

from __future__ import annotations

import copy
import logging
import logging.handlers
import sys
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from itertools import islice
from types import FrameType
from typing import TYPE_CHECKING, Any

from pythonjsonlogger.core import RESERVED_ATTRS, BaseJsonFormatter

from tracelog import _context, _errors
from tracelog._context import TraceContext
from tracelog._events import SpanEvents, is_internal, recorded_by_instrumentation
from tracelog._fields import (
    ExceptionFields,
    exception_fields,
    exception_from,
    exception_from_text,
)
from tracelog._json import safe_str
from tracelog._redact import DEFAULT_REDACT_KEYS
from tracelog._render import ERROR_KEY, Renderer

if TYPE_CHECKING:
    from tracelog._otel_logs import OtelLogs

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
"""Where a record's `TraceContext` (or None) captured at emit time is kept (see `stamp`)."""
_EXCEPTION = "_tracelog_exception"
# The record's extra fields as the formatter read them, for the span-event bridge.
_FIELDS = "_tracelog_fields"
_UNSTAMPED = object()
_HERE: Any = object()  # stamp(): the IDs current where the record is made
_NO_SPAN = {"otelTraceID": "0", "otelSpanID": "0", "otelTraceSampled": False}

# Attributes of a fresh LogRecord; extras and formatter fields follow them.
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


class _Record(logging.LogRecord):
    """A LogRecord with slots for what tracelog keeps on it, outside its ``__dict__``.

    Handlers that export every record attribute read ``vars(record)``
    (OpenTelemetry's ``LoggingHandler`` turns each into a LogRecord attribute,
    and warns about, then logs, any it cannot encode), so tracelog's state
    must not be there. Slots are not, yet ``copy.copy`` (a ``QueueHandler``'s)
    and pickling (a process queue's) keep them.
    """

    __slots__ = ("_tracelog_exception", "_tracelog_fields", "_tracelog_trace")
    _tracelog_trace: TraceContext | None
    _tracelog_fields: dict[str, Any] | None
    _tracelog_exception: ExceptionFields | None

    def __getstate__(self) -> tuple[dict[str, Any], dict[str, Any]]:
        # The fields cache stays behind: a copy's extras may change. An unstamped
        # record (a copy that found no original) stays unstamped.
        hidden = {name: getattr(self, name) for name in (STAMP, _EXCEPTION) if hasattr(self, name)}
        return self.__dict__, hidden

    def __setstate__(self, state: tuple[dict[str, Any], dict[str, Any]]) -> None:
        attrs, hidden = state
        self.__dict__.update(attrs)
        self._tracelog_fields = None
        for name, value in hidden.items():
            setattr(self, name, value)


# The same state for records of other classes (made by another record factory,
# stamped by a filter): kept while the record lives, lost by a copy.
_others: weakref.WeakKeyDictionary[logging.LogRecord, dict[str, Any]] = weakref.WeakKeyDictionary()


def _hidden(record: logging.LogRecord, name: str, default: Any = None) -> Any:
    """What tracelog keeps on *record* under *name* (`STAMP`, `_FIELDS`, `_EXCEPTION`)."""
    if isinstance(record, _Record):
        return getattr(record, name, default)
    if not _others:
        return default
    try:
        state = _others.get(record)
    except TypeError:  # not a record that can be weakly referenced
        return default
    return default if state is None else state.get(name, default)


def _hide(record: logging.LogRecord, name: str, value: Any) -> None:
    """Keep *value* on *record* under *name*, outside its ``__dict__``."""
    if isinstance(record, _Record):
        setattr(record, name, value)
        return
    try:
        state = _others.get(record)
        if state is None:
            state = _others[record] = {}
    except TypeError:
        return  # nowhere to keep it: it is worked out again when needed
    state[name] = value


def _with_state(record: logging.LogRecord) -> _Record:
    """*record*'s fresh `_Record` twin (same attributes and state), or *record* itself."""
    if isinstance(record, _Record):
        return record
    twin = _Record.__new__(_Record)
    twin.__dict__ = record.__dict__
    trace = _hidden(record, STAMP, _UNSTAMPED)
    if trace is not _UNSTAMPED:
        twin._tracelog_trace = trace
    twin._tracelog_fields = None
    twin._tracelog_exception = _hidden(record, _EXCEPTION)
    return twin


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
    _hide(record, STAMP, trace)
    if compat:
        set_compat_attributes(record)


def set_compat_attributes(record: logging.LogRecord) -> None:
    """Set ``LoggingInstrumentor``'s attributes from the record's stamp (or current IDs)."""
    attrs = record.__dict__
    trace = _trace_of(record)
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
    # call. It runs for every record, so the cost matters. Records of the
    # standard class are made as (or turned into) _Record, which has room for
    # the stamp outside the record's attributes.
    plain = previous is logging.LogRecord

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
        if not switch.enabled:
            return previous(
                name, level, pathname, lineno, msg, args, exc_info, func, sinfo, **kwargs
            )
        if plain:
            record: logging.LogRecord = _Record(
                name, level, pathname, lineno, msg, args, exc_info, func, sinfo, **kwargs
            )
        else:
            record = previous(
                name, level, pathname, lineno, msg, args, exc_info, func, sinfo, **kwargs
            )
            if type(record) is logging.LogRecord:
                record = _with_state(record)
        if isinstance(record, _Record):
            record._tracelog_fields = record._tracelog_exception = None
        try:
            if name is None and level is None:
                # logging.makeLogRecord(other.__dict__) (structlog's ProcessorFormatter,
                # maybe behind a QueueListener): the copy takes the other's stamp.
                _adopt(record, sys._getframe(1))
            else:
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


def _adopt(record: logging.LogRecord, maker: FrameType) -> None:
    """Give *record*, made by ``logging.makeLogRecord``, the state of the record it copies.

    makeLogRecord fills a fresh record from another's ``__dict__``, where
    tracelog's state is not; that record is found in its caller's frame, by
    the identity of its ``__dict__``. Not found (a dict from a socket, say):
    the record stays unstamped, and its IDs are read as for a foreign record.
    """
    if maker.f_code is not _MAKE_LOG_RECORD:
        stamp(record)  # another caller that passes no name: a record like any other
        return
    source = maker.f_locals.get("dict")
    caller = maker.f_back
    if source is None or caller is None:
        return
    for value in list(caller.f_locals.values()):
        if isinstance(value, logging.LogRecord) and value.__dict__ is source:
            for name in (STAMP, _EXCEPTION):
                kept = _hidden(value, name, _UNSTAMPED)
                if kept is not _UNSTAMPED:
                    _hide(record, name, kept)
            return


_MAKE_LOG_RECORD = logging.makeLogRecord.__code__


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
            if _hidden(record, STAMP, _UNSTAMPED) is _UNSTAMPED:
                stamp(record)
            if "otelTraceID" not in record.__dict__:
                set_compat_attributes(record)
        except Exception as exc:
            _errors.report("could not read the trace context", exc)
        return True


def _trace_of(record: logging.LogRecord) -> TraceContext | None:
    """The IDs stamped on *record*: tracelog's stamp, LoggingInstrumentor's, or the current ones."""
    trace = _hidden(record, STAMP, _UNSTAMPED)
    if trace is _UNSTAMPED:
        # Stamped by OpenTelemetry's LoggingInstrumentor, or not at all.
        attrs = record.__dict__
        trace_id = attrs.get("otelTraceID")
        if isinstance(trace_id, str) and trace_id != "0":
            flags = "01" if attrs.get("otelTraceSampled") else "00"
            return _context.from_hex(trace_id, attrs.get("otelSpanID", ""), flags)
        return _context.current()
    return trace if isinstance(trace, TraceContext) else None


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller added to a record (``extra=``), in their order."""
    # A record's own attributes come first; what is added later (extras,
    # formatter fields) follows them, so only the tail is scanned.
    attrs = record.__dict__
    reserved = _RESERVED
    fields = {
        key: attrs[key]
        for key in islice(attrs, _STANDARD_COUNT, None)
        if key not in reserved
        and not (isinstance(key, str) and key[:1] == "_")
        and not (key in _NO_SPAN and _stamped_copy(record, key))
    }
    if _HANDLER_ONLY in fields:
        name = attrs.get("name")
        if isinstance(name, str) and name.startswith("django."):
            del fields[_HANDLER_ONLY]
    return fields


def _stamped_copy(record: logging.LogRecord, key: str) -> bool:
    """Whether a LoggingInstrumentor-named attribute is tracelog's copy of the stamp.

    It is then not written as a field (``trace_id`` says it already); a
    caller's own ``extra={"otelTraceID": ...}`` is.
    """
    attrs = record.__dict__
    trace = _hidden(record, STAMP, _UNSTAMPED)
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
    if record.exc_info and record.exc_info[0] is not None:
        exception: ExceptionFields | None = _hidden(record, _EXCEPTION)
        if exception is None:
            exception = exception_fields(record.exc_info)
            _hide(record, _EXCEPTION, exception)
        return exception
    exception = _hidden(record, _EXCEPTION)
    if exception is None:
        msg = record.msg
        if type(msg) is _Message:
            return msg.exception
        if isinstance(msg, dict):
            queued = msg.get("exc_info")  # a structlog event from the queue
            return queued if isinstance(queued, ExceptionFields) else None
    return exception if isinstance(exception, ExceptionFields) else None


def _dict_fields(msg: dict[Any, Any]) -> dict[Any, Any]:
    """A dict message's fields: all but the exception `QueueHandler` queued with it."""
    if isinstance(msg.get("exc_info"), ExceptionFields):
        return {key: value for key, value in msg.items() if key != "exc_info"}
    return dict(msg)


def _render(renderer: Renderer, record: logging.LogRecord, static: Mapping[str, Any]) -> str:
    attrs = record.__dict__
    msg = record.msg
    extras: dict[Any, Any] | None = dict(static) if static else None
    error = None
    if isinstance(msg, dict) and not record.args:
        # python-json-logger's convention: a dict message is a set of fields.
        message = ""
        extras = {**(extras or {}), **_dict_fields(msg)}
    elif type(msg) is str and not record.args:
        message = msg
    else:
        message, error = _message(record)
    record.message = message
    trace = _trace_of(record)
    if len(attrs) > _STANDARD_COUNT:
        fields = _extras(record)
        if isinstance(record, _Record):  # kept for the span event and LogRecord after it
            record._tracelog_fields = fields
        if fields:
            extras = fields if extras is None else {**extras, **fields}
    if error is not None:
        extras = extras or {}
        extras[ERROR_KEY] = error
    exception = _exception_of(record)
    if exception is None and record.exc_text:
        exception = exception_from_text(safe_str(record.exc_text))
    return renderer.render(
        record.created,
        record.levelname,
        record.name,
        message,
        trace,
        extras,
        exception,
        record.stack_info,
        (record.funcName, record.pathname, record.lineno) if renderer.schema.wants_site else None,
    )


def _render_safely(renderer: Renderer, record: logging.LogRecord, static: Mapping[str, Any]) -> str:
    try:
        return _render(renderer, record, static)
    except Exception as exc:
        _errors.report("could not format a log record", exc)
        # Whatever still renders: the renderer drops single fields that do not.
        attrs = getattr(record, "__dict__", {})
        try:
            extras: dict[Any, Any] = {**static, **_extras(record)}
        except Exception:
            extras = {}
        extras[ERROR_KEY] = f"{type(exc).__name__}: {safe_str(exc)}"
        try:
            trace = _trace_of(record)
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
        # From the arguments: python-json-logger 3.1 keeps no `defaults` attribute.
        self._static = {**(defaults or {}), **(static_fields or {})}

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
    The queued record also carries the traceback as ``exc_text`` and the IDs
    as ``otelTraceID``, ``otelSpanID`` and ``otelTraceSampled``, which any
    copy keeps (structlog's ``ProcessorFormatter`` copies records with
    ``logging.makeLogRecord``).
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        try:
            if _hidden(record, STAMP, _UNSTAMPED) is _UNSTAMPED:
                stamp(record)
            queued = _copy(record)
            exception = None
            if isinstance(queued.msg, dict) and "exc_info" in queued.msg:
                # A structlog event (ProcessorFormatter.wrap_for_formatter):
                # exc_info=True means the exception being handled here and now.
                # Its fields travel in the event, as its exc_info.
                event = dict(queued.msg)
                exception = exception_from(event.pop("exc_info"))
                if exception is not None:
                    event["exc_info"] = exception
                queued.msg = event
            if not (isinstance(queued.msg, dict) and not queued.args):
                message, error = _message(queued)
                queued.msg = queued.message = message
                if error is not None:
                    queued.__dict__[ERROR_KEY] = error
            queued.args = None
            if queued.exc_info and queued.exc_info[0] is not None:
                exception = exception_fields(queued.exc_info)
            elif exception is None:
                exception = _exception_of(queued)
            queued.exc_info = None
            queued.exc_text = None
            if exception is not None:
                _hide(queued, _EXCEPTION, exception)
                # What any copy keeps (makeLogRecord's too, whose formatter may
                # then drop exc_text): the fields with the message, and the
                # traceback as the formatted exception, for any formatter.
                if type(queued.msg) is str:
                    queued.msg = _Message(queued.msg, exception)
                queued.exc_text = exception.stacktrace or None
            if "otelTraceID" not in queued.__dict__:
                set_compat_attributes(queued)  # the IDs, in attributes any copy keeps
        except Exception as exc:
            _errors.report("could not prepare a record for the queue", exc)
            return record
        return queued


class _Message(str):
    """A queued record's message, carrying its exception's fields across any copy."""

    exception: ExceptionFields

    def __new__(cls, text: str, exception: ExceptionFields) -> _Message:
        message = super().__new__(cls, text)
        message.exception = exception
        return message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Message, (str(self), self.exception))


def _copy(record: logging.LogRecord) -> logging.LogRecord:
    """A copy of *record* with tracelog's state: a `_Record` when it can be one."""
    if type(record) is logging.LogRecord:
        return copy.copy(_with_state(record))
    queued = copy.copy(record)
    if not isinstance(queued, _Record):
        for name in (STAMP, _EXCEPTION):
            value = _hidden(record, name, _UNSTAMPED)
            if value is not _UNSTAMPED:
                _hide(queued, name, value)
    return queued


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


def _content(record: logging.LogRecord) -> tuple[str, dict[Any, Any] | None]:
    """The record's message and extra fields (as the formatter read them, if it ran first)."""
    attrs = record.__dict__
    msg = record.msg
    extras: dict[Any, Any] | None = None
    if isinstance(msg, dict) and not record.args:
        message = ""
        extras = _dict_fields(msg)
    elif type(msg) is str and not record.args:
        message = msg
    else:
        formatted = attrs.get("message")  # by the formatter, if it ran first
        message = formatted if type(formatted) is str else _message(record)[0]
    fields = _hidden(record, _FIELDS)
    if fields is None and len(attrs) > _STANDARD_COUNT:
        fields = _extras(record)
    if fields:
        extras = fields if extras is None else {**extras, **fields}
    return message, extras


def span_event(events: SpanEvents, record: logging.LogRecord) -> None:
    """Add *record* to the span it was stamped with, if current here; never raises."""
    try:
        if is_internal(record.name):
            return
        exc_info = record.exc_info
        if exc_info and exc_info[1] is not None and recorded_by_instrumentation(exc_info[1]):
            return  # the instrumentation adds its exception event when the request ends
        trace = _trace_of(record)
        span = _context.span_matching(trace)
        if span is None:
            return
        message, extras = _content(record)
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
            _exception_of(record),
            int(record.created * 1e9),
        )
    except Exception as exc:
        _errors.report("could not add a span event", exc)


def otel_log(otel: OtelLogs, record: logging.LogRecord) -> None:
    """Send *record* to OpenTelemetry as one LogRecord, with the IDs stamped on it; never raises."""
    try:
        if is_internal(record.name):
            return
        message, extras = _content(record)
        exception = _exception_of(record)
        if exception is None and record.exc_text:
            exception = exception_from_text(safe_str(record.exc_text))
        otel.emit(
            _trace_of(record),
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
            record.stack_info,
        )
    except Exception as exc:
        _errors.report("could not send a log record to OpenTelemetry", exc)
