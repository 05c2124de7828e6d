"""configure(otel_logs=True) over the wire: the real OTLP/HTTP exporter, a receiver decoding it.

The SDK's BatchLogRecordProcessor and ``opentelemetry-exporter-otlp-proto-http``
post to a loopback receiver that decodes each request with opentelemetry-proto
(no OpenTelemetry Collector binary is packaged by Debian or, runnable with an
OTLP receiver, by PyPI). Records come from stdlib, structlog and loguru,
inside and outside spans, with values no attribute may hold as they are and
secrets at several depths; the secrets must not be in the bytes sent.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from tests._otlp import OTLPReceiver, attributes

from .conftest import (
    LIBRARIES,
    SPAN_HEX,
    TRACE_HEX,
    emit,
    global_logger_provider,
    known_span,
    line_time_ns,
)

SECRETS = ("hunter2", "sk-live-4242", "pa55phrase", "eyJhbGciOi")


def hostile_fields() -> dict[str, Any]:
    """Values no attribute may hold as they are, and a secret at every depth."""
    cycle: list[Any] = ["c"]
    cycle.append(cycle)
    return {
        "order_id": "A-1",
        "items": 3,
        "ratio": 0.5,
        "paid": True,
        "tags": ["a", "b"],
        "password": SECRETS[0],
        "request": {"headers": {"Authorization": SECRETS[1]}, "path": "/pay"},
        "attempts": [{"passphrase": SECRETS[2]}],
        "jwt": SECRETS[3],
        "surrogate": "x\udc80y",
        "raw": b"\xfe\xff",
        "huge": 2**90,
        "cycle": cycle,
        "none": None,
    }


SENT_FIELDS = {
    "order_id": "A-1",
    "items": 3,
    "ratio": 0.5,
    "paid": True,
    "tags": ["a", "b"],
    "password": "[REDACTED]",
    "request": '{"headers":{"Authorization":"[REDACTED]"},"path":"/pay"}',
    "attempts": '[{"passphrase":"[REDACTED]"}]',
    "jwt": "[REDACTED]",
    "surrogate": "x\\udc80y",
    "raw": "\\xfe\\xff",
    "huge": str(2**90),
    "cycle": '["c","[cycle]"]',
}


@pytest.fixture
def otlp_provider(otlp: OTLPReceiver) -> Iterator[LoggerProvider]:
    """A global LoggerProvider batching LogRecords to the receiver over OTLP/HTTP."""
    session = requests.Session()
    session.trust_env = False  # loopback, never through a proxy from the environment
    exporter = OTLPLogExporter(endpoint=f"{otlp.url}/v1/logs", timeout=10, session=session)
    provider = LoggerProvider(resource=Resource.create({"service.name": "otlp-logs-test"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    with global_logger_provider(provider):
        yield provider
    provider.shutdown()


def _observed_time_sent() -> bool:
    """Whether the installed OTLP encoder sends the observed time (it does from 1.25)."""
    version = importlib.metadata.version("opentelemetry-exporter-otlp-proto-common")
    return tuple(int(part) for part in version.split(".")[:2]) >= (1, 25)


@pytest.mark.parametrize("library", LIBRARIES)
def test_records_reach_an_otlp_receiver(library, otlp, otlp_provider, configured) -> None:  # type: ignore[no-untyped-def]
    """Inside and outside a span, each record arrives once: IDs, body, severity, fields, code."""
    out = configured(otel_logs=True)  # DEBUG: the exporter's HTTP client logs while it posts
    with known_span():
        emit(library, "info", "charged \udc80 ✓", **hostile_fields())
    emit(library, "warning", "outside", api_key=SECRETS[1])
    assert otlp_provider.force_flush(30_000)
    received = otlp.log_records()
    assert [record.body.string_value for _, _, record in received] == [
        "charged \\udc80 ✓",
        "outside",
    ]
    resources = {resource["service.name"] for resource, _, _ in received}
    assert resources == {"otlp-logs-test"}
    assert {scope for _, scope, _ in received} == {"tests.conftest"}
    (_, _, inside), (_, _, outside) = received
    assert (inside.trace_id.hex(), inside.span_id.hex(), inside.flags) == (TRACE_HEX, SPAN_HEX, 1)
    assert (outside.trace_id.hex().strip("0"), outside.span_id.hex().strip("0")) == ("", "")
    assert [(r.severity_number, r.severity_text) for r in (inside, outside)] == [
        (9, "INFO"),
        (13, "WARNING"),
    ]
    fields = attributes(inside.attributes)
    code = {key: fields.pop(key) for key in list(fields) if key.startswith("code.")}
    assert fields == SENT_FIELDS
    assert (code["code.function.name"], code["code.file.path"].endswith("conftest.py")) == (
        "emit",
        True,
    )
    lines = out.records()
    line = next(line for line in lines if line.get("message", "").startswith("charged"))
    assert line["password"] == fields["password"]
    assert json.loads(fields["request"]) == line["request"]
    assert abs(inside.time_unix_nano - line_time_ns(line)) <= 1000  # the line's time, to its µs
    if _observed_time_sent():
        assert inside.observed_time_unix_nano >= inside.time_unix_nano
    wire = b"".join(otlp.bodies)
    assert [secret for secret in SECRETS if secret.encode() in wire] == []
    # What the exporter's HTTP client logged while posting: lines, never LogRecords.
    assert len(received) == 2


def test_exceptions_over_otlp(otlp, otlp_provider, configured) -> None:  # type: ignore[no-untyped-def]
    """An exception's exception.* attributes arrive as the semantic conventions name them."""
    configured(otel_logs=True)
    for library in LIBRARIES:
        with known_span():
            try:
                {}["missing"]
            except KeyError:
                emit(library, "exception", f"{library} failed", token=SECRETS[3])
    assert otlp_provider.force_flush(30_000)
    received = [record for _, _, record in otlp.log_records()]
    assert [r.body.string_value for r in received] == [f"{lib} failed" for lib in LIBRARIES]
    for record in received:
        fields = attributes(record.attributes)
        assert (fields["exception.type"], fields["exception.message"], fields["token"]) == (
            "KeyError",
            "'missing'",
            "[REDACTED]",
        )
        assert fields["exception.stacktrace"].startswith("Traceback (most recent call last):")
        assert (record.severity_number, record.trace_id.hex()) == (17, TRACE_HEX)
    assert SECRETS[3].encode() not in b"".join(otlp.bodies)


def test_the_export_thread_s_own_logging_is_not_sent(otlp, otlp_provider, configured) -> None:  # type: ignore[no-untyped-def]
    """While the batch processor posts, its HTTP client's records are lines only: no feedback."""
    out = configured(otel_logs=True, level="DEBUG")
    for n in range(5):
        logging.getLogger("app").info("record %d", n)
        assert otlp_provider.force_flush(30_000)
    received = [record.body.string_value for _, _, record in otlp.log_records()]
    assert received == [f"record {n}" for n in range(5)]
    loggers = {line["logger"] for line in out.records()}
    assert "app" in loggers
