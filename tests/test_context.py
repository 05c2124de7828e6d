"""Reading the current span: IDs, flags, caching, and the API without the SDK."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, NonRecordingSpan, SpanContext, TraceFlags

import tracelog
from tracelog import _context

from .conftest import SPAN_HEX, SPAN_ID, TRACE_HEX, TRACE_ID, known_span


def test_outside_any_span_there_is_no_trace() -> None:
    """current_trace() is None when no span is current."""
    assert tracelog.current_trace() is None


def test_known_span_ids_are_lowercase_hex() -> None:
    """IDs are 32 and 16 lowercase hex digits, flags two hex digits."""
    with known_span():
        ctx = tracelog.current_trace()
    assert ctx == tracelog.TraceContext(
        trace_id=TRACE_HEX,
        span_id=SPAN_HEX,
        trace_flags="01",
        sampled=True,
        traceparent=f"00-{TRACE_HEX}-{SPAN_HEX}-01",
    )


def test_unsampled_span_keeps_ids_and_clears_the_sampled_bit() -> None:
    """An unsampled span still has IDs; its flags say unsampled."""
    with known_span(sampled=False):
        ctx = tracelog.current_trace()
    assert ctx is not None
    assert (ctx.trace_id, ctx.span_id, ctx.trace_flags, ctx.sampled) == (
        TRACE_HEX,
        SPAN_HEX,
        "00",
        False,
    )


def test_invalid_span_is_no_trace() -> None:
    """The invalid span (all-zero IDs) counts as no trace."""
    with trace.use_span(INVALID_SPAN):
        assert tracelog.current_trace() is None


def test_nested_spans_and_exit_restore_the_outer_ids(tracer) -> None:  # type: ignore[no-untyped-def]
    """Entering and leaving nested SDK spans always reports the innermost one."""
    sdk_tracer, _ = tracer
    seen = []
    with sdk_tracer.start_as_current_span("outer") as outer:
        seen.append((tracelog.current_trace(), outer))
        with sdk_tracer.start_as_current_span("inner") as inner:
            seen.append((tracelog.current_trace(), inner))
        seen.append((tracelog.current_trace(), outer))
    seen.append((tracelog.current_trace(), None))
    for ctx, span in seen:
        if span is None:
            assert ctx is None
        else:
            assert ctx is not None
            assert ctx.span_id == f"{span.get_span_context().span_id:016x}"
            assert ctx.trace_id == f"{span.get_span_context().trace_id:032x}"


def test_other_flag_bits_are_kept() -> None:
    """trace_flags renders the whole W3C flags byte (e.g. the random bit)."""
    flags = TraceFlags(0x03)
    span = NonRecordingSpan(SpanContext(TRACE_ID, SPAN_ID, False, trace_flags=flags))
    with trace.use_span(span):
        ctx = tracelog.current_trace()
    assert ctx is not None
    assert (ctx.trace_flags, ctx.sampled) == ("03", True)


def test_a_non_span_in_the_context_is_ignored() -> None:
    """A foreign object stored under the span key does not break reading."""
    from opentelemetry import context
    from opentelemetry.trace.propagation import _SPAN_KEY

    token = context.attach(context.set_value(_SPAN_KEY, object()))
    try:
        assert tracelog.current_trace() is None
    finally:
        context.detach(token)


@given(
    trace_id=st.integers(min_value=1, max_value=2**128 - 1),
    span_id=st.integers(min_value=1, max_value=2**64 - 1),
    flags=st.integers(min_value=0, max_value=255),
)
def test_traceparent_round_trip(trace_id: int, span_id: int, flags: int) -> None:
    """Any valid IDs survive span context -> traceparent -> parse unchanged."""
    span_context = SpanContext(trace_id, span_id, False, trace_flags=TraceFlags(flags))
    ctx = _context.from_span_context(span_context)
    assert ctx is not None
    parsed = _context.parse_traceparent(ctx.traceparent)
    assert parsed == ctx
    assert int(parsed.trace_id, 16) == trace_id
    assert int(parsed.span_id, 16) == span_id
    assert int(parsed.trace_flags, 16) == flags


@given(st.text(max_size=80))
def test_parse_traceparent_rejects_garbage(value: str) -> None:
    """Arbitrary text either parses to valid IDs or to None, never raises."""
    parsed = _context.parse_traceparent(value)
    if parsed is not None:
        assert parsed.traceparent == value.strip().lower()


def test_all_zero_ids_are_rejected() -> None:
    """All-zero trace or span IDs are invalid in W3C Trace Context."""
    assert _context.from_hex("0" * 32, SPAN_HEX) is None
    assert _context.from_hex(TRACE_HEX, "0" * 16) is None
    assert _context.from_hex(TRACE_HEX.upper(), SPAN_HEX.upper()) is not None


def test_api_alone_stamps_ids_from_an_incoming_traceparent() -> None:
    """Without the SDK, a traceparent extracted with the API is enough for IDs."""
    script = textwrap.dedent(
        f"""
        import io, json, logging, sys
        sys.modules["opentelemetry.sdk"] = None  # the SDK is not installed
        from opentelemetry import context, propagate
        import tracelog

        out = io.StringIO()
        tracelog.configure(output=out, integrations=["stdlib"])
        logging.getLogger("api").info("before")
        incoming = {{"traceparent": "00-{TRACE_HEX}-{SPAN_HEX}-01"}}
        token = context.attach(propagate.extract(incoming))
        logging.getLogger("api").info("inside")
        context.detach(token)
        print(out.getvalue(), end="")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    before, inside = (__import__("json").loads(line) for line in result.stdout.splitlines())
    assert "trace_id" not in before
    assert (inside["trace_id"], inside["span_id"], inside["trace_flags"]) == (
        TRACE_HEX,
        SPAN_HEX,
        "01",
    )
