"""structlog integration: processors that stamp IDs and render tracelog's schema.

- `add_trace_context` adds the current span's IDs to the event dict. It works
  in native chains and in ``ProcessorFormatter(foreign_pre_chain=...)``,
  where it takes the IDs stamped on the stdlib record in the emitting thread.
- `JSONRenderer` and `ConsoleRenderer` are final processors that write the
  same record as tracelog's stdlib and loguru adapters.
- `add_span_event` (and `SpanEventAdder`, with options) adds events to the
  current span as events.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Mapping, MutableMapping
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any

from tracelog import _context, _errors
from tracelog._errors import MissingExtraError
from tracelog._events import SpanEvents, is_internal
from tracelog._fields import ExceptionFields, Schema, exception_from, exception_from_text
from tracelog._json import safe_str
from tracelog._redact import DEFAULT_REDACT_KEYS
from tracelog._render import ERROR_KEY, Renderer
from tracelog.stdlib import _exception_of, _extras, _trace_of, span_event

if TYPE_CHECKING:
    from tracelog._otel_logs import OtelLogs

try:
    import structlog  # noqa: F401 - fail here, naming the extra, not in a later call
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError("structlog") from exc

__all__ = [
    "ConsoleRenderer",
    "JSONRenderer",
    "SpanEventAdder",
    "TraceContextAdder",
    "add_span_event",
    "add_trace_context",
]

EventDict = MutableMapping[str, Any]


class TraceContextAdder:
    """Processor adding the current span's IDs in a field profile.

    Adds ``trace_id``, ``span_id`` and ``trace_flags`` (profile ``"otel"``)
    when a valid span is current; nothing outside a span.

    Args:
        fields: ``"otel"``, ``"ecs"``, ``"datadog"`` or ``"gcp"``.
    """

    __slots__ = ("_schema",)

    def __init__(self, *, fields: str = "otel") -> None:
        self._schema = Schema(fields=fields, redact=())

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        trace = _current()
        if trace is None and "_record" in event_dict:
            # A stdlib record in ProcessorFormatter's foreign_pre_chain,
            # formatted behind a QueueListener (a thread outside any span):
            # the IDs stamped on it where it was logged are the right ones.
            trace = _trace_of(event_dict["_record"])
        if trace is not None:
            event_dict.update(self._schema.trace_fields(trace))
        return event_dict


_current = _context.current
_read_context = _context._read_context


def add_trace_context(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Processor adding ``trace_id``, ``span_id`` and ``trace_flags`` inside a span.

    `TraceContextAdder` for the OpenTelemetry field names, written out as a
    plain function because it runs for every event: calling a function is
    cheaper than calling an instance, and three stores cheaper than update().
    In ``foreign_pre_chain`` a stdlib record's stamp is used when the
    formatting thread has no span of its own (a ``QueueListener``'s thread).
    """
    # _context.current(), its cache hit inlined: this is the common case.
    last = _context._last
    trace = last[1] if last[0] is _read_context() else _current()
    if trace is None and "_record" in event_dict:
        trace = _trace_of(event_dict["_record"])
    if trace is not None:
        event_dict["trace_id"] = trace.trace_id
        event_dict["span_id"] = trace.span_id
        event_dict["trace_flags"] = trace.trace_flags
    return event_dict


# A number under "timestamp" is taken as the record's time if it reads as Unix
# seconds between 1970 and 5138; anything else stays an ordinary field.
_LATEST_SECONDS = 1e11
# Where configure()'s async methods were called: (function, file, line), read
# in the caller before structlog hands the event to a thread.
SITE = "_tracelog_site"
# When configure()'s chain sent the event to OpenTelemetry (ns): the line says the same time.
TIME = "_tracelog_time"
_META = frozenset({"_record", "_from_structlog", "exc_info", "positional_args", SITE, TIME})
_LEVEL_ALIASES = {"warn": "warning", "exception": "error", "msg": "info", "err": "error"}


# structlog's method names (and configure()'s TRACE/SUCCESS ones) as level numbers.
_METHOD_NUMBERS = {
    "trace": 5,
    "debug": 10,
    "info": 20,
    "msg": 20,
    "success": 25,
    "warning": 30,
    "warn": 30,
    "error": 40,
    "err": 40,
    "exception": 40,
    "failure": 40,
    "critical": 50,
    "fatal": 50,
}
# Keys structlog's own processors add: what they say, the event already says.
_STRUCTLOG_KEYS = frozenset(
    {"level", "timestamp", "logger", "logger_name", "stack", "exception", "positional_args"}
)
_EVENT_SKIP = _META | {"event", "stack_info"}
_EVENT_SKIP_CONVENTIONS = _EVENT_SKIP | _STRUCTLOG_KEYS


class SpanEventAdder:
    """Processor adding each event at or above *level* to the current span as an event.

    Put it in the processor chain before the renderer. It leaves the event
    dict as it is, so the log line is written as well. In
    ``ProcessorFormatter(foreign_pre_chain=...)`` it adds stdlib records to
    the span they were logged in, when that span is current where the
    formatter runs (not behind a ``QueueListener``: use
    `tracelog.stdlib.SpanEventFilter` on the ``QueueHandler`` there);
    structlog's own events passing through a ``ProcessorFormatter`` are left
    to the processor in structlog's chain. Keys structlog's processors add
    (``level``, ``timestamp``, ``logger``...) are not copied into the event:
    it has them in its own attributes.

    Args:
        level: the lowest level that becomes an event.
        redact: key words whose values are replaced by ``"[REDACTED]"``.
        attribute_value_length: the longest attribute value; default
            ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``, else 4096.
        error_status: an event at ERROR or above with an exception sets the
            span's status to ERROR.
    """

    __slots__ = ("_conventions", "events")

    def __init__(
        self,
        level: str | int = "INFO",
        *,
        redact: Any = DEFAULT_REDACT_KEYS,
        attribute_value_length: int | None = None,
        error_status: bool = True,
    ) -> None:
        self.events = SpanEvents(
            level=level,
            redact=redact,
            attribute_value_length=attribute_value_length,
            error_status=error_status,
        )
        self._conventions = True

    @classmethod
    def _for(cls, events: SpanEvents, *, conventions: bool) -> SpanEventAdder:
        adder = cls.__new__(cls)
        adder.events = events
        adder._conventions = conventions
        return adder

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        events = self.events
        record = event_dict.get("_record")
        if record is None:
            if _METHOD_NUMBERS.get(method_name, 20) >= events.gate:
                self._native(events, logger, method_name, event_dict)
        elif event_dict.get("_from_structlog") is False and record.levelno >= events.gate:
            span_event(events, record)
        return event_dict

    def _native(self, events: SpanEvents, logger: Any, method_name: str, ed: EventDict) -> None:
        try:
            name = getattr(logger, "name", None)
            if not isinstance(name, str):
                name = ed.get("logger") if self._conventions else None
            if is_internal(name):
                return
            trace = _current()
            span = _context.current_span() if trace is not None else None
            if span is None:
                return
            exception = _exception_in(ed, conventions=self._conventions)
            function, path, line = _site_in(ed, keep=not self._conventions)
            levelno = _METHOD_NUMBERS.get(method_name, 20)
            # configure()'s chain: the line, the event and the LogRecord say one time.
            timestamp = None if self._conventions else ed.setdefault(TIME, time.time_ns())
            events.add(
                span,
                trace,
                ed.get("event", ""),
                levelno,
                _LEVEL_ALIASES.get(method_name, method_name).upper(),
                name if isinstance(name, str) else None,
                function,
                path,
                line,
                ed,
                exception,
                timestamp,
                _EVENT_SKIP_CONVENTIONS if self._conventions else _EVENT_SKIP,
            )
        except Exception as exc:
            _errors.report("could not add a span event", exc)


def _exception_in(ed: EventDict, *, conventions: bool) -> ExceptionFields | None:
    """The event's exception, as fields.

    In configure()'s chain (no *conventions*) ``exc_info`` is replaced by the
    fields, so whatever reads it next (the renderer) does not format it again.
    """
    if "exc_info" in ed:
        exception = exception_from(ed["exc_info"])
        if not conventions and exception is not None:
            ed["exc_info"] = exception
        return exception
    if conventions and "exception" in ed:
        return _rendered_exception(ed["exception"])  # format_exc_info ran first
    return None


def _site_in(ed: EventDict, *, keep: bool) -> tuple[Any, Any, Any]:
    """Where the application logged the event: (function, file, line), or Nones.

    Read in the caller by configure()'s async methods, else from the stack.
    With *keep* (configure()'s chain, whose renderer drops it) it is kept in
    the event, so the span event and the LogRecord look once.
    """
    site = ed.get(SITE)
    if type(site) is tuple and len(site) == 3:
        return site
    found: tuple[Any, Any, Any] = (None, None, None)
    # The application's frame: up from here, past structlog and tracelog.
    frame: FrameType | None = sys._getframe(1)
    kinds = _code_kinds
    while frame is not None:
        kind = kinds.get(frame.f_code)
        if kind is None:
            kind = _remember_code(frame)
        if kind is not _OWN:
            if kind is _APP:  # not an executor's thread, where the caller is gone
                code = frame.f_code
                found = (code.co_name, code.co_filename, frame.f_lineno)
            break
        frame = frame.f_back
    if keep:
        ed[SITE] = found
    return found


class _OtelLogAdder:
    """configure()'s processor sending each event to OpenTelemetry as a LogRecord."""

    __slots__ = ("otel",)

    def __init__(self, otel: OtelLogs) -> None:
        self.otel = otel

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        try:
            name = getattr(logger, "name", None)
            if not isinstance(name, str) or is_internal(name):
                return event_dict
            stack_info = event_dict.get("stack_info")
            if stack_info and not isinstance(stack_info, str):
                stack_info = event_dict["stack_info"] = _caller_stack()  # the line's too
            now = event_dict.setdefault(TIME, time.time_ns())
            function, path, line = _site_in(event_dict, keep=True)
            self.otel.emit(
                _current(),
                event_dict.get("event", ""),
                _METHOD_NUMBERS.get(method_name, 20),
                _LEVEL_ALIASES.get(method_name, method_name).upper(),
                name,
                function,
                path,
                line,
                event_dict,
                _exception_in(event_dict, conventions=False),
                now,
                stack_info if isinstance(stack_info, str) else None,
                _EVENT_SKIP,
            )
        except Exception as exc:
            _errors.report("could not send a log record to OpenTelemetry", exc)
        return event_dict


_default_adder: SpanEventAdder | None = None


def add_span_event(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Processor adding each event at INFO or above to the current span as an event.

    `SpanEventAdder` with its defaults (made on first use, so
    ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`` is read then).
    """
    global _default_adder
    adder = _default_adder
    if adder is None:
        adder = _default_adder = SpanEventAdder()
    return adder(logger, method_name, event_dict)


def _rendered_exception(value: Any) -> ExceptionFields | None:
    """Exception fields from what format_exc_info or dict_tracebacks left in ``exception``."""
    if isinstance(value, str) and value:
        return exception_from_text(value)
    if isinstance(value, list) and value and isinstance(value[-1], Mapping):
        raised = value[-1]  # dict_tracebacks: the chain, the raised exception last
        return ExceptionFields(
            type=safe_str(raised.get("exc_type", "")),
            message=safe_str(raised.get("exc_value", "")),
            stacktrace=safe_str(value),
        )
    return None


class _RendererProcessor:
    """The final processor: an event dict to one line of tracelog's schema.

    With *conventions*, keys that structlog's own processors set earlier in
    a chain are read as what they mean (``logger``, ``timestamp``, ``stack``,
    a rendered ``exception``); configure()'s chain has no such processors, so
    there they are ordinary fields, as in stdlib ``extra=`` and loguru.
    """

    __slots__ = ("_conventions", "_renderer")

    def __init__(self, renderer: Renderer, *, conventions: bool = True) -> None:
        self._renderer = renderer
        self._conventions = conventions

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> str:
        event = event_dict.get("event", "")
        try:
            return self._render(logger, method_name, event_dict)
        except Exception as exc:
            _errors.report("could not render a structlog event", exc)
            # Whatever still renders: the renderer drops single fields that do not.
            extras = {k: v for k, v in event_dict.items() if k not in _META}
            extras.pop("event", None)
            extras[ERROR_KEY] = f"{type(exc).__name__}: {safe_str(exc)}"
            name = getattr(logger, "name", None)
            return self._renderer.render(
                time.time(),
                safe_str(method_name),
                None if name is None else safe_str(name),
                safe_str(event),
                _context.current(),
                extras,
            )

    def _render(self, logger: Any, method_name: str, ed: EventDict) -> str:
        site = _site_in(ed, keep=False) if self._renderer.schema.wants_site else None
        ed.pop(SITE, None)
        sent = ed.pop(TIME, None)  # the time the LogRecord was given
        event = ed.pop("event", "")
        message = event if type(event) is str else safe_str(event)
        record = ed.pop("_record", None)
        foreign = ed.pop("_from_structlog", True) is False and record is not None
        level = _LEVEL_ALIASES.get(method_name, method_name)
        exception = exception_from(ed.pop("exc_info")) if "exc_info" in ed else None
        stack_info = ed.pop("stack_info", None)
        stack = stack_info if isinstance(stack_info, str) else None
        if stack_info and stack is None:
            stack = _caller_stack()  # stack_info=True, without StackInfoRenderer
        name: Any = None
        timestamp: Any = sent / 1e9 if type(sent) is int else None
        if self._conventions:
            if ed.get("level") == level:
                del ed["level"]  # what add_log_level says, in another profile's key
            name = ed.pop("logger", None) or ed.pop("logger_name", None)
            stamp = ed.pop("timestamp", None)  # a TimeStamper's: the record's time anyway
            if (type(stamp) is float or type(stamp) is int) and 0 <= stamp < _LATEST_SECONDS:
                timestamp = stamp
            if stack is None and isinstance(ed.get("stack"), str):
                stack = ed.pop("stack")  # StackInfoRenderer
            if exception is None and isinstance(ed.get("exception"), str) and ed["exception"]:
                # Rendered by format_exc_info or dict_tracebacks' string form.
                exception = ExceptionFields(type="", message="", stacktrace=ed.pop("exception"))
            ed.pop("positional_args", None)
        if record is not None:
            timestamp = record.created
            name = name or record.name
            if site is not None:  # a stdlib record (ProcessorFormatter): its own call site
                site = (record.funcName, record.pathname, record.lineno)
            if exception is None:
                # Rendered in the logging thread by tracelog.stdlib.QueueHandler.
                exception = _exception_of(record)
        if name is None:
            name = getattr(logger, "name", None)
        # IDs that add_trace_context put in the event dict repeat these and
        # are dropped by the schema; IDs that differ are kept as extras.
        trace = _context.current() if record is None else _trace_of(record)
        # A stdlib record's extra= fields are plain fields, never structlog keys.
        fields = {**_extras(record), **ed} if foreign else ed
        return self._renderer.render(
            time.time() if timestamp is None else timestamp,
            level,
            None if name is None else safe_str(name),
            message,
            trace,
            fields,
            exception,
            stack,
            site,
        )


class JSONRenderer(_RendererProcessor):
    """Final processor: the event as one line of tracelog's JSON schema.

    The message is ``event``, the level the method's, the IDs the current
    span's; ``exc_info`` and ``stack_info`` work as in structlog. It also
    reads what structlog's processors put before it: ``logger``
    (add_logger_name), ``timestamp`` (a TimeStamper's; the record's own time
    is written), ``stack`` (StackInfoRenderer) and a rendered ``exception``
    (format_exc_info). The other keys are extra fields.

    In ``ProcessorFormatter(processors=[..., JSONRenderer()])`` it handles
    ``_record`` itself (leave out ``remove_processors_meta``): stdlib records
    keep their time, logger name, ``extra=`` fields (as plain fields) and the
    IDs stamped where they were logged, even behind a ``QueueListener``.

    Args:
        fields: the field profile.
        service_name: the service name to write, if any.
        redact: key words whose values are replaced by ``"[REDACTED]"``.
    """

    __slots__ = ()

    def __init__(
        self,
        *,
        fields: str = "otel",
        service_name: str | None = None,
        redact: Any = DEFAULT_REDACT_KEYS,
    ) -> None:
        super().__init__(
            Renderer(format="json", fields=fields, service_name=service_name, redact=redact)
        )


class ConsoleRenderer(_RendererProcessor):
    """Final processor: the event as a human-friendly line with the same fields.

    Args:
        fields: the field profile.
        service_name: the service name to show, if any.
        redact: key words whose values are replaced by ``"[REDACTED]"``.
        colour: add ANSI colours.
    """

    __slots__ = ()

    def __init__(
        self,
        *,
        fields: str = "otel",
        service_name: str | None = None,
        redact: Any = DEFAULT_REDACT_KEYS,
        colour: bool = False,
    ) -> None:
        super().__init__(
            Renderer(
                format="console",
                fields=fields,
                service_name=service_name,
                redact=redact,
                colour=colour,
            )
        )


def _is_own(module: object) -> bool:
    return isinstance(module, str) and (
        module in ("structlog", "tracelog") or module.startswith(("structlog.", "tracelog."))
    )


# What each code object seen while looking for the caller is: structlog's or
# tracelog's own (walk on), a thread pool's or asyncio's (the caller is gone),
# or the application's. Keyed by code object: the module is read once per function.
_OWN, _EXECUTOR, _APP = "own", "executor", "app"
_code_kinds: dict[CodeType, str] = {}


def _remember_code(frame: FrameType) -> str:
    module = frame.f_globals.get("__name__")
    if _is_own(module):
        kind = _OWN
    elif isinstance(module, str) and (
        module in ("asyncio", "concurrent.futures")
        or module.startswith(("asyncio.", "concurrent.futures."))
    ):
        kind = _EXECUTOR
    else:
        kind = _APP
    if len(_code_kinds) >= 4096:
        _code_kinds.clear()
    _code_kinds[frame.f_code] = kind
    return kind


def _first_app_frame() -> FrameType | None:
    """The innermost frame outside structlog and tracelog: the application's call."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        kind = _code_kinds.get(frame.f_code)
        if kind is None:
            kind = _remember_code(frame)
        if kind is not _OWN:
            return frame
        frame = frame.f_back
    return None


def _caller_module() -> str | None:
    frame = _first_app_frame()
    name = None if frame is None else frame.f_globals.get("__name__")
    return name if isinstance(name, str) else None


def _caller_stack() -> str | None:
    """The application's stack, as logging writes it for ``stack_info=True``."""
    frame = _first_app_frame()
    if frame is None:
        return None
    stack = "Stack (most recent call last):\n" + "".join(traceback.format_stack(frame))
    return stack[:-1] if stack.endswith("\n") else stack
