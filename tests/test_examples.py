"""The examples, run for real: servers on loopback, requests with a traceparent, output checked.

Each example runs as a subprocess of this interpreter, as a user runs it;
servers are stopped with SIGTERM (as Ctrl-C or a process manager would) and
must exit cleanly, and are killed if they linger.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests._otlp import OTLPReceiver
from tests._prometheus import OPENER, Prometheus, binary, free_port, wait_for
from tests.conftest import parse_lines

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
HEX16 = re.compile(r"[0-9a-f]{16}")
# The variables that would send spans elsewhere or rename the service.
OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
)
SERVERS = {
    "fastapi_app.py": "/items/{item_id}",
    "flask_app.py": "/items/<int:item_id>",
}


def example_env(**variables: str) -> dict[str, str]:
    """This environment without OpenTelemetry settings, plus *variables*."""
    env = {k: v for k, v in os.environ.items() if k not in OTEL_VARIABLES}
    env.update(variables)
    return env


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM *process* and wait for it; kill it and fail if it lingers. Its exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)
        pytest.fail(f"{process.args!r} did not exit within 20 s of SIGTERM")


def request(
    method: str, url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request, directly (no proxy): status, headers and body, error statuses too."""
    prepared = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with OPENER.open(prepared, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def traceparent(trace_id: str, parent_id: str) -> str:
    """A sampled W3C traceparent."""
    return f"00-{trace_id}-{parent_id}-01"


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects among *text*'s lines (other lines are skipped)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@dataclass
class Server:
    """An example server running as a subprocess."""

    script: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    stderr: Path

    def ready(self) -> bool:
        """Whether it answers /metrics (fails the test if it died)."""
        if self.process.poll() is not None:
            pytest.fail(
                f"the example exited with {self.process.returncode}:\n"
                + self.stderr.read_text(errors="replace")[-3000:]
            )
        try:
            request("GET", f"{self.url}/metrics")
        except OSError:
            return False
        return True

    def records(self) -> list[dict[str, Any]]:
        """The JSON lines of its log file."""
        return parse_lines(self.log.read_text())

    def spans(self) -> list[dict[str, Any]]:
        """The span lines it printed on stderr."""
        return json_lines(self.stderr.read_text())


def start_server(script: str, directory: Path, **variables: str) -> Server:
    """Start the example *script* on a free port, logging to a file; wait until it answers."""
    port = free_port()
    log, stderr = directory / "app.jsonl", directory / "stderr.txt"
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, str(EXAMPLES / script), "--port", str(port), "--log-file", str(log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=example_env(OTEL_SERVICE_NAME="shop-test", **variables),
        )
    server = Server(script, process, f"http://127.0.0.1:{port}", log, stderr)
    try:
        wait_for(server.ready, timeout=60, failure=lambda: f"{script} not answering within 60 s")
    except BaseException:
        stop(process)
        raise
    return server


@pytest.fixture(params=sorted(SERVERS))
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """Each example server, running; always stopped afterwards."""
    started = start_server(request.param, tmp_path)
    try:
        yield started
    finally:
        stop(started.process)
    assert started.process.returncode is not None


def samples(metrics_text: str) -> list[Sample]:
    """Every sample of an OpenMetrics exposition, read by prometheus_client's parser."""
    families = text_string_to_metric_families(metrics_text)  # type: ignore[no-untyped-call]
    return [sample for family in families for sample in family.samples]


def labelled_samples(metrics_text: str, name: str) -> dict[tuple[str, ...], Sample]:
    """Samples of *name* by their label values (in label-name order)."""
    return {
        tuple(value for _, value in sorted(sample.labels.items())): sample
        for sample in samples(metrics_text)
        if sample.name == name
    }


def scrape(server: Server, headers: dict[str, str], counted: int) -> tuple[dict[str, str], bytes]:
    """/metrics once it counts *counted* requests (10 s at most): headers and body.

    A request is recorded when the server closes its response, just after the
    client has it, so a scrape right after it may come first.
    """
    answer: list[tuple[int, dict[str, str], bytes]] = []

    def complete() -> bool:
        answer[:] = [request("GET", f"{server.url}/metrics", headers)]
        total = sum(
            float(value)
            for value in re.findall(
                rb"^http_server_requests_total\{.*?\} (\S+)", answer[0][2], re.M
            )
        )
        return total >= counted

    wait_for(complete, timeout=10, failure=lambda: f"not {counted} requests counted: {answer}")
    status, response_headers, body = answer[0]
    assert status == 200
    return response_headers, body


class TestServers:
    """fastapi_app.py and flask_app.py: logs, spans and /metrics of real requests."""

    def test_logs_spans_and_metrics_share_the_request_trace(self, server: Server) -> None:
        """A request's log line, server span and exemplar carry its trace ID; a 503 is counted."""
        item_route = SERVERS[server.script]
        item_trace, checkout_trace = "4c7c6430fb5466bff54036fa0cbe7eb6", "5d" * 16
        item_parent, checkout_parent = "ba257a214f1fcc4a", "c1" * 8

        status, _, body = request(
            "GET", f"{server.url}/items/42", {"traceparent": traceparent(item_trace, item_parent)}
        )
        assert (status, json.loads(body)) == (200, {"item_id": 42, "stock": 0})
        status, _, _ = request(
            "POST",
            f"{server.url}/checkout?fail=1",
            {"traceparent": traceparent(checkout_trace, checkout_parent)},
        )
        assert status == 503
        headers, body = scrape(server, {"Accept": OPENMETRICS}, counted=2)
        assert headers["Content-Type"].startswith("application/openmetrics-text")
        metrics_text = body.decode()
        assert stop(server.process) == 0

        item_lines = [r for r in server.records() if r.get("trace_id") == item_trace]
        # FastAPI's uvicorn writes an access line with the request's IDs too.
        assert [r["logger"] for r in item_lines if r["logger"] != "shop.api"] == (
            ["uvicorn.access"] if server.script == "fastapi_app.py" else []
        )
        (item_line,) = [r for r in item_lines if r["logger"] == "shop.api"]
        assert TIMESTAMP.fullmatch(item_line.pop("timestamp"))
        server_span_id = item_line.pop("span_id")
        assert HEX16.fullmatch(server_span_id)
        assert item_line == {
            "level": "info",
            "logger": "shop.api",
            "message": "item loaded",
            "service.name": "shop-test",
            "trace_id": item_trace,
            "trace_flags": "01",
            "item_id": 42,
            "stock": 0,
        }
        checkout_lines = [
            r
            for r in server.records()
            if r.get("trace_id") == checkout_trace and r["logger"] == "shop.api"
        ]
        assert [(r["level"], r["message"]) for r in checkout_lines] == [
            ("info", "checkout started"),
            ("error", "charge failed"),
        ]
        assert checkout_lines[1]["exception.type"] == "__main__.GatewayTimeoutError"

        spans = {(s["trace_id"], s["name"]): s for s in server.spans()}
        item_span = spans[(item_trace, f"GET {item_route}")]
        assert (item_span["span_id"], item_span["parent_span_id"]) == (server_span_id, item_parent)
        assert item_span["attributes"]["http.route"] == item_route
        assert [event["name"] for event in item_span["events"]] == ["item loaded"]
        charge = spans[(checkout_trace, "charge card")]
        assert (charge["status"], [e["name"] for e in charge["events"]]) == (
            "ERROR",
            ["exception"],
        )
        assert charge["span_id"] == checkout_lines[1]["span_id"]

        requests = labelled_samples(metrics_text, "http_server_requests_total")
        item = requests[("GET", item_route, "200")]
        assert item.value == 1.0
        assert item.exemplar is not None
        assert item.exemplar.labels == {"trace_id": item_trace, "span_id": server_span_id}
        failed = requests[("POST", "/checkout", "503")]
        assert failed.value == 1.0
        assert failed.exemplar is not None
        assert failed.exemplar.labels["trace_id"] == checkout_trace
        # Scrapes are answered before the middleware: neither traced nor counted.
        assert sorted(requests) == [("GET", item_route, "200"), ("POST", "/checkout", "503")]
        charges = labelled_samples(metrics_text, "shop_payment_charge_seconds_count")
        assert {key: sample.value for key, sample in charges.items()} == {("error",): 1.0}

    def test_classic_scrape_has_no_exemplars(self, server: Server) -> None:
        """/metrics without an OpenMetrics Accept header answers the classic text format."""
        request("GET", f"{server.url}/items/1", {"traceparent": traceparent("6e" * 16, "d2" * 8)})
        headers, body = scrape(server, {}, counted=1)
        assert headers["Content-Type"].split(";")[0] == "text/plain"
        assert b"http_server_requests_total{" in body
        assert b"trace_id" not in body


def test_prometheus_stores_the_example_exemplar(tmp_path: Path) -> None:
    """Prometheus, exemplar storage on, scraping fastapi_app.py stores the request's trace."""
    prometheus_binary = binary()
    trace_id, parent = "8a" * 16, "f4" * 8
    server = start_server("fastapi_app.py", tmp_path)
    prometheus: Prometheus | None = None
    try:
        start = time.time() - 60
        prometheus = Prometheus(prometheus_binary, tmp_path, int(server.url.rsplit(":", 1)[1]))
        ready = prometheus
        wait_for(ready.ready, timeout=60, failure=lambda: f"not ready:\n{ready.log_tail()}")
        status, _, _ = request(
            "GET", f"{server.url}/items/5", {"traceparent": traceparent(trace_id, parent)}
        )
        assert status == 200
        query = 'http_server_requests_total{route="/items/{item_id}"}'
        found: list[dict[str, Any]] = []

        def stored() -> bool:
            found[:] = [
                exemplar["labels"]
                for series in ready.query_exemplars(query, start, time.time() + 60)
                for exemplar in series["exemplars"]
            ]
            return bool(found)

        wait_for(stored, timeout=30, failure=lambda: f"no exemplar stored:\n{ready.log_tail()}")
    finally:
        if prometheus is not None:
            prometheus.stop()
        exit_status = stop(server.process)
    assert exit_status == 0
    assert prometheus.process.returncode is not None
    (line,) = [
        r for r in server.records() if r.get("trace_id") == trace_id and r["logger"] == "shop.api"
    ]
    assert found == [{"trace_id": trace_id, "span_id": line["span_id"]}]


@pytest.mark.parametrize("script", sorted(SERVERS))
def test_servers_export_spans_over_otlp(script: str, tmp_path: Path, otlp: OTLPReceiver) -> None:
    """With OTEL_EXPORTER_OTLP_ENDPOINT set, the request's spans reach it over OTLP/HTTP."""
    trace_id, parent = "7f" * 16, "e3" * 8
    server = start_server(script, tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url)
    try:
        status, _, _ = request(
            "GET", f"{server.url}/items/9", {"traceparent": traceparent(trace_id, parent)}
        )
        assert status == 200
    finally:
        exit_status = stop(server.process)  # shutting down sends the queued spans
    assert exit_status == 0
    assert set(otlp.paths) == {"/v1/traces"}
    received = [
        (dict((a.key, a.value.string_value) for a in resources.resource.attributes), span)
        for export in otlp.exports
        for resources in export.resource_spans
        for scope in resources.scope_spans
        for span in scope.spans
    ]
    # The server span: the child of the caller's (per-message send/receive spans,
    # which older ASGI instrumentations make, are its children).
    (resource, span), *_ = [
        (r, s)
        for r, s in received
        if s.trace_id.hex() == trace_id and s.parent_span_id.hex() == parent
    ]
    assert resource["service.name"] == "shop-test"
    assert span.name == f"GET {SERVERS[script]}"
    assert [event.name for event in span.events] == ["item loaded"]
    (line,) = [
        r for r in server.records() if r.get("trace_id") == trace_id and r["logger"] == "shop.api"
    ]
    assert line["span_id"] == span.span_id.hex()
    assert server.spans() == []  # nothing printed when spans go over OTLP


def run_example(*arguments: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run an example to completion (60 s at most); its output."""
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=EXAMPLES.parent,
        env=example_env(**variables),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def run() -> subprocess.CompletedProcess[str]:
    """One run of agent_tool_calls.py with its default seed, shared by its tests."""
    return run_example("examples/agent_tool_calls.py", "--seed", "7")


class TestAgentToolCalls:
    """agent_tool_calls.py: tool-call spans, retries as span events, exemplars."""

    def test_runs_to_completion(self, run: subprocess.CompletedProcess[str]) -> None:
        """The example exits 0; every log line belongs to the agent's one trace."""
        assert run.returncode == 0, run.stderr
        records = parse_lines(run.stdout)
        assert len({record["trace_id"] for record in records}) == 1
        assert {record["service.name"] for record in records} == {"trip-agent"}
        assert records[-1]["message"] == "answer ready"
        assert records[-1]["missing"] == ["convert_currency"]
        assert records[-1]["answer"] == "TP1351 LIS 09:40; Lisbon: 19 C, sunny"

    def test_retries_are_span_events(self, run: subprocess.CompletedProcess[str]) -> None:
        """Each retry is an event on its tool call's span; a call out of attempts is an ERROR."""
        spans = {span["name"]: span for span in json_lines(run.stderr)}
        agent = spans["invoke_agent trip-planner"]
        events = {
            name.removeprefix("execute_tool "): [
                (event["name"], event["attributes"].get("attempt")) for event in span["events"]
            ]
            for name, span in spans.items()
            if name.startswith("execute_tool ")
        }
        retry = "tool call failed, retrying"
        assert events == {
            "search_flights": [("tool answered", 1)],
            "get_weather": [(retry, 1), (retry, 2), ("tool answered", 3)],
            "convert_currency": [(retry, 1), (retry, 2), ("exception", None)],
        }
        statuses = {name: span["status"] for name, span in spans.items()}
        assert statuses["execute_tool convert_currency"] == "ERROR"
        assert statuses["execute_tool get_weather"] == "UNSET"
        for name, span in spans.items():
            assert span["trace_id"] == agent["trace_id"]
            if name != agent["name"]:
                assert span["parent_span_id"] == agent["span_id"], name
        # Exponential backoff with jitter: 50-75 ms before the second attempt,
        # 100-150 ms before the third.
        for span_name in ("execute_tool get_weather", "execute_tool convert_currency"):
            delays = [
                event["attributes"]["retry_in_s"]
                for event in spans[span_name]["events"]
                if event["name"] == retry
            ]
            assert 0.05 <= delays[0] <= 0.075
            assert 0.1 <= delays[1] <= 0.15

    def test_tool_latency_exemplars_name_the_tool_spans(
        self, run: subprocess.CompletedProcess[str]
    ) -> None:
        """The histogram counts each call once; each exemplar is that call's trace and span."""
        spans = {span["name"]: span for span in json_lines(run.stderr)}
        metrics_text = "".join(
            line for line in run.stderr.splitlines(keepends=True) if not line.startswith("{")
        )
        counts = labelled_samples(metrics_text, "agent_tool_call_duration_seconds_count")
        assert {key: sample.value for key, sample in counts.items()} == {
            ("ok", "search_flights"): 1.0,
            ("ok", "get_weather"): 1.0,
            ("error", "convert_currency"): 1.0,
        }
        exemplars = {
            sample.labels["tool"]: sample.exemplar.labels
            for sample in samples(metrics_text)
            if sample.exemplar is not None
        }
        assert exemplars == {
            tool: {
                "trace_id": spans[f"execute_tool {tool}"]["trace_id"],
                "span_id": spans[f"execute_tool {tool}"]["span_id"],
            }
            for tool in ("search_flights", "get_weather", "convert_currency")
        }

    def test_a_seed_repeats_its_run(self, run: subprocess.CompletedProcess[str]) -> None:
        """The same seed gives the same retry delays; another seed gives others."""

        def delays(output: str) -> list[tuple[str, int, float]]:
            return sorted(
                (r["tool"], r["attempt"], r["retry_in_s"])
                for r in parse_lines(output)
                if r["message"] == "tool call failed, retrying"
            )

        again = run_example("examples/agent_tool_calls.py", "--seed", "7")
        other = run_example("examples/agent_tool_calls.py", "--seed", "8")
        assert (again.returncode, other.returncode) == (0, 0)
        assert len(delays(run.stdout)) == 4
        assert delays(again.stdout) == delays(run.stdout)
        assert delays(other.stdout) != delays(run.stdout)


def test_custom_pipeline_lines_carry_the_span_of_every_library() -> None:
    """Without configure(): the lines of all three libraries carry the span's IDs and are events."""
    run = run_example("examples/custom_pipeline.py")
    assert run.returncode == 0, run.stderr
    (span,) = json_lines(run.stderr)
    records = parse_lines(run.stdout)
    for record in records:
        assert TIMESTAMP.fullmatch(record.pop("timestamp"))
        assert int(record.pop("trace_flags"), 16) & 1  # sampled (SDK 1.45+ also sets 0x02)
    ids = {"service.name": "checkout", "trace_id": span["trace_id"], "span_id": span["span_id"]}
    assert records == [
        {
            "level": "info",
            "logger": "checkout.api",
            "message": "request received",
            **ids,
            "user_id": 42,
        },
        {"level": "info", "logger": "checkout.cart", "message": "cart loaded", **ids, "items": 3},
        {
            "level": "info",
            "logger": "__main__",
            "message": "card charged",
            **ids,
            "amount_cents": 4599,
        },
    ]
    assert [(e["name"], e["attributes"]["otel.scope.name"]) for e in span["events"]] == [
        ("request received", "checkout.api"),
        ("cart loaded", "checkout.cart"),
        ("card charged", "__main__"),
    ]


def test_missing_otlp_exporter_is_named() -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT without the exporter installed: exit 1 saying what to install."""
    # The exporter package made unimportable, as when it is not installed.
    code = (
        "import runpy, sys;"
        "sys.modules['opentelemetry.exporter.otlp.proto.http.trace_exporter'] = None;"
        "sys.argv = ['examples/custom_pipeline.py'];"
        "sys.path.insert(0, 'examples');"
        "runpy.run_path('examples/custom_pipeline.py', run_name='__main__')"
    )
    run = run_example("-c", code, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    assert run.returncode == 1
    assert run.stderr == (
        "OTEL_EXPORTER_OTLP_ENDPOINT is set, but the OTLP/HTTP exporter is not installed:"
        ' pip install "opentelemetry-exporter-otlp-proto-http"\n'
    )
    assert run.stdout == ""
