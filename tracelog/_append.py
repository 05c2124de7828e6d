"""Appending an event to a span: within its limits, never waiting for ever.

On the OpenTelemetry SDK's own span class the event is appended under the
span's lock, its attributes already valid (the bridge made them so) and
brought within the span's limits here, without the SDK's warning per value
cut or attribute dropped; that costs about a third of what ``Span.add_event``
costs re-validating them. Spans of other implementations, and SDK subclasses
that override ``add_event``, go through their public ``add_event``.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.trace import Status, StatusCode

from tracelog import _errors

__all__ = ["add_event", "set_error"]


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


# The longest any wait for a span's lock may take. A lock not free by then is
# held by a thread that will not let go soon, or by none at all (a child
# process forked while another thread held it): the event is dropped and
# reported, the log line is written, and that span's lock is not waited for again.
LOCK_BOUND = 1.0
_stuck: weakref.WeakSet[Any] = weakref.WeakSet()
# The order in which an event's attributes are kept when the span's limit on
# their number is reached: the log record's own first, the extra fields after.
_PRIORITY = (
    "exception.type",
    "exception.message",
    "exception.stacktrace",
    "log.record.body",
    "log.record.severity_text",
    "log.record.severity_number",
    "otel.scope.name",
    "code.function.name",
    "code.file.path",
    "code.line.number",
)


def add_event(
    span: Any, name: str, attributes: dict[str, Any], timestamp_ns: int | None, length: int
) -> None:
    """Append an event to *span*, its *attributes* valid and cut at *length* already."""
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
    within = _within(attributes, limits, length)
    if not isinstance(within, BoundedAttributes) and _attributes_counted(sdk.Event):
        # Exporters of SDKs before Event.dropped_attributes read .dropped off the
        # attributes themselves (OTLP's, 1.24): a plain dict fails the whole batch.
        within = BoundedAttributes(None, within, immutable=True)
    event = sdk.Event(name, within, timestamp_ns)
    state = _state
    if state.span is span:
        # This thread is appending to this span already, further down its stack:
        # a signal handler (or a __repr__, a stream) that logs ran in between. The
        # lock may be held below; the append there takes this event too.
        state.pending.append(event)
        return
    outer, state.span = state.span, span
    try:
        _append(span, lock, events, [event])
        _drain(span, lock, events)
    finally:
        state.span = outer


def _drain(span: Any, lock: Any, events: Any) -> None:
    """Append what this thread logged to *span* meanwhile (signal handlers), in order."""
    state = _state
    while state.pending:  # a handler may log again during an append
        pending, state.pending = state.pending, []
        _append(span, lock, events, pending)


def _append(span: Any, lock: Any, events: Any, new: list[Any]) -> None:
    if not _take(span, lock):
        _errors.report(
            f"{len(new)} span event(s) dropped: the span's lock is held by this thread, or was"
            f" not free within {LOCK_BOUND:g} s"
        )
        return
    try:
        if span._end_time is None:
            for event in new:
                events.append(event)
    finally:
        lock.release()


class _State(threading.local):
    """The span this thread is appending to, and events that came meanwhile."""

    span: Any = None

    def __init__(self) -> None:
        self.pending: list[Any] = []


_state = _State()


_counted: dict[type, bool] = {}


def _attributes_counted(event_class: type) -> bool:
    """Whether exporters read the drop count off an event's attributes (older SDKs)."""
    known = _counted.get(event_class)
    if known is None:
        known = _counted[event_class] = not hasattr(event_class, "dropped_attributes")
    return known


def set_error(span: Any, description: str | None) -> None:
    """Set *span*'s status to ERROR, as ``set_status`` does, never waiting for ever.

    On an SDK span the status is set under the span's lock only while it is
    still recording (no warning when it ended meanwhile) and never over OK.
    """
    status = Status(StatusCode.ERROR, description)
    if _direct.get(type(span)):
        try:
            lock = span._lock
            span._end_time, span._status  # noqa: B018 - read under the lock below
        except AttributeError:
            span.set_status(status)
            return
        state = _state
        outer, state.span = state.span, span  # events logged meanwhile wait (see add_event)
        try:
            if not _take(span, lock):
                _errors.report(
                    "a span status was not set: the span's lock is held by this thread, or"
                    f" was not free within {LOCK_BOUND:g} s"
                )
            else:
                try:
                    current = span._status
                    if span._end_time is None and not (
                        current and current.status_code is StatusCode.OK
                    ):
                        span._status = status
                finally:
                    lock.release()
            if outer is not span:  # else the add_event further down appends them
                _drain(span, lock, span._events)
        finally:
            state.span = outer
        return
    span.set_status(status)


def _take(span: Any, lock: Any) -> bool:
    """Take *span*'s lock, unless this thread holds it or it is not free within `LOCK_BOUND`.

    Other threads hold it for microseconds. When it is not free at once, the
    holder may be this very thread, inside an SDK method on this span (turning
    a value to text whose ``__str__`` logged, or interrupted by a signal
    handler that logs): waiting would never end, so False is returned at once.
    Otherwise the lock is waited for, `LOCK_BOUND` seconds at most.
    """
    if lock.acquire(blocking=False):
        return True
    if _in_sdk_method(span):
        return False
    try:
        if span in _stuck:
            return False
    except TypeError:  # unhashable, or not weakly referable: not remembered
        pass
    if lock.acquire(timeout=LOCK_BOUND):
        return True
    with contextlib.suppress(TypeError):
        _stuck.add(span)
    return False


def _in_sdk_method(span: Any) -> bool:
    """Whether a frame of this thread is an OpenTelemetry SDK method running on *span*."""
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__")
        if (
            isinstance(module, str)
            and module.startswith("opentelemetry.sdk")
            and frame.f_locals.get("self") is span
        ):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


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
