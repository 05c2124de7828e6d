"""What every demo service shares: its telemetry, its HTTP server and its HTTP client.

A service is a WSGI app. `serve` wraps it the way a real one would be:
OpenTelemetry's WSGI middleware (the server span, continuing the caller's
trace from its ``traceparent`` header) around tracelog's request metrics,
with ``/metrics`` beside it. Logs go to ``<output>/<service>.log`` as JSON,
finished spans to ``<output>/spans-<service>.jsonl``, one JSON object a line.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from opentelemetry import propagate, trace
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

import tracelog
from tracelog import metrics

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Loopback only: never through an HTTP proxy the environment may name.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server, one thread per request (the agent calls tools while serving).

    `server_close` waits for the requests in flight: a server span ends when its
    response is closed, just after the caller has its answer, and must end before
    the provider shuts down (wsgiref serves one request per connection, so no
    idle keep-alive connection holds this up).
    """

    daemon_threads = False


class _QuietHandler(WSGIRequestHandler):
    """No access line on stderr: the JSON logs say what happened."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _span_line(span: ReadableSpan) -> str:
    line: str = span.to_json(indent=None)
    return line + "\n"


def serve(
    *,
    name: str,
    library: str,
    output: Path,
    app: WSGIApp,
    route: Callable[[dict[str, Any]], str],
    registry: metrics.CollectorRegistry,
) -> None:
    """Serve *app* on a free loopback port until SIGTERM, SIGINT or the end of stdin.

    Prints ``ready PORT`` once listening: that is how the launcher learns the port.
    """
    spans_file = (output / f"spans-{name}.jsonl").open("a", encoding="utf-8")
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(
        BatchSpanProcessor(ConsoleSpanExporter(out=spans_file, formatter=_span_line))
    )
    trace.set_tracer_provider(provider)
    tracelog.configure(service_name=name, output=output / f"{name}.log", integrations=[library])

    traced = OpenTelemetryMiddleware(
        metrics.WSGIMiddleware(app, registry=registry, route=route), tracer_provider=provider
    )
    exposition = metrics.make_wsgi_app(registry)

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        app = exposition if environ["PATH_INFO"] == "/metrics" else traced
        body: Iterable[bytes] = app(environ, start_response)
        return body

    server = make_server("127.0.0.1", 0, dispatch, _ThreadingServer, _QuietHandler)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())

    # The launcher holds our stdin open: its end means the launcher is gone,
    # however it went, so no service outlives it.
    def watch_stdin() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    print(f"ready {server.server_port}", flush=True)
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        provider.shutdown()  # exports the spans still queued
        spans_file.close()
        tracelog.reset()


def post_json(url: str, body: dict[str, Any], *, timeout: float = 10.0) -> dict[str, Any]:
    """POST *body* as JSON inside a client span that hands its context on as ``traceparent``.

    Raises:
        urllib.error.HTTPError: the server answered with an error status.
    """
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    path = urllib.parse.urlsplit(url).path
    tracer = trace.get_tracer("demo.http")
    with tracer.start_as_current_span(
        f"POST {path}", kind=trace.SpanKind.CLIENT, attributes={"url.full": url}
    ) as span:
        headers = {"Content-Type": "application/json"}
        propagate.inject(headers)  # traceparent: this client span is the server span's parent
        for key, value in headers.items():
            request.add_header(key, value)
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                span.set_attribute("http.response.status_code", response.status)
                answer: dict[str, Any] = json.load(response)
                return answer
        except urllib.error.HTTPError as error:
            span.set_attribute("http.response.status_code", error.code)
            raise


def read_json(environ: dict[str, Any]) -> dict[str, Any]:
    """The request's JSON body."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body: dict[str, Any] = json.loads(environ["wsgi.input"].read(length) or b"{}")
    return body


def respond(
    start_response: Callable[..., Any], body: dict[str, Any], status: str = "200 OK"
) -> list[bytes]:
    """Answer with *body* as JSON."""
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]
