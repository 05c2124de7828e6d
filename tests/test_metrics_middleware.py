"""The ASGI and WSGI middleware, inside OpenTelemetry's real ASGI and WSGI middleware."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware as OtelASGI
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware as OtelWSGI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

import tracelog.metrics
from tests.test_metrics import collected

SAMPLED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
UNSAMPLED = "00-1bf7651916cd43dd8448eb211c80319c-c7ad6b7169203331-00"


@pytest.fixture
def provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """A real SDK provider (parent-based sampling: the caller's flag decides)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


@pytest.fixture
def registry() -> CollectorRegistry:
    """A registry of the test's own."""
    return CollectorRegistry()


def server_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    """The one SERVER span the OpenTelemetry middleware recorded."""
    (span,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    return span


def request_samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[str, ...]], Any]:
    """(sample name, (method, route, status_code)) -> sample, for the middleware's metrics."""
    return {
        (name, tuple(dict(labels)[k] for k in ("method", "route", "status_code"))): sample
        for (name, labels), sample in collected(registry).items()
        if name in ("http_server_requests_total", "http_server_request_duration_seconds_count")
    }


def recorded_exemplars(registry: CollectorRegistry) -> list[dict[str, str]]:
    """The exemplar labels on every sample that has one."""
    return [
        dict(sample.exemplar.labels)
        for sample in collected(registry).values()
        if sample.exemplar is not None
    ]


@dataclass
class Route:
    """A framework's matched route, as Starlette and FastAPI leave it in scope["route"]."""

    path_format: str


def asgi_scope(path: str, *, method: str = "GET", traceparent: str | None = None) -> dict[str, Any]:
    """An HTTP scope as an ASGI server builds it."""
    headers = [(b"host", b"testserver")]
    if traceparent is not None:
        headers.append((b"traceparent", traceparent.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def run_asgi(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    """Run one request through an ASGI app; return what it sent."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


class TestASGI:
    """tracelog.metrics.ASGIMiddleware inside OpenTelemetry's ASGI middleware."""

    def test_exemplar_names_the_server_span(
        self, provider: tuple[TracerProvider, InMemorySpanExporter], registry: CollectorRegistry
    ) -> None:
        """A sampled request is counted and timed with the server span's IDs as exemplar."""
        seen: list[dict[str, str] | None] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            seen.append(tracelog.metrics.exemplar())
            scope["route"] = Route("/items/{item_id}")  # what the framework's router does
            await send({"type": "http.response.start", "status": 201, "headers": []})
            await send({"type": "http.response.body", "body": b"made"})

        tracer_provider, exporter = provider
        wrapped = OtelASGI(
            tracelog.metrics.ASGIMiddleware(app, registry=registry),
            tracer_provider=tracer_provider,
        )
        sent = run_asgi(wrapped, asgi_scope("/items/42", method="POST", traceparent=SAMPLED))
        assert sent[0]["status"] == 201
        span = server_span(exporter)
        expected = {
            "trace_id": f"{span.context.trace_id:032x}",
            "span_id": f"{span.context.span_id:016x}",
        }
        assert expected["trace_id"] == SAMPLED.split("-")[1]
        assert seen == [expected]
        assert recorded_exemplars(registry) == [expected, expected]  # histogram and counter
        got = request_samples(registry)
        assert got["http_server_requests_total", ("POST", "/items/{item_id}", "201")].value == 1
        key = ("http_server_request_duration_seconds_count", ("POST", "/items/{item_id}", "201"))
        assert got[key].value == 1

    def test_unsampled_request_is_counted_without_exemplar(
        self, provider: tuple[TracerProvider, InMemorySpanExporter], registry: CollectorRegistry
    ) -> None:
        """An unsampled request is counted, with no exemplar (its trace was not stored)."""

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        wrapped = OtelASGI(
            tracelog.metrics.ASGIMiddleware(app, registry=registry), tracer_provider=provider[0]
        )
        run_asgi(wrapped, asgi_scope("/health", traceparent=UNSAMPLED))
        assert provider[1].get_finished_spans() == ()
        assert recorded_exemplars(registry) == []
        # No framework route: "" rather than the raw path (one series per URL is unbounded).
        assert (
            request_samples(registry)["http_server_requests_total", ("GET", "", "200")].value == 1
        )

    def test_exception_is_recorded_as_500_and_raised(
        self, provider: tuple[TracerProvider, InMemorySpanExporter], registry: CollectorRegistry
    ) -> None:
        """An app that fails before responding: status 500 recorded, the error goes on."""

        async def app(scope: Any, receive: Any, send: Any) -> None:
            raise RuntimeError("boom")

        wrapped = OtelASGI(
            tracelog.metrics.ASGIMiddleware(app, registry=registry), tracer_provider=provider[0]
        )
        with pytest.raises(RuntimeError, match="boom"):
            run_asgi(wrapped, asgi_scope("/x", traceparent=SAMPLED))
        got = request_samples(registry)
        assert got["http_server_requests_total", ("GET", "", "500")].value == 1
        assert [e["trace_id"] for e in recorded_exemplars(registry)] == [SAMPLED.split("-")[1]] * 2

    def test_route_option_and_odd_methods(self, registry: CollectorRegistry) -> None:
        """route= picks the label; unknown methods become _OTHER, so clients cannot add series."""

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        wrapped = tracelog.metrics.ASGIMiddleware(
            app, registry=registry, route=lambda scope: scope["path"].rsplit("/", 1)[0] + "/*"
        )
        run_asgi(wrapped, asgi_scope("/users/1", method="BREW"))
        assert list(request_samples(registry)) == [
            ("http_server_request_duration_seconds_count", ("_OTHER", "/users/*", "404")),
            ("http_server_requests_total", ("_OTHER", "/users/*", "404")),
        ]

    def test_route_template_sources(self) -> None:
        """asgi_route reads path_format, then path, then a plain string; else ""."""

        @dataclass
        class PathOnly:
            path: str

        assert tracelog.metrics.asgi_route({"route": Route("/a/{id}")}) == "/a/{id}"
        assert tracelog.metrics.asgi_route({"route": PathOnly("/b/{id}")}) == "/b/{id}"
        assert tracelog.metrics.asgi_route({"route": "/c"}) == "/c"
        assert tracelog.metrics.asgi_route({"path": "/users/1"}) == ""

    def test_failing_route_callable_never_breaks_the_request(
        self, registry: CollectorRegistry
    ) -> None:
        """A route= that raises costs the observation, not the response."""

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        def broken(scope: Any) -> str:
            raise LookupError("no route")

        wrapped = tracelog.metrics.ASGIMiddleware(app, registry=registry, route=broken)
        sent = run_asgi(wrapped, asgi_scope("/"))
        assert sent[1]["body"] == b"ok"
        assert any("request not recorded" in key for key in tracelog._errors.error_counts())

    def test_other_scopes_pass_through(self, registry: CollectorRegistry) -> None:
        """Lifespan and websocket scopes reach the app untouched and are not counted."""
        seen: list[str] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope["type"])

        wrapped = tracelog.metrics.ASGIMiddleware(app, registry=registry)
        run_asgi(wrapped, {"type": "lifespan"})
        assert seen == ["lifespan"]
        assert request_samples(registry) == {}

    def test_one_pair_of_metrics_per_registry(self, registry: CollectorRegistry) -> None:
        """Several middleware on one registry share its metrics instead of colliding."""

        async def app(scope: Any, receive: Any, send: Any) -> None:
            pass

        first = tracelog.metrics.ASGIMiddleware(app, registry=registry)
        second = tracelog.metrics.ASGIMiddleware(app, registry=registry)
        assert first._recorder._duration is second._recorder._duration
        assert tracelog.metrics.http_metrics(registry)[1] is first._recorder._requests


def wsgi_environ(path: str, traceparent: str) -> dict[str, Any]:
    """A WSGI environ for a GET of *path* with a traceparent header."""
    environ: dict[str, Any] = {"PATH_INFO": path, "HTTP_TRACEPARENT": traceparent}
    setup_testing_defaults(environ)
    return environ


def serve_wsgi(app: Any, environ: dict[str, Any]) -> tuple[str, bytes]:
    """Do what a WSGI server does: call, iterate, close."""
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    body = app(environ, start_response)
    try:
        content = b"".join(body)
    finally:
        getattr(body, "close", lambda: None)()
    return statuses[0], content


class TestWSGI:
    """tracelog.metrics.WSGIMiddleware inside OpenTelemetry's WSGI middleware."""

    def test_exemplar_names_the_server_span(
        self, provider: tuple[TracerProvider, InMemorySpanExporter], registry: CollectorRegistry
    ) -> None:
        """A sampled request: counted and timed, through the body, with the server span's IDs."""
        closed: list[bool] = []

        class Body:
            def __iter__(self) -> Iterator[bytes]:
                yield b"hello "
                yield b"world"

            def close(self) -> None:
                closed.append(True)

        def app(environ: Any, start_response: Any) -> Any:
            start_response("202 Accepted", [("Content-Type", "text/plain")])
            return Body()

        tracer_provider, exporter = provider
        wrapped = OtelWSGI(
            tracelog.metrics.WSGIMiddleware(app, registry=registry, route=lambda environ: "/greet"),
            tracer_provider=tracer_provider,
        )
        assert serve_wsgi(wrapped, wsgi_environ("/greet", SAMPLED)) == (
            "202 Accepted",
            b"hello world",
        )
        assert closed == [True]  # the app's close() still runs
        span = server_span(exporter)
        expected = {
            "trace_id": f"{span.context.trace_id:032x}",
            "span_id": f"{span.context.span_id:016x}",
        }
        assert expected["trace_id"] == SAMPLED.split("-")[1]
        assert recorded_exemplars(registry) == [expected, expected]
        got = request_samples(registry)
        assert got["http_server_requests_total", ("GET", "/greet", "202")].value == 1

    def test_unsampled_and_failing_requests(
        self, provider: tuple[TracerProvider, InMemorySpanExporter], registry: CollectorRegistry
    ) -> None:
        """Unsampled: counted without exemplar. An app that raises: 500 recorded, error raised."""

        def app(environ: Any, start_response: Any) -> Any:
            if environ["PATH_INFO"] == "/fail":
                raise ValueError("broken")
            start_response("200 OK", [])
            return [b"ok"]

        wrapped = OtelWSGI(
            tracelog.metrics.WSGIMiddleware(app, registry=registry), tracer_provider=provider[0]
        )
        assert serve_wsgi(wrapped, wsgi_environ("/ok", UNSAMPLED)) == ("200 OK", b"ok")
        with pytest.raises(ValueError, match="broken"):
            serve_wsgi(wrapped, wsgi_environ("/fail", SAMPLED))
        got = request_samples(registry)
        assert got["http_server_requests_total", ("GET", "", "200")].value == 1
        assert got["http_server_requests_total", ("GET", "", "500")].value == 1
        assert [e["trace_id"] for e in recorded_exemplars(registry)] == [SAMPLED.split("-")[1]] * 2

    def test_body_closed_once_counts_once(self, registry: CollectorRegistry) -> None:
        """A server that closes the body twice still records the request once."""

        def app(environ: Any, start_response: Any) -> Any:
            start_response("200 OK", [])
            return [b"ok"]

        wrapped = tracelog.metrics.WSGIMiddleware(app, registry=registry)
        environ: dict[str, Any] = {}
        setup_testing_defaults(environ)
        body: Any = wrapped(environ, lambda status, headers, exc_info=None: None)
        assert list(body) == [b"ok"]
        body.close()
        body.close()
        assert (
            request_samples(registry)["http_server_requests_total", ("GET", "", "200")].value == 1
        )


class TestRoutesAndBodies:
    """Route labels of mounted apps, registry=None, and what servers see of a WSGI body."""

    def test_mounted_fastapi_apps_keep_their_prefix(self, registry: CollectorRegistry) -> None:
        """Sub-applications mounted at /v1 and /v2 get routes /v1/... and /v2/..., not merged."""
        from fastapi import FastAPI

        app, v1, v2 = FastAPI(), FastAPI(), FastAPI()

        @app.get("/items/{item_id}")
        async def item(item_id: int) -> dict[str, int]:
            return {"id": item_id}

        @v1.get("/items/{item_id}")
        async def item1(item_id: int) -> dict[str, int]:
            return {"v": 1}

        @v2.get("/items/{item_id}")
        async def item2(item_id: int) -> dict[str, int]:
            return {"v": 2}

        app.mount("/v1", v1)
        app.mount("/v2", v2)
        wrapped = tracelog.metrics.ASGIMiddleware(app, registry=registry)
        for path in ("/items/1", "/items/2", "/v1/items/7", "/v2/items/7", "/nope"):
            run_asgi(wrapped, asgi_scope(path))
        counts = {
            labels: sample.value
            for (name, labels), sample in request_samples(registry).items()
            if name == "http_server_requests_total"
        }
        assert counts == {
            ("GET", "/items/{item_id}", "200"): 2,
            ("GET", "/v1/items/{item_id}", "200"): 1,
            ("GET", "/v2/items/{item_id}", "200"): 1,
            ("GET", "", "404"): 1,
        }

    def test_registry_none_like_prometheus_client(self) -> None:
        """registry=None makes metrics registered nowhere, as prometheus_client allows."""

        def hello(environ: dict[str, Any], start: Any) -> list[bytes]:
            start("200 OK", [])
            return [b"ok"]

        app = tracelog.metrics.WSGIMiddleware(hello, registry=None)
        environ: dict[str, Any] = {}
        setup_testing_defaults(environ)
        status, body = serve_wsgi(app, environ)
        assert status.startswith("200")
        assert body == b"ok"

    def test_wsgi_body_keeps_its_length_and_file_wrapper(self, registry: CollectorRegistry) -> None:
        """The server still sends Content-Length for a list body and sees its own file wrapper."""
        import io
        from wsgiref.handlers import SimpleHandler
        from wsgiref.util import FileWrapper

        def listing(environ: dict[str, Any], start: Any) -> Any:
            start("200 OK", [("Content-Type", "text/plain")])
            return [b"hello"]

        def sendfile(environ: dict[str, Any], start: Any) -> Any:
            start("200 OK", [("Content-Type", "text/plain")])
            return environ["wsgi.file_wrapper"](io.BytesIO(b"file body"))

        seen: list[object] = []

        class Handler(SimpleHandler):
            def sendfile(self) -> bool:
                seen.append(self.result)
                return False  # fall back to iterating, as the base class does

        for app, expected in ((listing, b"hello"), (sendfile, b"file body")):
            out = io.BytesIO()
            environ: dict[str, Any] = {}
            setup_testing_defaults(environ)
            handler = Handler(io.BytesIO(), out, io.StringIO(), environ)
            handler.run(tracelog.metrics.WSGIMiddleware(app, registry=registry))
            response = out.getvalue()
            assert response.endswith(expected)
            if app is listing:
                assert b"Content-Length: 5" in response
        assert len(seen) == 1
        assert isinstance(seen[0], FileWrapper)
        counts = [
            sample.value
            for (name, _), sample in request_samples(registry).items()
            if name == "http_server_requests_total"
        ]
        assert counts == [2]

    def test_bodies_record_once_and_never_raise_their_own_errors(
        self, registry: CollectorRegistry
    ) -> None:
        """A file_wrapper body closed twice records once; a failing len() is a TypeError."""
        from wsgiref.util import FileWrapper

        class BadLength(list[bytes]):
            def __len__(self) -> int:
                raise ValueError("no length")

        def sendfile(environ: dict[str, Any], start: Any) -> Any:
            start("200 OK", [])
            return FileWrapper(__import__("io").BytesIO(b"x"))

        def bad_length(environ: dict[str, Any], start: Any) -> Any:
            start("200 OK", [])
            return BadLength([b"y"])

        environ: dict[str, Any] = {}
        setup_testing_defaults(environ)
        environ["wsgi.file_wrapper"] = FileWrapper
        body = tracelog.metrics.WSGIMiddleware(sendfile, registry=registry)(
            environ, lambda *a: None
        )
        body.close()  # type: ignore[attr-defined]
        body.close()  # type: ignore[attr-defined]
        sized = tracelog.metrics.WSGIMiddleware(bad_length, registry=registry)(
            environ, lambda *a: None
        )
        with pytest.raises(TypeError):
            len(sized)  # type: ignore[arg-type]
        sized.close()  # type: ignore[attr-defined]
        counts = [
            sample.value
            for (name, _), sample in request_samples(registry).items()
            if name == "http_server_requests_total"
        ]
        assert counts == [2]
