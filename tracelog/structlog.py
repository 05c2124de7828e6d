"""structlog integration: processors that stamp IDs and render tracelog's schema.

- `add_trace_context` adds the current span's IDs to the event dict. It works
  in native chains and in ``ProcessorFormatter(foreign_pre_chain=...)``,
  where it takes the IDs stamped on the stdlib record in the emitting thread.
- `JSONRenderer` and `ConsoleRenderer` are final processors that write the
  same record as tracelog's stdlib and loguru adapters.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import time
import traceback
from collections.abc import Mapping, MutableMapping
from types import FrameType
from typing import Any

from tracelog import _context, _errors
from tracelog._errors import MissingExtraError
from tracelog._fields import ExceptionFields, Schema, exception_from
from tracelog._json import safe_str
from tracelog._output import Output
from tracelog._redact import DEFAULT_REDACT_KEYS
from tracelog._render import ERROR_KEY, Renderer
from tracelog.stdlib import _EXCEPTION, _extras, _trace_of

try:
    import structlog
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError("structlog") from exc

__all__ = [
    "ConsoleRenderer",
    "JSONRenderer",
    "TraceContextAdder",
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

    __slots__ = ("_key", "_schema")

    def __init__(self, *, fields: str = "otel") -> None:
        self._schema = Schema(fields=fields, redact=())
        self._key = self._schema._trace_key

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        record = event_dict.get("_record")
        # A stdlib record in ProcessorFormatter, maybe behind a queue: the IDs
        # stamped on it when it was created are the right ones.
        trace = _current() if record is None else _trace_of(record.__dict__)
        if trace is not None:
            fields = trace._rendered.get(self._key)
            event_dict.update(fields if fields is not None else self._schema.trace_fields(trace))
        return event_dict


_current = _context.current
_read_context = _context._read_context


def add_trace_context(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Processor adding ``trace_id``, ``span_id`` and ``trace_flags`` inside a span.

    `TraceContextAdder` for the OpenTelemetry field names, written out as a
    plain function because it runs for every event: calling a function is
    cheaper than calling an instance, and three stores cheaper than update().
    """
    if "_record" in event_dict:
        trace = _trace_of(event_dict["_record"].__dict__)
    else:
        # _context.current(), its cache hit inlined: this is the common case.
        last = _context._last
        trace = last[1] if last[0] is _read_context() else _current()
    if trace is not None:
        event_dict["trace_id"] = trace.trace_id
        event_dict["span_id"] = trace.span_id
        event_dict["trace_flags"] = trace.trace_flags
    return event_dict


# A number under "timestamp" is taken as the record's time if it reads as Unix
# seconds between 1970 and 5138; anything else stays an ordinary field.
_LATEST_SECONDS = 1e11
_META = frozenset({"_record", "_from_structlog", "exc_info", "positional_args"})
_LEVEL_ALIASES = {"warn": "warning", "exception": "error", "msg": "info", "err": "error"}


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
        timestamp: Any = None
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
            if exception is None:
                # Rendered in the logging thread by tracelog.stdlib.QueueHandler.
                exception = record.__dict__.get(_EXCEPTION)
        if name is None:
            name = getattr(logger, "name", None)
        # IDs that add_trace_context put in the event dict repeat these and
        # are dropped by the schema; IDs that differ are kept as extras.
        trace = _context.current() if record is None else _trace_of(record.__dict__)
        # A stdlib record's extra= fields are plain fields, never structlog keys.
        fields = {**_extras(record.__dict__), **ed} if foreign else ed
        return self._renderer.render(
            time.time() if timestamp is None else timestamp,
            level,
            None if name is None else safe_str(name),
            message,
            trace,
            fields,
            exception,
            stack,
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


def _first_app_frame() -> FrameType | None:
    """The innermost frame outside structlog and tracelog: the application's call."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and _is_own(frame.f_globals.get("__name__")):
        frame = frame.f_back
    return frame


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


class _OutputLogger:
    """The logger `_LoggerFactory` makes: writes rendered lines to an Output."""

    __slots__ = ("_output", "name")

    def __init__(self, output: Output, name: str | None) -> None:
        self._output = output
        self.name = name

    def msg(self, message: str) -> None:
        self._output.write(f"{message}\n")

    log = debug = info = warn = warning = error = err = critical = fatal = exception = msg
    failure = trace = success = msg


class _LoggerFactory:
    """structlog ``logger_factory`` writing to a tracelog Output.

    ``structlog.get_logger("name")`` names the logger; without a name, the
    calling module's name is used, as loguru and structlog's stdlib factory do.
    """

    def __init__(self, output: Output) -> None:
        self._output = output

    def __call__(self, *args: Any) -> _OutputLogger:
        name = args[0] if args and isinstance(args[0], str) else _caller_module()
        return _OutputLogger(self._output, name)


# structlog's own level methods; its filtering loggers exist for these numbers only.
_METHOD_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_ALIASES = {"warn": "warning", "fatal": "critical", "msg": "info"}


def _interpolate(event: Any, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
    """Interpolate like structlog's ``event % args``; a mistake is a field, not an exception."""
    try:
        if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
            return event % args[0]
        return event % args
    except Exception as exc:
        shown = [safe_str(arg) for arg in args]
        kw[ERROR_KEY] = (
            f"message formatting failed: {type(exc).__name__}: {safe_str(exc)}; args: {shown}"
        )
        return event


def _method_for(level: int) -> str:
    """The logger method for a numeric level: structlog's, or loguru's TRACE/SUCCESS."""
    if level in _NUMBERED:
        return _NUMBERED[level]
    below = [number for number in _NUMBERED if number <= level]
    return _NUMBERED[max(below)] if below else "debug"


_NUMBERED = {5: "trace", 10: "debug", 20: "info", 25: "success", 30: "warning", 40: "error"}
_NUMBERED[50] = "critical"


def _in_caller(kw: dict[str, Any]) -> None:
    """Resolve what must be read in the calling thread before an async hand-off."""
    if kw.get("exc_info") is True:
        kw["exc_info"] = sys.exc_info()
    if kw.get("stack_info") is True:
        kw["stack_info"] = _caller_stack()


def _bound_logger_class(level: int) -> type[Any]:
    """A structlog filtering bound logger for any *level*, safe against bad ``%`` args.

    structlog's `make_filtering_bound_logger` only knows its own level
    numbers and interpolates positional arguments in the caller, where a
    mismatch raises. This subclass filters at the nearest structlog level at
    or above *level* (loguru's TRACE and SUCCESS included), interpolates
    safely, takes any number in ``log()``, and reads ``exc_info=True`` and
    ``stack_info=True`` in the caller before its async methods hand off to a
    thread.
    """
    native = next((n for n in sorted(_METHOD_LEVELS.values()) if n >= level), None)
    base: type[Any] = structlog.make_filtering_bound_logger(native if native is not None else 50)
    namespace: dict[str, Any] = {}

    def nop(self: Any, event: Any, *args: Any, **kw: Any) -> None:
        return None

    async def anop(self: Any, event: Any, *args: Any, **kw: Any) -> None:
        return None

    for name, number in _METHOD_LEVELS.items():
        if native is None or number < native:
            namespace[name], namespace[f"a{name}"] = nop, anop
            continue
        namespace[name], namespace[f"a{name}"] = _safe_methods(base, name)
    for alias, name in _ALIASES.items():
        namespace[alias], namespace[f"a{alias}"] = namespace[name], namespace[f"a{name}"]

    def log(self: Any, number: int, event: Any, *args: Any, **kw: Any) -> Any:
        if native is None or number < level:
            return None
        if args:
            event = _interpolate(event, args, kw)
        return self._proxy_to_logger(_method_for(number), event, **kw)

    async def alog(self: Any, number: int, event: Any, *args: Any, **kw: Any) -> Any:
        if native is None or number < level:
            return None
        if args:
            event = _interpolate(event, args, kw)
        _in_caller(kw)
        # As structlog's own async methods do: in a thread, in a copy of this context.
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: context.run(lambda: log(self, number, event, **kw))
        )

    namespace["log"], namespace["alog"] = log, alog
    return type(f"TracelogBoundLogger{level}", (base,), namespace)


def _safe_methods(base: type[Any], name: str) -> tuple[Any, Any]:
    asynchronous = getattr(base, f"a{name}")

    def method(self: Any, event: Any, *args: Any, **kw: Any) -> Any:
        # What structlog's own method does, with the safe interpolation.
        if args:
            event = _interpolate(event, args, kw)
        return self._proxy_to_logger(name, event, **kw)

    async def amethod(self: Any, event: Any, *args: Any, **kw: Any) -> Any:
        if args:
            event = _interpolate(event, args, kw)
        _in_caller(kw)
        return await asynchronous(self, event, **kw)

    method.__name__, amethod.__name__ = name, f"a{name}"
    return method, amethod


class _Installation:
    """What configure() set in structlog, to update in place and to undo."""

    def __init__(self) -> None:
        self._original: tuple[bool, dict[str, Any]] | None = None

    def apply(self, renderer: Renderer, level: int, output: Output) -> None:
        if self._original is None:
            self._original = (structlog.is_configured(), structlog.get_config())
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                _RendererProcessor(renderer, conventions=False),
            ],
            wrapper_class=_bound_logger_class(level),
            logger_factory=_LoggerFactory(output),
            context_class=dict,
            # structlog's default: loggers follow a later configure() or reset().
            cache_logger_on_first_use=False,
        )

    def undo(self) -> None:
        if self._original is None:
            return
        was_configured, previous = self._original
        if was_configured:
            structlog.configure(**previous)
        else:
            structlog.reset_defaults()
        self._original = None
