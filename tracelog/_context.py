"""The one place that reads the active OpenTelemetry span.

Reading IDs is on the hot path of every log record, so this module avoids
``trace.get_current_span()`` (several calls and an ``isinstance`` check) and
formats the 128-bit hex only once per span: the result for a span context is
cached, and the result for the current OpenTelemetry ``Context`` object is
kept in a one-entry cache, so a burst of records inside one span costs a
context-variable read and an identity check each.
"""

from __future__ import annotations

import contextvars
import dataclasses
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace import SpanContext

try:  # the key under which the API keeps the current span: read directly, it is fastest
    from opentelemetry.trace.propagation import _SPAN_KEY
except ImportError:  # private, so it may go: get_current_span(context) reads it then
    _SPAN_KEY = None  # type: ignore[assignment]

__all__ = [
    "ENVIRON_KEY",
    "TraceContext",
    "current",
    "current_span",
    "from_hex",
    "from_span_context",
    "keep_request_trace",
    "kept_for",
    "parse_traceparent",
    "request_trace",
]

_MAX_CACHED_SPANS = 4096
_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


@dataclasses.dataclass(frozen=True, slots=True)
class TraceContext:
    """The IDs of one span, formatted as OpenTelemetry writes them.

    Attributes:
        trace_id: 32 lowercase hex digits.
        span_id: 16 lowercase hex digits.
        trace_flags: the W3C trace flags as two hex digits ("01": sampled).
        sampled: whether the sampled bit is set.
        traceparent: the W3C ``traceparent`` header value for this span.
        local_root: whether the span is known to be its service's entry span
            (its parent remote, or none): ECS's transaction.
    """

    trace_id: str
    span_id: str
    trace_flags: str
    sampled: bool
    traceparent: str
    local_root: bool = dataclasses.field(default=False, compare=False)
    # Renderings of these IDs (per field profile, per adapter), made once per span.
    _rendered: dict[str, dict[str, Any]] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def rendered(
        self, key: str, render: Callable[[TraceContext], dict[str, Any]]
    ) -> dict[str, Any]:
        """``render(self)``, computed once for this span under *key*, then reused.

        Callers must not modify the dict they get.
        """
        fields = self._rendered.get(key)
        if fields is None:
            fields = self._rendered[key] = render(self)
        return fields


def _make(trace_id: str, span_id: str, flags: int, *, local_root: bool = False) -> TraceContext:
    trace_flags = f"{flags & 0xFF:02x}"
    return TraceContext(
        trace_id=trace_id,
        span_id=span_id,
        trace_flags=trace_flags,
        sampled=bool(flags & 0x01),
        traceparent=f"00-{trace_id}-{span_id}-{trace_flags}",
        local_root=local_root,
    )


_NO_PARENT_ATTRIBUTE = object()


def _is_local_root(span: Any) -> bool:
    """Whether *span* (an SDK span: it has ``parent``) has no parent in this process."""
    parent = getattr(span, "parent", _NO_PARENT_ATTRIBUTE)
    if parent is _NO_PARENT_ATTRIBUTE:
        return False  # another implementation: unknown
    return parent is None or getattr(parent, "is_remote", False) is True


_by_span_context: dict[int, tuple[SpanContext, TraceContext | None]] = {}


def from_span_context(span_context: SpanContext, span: Any = None) -> TraceContext | None:
    """The `TraceContext` of a span context (of *span*, if given), or None when it is invalid."""
    key = id(span_context)
    hit = _by_span_context.get(key)
    # The cache holds the span context itself, so its id cannot be reused
    # by another object while the entry exists; the identity check guards
    # against a racing clear() between get and use.
    if hit is not None and hit[0] is span_context:
        return hit[1]
    try:
        if span_context.is_valid:
            result: TraceContext | None = _make(
                f"{span_context.trace_id:032x}",
                f"{span_context.span_id:016x}",
                int(span_context.trace_flags),
                local_root=span is not None and _is_local_root(span),
            )
        else:
            result = None
    except Exception:  # a foreign object posing as a SpanContext
        return None
    if len(_by_span_context) >= _MAX_CACHED_SPANS:
        _by_span_context.clear()
    _by_span_context[key] = (span_context, result)
    return result


def from_hex(trace_id: str, span_id: str, trace_flags: str | int = "01") -> TraceContext | None:
    """A `TraceContext` from hex IDs, or None unless they are valid W3C IDs."""
    if not isinstance(trace_id, str) or not isinstance(span_id, str):
        return None
    trace_id = trace_id.lower()
    span_id = span_id.lower()
    if not (_HEX32.fullmatch(trace_id) and _HEX16.fullmatch(span_id)):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    try:
        flags = trace_flags if isinstance(trace_flags, int) else int(trace_flags, 16)
    except (TypeError, ValueError):
        return None
    return _make(trace_id, span_id, flags)


def parse_traceparent(value: str) -> TraceContext | None:
    """A `TraceContext` from a W3C ``traceparent`` header, or None if malformed."""
    if not isinstance(value, str):
        return None
    match = _TRACEPARENT.fullmatch(value.strip().lower())
    if match is None:
        return None
    return from_hex(match[1], match[2], match[3])


def _context_reader() -> Callable[[], Any]:
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    if runtime is None:
        # OpenTelemetry's API before 1.25 loads its runtime context on first use,
        # under a lock that every get_current() takes: a signal handler that logs
        # while the application's own get_current() holds it would wait for ever.
        # Loaded now, its ContextVar is read directly, without that lock.
        with suppress(Exception):
            otel_context.get_current()
        runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    if type(runtime) is ContextVarsRuntimeContext:
        var = getattr(runtime, "_current_context", None)
        if var is not None and callable(getattr(var, "get", None)):
            return var.get  # type: ignore[no-any-return]
    # Another runtime context was configured (OTEL_PYTHON_CONTEXT): ask it directly,
    # as get_current() does once loaded (before 1.25, it does so under that lock).
    get_current = getattr(runtime, "get_current", None)
    if callable(get_current):
        return get_current  # type: ignore[no-any-return]
    return otel_context.get_current


_read_context = _context_reader()
# (OpenTelemetry Context object, what it resolved to). A tuple, so a reader in
# another thread always sees a matching pair.
_last: tuple[object, TraceContext | None] = (object(), None)


def current() -> TraceContext | None:
    """The IDs of the span current in this thread or task, or None.

    None when there is no span or its context is invalid. A non-recording or
    unsampled span with valid IDs still counts: its flags say it is unsampled.
    """
    global _last
    ctx = _read_context()
    last = _last
    if last[0] is ctx:
        return last[1]
    try:
        span = _span_in(ctx)
        result = None if span is None else from_span_context(span.get_span_context(), span)
    except Exception:  # not a Span: get_current_span() would ignore it too
        result = None
    _last = (ctx, result)
    return result


def current_span() -> Any:
    """The span object current in this thread or task, or None outside any span."""
    try:
        return _span_in(_read_context())
    except Exception:
        return None


def _span_in(ctx: Any) -> Any:
    """The span that *ctx* holds, or None."""
    if _SPAN_KEY is not None:
        return ctx.get(_SPAN_KEY)
    span = otel_trace.get_current_span(ctx)
    return None if span is otel_trace.INVALID_SPAN else span


def span_matching(trace: TraceContext | None) -> Any:
    """The current span if its IDs are *trace*'s, else None.

    A record is added to the span whose IDs were stamped on it; in another
    thread or task (a ``QueueListener``'s) that span is not reachable.
    """
    if trace is None:
        return None
    here = current()
    if here is not trace and (
        here is None or here.span_id != trace.span_id or here.trace_id != trace.trace_id
    ):
        return None
    return current_span()


# The trace of the request being handled in this thread or task, kept by
# tracelog's middleware from inside the server span. Servers log about a
# request after its span has ended (uvicorn's traceback, Django's 4xx lines,
# gunicorn's access line); records made outside any span take these IDs.
_request: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar(
    "tracelog_request_trace", default=None
)


def request_trace() -> TraceContext | None:
    """The trace kept for the request handled in this thread or task, or None."""
    return _request.get()


# Where the middleware also leave the request's trace in a WSGI environ (and
# Django's request.META): a server logging after the response was closed
# (gunicorn's access line) reads it there.
ENVIRON_KEY = "tracelog.trace"


@contextmanager
def kept_for(trace: TraceContext | None) -> Iterator[None]:
    """Inside, this thread or task handles the request of *trace*; as before, after."""
    token = _request.set(trace)
    try:
        yield
    finally:
        _request.reset(token)


def keep_request_trace(trace: TraceContext | None) -> None:
    """Keep *trace* as this thread's or task's request (None: no request any more).

    In an asyncio task (one per request, under uvicorn) it lasts as long as
    the task; a thread handling requests one after the other must set None
    when the request is over.
    """
    _request.set(trace)
