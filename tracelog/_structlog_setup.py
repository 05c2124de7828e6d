"""How ``tracelog.configure()`` wires structlog.

Its own logger factory writes to tracelog's output; its bound-logger class
filters at any level, never raises on a ``%`` mistake, and reads what must
be read in the calling thread before structlog's async methods hand off.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog

from tracelog._events import SpanEvents
from tracelog._json import safe_str
from tracelog._output import Output
from tracelog._render import ERROR_KEY, Renderer
from tracelog.structlog import (
    _APP,
    SITE,
    SpanEventAdder,
    _caller_module,
    _caller_stack,
    _code_kinds,
    _first_app_frame,
    _OtelLogAdder,
    _RendererProcessor,
)

if TYPE_CHECKING:
    from tracelog._otel_logs import OtelLogs

__all__ = ["Installation"]


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
    """Resolve what must be read in the calling thread before an async hand-off.

    That is the exception being handled, the stack, and the caller's code
    location for a span event (the thread structlog hands off to has none).
    """
    if kw.get("exc_info") is True:
        kw["exc_info"] = sys.exc_info()
    if kw.get("stack_info") is True:
        kw["stack_info"] = _caller_stack()
    frame = _first_app_frame()
    if frame is not None and _code_kinds.get(frame.f_code) is _APP:  # not asyncio's own frame
        kw[SITE] = (frame.f_code.co_name, frame.f_code.co_filename, frame.f_lineno)


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
    error, aerror = namespace["error"], namespace["aerror"]

    def exception(self: Any, event: Any, *args: Any, **kw: Any) -> Any:
        kw.setdefault("exc_info", True)
        return error(self, event, *args, **kw)

    async def aexception(self: Any, event: Any, *args: Any, **kw: Any) -> Any:
        kw.setdefault("exc_info", True)  # read in the caller by aerror, before the hand-off
        return await aerror(self, event, *args, **kw)

    namespace["exception"], namespace["aexception"] = exception, aexception

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


def _drop(logger: Any, method_name: str, event_dict: Any) -> Any:
    """The last processor when configure() writes no lines: the event ends here."""
    raise structlog.DropEvent


class Installation:
    """What configure() set in structlog, to update in place and to undo."""

    def __init__(self) -> None:
        self._original: tuple[bool, dict[str, Any]] | None = None

    def apply(
        self,
        renderer: Renderer | None,
        level: int,
        output: Output,
        events: SpanEvents | None,
        otel: OtelLogs | None = None,
    ) -> None:
        if self._original is None:
            self._original = (structlog.is_configured(), structlog.get_config())
        bridge = [] if events is None else [SpanEventAdder._for(events, conventions=False)]
        sender = [] if otel is None else [_OtelLogAdder(otel)]
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                *bridge,
                *sender,
                _drop if renderer is None else _RendererProcessor(renderer, conventions=False),
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
