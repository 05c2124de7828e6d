"""tracelog.doctor() and `tracelog doctor` against healthy and deliberately broken set-ups."""

from __future__ import annotations

import base64
import gzip
import io
import json
import logging
import logging.config
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

import loguru
import prometheus_client
import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.util._once import Once
from prometheus_client.values import MultiProcessValue

import tracelog
import tracelog.metrics
from tests._prometheus import QuietHandler, free_port, get, running, wait_for
from tests.conftest import global_logger_provider
from tracelog._doctor import Status, guarded, run

OK, PROBLEM, NOT_CHECKED = Status.OK, Status.PROBLEM, Status.NOT_CHECKED
IN_PROCESS = (
    "sdk",
    "logs-stdlib",
    "logs-structlog",
    "logs-loguru",
    "span-events",
    "logs-routing",
    "multiprocess",
)


def outcome(report: tracelog.DoctorReport) -> list[tuple[str, Status]]:
    """(name, status) of every check, in order."""
    return [(check.name, check.status) for check in report.checks]


def _reset_tracer_provider() -> None:
    # What OpenTelemetry's own test utilities do: the global may be set once per process.
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


@pytest.fixture
def global_provider() -> Iterator[Callable[..., InMemorySpanExporter]]:
    """Install a real SDK TracerProvider globally (with a sampler of choice); undo it after."""
    made: list[TracerProvider] = []

    def install(sampler: Sampler | None = None) -> InMemorySpanExporter:
        exporter = InMemorySpanExporter()
        provider = TracerProvider(sampler=sampler) if sampler else TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        _reset_tracer_provider()
        trace.set_tracer_provider(provider)
        made.append(provider)
        return exporter

    yield install
    _reset_tracer_provider()
    for provider in made:
        provider.shutdown()


class TestInProcess:
    """In-process checks against a real SDK and real libraries."""

    def test_healthy_setup_passes_every_check_and_writes_no_test_line(
        self, global_provider: Callable[..., InMemorySpanExporter]
    ) -> None:
        """SDK, configure() with all three libraries: every check ok, the output untouched."""
        exporter = global_provider()
        output = io.StringIO()
        tracelog.configure(output=output)
        report = tracelog.doctor()
        assert outcome(report) == [(name, OK) for name in IN_PROCESS]
        assert report.ok
        assert report["sdk"].finding.startswith("opentelemetry.sdk.trace.TracerProvider, sampler")
        assert report["logs-loguru"].finding == (
            "a test line carries the test span's trace_id and span_id (otel profile, json)"
        )
        assert output.getvalue() == ""
        [span] = exporter.get_finished_spans()
        assert span.name == "tracelog doctor"
        assert [event.name.split()[-1] for event in span.events] == [
            "stdlib",
            "structlog",
            "loguru",
        ]

    @pytest.mark.parametrize("fields", ["otel", "ecs", "datadog", "datadog64", "gcp"])
    @pytest.mark.parametrize("format", ["json", "console"])
    def test_every_profile_and_format_is_read_back(
        self, global_provider: Callable[..., InMemorySpanExporter], fields: str, format: str
    ) -> None:
        """The test lines are checked in whichever profile and format configure() chose."""
        global_provider()
        tracelog.configure(output=io.StringIO(), fields=fields, format=format)
        report = tracelog.doctor()
        assert outcome(report) == [(name, OK) for name in IN_PROCESS]
        assert f"({fields} profile, {format})" in report["logs-stdlib"].finding

    def test_other_threads_lines_go_on_to_the_output_during_the_check(
        self, global_provider: Callable[..., InMemorySpanExporter]
    ) -> None:
        """Lines another thread logs while doctor runs all reach the output; no test line does."""
        global_provider()
        output = io.StringIO()
        tracelog.configure(output=output, integrations=["stdlib", "loguru"])
        stop = threading.Event()
        sent = 0

        def chatter() -> None:
            nonlocal sent
            while not stop.is_set():
                logging.getLogger("chatter").info("line %d", sent)
                loguru.logger.info("loguru line {}", sent)
                sent += 1

        worker = threading.Thread(target=chatter)
        worker.start()
        try:
            for _ in range(20):
                assert tracelog.doctor().ok
        finally:
            stop.set()
            worker.join()
        messages = [json.loads(line)["message"] for line in output.getvalue().splitlines()]
        assert messages == [text for n in range(sent) for text in (f"line {n}", f"loguru line {n}")]

    def test_a_slow_exporter_does_not_hold_up_configure(
        self, global_provider: Callable[..., InMemorySpanExporter]
    ) -> None:
        """While the test span is being exported, another thread's configure() goes ahead."""
        global_provider()
        exporting, release = threading.Event(), threading.Event()

        class SlowProcessor(SpanProcessor):
            """Exports as spans end, slowly (a synchronous exporter to a far collector)."""

            def on_end(self, span: ReadableSpan) -> None:
                if span.name == "tracelog doctor":
                    exporting.set()
                    release.wait(timeout=30)

        provider = trace.get_tracer_provider()
        assert isinstance(provider, TracerProvider)
        provider.add_span_processor(SlowProcessor())
        tracelog.configure(output=io.StringIO())
        reports: list[tracelog.DoctorReport] = []
        checking = threading.Thread(target=lambda: reports.append(tracelog.doctor()))
        reconfiguring = threading.Thread(
            target=lambda: tracelog.configure(output=io.StringIO(), level="DEBUG")
        )
        checking.start()
        try:
            assert exporting.wait(timeout=10)
            reconfiguring.start()
            reconfiguring.join(timeout=5)
            assert not reconfiguring.is_alive(), "configure() waited for the export"
        finally:
            release.set()
            checking.join(timeout=30)
            if reconfiguring.ident is not None:
                reconfiguring.join(timeout=30)
        assert reports[0].ok, str(reports[0])

    def test_configure_not_called_is_a_problem(
        self, global_provider: Callable[..., InMemorySpanExporter]
    ) -> None:
        """Without configure(), the logs check says so and names the call."""
        global_provider()
        report = tracelog.doctor()
        assert outcome(report) == [
            ("sdk", OK),
            ("logs", PROBLEM),
            ("span-events", NOT_CHECKED),
            ("logs-routing", NOT_CHECKED),
            ("multiprocess", OK),
        ]
        assert report["logs"].finding == (
            "tracelog.configure() was not called in this process:"
            " no library writes tracelog's lines"
        )
        assert report["logs"].fix == "call tracelog.configure()"

    @pytest.mark.parametrize("variable", ["PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"])
    def test_multiprocess_mode_set_after_prometheus_client_loaded_is_a_problem(
        self,
        global_provider: Callable[..., InMemorySpanExporter],
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        variable: str,
    ) -> None:
        """The variable (either spelling) set after prometheus_client chose its mode is named."""
        global_provider()
        tracelog.configure(output=io.StringIO())
        monkeypatch.setenv(variable, str(tmp_path))
        check = tracelog.doctor()["multiprocess"]
        assert check.status is PROBLEM
        assert check.finding == (
            f"{variable} is set, but prometheus_client was imported before it was: this"
            " process keeps its values in memory, outside the other processes' merge"
        )
        assert check.fix is not None
        assert check.fix.startswith(f"set {variable} in the server's environment")

    def test_multiprocess_mode_without_its_directory_is_a_problem(
        self, global_provider: Callable[..., InMemorySpanExporter], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A PROMETHEUS_MULTIPROC_DIR that is no directory is named: no metric could be made."""
        global_provider()
        tracelog.configure(output=io.StringIO())
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent-for-this-test")
        check = tracelog.doctor()["multiprocess"]
        assert (check.status, check.finding) == (
            PROBLEM,
            "PROMETHEUS_MULTIPROC_DIR is '/nonexistent-for-this-test', which is not a"
            " directory: prometheus_client fails to make any metric",
        )

    def test_multiprocess_mode_on_is_ok(
        self,
        global_provider: Callable[..., InMemorySpanExporter],
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
    ) -> None:
        """Multiprocess mode really on (values in files): ok, saying the merge is served."""
        global_provider()
        tracelog.configure(output=io.StringIO())
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
        monkeypatch.setattr(prometheus_client.values, "ValueClass", MultiProcessValue())
        check = tracelog.doctor()["multiprocess"]
        assert (check.status, check.finding) == (
            OK,
            f"multiprocess mode in {tmp_path}: tracelog.metrics keeps every process's counts"
            " and exemplars there, and its make_wsgi_app()/make_asgi_app() serve their merge",
        )

    def test_dictconfig_after_configure_is_named(
        self, global_provider: Callable[..., InMemorySpanExporter]
    ) -> None:
        """A dictConfig that drops tracelog's root handler makes logs-stdlib a problem."""
        global_provider()
        tracelog.configure(output=io.StringIO())
        logging.config.dictConfig(
            # Loggers of other tests stay enabled: this test breaks only tracelog's handler.
            {"version": 1, "disable_existing_loggers": False, "root": {"handlers": []}}
        )
        report = tracelog.doctor()
        assert report["logs-stdlib"].status is PROBLEM
        assert "no longer on the root logger" in report["logs-stdlib"].finding
        assert report["logs-stdlib"].fix == (
            "call tracelog.configure() after the application has set up logging"
            " (dictConfig, basicConfig)"
        )
        assert report["logs-structlog"].status is OK

    def test_doubled_and_unrouted_records_are_named(
        self, global_provider: Callable[..., InMemorySpanExporter]
    ) -> None:
        """A plain root handler beside tracelog's, gunicorn's own logger: both named."""
        global_provider()
        plain = logging.StreamHandler(io.StringIO())
        gunicorn = logging.getLogger("gunicorn.error")
        gunicorn.addHandler(plain)
        gunicorn.propagate = False
        try:
            logging.getLogger().addHandler(plain)
            tracelog.configure(output=io.StringIO())
            check = tracelog.doctor()["logs-routing"]
        finally:
            gunicorn.removeHandler(plain)
            gunicorn.propagate = True
        assert check.status is PROBLEM
        assert check.finding == (
            f"records of the root logger are written twice: by tracelog and by {plain!r} there;"
            f" the 'gunicorn.error' logger does not propagate to the root logger; it has {plain!r}:"
            " its records never reach tracelog's output"
        )
        assert check.fix is not None
        assert check.fix.startswith("take that handler off the logger")
        assert "gunicorn: gunicorn -c python:tracelog.gunicorn" in check.fix

    def test_logging_config_applied_routes_everything(
        self, global_provider: Callable[..., InMemorySpanExporter]
    ) -> None:
        """After uvicorn's own set-up, logging_config() applied: logs-routing ok, naming them."""
        global_provider()
        uvicorn_config = pytest.importorskip("uvicorn.config")
        logging.config.dictConfig(uvicorn_config.LOGGING_CONFIG)
        before = tracelog.doctor()["logs-routing"]
        logging.config.dictConfig(tracelog.logging_config(output=io.StringIO()))
        check = tracelog.doctor()["logs-routing"]
        assert before.status is NOT_CHECKED
        assert check.status is OK
        assert "uvicorn, uvicorn.access, uvicorn.error" in check.finding

    def test_structlog_configured_again_is_named(
        self, global_provider: Callable[..., InMemorySpanExporter]
    ) -> None:
        """structlog.configure() after tracelog's sends lines elsewhere: a problem, no test line."""
        global_provider()
        tracelog.configure(output=io.StringIO())
        elsewhere = io.StringIO()
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(elsewhere))
        report = tracelog.doctor()
        assert report["logs-structlog"].status is PROBLEM
        assert report["logs-structlog"].finding == (
            "structlog was configured again after tracelog.configure():"
            " its lines no longer go to tracelog's output"
        )
        assert elsewhere.getvalue() == ""

    def test_structlog_processors_replaced_is_named(
        self, global_provider: Callable[..., InMemorySpanExporter]
    ) -> None:
        """Processors replaced after configure(): the line lacks the IDs, and says so."""
        global_provider()
        tracelog.configure(output=io.StringIO())
        structlog.configure(processors=[structlog.processors.JSONRenderer()])
        check = tracelog.doctor()["logs-structlog"]
        assert check.status is PROBLEM
        assert check.finding.startswith("the test line has trace_id=None, span_id=None;")

    def test_loguru_sinks_removed_is_named(
        self, global_provider: Callable[..., InMemorySpanExporter]
    ) -> None:
        """logger.remove() after configure() drops tracelog's sink: no line reaches the output."""
        global_provider()
        tracelog.configure(output=io.StringIO())
        loguru.logger.remove()
        report = tracelog.doctor()
        assert report["logs-loguru"].status is PROBLEM
        assert report["logs-loguru"].finding == "the test line did not reach tracelog's output"
        assert report["span-events"].status is PROBLEM
        assert report["span-events"].finding == (
            "the test line of loguru did not become an event on the test span"
        )

    @pytest.mark.parametrize(
        "sampler",
        [ALWAYS_OFF, TraceIdRatioBased(0), ParentBased(ALWAYS_OFF)],
        ids=["always-off", "ratio-0", "parent-based-off"],
    )
    def test_a_sampler_that_samples_no_root_span_is_a_problem(
        self, global_provider: Callable[..., InMemorySpanExporter], sampler: Sampler
    ) -> None:
        """A sampler that never samples a root span is named; span events are not checked."""
        global_provider(sampler)
        tracelog.configure(output=io.StringIO())
        report = tracelog.doctor()
        described = sampler.get_description()
        assert report["sdk"].status is PROBLEM
        assert report["sdk"].finding == (
            f"the sampler {described} samples no root span: no trace is exported, and no"
            " exemplar written (tracelog writes them in sampled spans only), so log lines"
            " and metrics link to nothing"
        )
        assert report["logs-stdlib"].status is OK
        assert report["span-events"].status is NOT_CHECKED
        assert report["span-events"].finding == (
            f"the sampler ({described}) did not record the test span"
        )

    def test_a_ratio_sampler_above_0_is_ok(
        self, global_provider: Callable[..., InMemorySpanExporter]
    ) -> None:
        """A sampler keeping a small share of root spans passes the sdk check."""
        global_provider(ParentBased(TraceIdRatioBased(0.001)))
        tracelog.configure(output=io.StringIO())
        check = tracelog.doctor()["sdk"]
        assert (check.status, check.finding) == (
            OK,
            "opentelemetry.sdk.trace.TracerProvider, sampler ParentBased{root:TraceIdRatioBased"
            "{0.001},remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler"
            ",localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}",
        )

    def test_a_disabled_sdk_is_a_problem(
        self,
        global_provider: Callable[..., InMemorySpanExporter],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """OTEL_SDK_DISABLED=true: the SDK makes no span; named, and span events not checked."""
        monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
        exporter = global_provider()
        tracelog.configure(output=io.StringIO())
        report = tracelog.doctor()
        assert report["sdk"] == tracelog.DoctorCheck.problem(
            "sdk",
            "opentelemetry.sdk.trace.TracerProvider is disabled (OTEL_SDK_DISABLED=true):"
            " it makes no span, so log lines carry no trace IDs",
            "unset OTEL_SDK_DISABLED",
        )
        assert report["span-events"] == tracelog.DoctorCheck.skipped(
            "span-events", "the SDK is disabled (see sdk)"
        )
        assert not report.ok
        assert exporter.get_finished_spans() == ()

    def test_a_provider_without_span_processor_is_a_problem(self) -> None:
        """An SDK provider that exports no span: the IDs written name traces no backend has."""
        provider = TracerProvider()
        _reset_tracer_provider()
        trace.set_tracer_provider(provider)
        try:
            report = tracelog.doctor()
        finally:
            _reset_tracer_provider()
            provider.shutdown()
        check = report["sdk"]
        assert (check.status, check.finding.split(":")[0]) == (
            PROBLEM,
            "opentelemetry.sdk.trace.TracerProvider has no span processor",
        )
        assert check.fix is not None
        assert "add_span_processor" in check.fix

    def test_another_vendors_provider_with_trace_ids_is_ok(self) -> None:
        """A provider that is not the SDK's class but makes spans with IDs passes sdk and logs."""
        exporter = InMemorySpanExporter()
        inner = TracerProvider()
        inner.add_span_processor(SimpleSpanProcessor(exporter))

        class VendorProvider(trace.TracerProvider):
            """A vendor's provider: its own class, spans made by an SDK inside it."""

            def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
                return inner.get_tracer(*args, **kwargs)

        _reset_tracer_provider()
        trace.set_tracer_provider(VendorProvider())
        try:
            tracelog.configure(output=io.StringIO())
            report = tracelog.doctor()
        finally:
            _reset_tracer_provider()
            inner.shutdown()
        assert report["sdk"] == tracelog.DoctorCheck.ok(
            "sdk",
            "tests.test_doctor.TestInProcess.test_another_vendors_provider_with_trace_ids_is_ok"
            ".<locals>.VendorProvider, not the SDK's TracerProvider: its spans carry trace IDs"
            " (span events are checked with the SDK only)",
        )
        assert outcome(report) == [
            ("sdk", OK),
            ("logs-stdlib", OK),
            ("logs-structlog", OK),
            ("logs-loguru", OK),
            ("span-events", NOT_CHECKED),
            ("logs-routing", OK),
            ("multiprocess", OK),
        ]
        assert sorted(span.name for span in exporter.get_finished_spans()) == [
            "tracelog doctor",
            "tracelog doctor probe",
        ]

    @pytest.mark.parametrize("length", [8, 40, 45])
    def test_event_names_cut_at_the_value_length_still_count(
        self, global_provider: Callable[..., InMemorySpanExporter], length: int
    ) -> None:
        """configure(attribute_value_length=N) cuts the events' names; they still match."""
        exporter = global_provider()
        tracelog.configure(output=io.StringIO(), attribute_value_length=length)
        report = tracelog.doctor()
        assert report["span-events"] == tracelog.DoctorCheck.ok(
            "span-events",
            "the test span got the test line of stdlib, structlog, loguru as an event",
        )
        [span] = exporter.get_finished_spans()
        assert [len(event.name) for event in span.events] == [length] * 3

    def test_span_events_off_is_not_checked(
        self, global_provider: Callable[..., InMemorySpanExporter]
    ) -> None:
        """configure(span_events=None): span events are not checked, and the report says why."""
        global_provider()
        tracelog.configure(output=io.StringIO(), span_events=None)
        check = tracelog.doctor()["span-events"]
        assert (check.status, check.finding) == (
            NOT_CHECKED,
            "configure(span_events=None) turned span events off",
        )

    def test_otel_logs_with_a_provider_is_ok_and_sends_no_test_line(
        self, global_provider: Callable[..., InMemorySpanExporter], log_exporter: Any
    ) -> None:
        """configure(otel_logs=True): otel-logs names the provider; no test line is sent to it."""
        global_provider()
        tracelog.configure(output=io.StringIO(), otel_logs=True)
        report = tracelog.doctor()
        assert outcome(report) == [(name, OK) for name in (*IN_PROCESS[:-1], "otel-logs")] + [
            ("multiprocess", OK)
        ]
        assert report["otel-logs"].finding == (
            "every record also goes to opentelemetry.sdk._logs._internal.LoggerProvider"
            " as a LogRecord"
        )
        assert log_exporter.get_finished_logs() == ()
        logging.getLogger("app").info("after the check")
        assert [item.log_record.body for item in log_exporter.get_finished_logs()] == [
            "after the check"
        ]

    def test_otel_logs_without_a_provider_is_a_problem(
        self, global_provider: Callable[..., InMemorySpanExporter]
    ) -> None:
        """configure(otel_logs=True) with the API's default provider: LogRecords go nowhere."""
        global_provider()
        tracelog.configure(output=io.StringIO(), otel_logs=True)
        check = tracelog.doctor()["otel-logs"]
        assert check.status == PROBLEM
        assert "no LoggerProvider is set" in check.finding
        assert "set_logger_provider" in check.fix

    def test_otel_logs_into_a_provider_without_processor_is_a_problem(
        self, global_provider: Callable[..., InMemorySpanExporter]
    ) -> None:
        """A LoggerProvider with no log record processor sends nothing anywhere."""
        global_provider()
        with global_logger_provider(LoggerProvider()):
            tracelog.configure(output=io.StringIO(), otel_logs=True)
            check = tracelog.doctor()["otel-logs"]
        assert check.status == PROBLEM
        assert "has no log record processor" in check.finding

    def test_a_failing_record_factory_is_reported_not_raised(
        self, global_provider: Callable[..., InMemorySpanExporter]
    ) -> None:
        """A record factory that raises makes logs-stdlib a problem naming the error."""
        global_provider()
        tracelog.configure(output=io.StringIO())

        def broken(*args: Any, **kwargs: Any) -> logging.LogRecord:
            raise RuntimeError("factory broke")

        logging.setLogRecordFactory(broken)
        check = tracelog.doctor()["logs-stdlib"]
        assert (check.status, check.finding) == (
            PROBLEM,
            "logging the test line raised RuntimeError: factory broke",
        )

    def test_a_crashing_check_is_a_problem(self) -> None:
        """guarded() turns a check that raises into a problem that names the error."""

        def crash() -> list[tracelog.DoctorCheck]:
            raise KeyError("boom")

        [check] = guarded("sdk", crash)
        assert (check.name, check.status, check.finding) == (
            "sdk",
            PROBLEM,
            "the check failed: KeyError: 'boom'",
        )

    def test_invalid_options_raise_before_checking(self) -> None:
        """A bad URL, a bare string for logs or a bad timeout raise at once."""
        with pytest.raises(ValueError, match="metrics_url must be an http"):
            tracelog.doctor(metrics_url="localhost:8000/metrics")
        with pytest.raises(TypeError, match="logs takes a collection"):
            tracelog.doctor(logs="/var/log")
        for timeout in (0, float("inf"), float("nan"), 1e12):
            with pytest.raises(ValueError, match="timeout must be a positive number"):
                tracelog.doctor(timeout=timeout)


class TestReportText:
    """The report as text."""

    def test_lines_align_status_and_indent_the_fix(self) -> None:
        """One line per check; a problem's fix indented under it."""
        report = tracelog.DoctorReport(
            (
                tracelog.DoctorCheck.ok("sdk", "fine"),
                tracelog.DoctorCheck.problem("logs", "broken", "mend it"),
                tracelog.DoctorCheck.skipped("span-events", "why"),
            )
        )
        assert str(report) == (
            "ok           sdk: fine\n"
            "problem      logs: broken\n"
            "             fix: mend it\n"
            "not checked  span-events: why"
        )


# --- over HTTP ----------------------------------------------------------------------------


class Server:
    """A WSGI app on a loopback wsgiref server in a thread."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[..., Any]], Server]]:
    """Serve WSGI apps for the test; all stopped afterwards."""
    servers: list[Server] = []

    def start(app: Callable[..., Any]) -> Server:
        servers.append(Server(app))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


class MeteredApp:
    """/metrics by tracelog.metrics.make_wsgi_app; other paths timed by WSGIMiddleware in a span."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        self.tracer = tracer
        self.metrics = tracelog.metrics.make_wsgi_app(self.registry)
        self.orders = tracelog.metrics.WSGIMiddleware(
            self.order, registry=self.registry, route=lambda environ: "/orders/{id}"
        )

    def order(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        """The application's own work."""
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/metrics":
            return self.metrics(environ, start_response)
        with self.tracer.start_as_current_span("GET /orders/{id}"):
            body = self.orders(environ, start_response)
            try:
                return list(body)
            finally:
                body.close()  # the middleware records the request here, inside the span


@pytest.fixture
def metered(
    tracer: tuple[trace.Tracer, InMemorySpanExporter],
    serve: Callable[[Callable[..., Any]], Server],
) -> tuple[MeteredApp, Server]:
    """A healthy app, served, with one request made inside a sampled span."""
    app = MeteredApp(tracer[0])
    server = serve(app)
    assert get(f"{server.url}/orders/1") == b"ok"
    return app, server


def metrics_report(url: str, **options: Any) -> tracelog.DoctorReport:
    """Only the HTTP checks (the command's path without --import)."""
    return run(in_process=False, metrics_url=url, **options)


class TestMetricsUrl:
    """--metrics-url against real loopback servers."""

    def test_healthy_metrics_endpoint_passes(self, metered: tuple[MeteredApp, Server]) -> None:
        """make_wsgi_app answers OpenMetrics with tracelog's exemplars: both checks ok."""
        _, server = metered
        report = metrics_report(f"{server.url}/metrics")
        assert outcome(report) == [
            ("metrics-format", OK),
            ("metrics-exemplars", OK),
            ("metrics-processes", OK),
        ]
        assert report["metrics-exemplars"].finding == (
            "2 exemplars labelled trace_id, span_id on"
            " http_server_request_duration_seconds_bucket, http_server_requests_total"
        )

    def test_credentials_in_the_url_are_sent_and_not_shown(
        self, metered: tuple[MeteredApp, Server], serve: Callable[[Callable[..., Any]], Server]
    ) -> None:
        """user:password@ in the URL is sent as Basic authorization; the report hides it."""
        app, _ = metered
        expected = "Basic " + base64.b64encode(b"doctor:p@ss word").decode()

        def guarded_metrics(environ: dict[str, Any], start_response: Any) -> Any:
            if environ.get("HTTP_AUTHORIZATION") != expected:
                start_response("401 Unauthorized", [("Content-Type", "text/plain")])
                return [b"who are you?"]
            return app.metrics(environ, start_response)

        server = serve(guarded_metrics)
        host = server.url.removeprefix("http://")
        report = metrics_report(f"http://doctor:p%40ss%20word@{host}/metrics")
        assert outcome(report) == [
            ("metrics-format", OK),
            ("metrics-exemplars", OK),
            ("metrics-processes", OK),
        ]
        assert report["metrics-format"].finding.startswith(
            f"http://doctor:***@{host}/metrics answers application/openmetrics-text;"
        )
        refused = metrics_report(f"http://doctor:wrong@{host}/metrics")
        assert refused["metrics-format"].finding == (
            f"http://doctor:***@{host}/metrics answered 401 Unauthorized"
        )

    def test_classic_text_is_a_problem(
        self, metered: tuple[MeteredApp, Server], serve: Callable[[Callable[..., Any]], Server]
    ) -> None:
        """A /metrics that always answers generate_latest's classic text is named, with the fix."""
        app, _ = metered

        def classic(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            start_response("200 OK", [("Content-Type", prometheus_client.CONTENT_TYPE_LATEST)])
            return [prometheus_client.generate_latest(app.registry)]

        server = serve(classic)
        report = metrics_report(f"{server.url}/metrics")
        assert outcome(report) == [
            ("metrics-format", PROBLEM),
            ("metrics-exemplars", NOT_CHECKED),
            ("metrics-processes", OK),  # classic text shows its counters too
        ]
        check = report["metrics-format"]
        assert check.finding == (
            f"asked for OpenMetrics as Prometheus does, {server.url}/metrics answered"
            f" {prometheus_client.CONTENT_TYPE_LATEST}: the classic text format carries no"
            " exemplars"
        )
        assert check.fix is not None
        assert "tracelog.metrics.make_wsgi_app" in check.fix

    def test_exemplars_with_other_label_names_are_named(
        self,
        tracer: tuple[trace.Tracer, InMemorySpanExporter],
        serve: Callable[[Callable[..., Any]], Server],
    ) -> None:
        """Exemplars labelled traceID (not trace_id) are a problem naming the Grafana mismatch."""
        registry = prometheus_client.CollectorRegistry()
        histogram = prometheus_client.Histogram("pay_seconds", "Pay.", registry=registry)
        histogram.observe(0.2, exemplar={"traceID": "5a" * 16})
        server = serve(prometheus_client.make_wsgi_app(registry))
        check = metrics_report(f"{server.url}/metrics")["metrics-exemplars"]
        assert check.status is PROBLEM
        assert check.finding == (
            "exemplars labelled otherwise than tracelog's trace_id, span_id"
            " (pay_seconds_bucket: traceID): the Grafana datasource that `tracelog grafana`"
            " writes looks the trace up by trace_id, so these exemplars link to nothing"
        )

    def test_no_exemplar_is_a_problem(self, serve: Callable[[Callable[..., Any]], Server]) -> None:
        """Observations made outside spans leave no exemplar: a problem with the fix."""
        registry = prometheus_client.CollectorRegistry()
        tracelog.metrics.Histogram("pay_seconds", "Pay.", registry=registry).observe(0.2)
        server = serve(tracelog.metrics.make_wsgi_app(registry))
        check = metrics_report(f"{server.url}/metrics")["metrics-exemplars"]
        assert check.status is PROBLEM
        assert check.finding.startswith("no sample carries an exemplar")

    def test_unparseable_openmetrics_is_a_problem(
        self, serve: Callable[[Callable[..., Any]], Server]
    ) -> None:
        """An OpenMetrics Content-Type over a body that does not parse: a problem saying so."""

        def broken(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            start_response("200 OK", [("Content-Type", "application/openmetrics-text")])
            return [b"pay_seconds_bucket{le=oops 1\n"]

        server = serve(broken)
        report = metrics_report(f"{server.url}/metrics")
        assert outcome(report) == [
            ("metrics-format", OK),
            ("metrics-exemplars", PROBLEM),
            ("metrics-processes", NOT_CHECKED),
        ]
        assert report["metrics-exemplars"].finding.startswith(
            "the answer does not parse as OpenMetrics: ValueError:"
        )

    def test_an_endpoint_that_is_not_prometheus_is_a_problem(
        self, serve: Callable[[Callable[..., Any]], Server]
    ) -> None:
        """A server answering 404 where Prometheus's flags should be: named with the status."""

        def missing(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no"]

        server = serve(missing)
        report = run(in_process=False, prometheus_url=server.url)
        assert outcome(report) == [
            ("prometheus-storage", PROBLEM),
            ("prometheus-exemplars", NOT_CHECKED),
        ]
        assert report["prometheus-storage"].finding == (
            f"{server.url}/api/v1/status/flags answered 404 Not Found"
        )

    def test_unreachable_urls_are_problems(self) -> None:
        """Nothing listening: both endpoints are problems saying they cannot be reached."""
        metrics = f"http://127.0.0.1:{free_port()}/metrics"
        prometheus = f"http://127.0.0.1:{free_port()}"
        report = run(in_process=False, metrics_url=metrics, prometheus_url=prometheus)
        assert outcome(report) == [
            ("metrics-format", PROBLEM),
            ("metrics-exemplars", NOT_CHECKED),
            ("metrics-processes", NOT_CHECKED),
            ("prometheus-storage", PROBLEM),
            ("prometheus-exemplars", NOT_CHECKED),
        ]
        assert report["metrics-format"].finding.startswith(f"cannot reach {metrics}:")
        assert report["prometheus-storage"].finding.startswith(
            f"cannot reach {prometheus}/api/v1/status/flags:"
        )

    def test_a_server_that_never_answers_times_out(self) -> None:
        """A listener that accepts but never answers costs the timeout, not a hang."""
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            url = f"http://127.0.0.1:{listener.getsockname()[1]}/metrics"
            started = time.monotonic()
            report = metrics_report(url, timeout=0.5)
            elapsed = time.monotonic() - started
        assert report["metrics-format"].finding == f"{url}: no answer within 0.5 s"
        assert elapsed < 5

    def test_a_redirect_off_http_is_not_followed(
        self, serve: Callable[[Callable[..., Any]], Server]
    ) -> None:
        """302 to ftp:// (urllib follows it; here a server that never speaks): refused at once."""
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            target = f"ftp://127.0.0.1:{silent.getsockname()[1]}/metrics"

            def redirect(environ: dict[str, Any], start_response: Any) -> list[bytes]:
                start_response("302 Found", [("Location", target)])
                return [b""]

            server = serve(redirect)
            started = time.monotonic()
            report = metrics_report(f"{server.url}/metrics", timeout=2)
            elapsed = time.monotonic() - started
        assert report["metrics-format"].status is Status.PROBLEM
        assert report["metrics-format"].finding == (
            f"{server.url}/metrics answered 302, a redirect to {target!r}:"
            " not an http(s) URL, not followed"
        )
        assert elapsed < 2

    def test_a_redirect_to_http_is_followed(
        self, metered: tuple[MeteredApp, Server], serve: Callable[[Callable[..., Any]], Server]
    ) -> None:
        """A redirect to another http URL (a moved /metrics) is still followed."""
        _, app_server = metered

        def moved(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            start_response("301 Moved Permanently", [("Location", f"{app_server.url}/metrics")])
            return [b""]

        report = metrics_report(f"{serve(moved).url}/metrics")
        assert report["metrics-format"].status is Status.OK

    def test_the_deadline_bounds_the_whole_exchange(self) -> None:
        """Whatever the exchange is stuck in, get() returns at the deadline (and a little)."""
        from tracelog._doctor import _http

        unblock = threading.Event()
        original = _http._get

        def stuck(url: str, *, timeout: float, accept: str | None) -> Any:
            unblock.wait(30)  # as a name lookup no socket deadline reaches
            return original(url, timeout=timeout, accept=accept)

        _http._get = stuck  # type: ignore[assignment]
        try:
            started = time.monotonic()
            with pytest.raises(_http.HttpError, match=r"no complete answer within 0\.5 s"):
                _http.get("http://127.0.0.1:9/metrics", timeout=0.5)
            assert time.monotonic() - started < 2
        finally:
            _http._get = original
            unblock.set()

    @pytest.mark.parametrize(
        ("head", "drip", "finding"),
        [
            # The status line, then a header: no answer yet.
            (b"", b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 1000, "no answer"),
            # A chunk size: the answer began.
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"0" * 1000,
                "no complete answer",
            ),
        ],
        ids=["headers", "chunk-size"],
    )
    def test_a_server_that_trickles_bytes_times_out(
        self, head: bytes, drip: bytes, finding: str
    ) -> None:
        """A server sending a byte now and then, inside a line, costs the timeout, not a hang."""
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            url = f"http://127.0.0.1:{listener.getsockname()[1]}/metrics"

            def trickle() -> None:
                connection, _ = listener.accept()
                with connection:
                    connection.recv(65536)
                    try:
                        connection.sendall(head)
                        for byte in drip:  # each byte well within the socket timeout
                            connection.sendall(bytes([byte]))
                            time.sleep(0.05)
                    except OSError:  # the client gave up and closed
                        pass

            server = threading.Thread(target=trickle)
            server.start()
            started = time.monotonic()
            report = metrics_report(url, timeout=0.5)
            elapsed = time.monotonic() - started
            server.join(timeout=60)
        assert report["metrics-format"].finding == f"{url}: {finding} within 0.5 s"
        assert elapsed < 5


class TestPrometheus:
    """--prometheus-url against a real Prometheus, with and without exemplar storage."""

    def test_exemplar_storage_on_holds_the_apps_exemplars(
        self, metered: tuple[MeteredApp, Server], tmp_path: Path
    ) -> None:
        """A real Prometheus with exemplar storage, scraping the app: every check ok."""
        _, server = metered
        with running(tmp_path, int(server.url.rsplit(":", 1)[1])) as prometheus:
            found: list[tracelog.DoctorReport] = []

            def held() -> bool:
                # Without --metrics-url: tracelog's middleware series are looked for.
                found[:] = [run(in_process=False, prometheus_url=prometheus.url)]
                return found[0].ok

            wait_for(held, timeout=30, failure=lambda: f"not ok within 30 s:\n{found[0]}")
            report = found[0]
            assert outcome(report) == [("prometheus-storage", OK), ("prometheus-exemplars", OK)]
            assert report["prometheus-storage"].finding == (
                "exemplar storage is on, room for 100000 exemplars; query_exemplars answers"
            )
            both = run(
                in_process=False,
                metrics_url=f"{server.url}/metrics",
                prometheus_url=prometheus.url,
            )
        assert outcome(both) == [
            ("metrics-format", OK),
            ("metrics-exemplars", OK),
            ("metrics-processes", OK),
            ("prometheus-storage", OK),
            ("prometheus-exemplars", OK),
        ]
        port = server.url.rsplit(":", 1)[1]
        assert both["prometheus-exemplars"].finding.endswith(
            " with trace_id on http_server_request_duration_seconds_bucket,"
            f" http_server_requests_total in the last 60 minutes, scraped from app/127.0.0.1:{port}"
        )

    def test_the_series_named_are_those_holding_exemplars(
        self,
        tracer: tuple[trace.Tracer, InMemorySpanExporter],
        serve: Callable[[Callable[..., Any]], Server],
        tmp_path: Path,
    ) -> None:
        """Exemplars on the latency histogram only: the finding names it, not the counter."""
        registry = prometheus_client.CollectorRegistry()
        latency = tracelog.metrics.Histogram(
            "http_server_request_duration_seconds", "latency", registry=registry
        )
        with tracer[0].start_as_current_span("work"):
            latency.observe(0.2)
        server = serve(tracelog.metrics.make_wsgi_app(registry))
        with running(tmp_path, int(server.url.rsplit(":", 1)[1])) as prometheus:
            found: list[tracelog.DoctorReport] = []

            def held() -> bool:
                found[:] = [run(in_process=False, prometheus_url=prometheus.url)]
                return found[0].ok

            wait_for(held, timeout=30, failure=lambda: f"not ok within 30 s:\n{found[0]}")
        finding = found[0]["prometheus-exemplars"].finding
        assert finding.endswith(
            " exemplars with trace_id on http_server_request_duration_seconds_bucket"
            f" in the last 60 minutes, scraped from app/{server.url.rsplit('//', 1)[1]}"
        ), finding

    def test_without_the_feature_flag_storage_is_a_problem(
        self, metered: tuple[MeteredApp, Server], tmp_path: Path
    ) -> None:
        """Prometheus without exemplar storage answers query_exemplars empty; doctor names it."""
        _, server = metered
        port = int(server.url.rsplit(":", 1)[1])
        with running(tmp_path, port, exemplar_storage=False) as prometheus:
            series = f"{prometheus.url}/api/v1/query?query=http_server_requests_total"
            wait_for(
                lambda: bool(json.loads(get(series))["data"]["result"]),
                timeout=30,
                failure=lambda: f"the app was not scraped:\n{prometheus.log_tail()}",
            )
            # The API itself answers success, with nothing: it cannot tell on its own.
            query = '{__name__="http_server_requests_total"}'
            assert prometheus.query_exemplars(query, time.time() - 600, time.time()) == []
            report = run(in_process=False, prometheus_url=prometheus.url)
        assert outcome(report) == [
            ("prometheus-storage", PROBLEM),
            ("prometheus-exemplars", NOT_CHECKED),
        ]
        check = report["prometheus-storage"]
        assert check.finding == (
            "Prometheus runs without --enable-feature=exemplar-storage (its features: none):"
            " it drops every exemplar it scrapes, and its query_exemplars API answers with"
            " nothing"
        )
        assert check.fix == "start Prometheus with --enable-feature=exemplar-storage"


# --- log files ----------------------------------------------------------------------------


def write_logs(path: Path, *, in_span: bool, count: int = 3) -> None:
    """Write *count* real tracelog lines to *path*, inside a sampled span or not."""
    provider = TracerProvider()
    tracelog.configure(output=str(path), integrations=["stdlib"])
    try:
        for n in range(count):
            if in_span:
                with provider.get_tracer("t").start_as_current_span("work"):
                    logging.getLogger("app").info("line %d", n)
            else:
                logging.getLogger("app").info("line %d", n)
    finally:
        tracelog.reset()
        provider.shutdown()


def logs_check(*paths: Path) -> tracelog.DoctorCheck:
    """The log-files check alone."""
    [check] = run(in_process=False, logs=paths).checks
    return check


class TestLogFiles:
    """--logs against files written by tracelog and broken ones."""

    def test_lines_with_trace_ids_pass(self, tmp_path: Path) -> None:
        """Lines tracelog wrote in spans, from a file and a gzip rotation: ok, counted."""
        write_logs(tmp_path / "app.log", in_span=True)
        write_logs(tmp_path / "old.log", in_span=True, count=2)
        with (
            (tmp_path / "old.log").open("rb") as plain,
            gzip.open(tmp_path / "app.log.1.gz", "wb") as zipped,
        ):
            zipped.write(plain.read())
        (tmp_path / "old.log").unlink()
        check = logs_check(tmp_path)
        assert (check.status, check.finding) == (
            OK,
            "2 files, 5 lines read: all JSON, 5 with trace IDs (5 otel)",
        )

    def test_lines_without_ids_are_a_problem(self, tmp_path: Path) -> None:
        """JSON lines none of which carries a trace ID: a problem saying so."""
        write_logs(tmp_path / "app.jsonl", in_span=False)
        check = logs_check(tmp_path / "app.jsonl")
        assert (check.status, check.finding) == (
            PROBLEM,
            "1 file, 3 lines read: none carries a trace ID",
        )

    def test_malformed_and_binary_lines_are_a_problem(self, tmp_path: Path) -> None:
        """Text and binary garbage among good lines: counted, the first ones shown."""
        path = tmp_path / "app.log"
        write_logs(path, in_span=True, count=2)
        with path.open("ab") as file:
            file.write(b"Traceback (most recent call last):\n\x00\xff\xfe binary\n[1, 2]\n")
        check = logs_check(path)
        assert (check.status, check.finding) == (
            PROBLEM,
            "1 file, 5 lines read: 3 not JSON objects, plain text most likely:"
            f' {path}:3: "Traceback (most recent call last):";'
            f' {path}:4: "\\u0000\\\\xff\\\\xfe binary"; {path}:5: "[1, 2]"',
        )

    def test_a_huge_file_is_read_in_part(self, tmp_path: Path) -> None:
        """A file far over the sample (one endless line, then good ones) costs one sample."""
        path = tmp_path / "big.log"
        with path.open("wb") as file:
            file.write(b"x" * (3 << 20) + b"\n")
        write_logs(path, in_span=True, count=2)
        check = logs_check(path)
        assert (check.status, check.finding) == (
            OK,
            "1 file, 2 lines read: all JSON, 2 with trace IDs (2 otel)",
        )

    def test_plain_lines_of_a_huge_file_are_numbered_from_its_end(self, tmp_path: Path) -> None:
        """Read in part, a file's lines are numbered within the part read, and said so."""
        path = tmp_path / "big.log"
        with path.open("wb") as file:
            file.write(b"x" * (3 << 20) + b"\n")
        write_logs(path, in_span=True, count=2)
        with path.open("ab") as file:
            file.write(b"INFO:gunicorn.error:Booting worker with pid: 7\n")
        check = logs_check(path)
        assert check.status is PROBLEM
        assert check.finding.endswith(
            f'{path}, line 3 of its last 1 MiB: "INFO:gunicorn.error:Booting worker with pid: 7"'
        )

    @pytest.mark.parametrize(
        "content",
        [b"", b"x" * (3 << 20) + b"\n", b'{"trace_id": "1"'],
        ids=["empty", "huge", "cut"],
    )
    def test_no_complete_line_is_a_problem_saying_so(self, tmp_path: Path, content: bytes) -> None:
        """Empty, one line longer than the sample, or unterminated: no complete line, said so."""
        (tmp_path / "app.log").write_bytes(content)
        check = logs_check(tmp_path / "app.log")
        assert (check.status, check.finding) == (
            PROBLEM,
            "1 file, 0 lines read: no complete line in the 1 MiB read of each file"
            " (a line counts once its line end is written)",
        )

    def test_a_damaged_gzip_file_is_named_unread(self, tmp_path: Path) -> None:
        """A gzip rotation cut short is reported as unread; the other files are still checked."""
        write_logs(tmp_path / "app.log", in_span=True, count=2)
        whole = gzip.compress((tmp_path / "app.log").read_bytes() * 50)
        (tmp_path / "app.log.1.gz").write_bytes(whole[: len(whole) // 2])
        check = logs_check(tmp_path)
        assert check.status is OK
        assert check.finding.startswith(
            f"2 files, 2 lines read (1 unread: {tmp_path}/app.log.1.gz: damaged or truncated gzip"
        )

    def test_a_fifo_is_named_and_not_waited_on(self, tmp_path: Path) -> None:
        """A FIFO with no writer is not opened (which would block): a problem naming it."""
        fifo = tmp_path / "app.log"
        os.mkfifo(fifo)
        check = logs_check(fifo)
        assert (check.status, check.finding) == (
            PROBLEM,
            f"{fifo}: not a regular file (a FIFO or a pipe): its newest lines cannot be read"
            " without waiting on its writer",
        )

    def test_a_directory_without_logs_is_a_problem(self, tmp_path: Path) -> None:
        """No file named like a log: a problem saying which names are looked for."""
        (tmp_path / "notes.txt").write_text("hello\n")
        check = logs_check(tmp_path)
        assert check.status is PROBLEM
        assert check.finding.startswith("no log file found")


# --- the command --------------------------------------------------------------------------


def tracelog_command(
    *args: str, cwd: Path, script: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tracelog`` (or the console script) in a fresh process.

    A fresh process each time: a tracer provider can be set once per process.
    """
    environment = dict(os.environ)
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = (
        [str(Path(sys.executable).with_name("tracelog"))]
        if script
        else [sys.executable, "-m", "tracelog"]
    )
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def app_module(directory: Path, *, sdk: bool, name: str = "shop") -> None:
    """Write an application module that calls configure(), with or without an SDK provider."""
    provider = (
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import"
        " InMemorySpanExporter\n"
        "provider = TracerProvider()\n"
        "provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))\n"
        "trace.set_tracer_provider(provider)\n"
        if sdk
        else ""
    )
    (directory / f"{name}.py").write_text(
        provider + "import tracelog\ntracelog.configure(output='app.log')\n"
    )


def statuses(stdout: str) -> list[tuple[str, str]]:
    """(status, name) of each check line of the command's output."""
    found = []
    for line in stdout.splitlines():
        if line.startswith(" "):
            continue
        status, _, rest = line.partition("  ")
        found.append((status, rest.strip().split(":")[0]))
    return found


class TestCommand:
    """The command in a fresh process: output lines and exit codes."""

    @pytest.mark.parametrize("script", [False, True], ids=["python -m", "console script"])
    def test_healthy_app_exits_0(self, tmp_path: Path, script: bool) -> None:
        """--import of a healthy app: every line ok, exit 0, the app's log free of test lines."""
        app_module(tmp_path, sdk=True)
        result = tracelog_command("doctor", "--import", "shop", cwd=tmp_path, script=script)
        assert result.returncode == 0, result.stdout + result.stderr
        assert statuses(result.stdout) == [("ok", name) for name in IN_PROCESS]
        assert (tmp_path / "app.log").read_text() == ""

    def test_an_app_that_leaves_a_thread_running_does_not_hang_the_command(
        self, tmp_path: Path
    ) -> None:
        """A module starting a non-daemon worker: the report, a note naming it, exit 0, no hang."""
        app_module(tmp_path, sdk=True)
        with (tmp_path / "shop.py").open("a") as module:
            module.write(
                "import threading\n"
                "threading.Thread(target=threading.Event().wait, name='worker').start()\n"
            )
        result = tracelog_command("doctor", "--import", "shop", cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert statuses(result.stdout) == [("ok", name) for name in IN_PROCESS]
        assert result.stderr == (
            "tracelog doctor: not waiting for the threads the application started: worker\n"
        )

    def test_no_sdk_exits_1_and_names_it(self, tmp_path: Path) -> None:
        """Without an SDK provider: the sdk problem and its fix, logs still checked, exit 1."""
        app_module(tmp_path, sdk=False)
        result = tracelog_command("doctor", "--import", "shop", cwd=tmp_path)
        assert result.returncode == 1, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == (
            "problem      sdk: the tracer provider is opentelemetry.trace.ProxyTracerProvider,"
            " not the SDK's TracerProvider: no span is recorded, so log lines carry no trace IDs"
        )
        assert lines[1].startswith("             fix: at start-up, before any tracer is used:")
        assert statuses(result.stdout)[1:] == [
            ("ok", "logs-stdlib"),
            ("ok", "logs-structlog"),
            ("ok", "logs-loguru"),
            ("not checked", "span-events"),
            ("ok", "logs-routing"),
            ("ok", "multiprocess"),
        ]

    def test_sdk_not_installed_is_named(self, tmp_path: Path) -> None:
        """Without the SDK package at all, the sdk check says it is not installed."""
        (tmp_path / "bare.py").write_text(
            "import sys\n"
            "sys.modules['opentelemetry.sdk'] = None  # as if not installed\n"
            "import tracelog\n"
            "tracelog.configure(output='app.log')\n"
        )
        result = tracelog_command("doctor", "--import", "bare", cwd=tmp_path)
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stdout.splitlines()[:2] == [
            "problem      sdk: the OpenTelemetry SDK is not installed; the API's"
            " opentelemetry.trace.ProxyTracerProvider records no span, so log lines carry no"
            " trace IDs",
            '             fix: pip install "tracelog[sdk]" and set an SDK TracerProvider at'
            " start-up",
        ]
        assert ("not checked", "span-events") in statuses(result.stdout)

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (
                ["--import", "no_such_module"],
                "--import 'no_such_module': cannot import it: ModuleNotFoundError:"
                " No module named 'no_such_module'",
            ),
            (
                ["--metrics-url", "localhost:8000"],
                "--metrics-url must be an http:// or https:// URL with a host,"
                " not 'localhost:8000'",
            ),
            (
                ["--prometheus-url", "ftp://host"],
                "--prometheus-url must be an http:// or https:// URL with a host, not 'ftp://host'",
            ),
            (["--logs", "missing.log"], "--logs 'missing.log': no such file or directory"),
            ([], "nothing to check: give --import, --metrics-url, --prometheus-url or --logs"),
        ],
    )
    def test_usage_errors_exit_2(self, tmp_path: Path, args: list[str], message: str) -> None:
        """Bad input is a usage error (exit 2) with a message naming it; nothing is checked."""
        result = tracelog_command("doctor", *args, cwd=tmp_path)
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr == f"tracelog doctor: error: {message}\n"

    def test_a_module_that_exits_on_import_exits_2(self, tmp_path: Path) -> None:
        """A module calling sys.exit() while imported is a usage error naming it, not an exit."""
        (tmp_path / "quits.py").write_text("raise SystemExit(3)\n")
        result = tracelog_command("doctor", "--import", "quits", cwd=tmp_path)
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr == (
            "tracelog doctor: error: --import 'quits': cannot import it: SystemExit: 3\n"
        )

    def test_bad_timeout_exits_2(self, tmp_path: Path) -> None:
        """A timeout that is not a positive number, or too large for a socket, exits 2."""
        result = tracelog_command("doctor", "--logs", ".", "--timeout", "-1", cwd=tmp_path)
        assert result.returncode == 2
        assert "must be a positive number of seconds: '-1'" in result.stderr
        result = tracelog_command("doctor", "--logs", ".", "--timeout", "1e12", cwd=tmp_path)
        assert (result.returncode, result.stderr) == (
            2,
            "tracelog doctor: error: timeout must be a positive number of seconds,"
            " not 1000000000000.0\n",
        )

    def test_problems_exit_1_with_fix_lines(
        self, tmp_path: Path, serve: Callable[[Callable[..., Any]], Server]
    ) -> None:
        """A text-only /metrics over the command: problem line, indented fix, exit 1."""
        registry = prometheus_client.CollectorRegistry()

        def classic(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            start_response("200 OK", [("Content-Type", prometheus_client.CONTENT_TYPE_LATEST)])
            return [prometheus_client.generate_latest(registry)]

        server = serve(classic)
        result = tracelog_command("doctor", "--metrics-url", f"{server.url}/metrics", cwd=tmp_path)
        assert result.returncode == 1
        lines = result.stdout.splitlines()
        assert [line.split(":")[0] for line in lines] == [
            "problem      metrics-format",
            "             fix",
            "not checked  metrics-exemplars",
            "ok           metrics-processes",
        ]

    def test_untrusted_text_is_escaped(self, tmp_path: Path) -> None:
        """Control characters from the checked system cannot reach the terminal raw."""
        (tmp_path / "a\x1b[31mb.log").write_bytes(b"not json\n")
        result = tracelog_command("doctor", "--logs", ".", cwd=tmp_path)
        assert result.returncode == 1
        assert "\x1b" not in result.stdout
        assert './a\\u001b[31mb.log:1: "not json"' in result.stdout


class TestPasswords:
    """A password in a URL is never printed: not in usage errors, not in ValueError."""

    @pytest.mark.parametrize(
        "url",
        [
            "htp://admin:hunter2@localhost:9/metrics",
            "http://admin:hunter2@[::1/metrics",
            "admin:hunter2@localhost/metrics",
        ],
    )
    def test_usage_errors_mask_the_password(self, url: str, tmp_path: Path) -> None:
        """The command with a bad --metrics-url: exit 2, the password as ***."""
        result = tracelog_command("doctor", "--metrics-url", url, cwd=tmp_path)
        assert result.returncode == 2
        assert "hunter2" not in result.stdout + result.stderr
        assert "***" in result.stderr

    def test_value_error_masks_the_password(self) -> None:
        """tracelog.doctor(metrics_url=bad URL) raises ValueError without the password."""
        with pytest.raises(ValueError, match=r"htp://admin:\*\*\*@x/metrics") as raised:
            tracelog.doctor(metrics_url="htp://admin:hunter2@x/metrics")
        assert "hunter2" not in str(raised.value)
