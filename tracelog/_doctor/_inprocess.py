"""The checks that run inside the application: SDK, log lines, span events, multiprocess mode.

A test span is started as a new root span through the installed tracer
provider (it is recorded and exported like any other span, named
``tracelog doctor``); inside it each library that `tracelog.configure` set up
logs one test line through its real pipeline. The lines are caught before
they reach the configured output (see `_capture`), and read back: they must
carry the span's IDs in the configured field profile. The span's events are
read once it has ended.
"""

from __future__ import annotations

import collections
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context, attach, detach, set_value
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from tracelog import _configure
from tracelog._context import TraceContext, current
from tracelog._doctor._capture import diverted
from tracelog._doctor._processes import multiprocess_check
from tracelog._doctor._report import DoctorCheck, guarded
from tracelog._doctor._routing import routing_check

__all__ = ["LOGGER", "in_process_checks"]

# Not "tracelog.*": records of tracelog's own loggers never become span events.
LOGGER = "tracelog-doctor"
_LEVELS = ((10, "debug"), (20, "info"), (30, "warning"), (40, "error"), (50, "critical"))
_CONFIGURE_LATER = "call tracelog.configure() after the application has set up {}"


def in_process_checks() -> list[DoctorCheck]:
    """Every in-process check, in order; none raises."""
    checks = guarded("sdk", _sdk)
    checks += guarded("logs", _logs_and_events)
    checks += guarded("logs-routing", routing_check)
    checks += guarded("otel-logs", _otel_logs)
    checks += guarded("multiprocess", multiprocess_check)
    return checks


def _sdk_provider_class() -> type | None:
    try:
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415 - an optional extra
    except ImportError:
        return None
    return TracerProvider


def _class_name(value: object) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def _sdk() -> list[DoctorCheck]:
    provider = trace.get_tracer_provider()
    sdk = _sdk_provider_class()
    if sdk is None or not isinstance(provider, sdk):
        return [_other_provider(provider, sdk_installed=sdk is not None)]
    if isinstance(provider.get_tracer("tracelog.doctor"), trace.NoOpTracer):
        return [
            DoctorCheck.problem(
                "sdk",
                f"{_class_name(provider)} is disabled (OTEL_SDK_DISABLED=true): it makes no span,"
                " so log lines carry no trace IDs",
                "unset OTEL_SDK_DISABLED",
            )
        ]
    sampler = provider.sampler  # type: ignore[attr-defined]  # the SDK's has one
    described = sampler.get_description()
    if not _samples_roots(sampler):
        return [
            DoctorCheck.problem(
                "sdk",
                f"the sampler {described} samples no root span: no trace is exported, and no"
                " exemplar written (tracelog writes them in sampled spans only), so log lines"
                " and metrics link to nothing",
                "sample root spans, e.g. TracerProvider(sampler=ParentBased(TraceIdRatioBased"
                "(0.1))) or OTEL_TRACES_SAMPLER=parentbased_traceidratio with"
                " OTEL_TRACES_SAMPLER_ARG above 0",
            )
        ]
    if _processors(provider) == 0:
        return [
            DoctorCheck.problem(
                "sdk",
                f"{_class_name(provider)} has no span processor: spans are recorded and their"
                " IDs written into log lines and exemplars, but no span is exported, so the"
                " trace those IDs name is nowhere",
                "provider.add_span_processor(BatchSpanProcessor(exporter)), e.g. with"
                " opentelemetry-exporter-otlp's OTLPSpanExporter()",
            )
        ]
    return [DoctorCheck.ok("sdk", f"{_class_name(provider)}, sampler {described}")]


def _processors(provider: Any) -> int | None:
    """How many span processors the SDK *provider* has; None when that cannot be read."""
    # The SDK keeps them in its multi-processor's private tuple; there is no public reader.
    processors = getattr(
        getattr(provider, "_active_span_processor", None), "_span_processors", None
    )
    return len(processors) if isinstance(processors, tuple) else None


def _other_provider(provider: trace.TracerProvider, *, sdk_installed: bool) -> DoctorCheck:
    """The ``sdk`` check for a provider that is not the SDK's: do its spans carry IDs?"""
    valid = False
    if not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        # Another vendor's provider: one probe span (ended, so exported like any other).
        probe = provider.get_tracer("tracelog.doctor").start_span(
            "tracelog doctor probe", context=Context()
        )
        try:
            valid = probe.get_span_context().is_valid
        finally:
            probe.end()
    if valid:
        return DoctorCheck.ok(
            "sdk",
            f"{_class_name(provider)}, not the SDK's TracerProvider: its spans carry trace IDs"
            " (span events are checked with the SDK only)",
        )
    if not sdk_installed:
        return DoctorCheck.problem(
            "sdk",
            f"the OpenTelemetry SDK is not installed; the API's {_class_name(provider)}"
            " records no span, so log lines carry no trace IDs",
            'pip install "tracelog[sdk]" and set an SDK TracerProvider at start-up',
        )
    return DoctorCheck.problem(
        "sdk",
        f"the tracer provider is {_class_name(provider)}, not the SDK's TracerProvider:"
        " no span is recorded, so log lines carry no trace IDs",
        "at start-up, before any tracer is used: trace.set_tracer_provider("
        "opentelemetry.sdk.trace.TracerProvider(...)) with a span processor and exporter",
    )


def _samples_roots(sampler: Any) -> bool:
    """Whether *sampler* samples some root span (probed with IDs a ratio sampler keeps first)."""
    try:
        return any(
            sampler.should_sample(None, trace_id, "tracelog doctor").decision.is_sampled()
            for trace_id in (1, 1 << 64 | 1, (1 << 128) - 1)
        )
    except Exception:  # a sampler of the application's that cannot be probed: not judged
        return True


def _otel_logs() -> list[DoctorCheck]:
    """With configure(otel_logs=True): a LoggerProvider is set that does something with them."""
    state = _configure.configured()
    if state is None or state.otel is None:
        return []  # not asked for: no check
    from opentelemetry import _logs  # noqa: PLC0415 - the Logs API, when it is used

    from tracelog._otel_logs import INACTIVE_PROVIDERS  # noqa: PLC0415

    provider = _logs.get_logger_provider()
    fix = (
        "at start-up: opentelemetry._logs.set_logger_provider(opentelemetry.sdk._logs."
        "LoggerProvider(...)) with add_log_record_processor(BatchLogRecordProcessor(exporter))"
    )
    if isinstance(provider, INACTIVE_PROVIDERS):
        return [
            DoctorCheck.problem(
                "otel-logs",
                "configure(otel_logs=True), but no LoggerProvider is set (the API's default):"
                " the LogRecords go nowhere",
                fix,
            )
        ]
    if isinstance(provider.get_logger("tracelog.doctor"), _logs.NoOpLogger):
        return [
            DoctorCheck.problem(
                "otel-logs",
                f"{_class_name(provider)} is disabled (OTEL_SDK_DISABLED=true): it sends nothing",
                "unset OTEL_SDK_DISABLED",
            )
        ]
    multi = getattr(provider, "_multi_log_record_processor", None)
    processors = getattr(multi, "_log_record_processors", None)
    if isinstance(processors, tuple | list) and not processors:
        return [
            DoctorCheck.problem(
                "otel-logs",
                f"{_class_name(provider)} has no log record processor: the LogRecords go nowhere",
                fix,
            )
        ]
    return [
        DoctorCheck.ok(
            "otel-logs", f"every record also goes to {_class_name(provider)} as a LogRecord"
        )
    ]


def _not_configured() -> list[DoctorCheck]:
    return [
        DoctorCheck.problem(
            "logs",
            "tracelog.configure() was not called in this process:"
            " no library writes tracelog's lines",
            "call tracelog.configure()",
        ),
        DoctorCheck.skipped("span-events", "tracelog.configure() was not called"),
    ]


def _logs_and_events() -> list[DoctorCheck]:
    if _configure.configured() is None:
        return _not_configured()  # no test span for nothing to test
    token = secrets.token_hex(8)
    # A root span: the sampler decides on it alone, not on a caller's span.
    span = trace.get_tracer("tracelog.doctor").start_span("tracelog doctor", context=Context())
    recording = span.is_recording()
    try:
        # configure()'s lock: no reconfiguration swaps the output under the test lines.
        with _configure._logging_lock, _configure._lock:
            state = _configure.configured()
            if state is None:  # reset() meanwhile
                return _not_configured()
            context, lines = _test_lines(state, span, token)
    finally:
        # Outside the lock: a span processor exporting as the span ends may be slow.
        span.end()
    checks = [_line_check(name, state, context, result) for name, result in lines.items()]
    checks.append(_events_check(state, span, recording, token, lines))
    return checks


def _test_level(state: _configure.Configured) -> tuple[int, str]:
    """The lowest standard level written at the configured level that also makes an event."""
    wanted = max(state.level, 20, state.events.level if state.events is not None else 0)
    return next(((n, name) for n, name in _LEVELS if n >= wanted), _LEVELS[-1])


def _test_lines(
    state: _configure.Configured, span: trace.Span, token: str
) -> tuple[TraceContext | None, dict[str, _Result]]:
    """Log the test lines inside *span*; the IDs they must carry, and what was written."""
    level = _test_level(state)
    with trace.use_span(span, end_on_exit=False):
        context = current()
        if context is not None:
            return context, _log_lines(state, token, level)
    # No SDK: a span with IDs of its own still tests the log lines.
    made_up = SpanContext(
        trace_id=secrets.randbits(128) or 1,
        span_id=secrets.randbits(64) or 1,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with trace.use_span(NonRecordingSpan(made_up)):
        return current(), _log_lines(state, token, level)


# What each library's test emits: its lines, or a reason it could not log.
_Result = tuple[list[str], str | None]


def _log_lines(
    state: _configure.Configured, token: str, level: tuple[int, str]
) -> dict[str, _Result]:
    results: dict[str, _Result] = {}
    # Nor are they sent to OpenTelemetry as LogRecords (configure(otel_logs=True)), which
    # skips whatever is logged while instrumentation is suppressed in this context.
    suppressed = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        with diverted(state.output, token) as kept:
            for name, installation in state.installations.items():
                before = len(kept)
                try:
                    broken = _EMITTERS[name](installation, _message(token, name), level)
                except Exception as error:
                    broken = f"logging the test line raised {type(error).__name__}: {error}"
                results[name] = (kept[before:], broken)
    finally:
        detach(suppressed)
    return results


def _message(token: str, library: str) -> str:
    return f"tracelog doctor test line {token} {library}"


def _emit_stdlib(installation: Any, message: str, level: tuple[int, str]) -> str | None:
    handler = installation.handler
    if handler is None or handler not in logging.getLogger().handlers:
        return (
            "tracelog's handler is no longer on the root logger (logging.config.dictConfig"
            " or basicConfig(force=True) after tracelog.configure() removes it)"
        )
    # A logger of its own, outside logging's tree: the record is made by the
    # installed record factory and handled by tracelog's handler only, so no
    # other handler of the application sees it.
    logger = logging.Logger(LOGGER, level[0])
    logger.propagate = False
    logger.addHandler(handler)
    logger.log(level[0], message)
    return None


def _emit_structlog(installation: Any, message: str, level: tuple[int, str]) -> str | None:
    import structlog  # noqa: PLC0415 - configured, so installed

    from tracelog._structlog_setup import _LoggerFactory  # noqa: PLC0415

    if not isinstance(structlog.get_config()["logger_factory"], _LoggerFactory):
        return (
            "structlog was configured again after tracelog.configure():"
            " its lines no longer go to tracelog's output"
        )
    structlog.get_logger(LOGGER).log(level[0], message)
    return None


def _emit_loguru(installation: Any, message: str, level: tuple[int, str]) -> str | None:
    import loguru  # noqa: PLC0415 - configured, so installed

    def named(record: Any) -> None:
        record["name"] = LOGGER  # loguru names records after the calling module

    loguru.logger.patch(named).log(level[1].upper(), message)
    return None


_EMITTERS: dict[str, Callable[[Any, str, tuple[int, str]], str | None]] = {
    "stdlib": _emit_stdlib,
    "structlog": _emit_structlog,
    "loguru": _emit_loguru,
}
_LATER = {
    "stdlib": "logging (dictConfig, basicConfig)",
    "structlog": "structlog (structlog.configure)",
    "loguru": "loguru's sinks (logger.remove, logger.add)",
}


def _line_check(
    name: str, state: _configure.Configured, context: TraceContext | None, result: _Result
) -> DoctorCheck:
    check = f"logs-{name}"
    fix = _CONFIGURE_LATER.format(_LATER[name])
    lines, broken = result
    if broken is not None:
        return DoctorCheck.problem(check, broken, fix)
    renderer = state.renderer
    if renderer is None:
        return DoctorCheck.skipped(check, "configure(format=None) writes no lines")
    if not lines:
        return DoctorCheck.problem(check, "the test line did not reach tracelog's output", fix)
    if context is None:  # cannot happen: a span with valid IDs was current
        return DoctorCheck.skipped(check, "no span with valid IDs could be made current")
    profile = renderer.schema.profile
    expected = renderer.schema.trace_fields(context)
    keys = (profile.trace_id, profile.span_id)
    line = lines[0].rstrip("\n")
    where = f"{renderer.schema.fields} profile, {renderer.format}"
    if renderer.format == "json":
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            return DoctorCheck.problem(
                check, f"the test line is not a JSON object: {line[:200]}", fix
            )
        wrong = [key for key in keys if record.get(key) != expected[key]]
        if wrong:
            found = ", ".join(f"{key}={record.get(key)!r}" for key in wrong)
            wanted = ", ".join(f"{key}={expected[key]!r}" for key in wrong)
            return DoctorCheck.problem(
                check,
                f"the test line has {found}; the test span's IDs ({where}) are {wanted}",
                fix,
            )
    else:
        missing = [key for key in keys if f"{key}={expected[key]}" not in line]
        if missing:
            return DoctorCheck.problem(
                check,
                f"the test line lacks the test span's {', '.join(missing)} ({where}): {line[:200]}",
                fix,
            )
    return DoctorCheck.ok(
        check, f"a test line carries the test span's {' and '.join(keys)} ({where})"
    )


def _events_check(
    state: _configure.Configured,
    span: Any,
    recording: bool,
    token: str,
    lines: dict[str, _Result],
) -> DoctorCheck:
    if state.events is None:
        return DoctorCheck.skipped(
            "span-events", "configure(span_events=None) turned span events off"
        )
    provider = trace.get_tracer_provider()
    sdk = _sdk_provider_class()
    if sdk is None or not isinstance(provider, sdk):
        return DoctorCheck.skipped("span-events", "no SDK tracer provider (see sdk)")
    if isinstance(provider.get_tracer("tracelog.doctor"), trace.NoOpTracer):
        return DoctorCheck.skipped("span-events", "the SDK is disabled (see sdk)")
    if not recording or not hasattr(span, "events"):
        sampler = getattr(provider, "sampler", None)
        described = sampler.get_description() if sampler is not None else "its sampler"
        return DoctorCheck.skipped(
            "span-events", f"the sampler ({described}) did not record the test span"
        )
    # Event names are cut at configure(attribute_value_length=...), as every value is.
    names = collections.Counter(event.name for event in span.events)
    tried = [name for name, (_, broken) in lines.items() if broken is None]
    missing = []
    for name in tried:
        expected = _message(token, name)[: state.events.length]
        if names[expected]:
            names[expected] -= 1
        else:
            missing.append(name)
    if missing:
        return DoctorCheck.problem(
            "span-events",
            f"the test line of {', '.join(missing)} did not become an event on the test span",
            "call tracelog.configure() after the application has set up its logging",
        )
    if not tried:
        return DoctorCheck.skipped("span-events", "no library could log a test line")
    return DoctorCheck.ok(
        "span-events", f"the test span got the test line of {', '.join(tried)} as an event"
    )
