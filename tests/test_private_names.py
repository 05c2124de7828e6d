"""Private OpenTelemetry names tracelog reads for speed: the public API takes over without them.

The names: ``opentelemetry.trace.propagation._SPAN_KEY`` (the current span's
context key), the runtime context's ``_current_context`` (its ContextVar),
the SDK span's ``_limits``/``_lock``/``_events``/``_end_time``/``_status``
(appending events without re-validating them), and the provider's
``_active_span_processor._span_processors`` (doctor counts processors).
Each test takes one away, as a future release could, and checks that lines,
events and doctor's answer stay right.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import tracelog
import tracelog._append
import tracelog._context
from tracelog._doctor._report import Status

from .conftest import Captured


class HiddenFromTracelog:
    """A span attribute the SDK's own code reads and writes, and tracelog's code cannot see.

    As if a release had renamed it: reads from a ``tracelog`` module raise
    AttributeError, everything else works as before.
    """

    def __init__(self, name: str = "") -> None:
        self.name, self.storage = name, f"renamed{name}"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name, self.storage = name, f"renamed{name}"

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller == "tracelog" or caller.startswith("tracelog."):
            raise AttributeError(self.name)
        held = instance.__dict__
        return held[self.storage] if self.storage in held else held[self.name]

    def __set__(self, instance: object, value: Any) -> None:
        instance.__dict__[self.storage] = value


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[trace.Tracer, InMemorySpanExporter]]:
    """A real SDK tracer exporting into memory (not the global provider)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("private-names"), exporter
    provider.shutdown()


def log_in_a_span(
    tracer: trace.Tracer, out: Captured, *, error: bool = False
) -> tuple[dict[str, Any], trace.Span]:
    """Log one line (an exception with *error*) inside a span; the line and the span."""
    with tracer.start_as_current_span("work") as span:
        if error:
            try:
                raise ValueError("declined")
            except ValueError:
                logging.getLogger("app").exception("failed", extra={"order": 7})
        else:
            logging.getLogger("app").info("working", extra={"order": 7})
    (line,) = out.records()
    return line, span


def assert_stamped(line: dict[str, Any], span: trace.Span) -> None:
    """The line carries *span*'s IDs."""
    context = span.get_span_context()
    assert (line["trace_id"], line["span_id"]) == (
        f"{context.trace_id:032x}",
        f"{context.span_id:016x}",
    )


def test_without_the_span_key(
    monkeypatch: pytest.MonkeyPatch, configured: Callable[..., Captured], spans: Any
) -> None:
    """No ``_SPAN_KEY``: get_current_span(context) finds the span; lines and events are right."""
    monkeypatch.setattr(tracelog._context, "_SPAN_KEY", None)
    out = configured(span_events="INFO")
    tracer, exporter = spans
    line, span = log_in_a_span(tracer, out)
    assert_stamped(line, span)
    (finished,) = exporter.get_finished_spans()
    assert [event.name for event in finished.events] == ["working"]
    with tracer.start_as_current_span("outer") as outer:
        assert tracelog._context.current_span() is outer
    assert tracelog._context.current_span() is None


def test_without_the_runtime_contexts_variable(
    monkeypatch: pytest.MonkeyPatch, configured: Callable[..., Captured], spans: Any
) -> None:
    """No ``_current_context`` on the runtime context: the runtime's get_current() is read."""
    runtime = type(otel_context._RUNTIME_CONTEXT)
    assert runtime is ContextVarsRuntimeContext
    hidden = HiddenFromTracelog("_current_context")
    monkeypatch.setattr(runtime, "_current_context", hidden, raising=False)
    reader = tracelog._context._context_reader()
    assert reader == otel_context._RUNTIME_CONTEXT.get_current
    monkeypatch.setattr(tracelog._context, "_read_context", reader)
    out = configured()
    tracer, _ = spans
    line, span = log_in_a_span(tracer, out)
    assert_stamped(line, span)


class OtherRuntimeContext(ContextVarsRuntimeContext):
    """A runtime context of another type, as OTEL_PYTHON_CONTEXT can name one."""


def test_another_runtime_context(
    monkeypatch: pytest.MonkeyPatch, configured: Callable[..., Captured], spans: Any
) -> None:
    """Another runtime context configured: tracelog asks it, never the API's lock before 1.25.

    OpenTelemetry's API before 1.25 takes ``_RUNTIME_CONTEXT_LOCK`` in every
    get_current(); a line logged while it is held (by a thread a signal
    interrupted in get_current(), here by another thread) must not wait.
    """
    runtime = OtherRuntimeContext()
    monkeypatch.setattr(otel_context, "_RUNTIME_CONTEXT", runtime)
    reader = tracelog._context._context_reader()
    assert reader == runtime.get_current
    monkeypatch.setattr(tracelog._context, "_read_context", reader)
    out = configured()
    tracer, _ = spans
    line, span = log_in_a_span(tracer, out)
    assert_stamped(line, span)

    lock = getattr(otel_context, "_RUNTIME_CONTEXT_LOCK", threading.Lock())
    with tracer.start_as_current_span("held") as held:
        in_span = contextvars.copy_context()
    with lock:
        thread = threading.Thread(
            target=in_span.run, args=(logging.getLogger("app").info, "while held")
        )
        thread.start()
        thread.join(timeout=5)
        waited = thread.is_alive()
    thread.join()
    assert not waited, "the line waited on the runtime context's lock"
    assert out.records()[-1]["trace_id"] == format(held.get_span_context().trace_id, "032x")


@pytest.mark.parametrize("name", ["_limits", "_lock", "_events", "_end_time"])
def test_without_the_sdk_spans_private_attributes(
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    configured: Callable[..., Captured],
    spans: Any,
) -> None:
    """An SDK span whose *name* tracelog cannot read: events go through span.add_event()."""
    hidden = type("_Span", (sdk_trace._Span,), {name: HiddenFromTracelog()})
    monkeypatch.setattr(sdk_trace, "_Span", hidden)
    out = configured(span_events="INFO")
    tracer, exporter = spans
    line, span = log_in_a_span(tracer, out)
    assert type(span) is hidden
    assert_stamped(line, span)
    (finished,) = exporter.get_finished_spans()
    (event,) = finished.events
    assert event.name == "working"
    assert event.attributes is not None
    assert event.attributes["order"] == 7
    assert tracelog._append._direct[hidden] is False  # and not tried again


def test_without_the_sdk_spans_status(
    monkeypatch: pytest.MonkeyPatch, configured: Callable[..., Captured], spans: Any
) -> None:
    """No readable ``_status``: span.set_status() sets the error of a logged exception."""
    hidden = type("_Span", (sdk_trace._Span,), {"_status": HiddenFromTracelog()})
    monkeypatch.setattr(sdk_trace, "_Span", hidden)
    out = configured(span_events="INFO")
    tracer, exporter = spans
    line, span = log_in_a_span(tracer, out, error=True)
    assert_stamped(line, span)
    (finished,) = exporter.get_finished_spans()
    assert finished.status.status_code is StatusCode.ERROR
    assert "exception" in [event.name for event in finished.events]


class OneProcessor(SpanProcessor):
    """A span processor of the application's own, given as the provider's active one."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self._simple = SimpleSpanProcessor(exporter)

    def on_end(self, span: Any) -> None:
        self._simple.on_end(span)


def test_doctor_without_the_providers_processor_tuple(
    monkeypatch: pytest.MonkeyPatch, configured: Callable[..., Captured]
) -> None:
    """A provider whose processors cannot be counted: doctor does not claim there are none."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(active_span_processor=OneProcessor(exporter))  # type: ignore[arg-type]
    assert not hasattr(provider._active_span_processor, "_span_processors")
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    configured()
    report = tracelog.doctor()
    assert report["sdk"].status is Status.OK, report["sdk"]
    with provider.get_tracer("t").start_as_current_span("exported"):
        pass
    assert [span.name for span in exporter.get_finished_spans()][-1] == "exported"
