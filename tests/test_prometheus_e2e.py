"""End to end: a real Prometheus scrapes exemplars that lead to sampled traces and their logs.

Needs Debian's ``prometheus`` binary (``.ci/run`` installs it). Without it the
test skips, unless ``TRACELOG_REQUIRE_PROMETHEUS`` is set (as ``.ci/run`` does),
which makes the missing binary a failure.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from prometheus_client import CollectorRegistry

import tracelog
import tracelog.metrics

REQUIRE = "TRACELOG_REQUIRE_PROMETHEUS"
# Direct connections only: a proxy from the environment must not see loopback traffic.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def prometheus_binary() -> str:
    """The prometheus binary; skip without it, or fail when the environment requires it."""
    binary = shutil.which("prometheus")
    if binary is None:
        message = "the prometheus binary is not installed (Debian: apt-get install prometheus)"
        if os.environ.get(REQUIRE):
            pytest.fail(f"{REQUIRE} is set but {message}")
        pytest.skip(message)
    return binary


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(condition: Callable[[], bool], *, timeout: float, failure: Callable[[], str]) -> None:
    """Poll *condition* until it holds, or fail after *timeout* seconds saying what was awaited."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(failure())
        time.sleep(0.1)


def get(url: str, headers: dict[str, str] | None = None) -> bytes:
    """GET *url* directly (no proxy), returning the body."""
    with OPENER.open(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
        body: bytes = response.read()
        return body


class QuietHandler(WSGIRequestHandler):
    """wsgiref's handler without its per-request stderr line."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


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


class Prometheus:
    """A real Prometheus with exemplar storage, scraping one target every second."""

    def __init__(self, binary: str, directory: Path, target_port: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = directory / "prometheus.yml"
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "scrape_configs:\n"
            "  - job_name: app\n"
            "    static_configs:\n"
            f"      - targets: ['127.0.0.1:{target_port}']\n"
        )
        (directory / "data").mkdir()
        self.log = directory / "prometheus.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--enable-feature=exemplar-storage",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def log_tail(self) -> str:
        """The end of Prometheus's own log, for failure messages."""
        return self.log.read_text(errors="replace")[-3000:]

    def ready(self) -> bool:
        """Whether Prometheus answers /-/ready (fails the test if it died)."""
        if self.process.poll() is not None:
            pytest.fail(f"prometheus exited with {self.process.returncode}:\n{self.log_tail()}")
        try:
            get(f"{self.url}/-/ready")
        except OSError:
            return False
        return True

    def query_exemplars(self, query: str, start: float, end: float) -> list[dict[str, Any]]:
        """GET /api/v1/query_exemplars, the API Grafana calls to show exemplars."""
        params = urllib.parse.urlencode({"query": query, "start": start, "end": end})
        answer = json.loads(get(f"{self.url}/api/v1/query_exemplars?{params}"))
        assert answer["status"] == "success", answer
        data: list[dict[str, Any]] = answer["data"]
        return data

    def stop(self) -> None:
        """Terminate Prometheus and wait for it; kill it if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


@pytest.fixture
def prometheus(prometheus_binary: str, tmp_path: Path, app: App) -> Iterator[Prometheus]:
    """Prometheus scraping the app; always stopped afterwards."""
    server = Prometheus(prometheus_binary, tmp_path, app.port)
    try:
        wait_for(
            server.ready,
            timeout=60,
            failure=lambda: f"prometheus not ready within 60 s:\n{server.log_tail()}",
        )
        yield server
    finally:
        server.stop()
    assert server.process.returncode is not None


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
