"""The application the worker tests serve: under gunicorn (``app``) and uvicorn (``asgi_app``).

Each worker process logs to its own file, ``$WORKERS_LOG_DIR/app-<pid>.jsonl``,
so a trace ID found in a log file names the worker that handled the request,
and marks itself ready with ``$WORKERS_LOG_DIR/ready-<pid>`` once it has the
application (imported, or forked from a master that preloaded it).
``/orders/<n>?ms=<delay>`` sleeps ``delay`` ms inside the server span, logs a
line and answers ``ok <pid>``; ``/metrics`` is tracelog.metrics' exposition.
The caller's ``traceparent`` decides sampling (``ParentBased(ALWAYS_ON)``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import prometheus_client
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware as OtelASGI
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware as OtelWSGI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

import tracelog
import tracelog.metrics

ROUTE = "/orders/{id}"
PID = os.getpid()

tracelog.configure(
    output=os.path.join(os.environ["WORKERS_LOG_DIR"], f"app-{PID}.jsonl"),
    integrations=["stdlib"],
    service_name="workers",
    level="INFO",
)
provider = TracerProvider(sampler=ParentBased(root=ALWAYS_ON))
log = logging.getLogger("workers.orders")

# The series exist from the start, at 0: Prometheus's first sample of them is 0, so its
# increase() over the run is exact.
duration, requests = tracelog.metrics.http_metrics()
duration.labels("GET", ROUTE, "200")
requests.labels("GET", ROUTE, "200")
# One per live worker: a worker marked dead (gunicorn's child_exit) drops out of the sum.
ALIVE = prometheus_client.Gauge("workers_alive", "Live workers.", multiprocess_mode="livesum")
ALIVE.set(1)


def delay(query: str) -> float:
    """The ``ms`` parameter of a query string, in seconds."""
    values = urllib.parse.parse_qs(query).get("ms", ["0"])
    return float(values[0]) / 1000


def order(path: str) -> bytes:
    """The application's own work, inside the server span: a log line."""
    log.info("order handled", extra={"path": path, "pid": PID})
    return f"ok {PID}".encode()


def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """WSGI: sleep, log, answer."""
    time.sleep(delay(environ.get("QUERY_STRING", "")))
    body = order(environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


_traced_wsgi = OtelWSGI(
    tracelog.metrics.WSGIMiddleware(handle, route=lambda environ: ROUTE), tracer_provider=provider
)
_metrics_wsgi = tracelog.metrics.make_wsgi_app()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The WSGI application: /metrics, or a traced, metered order."""
    if environ["PATH_INFO"] == "/metrics":
        return _metrics_wsgi(environ, start_response)  # type: ignore[no-any-return]
    return _traced_wsgi(environ, start_response)  # type: ignore[no-any-return]


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def handle_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI: sleep, log, answer."""
    await asyncio.sleep(delay(scope.get("query_string", b"").decode()))
    scope["route"] = ROUTE
    body = order(scope["path"])
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


_traced_asgi = OtelASGI(tracelog.metrics.ASGIMiddleware(handle_asgi), tracer_provider=provider)
_metrics_asgi = tracelog.metrics.make_asgi_app()


def _ready() -> None:
    with open(os.path.join(os.environ["WORKERS_LOG_DIR"], f"ready-{os.getpid()}"), "w"):
        pass


_ready()
os.register_at_fork(after_in_child=_ready)  # gunicorn --preload: the workers fork from here


async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI application: /metrics, or a traced, metered order (and lifespan, as a no-op)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["path"] == "/metrics":
        await _metrics_asgi(scope, receive, send)
    else:
        await _traced_asgi(scope, receive, send)
