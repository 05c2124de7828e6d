"""Django under real gunicorn with OpenTelemetry's DjangoInstrumentor, set up as the README says.

The README's settings.py, wsgi.py and gunicorn command run as written (the
port changed to a free one); the views are the test's. Real requests carry a
``traceparent``; every line gunicorn and Django write must be JSON, each
request's lines (the app's, Django's 404/500 lines, gunicorn's access line)
must carry its trace ID, once each, and the request metrics must have Django's
route pattern with the server span as exemplar.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests._prometheus import free_port, wait_for
from tests._servers import (
    BIN,
    OPENMETRICS,
    answers,
    readme_blocks,
    request,
    running,
    server_env,
    shell_command,
    spans_of,
    traceparent,
)
from tests.test_examples import OTLPReceiver

ITEM, GONE, BOOM = "1a" * 16, "2b" * 16, "3c" * 16
PARENT = "9f" * 8

# Appended to the README's urls.py: the test's routes.
URLS = """
from shop import views

urlpatterns += [
    path("items/<int:item_id>", views.item),
    path("boom", views.boom),
]
"""
VIEWS = """\
import logging

from django.http import JsonResponse

log = logging.getLogger("shop.views")


class PaymentError(Exception):
    pass


def item(request, item_id):
    log.info("item loaded", extra={"item_id": item_id})
    return JsonResponse({"item_id": item_id})


def boom(request):
    log.warning("charging")
    raise PaymentError("card declined")

"""


def write_project(directory: Path) -> str:
    """The README's Django project (plus the test's views) in *directory*; its gunicorn command."""
    settings, wsgi, urls, command = readme_blocks("### Django")[:4]
    shop = directory / "shop"
    shop.mkdir()
    (shop / "__init__.py").write_text("")
    # The README's settings, and what runserver needs to find the application.
    (shop / "settings.py").write_text(settings + 'WSGI_APPLICATION = "shop.wsgi.application"\n')
    (shop / "wsgi.py").write_text(wsgi)
    (shop / "urls.py").write_text(urls + URLS)
    (shop / "views.py").write_text(VIEWS)
    return command


@dataclass
class Run:
    """One run of the project under gunicorn: what it wrote, exported and served."""

    records: list[dict[str, Any]]
    lines: list[str]
    spans: list[Any]
    metrics: str
    statuses: dict[str, int]
    exit_status: int


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The README's project under gunicorn, sent one request per case, then stopped."""
    directory = tmp_path_factory.mktemp("django")
    port = free_port()
    command, variables = shell_command(write_project(directory), port)
    assert command[1:3] == ["-c", "python:tracelog.gunicorn"], command
    receiver = OTLPReceiver()
    url = f"http://127.0.0.1:{port}"
    env = server_env(
        directory,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_BSP_SCHEDULE_DELAY="100",
        **variables,
    )
    try:
        with running(
            command, directory=directory, env=env, ready=answers(f"{url}/metrics"), gunicorn=True
        ) as srv:
            statuses = {}
            for path, trace_id in (("/items/42", ITEM), ("/gone", GONE), ("/boom", BOOM)):
                status, _, _ = request(
                    "GET", url + path, {"traceparent": traceparent(trace_id, PARENT)}
                )
                statuses[path] = status
            _, _, body = request("GET", f"{url}/metrics", {"Accept": OPENMETRICS})
            exit_status = srv.stop()  # the workers' exit flushes their spans
            records = srv.records()
            lines = srv.stdout.read_text().splitlines() + srv.stderr.read_text().splitlines()
        wait_for(
            lambda: any(
                span.trace_id.hex() == BOOM and span.parent_span_id.hex() == PARENT
                for span in spans_of(receiver)
            ),
            timeout=30,
            failure=lambda: "the server spans were not exported",
        )
        yield Run(records, lines, spans_of(receiver), body.decode(), statuses, exit_status)
    finally:
        receiver.close()


def of_trace(run: Run, trace_id: str) -> list[tuple[str, str, str]]:
    """(logger, level, message) of each line carrying *trace_id*, in order."""
    return [
        (record["logger"], record["level"], record["message"])
        for record in run.records
        if record.get("trace_id") == trace_id
    ]


def access(trace_lines: list[tuple[str, str, str]]) -> list[str]:
    """The messages of gunicorn's access lines among *trace_lines*."""
    return [message for logger, _, message in trace_lines if logger == "gunicorn.access"]


class TestDjangoUnderGunicorn:
    """The README's Django project under gunicorn -c python:tracelog.gunicorn."""

    def test_every_line_is_json_and_none_is_written_twice(self, run: Run) -> None:
        """gunicorn's, Django's and the app's lines are all JSON (records() checks), once each."""
        assert run.exit_status == 0
        assert run.statuses == {"/items/42": 200, "/gone": 404, "/boom": 500}
        assert len(run.lines) == len(set(run.lines))
        gunicorn = [r["message"] for r in run.records if r["logger"] == "gunicorn.error"]
        assert any(message.startswith("Starting gunicorn") for message in gunicorn)
        assert any(message.startswith("Booting worker with pid") for message in gunicorn)
        assert {r["service.name"] for r in run.records} == {"shop"}
        assert not [r for r in run.records if r["logger"] == "tracelog"]  # nothing to warn of

    def test_each_request_line_carries_its_trace(self, run: Run) -> None:
        """App, django.request and access lines carry the request's trace ID, once each."""
        item = of_trace(run, ITEM)
        assert item[0] == ("shop.views", "info", "item loaded")
        assert len(item) == 2
        assert access(item)[0].count('"GET /items/42 HTTP/1.1" 200') == 1

        gone = of_trace(run, GONE)
        assert gone[0] == ("django.request", "warning", "Not Found: /gone")
        assert len(gone) == 2
        assert '"GET /gone HTTP/1.1" 404' in access(gone)[0]

        boom = of_trace(run, BOOM)
        assert boom[:2] == [
            ("shop.views", "warning", "charging"),
            ("django.request", "error", "Internal Server Error: /boom"),
        ]
        assert len(boom) == 3
        assert '"GET /boom HTTP/1.1" 500' in access(boom)[0]
        (error,) = [r for r in run.records if r["message"] == "Internal Server Error: /boom"]
        assert (error["exception.type"], error["exception.message"]) == (
            "shop.views.PaymentError",
            "card declined",
        )
        assert error["status_code"] == 500

    def test_django_passes_no_request_object_into_the_lines(self, run: Run) -> None:
        """Django's `request` objects are not written as fields."""
        assert not [r for r in run.records if "request" in r]

    def test_request_metrics_have_the_route_pattern_and_the_server_span(self, run: Run) -> None:
        """Route label = Django's pattern; exemplar = the request's trace and server span."""
        samples = {
            (sample.labels["route"], sample.labels["status_code"]): sample
            for family in text_string_to_metric_families(run.metrics)  # type: ignore[no-untyped-call]
            for sample in family.samples
            if sample.name == "http_server_requests_total"
        }
        assert set(samples) >= {("items/<int:item_id>", "200"), ("", "404"), ("boom", "500")}
        server_spans = {
            span.trace_id.hex(): span.span_id.hex()
            for span in run.spans
            if span.parent_span_id.hex() == PARENT
        }
        for key, trace_id in (
            (("items/<int:item_id>", "200"), ITEM),
            (("", "404"), GONE),
            (("boom", "500"), BOOM),
        ):
            exemplar = samples[key].exemplar
            assert exemplar is not None, key
            assert exemplar.labels == {"trace_id": trace_id, "span_id": server_spans[trace_id]}

    def test_a_failed_request_has_one_exception_event(self, run: Run) -> None:
        """The instrumentor's exception event, and none of tracelog's beside it."""
        (span,) = [
            s for s in run.spans if s.trace_id.hex() == BOOM and s.parent_span_id.hex() == PARENT
        ]
        assert span.name == "GET boom"
        events = [event.name for event in span.events]
        assert events == ["charging", "exception"]


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON lines among *text*'s (runserver prints its banner as plain text)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_runserver_lines_carry_the_trace_and_no_socket(tmp_path: Path) -> None:
    """Runserver's django.server line carries the request's trace ID, and no `<socket>` field."""
    write_project(tmp_path)
    port = free_port()
    receiver = OTLPReceiver()
    env = server_env(
        tmp_path, DJANGO_SETTINGS_MODULE="shop.settings", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url
    )
    command = [str(BIN / "python"), "-m", "django", "runserver", "--noreload", f"127.0.0.1:{port}"]
    url = f"http://127.0.0.1:{port}"
    served: list[dict[str, Any]] = []

    def logged() -> bool:
        served[:] = [
            record
            for record in json_lines(server.output())
            if record["message"].startswith('"GET /items/7 ')
        ]
        return bool(served)

    try:
        ready = answers(f"{url}/metrics")
        with running(command, directory=tmp_path, env=env, ready=ready) as server:
            status, _, _ = request(
                "GET", f"{url}/items/7", {"traceparent": traceparent(ITEM, PARENT)}
            )
            assert status == 200
            wait_for(logged, timeout=20, failure=lambda: f"no line:\n{server.output()}")
            output = server.output()
    finally:
        receiver.close()
    (line,) = served
    assert (line["logger"], line["trace_id"], line["status_code"]) == ("django.server", ITEM, 200)
    assert "request" not in line
    assert "<socket" not in output


ASGI_APP = f"""\
import asyncio
import logging

import django
from django.conf import settings
from django.http import JsonResponse
from django.urls import path
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import REGISTRY

import tracelog


async def item(request, item_id):
    logging.getLogger("shop.views").info("item loaded")
    return JsonResponse({{"item_id": item_id}})


urlpatterns = [path("items/<int:item_id>", item)]
settings.configure(
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    LOGGING=tracelog.logging_config(service_name="shop"),
    MIDDLEWARE=["tracelog.django.TracelogMiddleware"],
)
django.setup()
from django.test import AsyncClient  # noqa: E402


async def main():
    span = SpanContext(int({ITEM!r}, 16), int({PARENT!r}, 16), False, TraceFlags(1))
    with trace.use_span(NonRecordingSpan(span)):
        response = await AsyncClient().get("/items/3")
        missing = await AsyncClient().get("/gone")
    assert (response.status_code, missing.status_code) == (200, 404)


asyncio.run(main())
count = REGISTRY.get_sample_value(
    "http_server_requests_total",
    {{"method": "GET", "route": "items/<int:item_id>", "status_code": "200"}},
)
print(f"count {{count}}")
"""


def test_the_middleware_runs_async_under_asgi(tmp_path: Path) -> None:
    """Under Django's ASGI handler the async path records the route; lines carry the trace."""
    (tmp_path / "asgi_app.py").write_text(ASGI_APP)
    done = subprocess.run(
        [str(BIN / "python"), "asgi_app.py"],
        cwd=tmp_path,
        env=server_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    *lines, count = done.stdout.splitlines()
    assert count == "count 1.0"
    records = [json.loads(line) for line in lines]
    assert [(r["logger"], r["message"], r.get("trace_id")) for r in records] == [
        ("shop.views", "item loaded", ITEM),
        ("django.request", "Not Found: /gone", ITEM),
    ]
