"""End to end: a real Prometheus scrapes exemplars that lead to sampled traces and their logs.

Needs Debian's ``prometheus`` binary: see ``tests/_prometheus.py`` for when
the test skips and when it fails without it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

import pytest
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from prometheus_client import CollectorRegistry

import tracelog
import tracelog.metrics
from tests._prometheus import Prometheus, QuietHandler, get, running, wait_for


class App:
    """A loopback WSGI app: traced, metered /orders/<n>, and /metrics for Prometheus."""

    def __init__(self, log_path: Path) -> None:
        self.registry = CollectorRegistry()
        self.scrapes: list[tuple[str, str]] = []  # (Accept, Content-Type) per scrape
        provider = TracerProvider(sampler=ParentBased(root=ALWAYS_ON))  # the caller's flag decides
        self.provider = provider
        self.metrics_app = tracelog.metrics.make_wsgi_app(self.registry)
        self.traced = OpenTelemetryMiddleware(
            tracelog.metrics.WSGIMiddleware(
                self.handle, registry=self.registry, route=lambda environ: "/orders/{id}"
            ),
            tracer_provider=provider,
        )
        tracelog.configure(
            output=str(log_path), integrations=["stdlib"], service_name="e2e", level="INFO"
        )
        self.server: WSGIServer = make_server("127.0.0.1", 0, self, handler_class=QuietHandler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        """Where the app listens."""
        return self.server.server_port

    def handle(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        """The application's own work: a log line inside the server span."""
        logging.getLogger("e2e.orders").info("order handled", extra={"path": environ["PATH_INFO"]})
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] != "/metrics":
            return self.traced(environ, start_response)

        def record(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            self.scrapes.append((environ.get("HTTP_ACCEPT", ""), dict(headers)["Content-Type"]))
            return start_response(status, headers, exc_info)

        return self.metrics_app(environ, record)

    def close(self) -> None:
        """Stop serving and undo configure()."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
        self.provider.shutdown()
        tracelog.reset()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    """The app, serving on loopback for the test's duration."""
    served = App(tmp_path / "app.jsonl")
    yield served
    served.close()


@pytest.fixture
def prometheus(tmp_path: Path, app: App) -> Iterator[Prometheus]:
    """Prometheus scraping the app; always stopped afterwards."""
    with running(tmp_path, app.port) as server:
        yield server


def trace_hex(n: int, sampled: bool) -> str:
    """A distinct, recognisable trace ID per request."""
    return f"{'5a' if sampled else '0f'}{n:030x}"


def test_prometheus_stores_exemplars_of_sampled_traces_only(
    app: App, prometheus: Prometheus, tmp_path: Path
) -> None:
    """Exemplars Prometheus returns each name a sampled trace that has logs; no unsampled one."""
    start = time.time() - 60
    sampled: set[str] = set()
    unsampled: set[str] = set()

    def request(n: int, *, is_sampled: bool) -> None:
        trace_id = trace_hex(n, is_sampled)
        (sampled if is_sampled else unsampled).add(trace_id)
        flags = "01" if is_sampled else "00"
        traceparent = f"00-{trace_id}-{n + 1:016x}-{flags}"
        assert get(f"http://127.0.0.1:{app.port}/orders/{n}", {"traceparent": traceparent}) == b"ok"

    def next_scrape() -> None:
        # The bucket keeps only its latest exemplar: let Prometheus see each one.
        seen = len(app.scrapes)
        wait_for(
            lambda: len(app.scrapes) > seen,
            timeout=30,
            failure=lambda: (
                f"prometheus did not scrape the app within 30 s:\n{prometheus.log_tail()}"
            ),
        )

    next_scrape()
    for n in range(3):
        request(n, is_sampled=True)
        next_scrape()
        # Same route, same bucket: were unsampled requests given exemplars, this one
        # would replace the sampled one before the next scrape.
        request(n, is_sampled=False)
        next_scrape()

    # Prometheus asked for OpenMetrics and got it: classic text would drop every exemplar.
    assert all("application/openmetrics-text" in accept for accept, _ in app.scrapes)
    content_types = {content_type for _, content_type in app.scrapes}
    assert all(ct.startswith("application/openmetrics-text;") for ct in content_types), (
        content_types
    )

    query = '{__name__=~"http_server_request_duration_seconds_bucket|http_server_requests_total"}'
    found: list[dict[str, Any]] = []

    def exemplars_for_every_sampled_trace() -> bool:
        found[:] = [
            exemplar
            for series in prometheus.query_exemplars(query, start, time.time() + 60)
            for exemplar in series["exemplars"]
        ]
        return {e["labels"].get("trace_id") for e in found} >= sampled

    wait_for(
        exemplars_for_every_sampled_trace,
        timeout=30,
        failure=lambda: f"exemplars of {sorted(sampled)} not all returned; got {found}",
    )
    trace_ids = {e["labels"]["trace_id"] for e in found}
    assert trace_ids == sampled
    assert not trace_ids & unsampled

    records = [json.loads(line) for line in (tmp_path / "app.jsonl").read_text().splitlines()]
    logged: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record.get("logger") == "e2e.orders":
            logged.setdefault(record["trace_id"], []).append(record)
    assert set(logged) == sampled | unsampled  # every request logged, with its trace ID
    for exemplar in found:
        lines = logged[exemplar["labels"]["trace_id"]]
        assert [line["span_id"] for line in lines] == [exemplar["labels"]["span_id"]]
        assert all(int(line["trace_flags"], 16) & 1 for line in lines)
    for trace_id in unsampled:
        assert not any(int(line["trace_flags"], 16) & 1 for line in logged[trace_id])
