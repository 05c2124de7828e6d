"""Each backend profile, checked against that backend's own reference.

- ecs: elastic/ecs-logging's ``spec/spec.json`` (vendored under
  tests/vendor/ecs-logging) and the ``ecs-logging`` package's formatter.
- datadog, datadog64: ``ddtrace``'s log correlation
  (``tracer.get_log_correlation_context``), run in a child process so that
  ddtrace never loads into the tests' own.
- gcp: ``google-cloud-logging``'s ``StructuredLogHandler``.

The records come from a real OpenTelemetry SDK span, through all three libraries.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ecs_logging
import pytest
from google.cloud.logging_v2.handlers import StructuredLogHandler
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import tracelog

from .conftest import LIBRARIES, Captured, emit

SPEC = json.loads((Path(__file__).parent / "vendor" / "ecs-logging" / "spec.json").read_text())


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted keys, as Elasticsearch reads both."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@pytest.fixture
def sdk_tracer() -> Iterator[trace.Tracer]:
    """A real SDK tracer (spans of it have parents the profiles can see)."""
    provider = TracerProvider()
    yield provider.get_tracer("backends")
    provider.shutdown()


def ecs_lines(
    configured: Callable[..., Captured], tracer: trace.Tracer, library: str
) -> list[dict[str, Any]]:
    """One plain, one exception and one stack_info line in ECS, from *library*."""
    out = configured(fields="ecs", service_name="shop")
    with tracer.start_as_current_span("request"):
        emit(library, "info", "order placed", order=7)
        try:
            raise ValueError("card declined")
        except ValueError:
            emit(library, "exception", "charge failed")
        if library == "stdlib":
            logging.getLogger("tests.conftest").warning("where", stack_info=True)
    return out.records()


def validate_against_spec(line: dict[str, Any]) -> None:
    """*line* meets ecs-logging's spec.json: required fields, types, order, top-level dots."""
    fields = SPEC["fields"]
    keys = list(line)
    for name, field in fields.items():
        if field.get("required"):
            assert name in line, f"{name} is required by the spec"
        if name not in line:
            continue
        value = line[name]
        kind = field["type"]
        if kind == "datetime":
            assert isinstance(value, str)
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif kind == "string":
            assert isinstance(value, str), (name, value)
        elif kind == "integer":
            assert type(value) is int, (name, value)
        elif kind == "object":
            assert isinstance(value, dict), (name, value)
        if "index" in field:
            assert keys[field["index"]] == name, f"{name} must be key {field['index']}: {keys}"
        if field.get("top_level_field"):
            assert name in keys, f"{name} must be one top-level dotted key"


@pytest.mark.parametrize("library", LIBRARIES)
def test_ecs_lines_meet_the_spec(
    library: str, configured: Callable[..., Captured], sdk_tracer: trace.Tracer
) -> None:
    """Every ECS line of every library passes spec.json: @timestamp, log.level, message first."""
    lines = ecs_lines(configured, sdk_tracer, library)
    assert len(lines) == (3 if library == "stdlib" else 2)
    for line in lines:
        validate_against_spec(line)
        assert list(line)[:4] == ["@timestamp", "log.level", "message", "log.logger"]
        # The request span is the service's entry span: it is the transaction.
        assert line["transaction.id"] == line["span.id"]
    failed = lines[1]
    assert failed["error.type"].endswith("ValueError")
    assert failed["error.message"] == "card declined"
    assert "raise ValueError" in failed["error.stack_trace"]
    assert "log.origin.stack_trace" not in json.dumps(lines)
    if library == "stdlib":
        assert lines[2]["error.stack_trace"].startswith("Stack (most recent call last):")


def test_a_child_span_is_no_transaction(
    configured: Callable[..., Captured], sdk_tracer: trace.Tracer
) -> None:
    """Only a span with no local parent is the transaction; a child's lines say only span.id."""
    out = configured(fields="ecs")
    with sdk_tracer.start_as_current_span("request"), sdk_tracer.start_as_current_span("db"):
        logging.getLogger("app").info("query")
    (line,) = out.records()
    assert "transaction.id" not in line
    assert line["span.id"]


@pytest.mark.parametrize("exc", [False, True])
def test_ecs_matches_the_ecs_logging_package(
    exc: bool, configured: Callable[..., Captured], sdk_tracer: trace.Tracer
) -> None:
    """The same stdlib record through ecs-logging's StdlibFormatter: the same values."""
    out = configured(fields="ecs")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("shop.orders")
    keeper = Keep()
    logger.addHandler(keeper)
    try:
        with sdk_tracer.start_as_current_span("request"):
            if exc:
                try:
                    raise KeyError("sku")
                except KeyError:
                    logger.exception("lookup failed")
            else:
                logger.warning("stock %s", "low")
    finally:
        logger.removeHandler(keeper)
    (ours,) = out.records()
    (record,) = records
    # What Elastic's APM agent puts on a record, from the same span: ecs-logging's input.
    record.elasticapm_trace_id = ours["trace.id"]
    record.elasticapm_span_id = ours["span.id"]
    record.elasticapm_transaction_id = ours["span.id"]
    text = ecs_logging.StdlibFormatter().format(record)
    theirs = json.loads(text)
    assert list(theirs)[:3] == list(ours)[:3] == ["@timestamp", "log.level", "message"]
    flat = flatten(theirs)
    for key in ("log.level", "message", "log.logger", "trace.id", "span.id", "transaction.id"):
        assert ours[key] == flat[key], key
    assert ours["@timestamp"][:23] == flat["@timestamp"][:23]  # theirs: milliseconds
    if exc:
        assert ours["error.type"].endswith(flat["error.type"])
        assert ours["error.message"] == flat["error.message"]
        assert flat["error.stack_trace"].strip() in ours["error.stack_trace"]
    for key in flat:
        if key.startswith(("error.", "trace.", "span.", "transaction.", "log.l", "message")):
            assert key in ours, f"ecs-logging writes {key}, tracelog does not"


DD_REFERENCE = """
import json, sys
from ddtrace.trace import Context, tracer
ids = json.loads(sys.argv[1])
out = [tracer.get_log_correlation_context(active=Context(trace_id=t, span_id=s)) for t, s in ids]
print(json.dumps(out))
"""

DD_IDS = [
    (0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331),  # an OpenTelemetry 128-bit ID
    ((1 << 64) | 1, 1),  # upper half 1, lower half 1
    (1, (1 << 64) - 1),  # a 64-bit trace ID
    ((1 << 128) - 1, 0x8000000000000000),
]


def ddtrace_reference(env: dict[str, str]) -> list[dict[str, str]]:
    """The log-correlation fields ddtrace gives DD_IDS, computed in a child process."""
    result = subprocess.run(
        [sys.executable, "-c", DD_REFERENCE, json.dumps(DD_IDS)],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DD_TRACE_ENABLED": "true", **env},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    reference: list[dict[str, str]] = json.loads(result.stdout)
    return reference


def datadog_lines(
    configured: Callable[..., Captured], library: str, fields: str
) -> list[dict[str, Any]]:
    """One line per DD_IDS span, from *library* in profile *fields*."""
    out = configured(fields=fields)
    for trace_id, span_id in DD_IDS:
        context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(1))
        with trace.use_span(NonRecordingSpan(context)):
            emit(library, "info", "m")
    return out.records()


@pytest.mark.parametrize("library", LIBRARIES)
def test_datadog_matches_ddtrace_log_correlation(
    library: str, configured: Callable[..., Captured], monkeypatch: pytest.MonkeyPatch
) -> None:
    """dd.trace_id, dd.span_id, dd.service, dd.env and dd.version, as ddtrace writes them."""
    env = {"DD_SERVICE": "shop", "DD_ENV": "prod", "DD_VERSION": "1.4.2"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reference = ddtrace_reference(env)
    lines = datadog_lines(configured, library, "datadog")
    assert len(lines) == len(reference)
    for line, theirs in zip(lines, reference, strict=True):
        assert {key: line.get(key) for key in theirs} == theirs
    assert lines[0]["dd.trace_id"] == "0af7651916cd43dd8448eb211c80319c"  # 32 hex, as ddtrace
    assert lines[2]["dd.trace_id"] == "1"


def test_datadog64_is_the_lower_64_bits_ddtrace_wrote_before(
    configured: Callable[..., Captured], monkeypatch: pytest.MonkeyPatch
) -> None:
    """datadog64: every trace ID as the decimal of its lower 64 bits, span IDs as ddtrace's."""
    for name in ("DD_SERVICE", "DD_ENV", "DD_VERSION"):
        monkeypatch.delenv(name, raising=False)
    reference = ddtrace_reference({})
    lines = datadog_lines(configured, "stdlib", "datadog64")
    for line, theirs, (trace_id, _) in zip(lines, reference, DD_IDS, strict=True):
        assert line["dd.trace_id"] == str(trace_id & ((1 << 64) - 1))
        assert line["dd.span_id"] == theirs["dd.span_id"]
        # ddtrace writes "" for an unknown service; tracelog leaves the field out.
        assert "dd.service" not in line
        assert theirs["dd.service"] == ""


def test_datadog_tags_from_the_opentelemetry_resource(
    configured: Callable[..., Captured], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without DD_* variables, dd.service/env/version come from the tracer provider's resource."""
    from opentelemetry.sdk.resources import Resource

    for name in ("DD_SERVICE", "DD_ENV", "DD_VERSION"):
        monkeypatch.delenv(name, raising=False)
    provider = TracerProvider(
        resource=Resource.create(
            {
                "service.name": "checkout",
                "deployment.environment.name": "staging",
                "service.version": "2.0.1",
            }
        )
    )
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    out = configured(fields="datadog")
    with provider.get_tracer("t").start_as_current_span("s"):
        logging.getLogger("app").info("m")
    (line,) = out.records()
    assert (line["dd.service"], line["dd.env"], line["dd.version"]) == (
        "checkout",
        "staging",
        "2.0.1",
    )
    provider.shutdown()


@pytest.mark.parametrize("library", LIBRARIES)
def test_gcp_matches_google_cloud_loggings_structured_handler(
    library: str,
    configured: Callable[..., Captured],
    sdk_tracer: trace.Tracer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """severity, trace, spanId, trace_sampled and sourceLocation as StructuredLogHandler writes."""
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj-1")
    out = configured(fields="gcp")
    stream = io.StringIO()
    reference = StructuredLogHandler(project_id="proj-1", stream=stream)
    reference.setLevel(logging.WARNING)  # not its own start-up line
    logger = logging.getLogger("tests.conftest")  # where emit() logs stdlib records
    with sdk_tracer.start_as_current_span("request"):
        if library == "stdlib":
            logger.addHandler(reference)
            try:
                emit(library, "warning", "stock low")
            finally:
                logger.removeHandler(reference)
        else:
            emit(library, "warning", "stock low")
            # The same call site, as a stdlib record for the reference handler.
            logger.addHandler(reference)
            try:
                emit("stdlib", "warning", "stock low")
            finally:
                logger.removeHandler(reference)
    # (tracelog also says, in a line of its own, that the reference handler doubles lines)
    ours = next(r for r in out.records() if r["message"] == "stock low")
    theirs = json.loads(stream.getvalue().splitlines()[-1])
    for key in (
        "severity",
        "message",
        "logging.googleapis.com/trace",
        "logging.googleapis.com/spanId",
        "logging.googleapis.com/trace_sampled",
    ):
        assert ours[key] == theirs[key], key
    location = ours["logging.googleapis.com/sourceLocation"]
    expected = theirs["logging.googleapis.com/sourceLocation"]
    assert location["file"] == expected["file"]
    assert location["function"] == expected["function"]
    if library == "stdlib":
        assert location == expected
    else:
        assert abs(location["line"] - expected["line"]) <= 12  # emit()'s branch for the library


def test_gcp_source_location_is_the_callers(configured: Callable[..., Captured]) -> None:
    """The location is the application's line, not tracelog's or the logging library's."""
    out = configured(fields="gcp")
    logging.getLogger("app").info("here")
    line_number = sys._getframe().f_lineno - 1
    (line,) = out.records()
    assert line["logging.googleapis.com/sourceLocation"] == {
        "line": line_number,
        "file": __file__,
        "function": "test_gcp_source_location_is_the_callers",
    }


def test_profiles_other_than_gcp_write_no_location(configured: Callable[..., Captured]) -> None:
    """Only gcp asks for the code location (it costs a frame walk for structlog)."""
    for fields in ("otel", "ecs", "datadog", "datadog64"):
        out = configured(fields=fields)
        logging.getLogger("app").info("here")
        assert "sourceLocation" not in out.text
        tracelog.reset()
