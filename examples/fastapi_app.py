"""A FastAPI shop whose logs, spans and metrics share the request's trace ID.

OpenTelemetry's ASGI middleware starts a server span per request (continuing
an incoming W3C ``traceparent``); tracelog's `ASGIMiddleware`, inside it,
records ``http_server_request_duration_seconds`` and
``http_server_requests_total`` per route with the span as exemplar; the
handlers log with structlog, so each JSON line carries the trace and span
IDs and becomes an event on the span. ``/metrics`` serves OpenMetrics, with
the exemplars, to scrapers that ask for it. About one checkout in ten fails
with a 503 (``?fail=1`` forces it), so dashboards have errors to show.

Run it (in the project's venv: ``make test`` creates it)::

    python examples/fastapi_app.py [--host 127.0.0.1] [--port 8000] [--log-file PATH]
    curl localhost:8000/items/42
    TP=00-4c7c6430fb5466bff54036fa0cbe7eb6-ba257a214f1fcc4a-01
    curl -X POST 'localhost:8000/checkout?fail=1' -H "traceparent: $TP"
    curl -H 'Accept: application/openmetrics-text; version=1.0.0' localhost:8000/metrics

The service name is ``OTEL_SERVICE_NAME`` (default ``shop``). Spans go over
OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (for example
``http://localhost:4318``; needs ``opentelemetry-exporter-otlp-proto-http``),
else to stderr, one JSON line per span.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import signal
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
import uvicorn
from _tracing import server_options, service_name, tracer_provider
from fastapi import Depends, FastAPI, HTTPException, Request
from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

import tracelog
from tracelog import metrics

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

log = structlog.get_logger("shop.api")
tracer = trace.get_tracer("shop.api")
CHARGE_SECONDS = metrics.Histogram(
    "shop_payment_charge_seconds", "Time to charge a card.", ["outcome"]
)


class GatewayTimeoutError(Exception):
    """The payment gateway did not answer in time."""


async def name_span_after_route(request: Request) -> None:
    """Name the server span after the matched route, as OpenTelemetry's conventions ask.

    The ASGI middleware names the span before routing, so it knows only the
    method; a route template (never the raw path) keeps names few.
    """
    route = getattr(request.scope.get("route"), "path_format", None)
    if route:
        span = trace.get_current_span()
        span.update_name(f"{request.method} {route}")
        span.set_attribute("http.route", route)


api = FastAPI(
    title="shop",
    dependencies=[Depends(name_span_after_route)],
    # FastAPI releases with OpenTelemetry built in would start a second server
    # span beside the middleware's, parented from the headers alone; the spans
    # here come from OpenTelemetry's ASGI middleware (older releases ignore this).
    telemetry={"tracing": False, "metrics": False, "logs": False},
)


@api.get("/items/{item_id}")
async def get_item(item_id: int) -> dict[str, Any]:
    await asyncio.sleep(random.lognormvariate(-4.0, 0.6))  # ~18 ms, a long tail
    log.info("item loaded", item_id=item_id, stock=item_id % 7)
    return {"item_id": item_id, "stock": item_id % 7}


async def charge_card(*, fail: bool) -> bool:
    """Charge the card in a span of its own; False when the gateway timed out."""
    with tracer.start_as_current_span("charge card"):
        start, outcome = time.perf_counter(), "ok"
        try:
            await asyncio.sleep(random.uniform(0.02, 0.15))
            if fail or random.random() < 0.1:
                raise GatewayTimeoutError("payment gateway did not answer in 2s")
        except GatewayTimeoutError:
            outcome = "error"
            # An ERROR record with the exception: one "exception" event on the
            # span, and the span's status set to ERROR.
            log.exception("charge failed")
        finally:
            # Inside the span: the exemplar links this observation to it.
            CHARGE_SECONDS.labels(outcome).observe(time.perf_counter() - start)
        return outcome == "ok"


@api.post("/checkout")
async def checkout(fail: bool = False) -> dict[str, Any]:
    log.info("checkout started", items=3)
    if not await charge_card(fail=fail):
        raise HTTPException(status_code=503, detail="payment unavailable")
    log.info("order placed", order_id=f"A-{random.randrange(10_000)}")
    return {"status": "paid"}


def with_metrics_endpoint(app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> Any:
    """*app*, with ``/metrics`` answered before it: scrapes are neither traced nor counted."""
    metrics_app = metrics.make_asgi_app()

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/metrics":
            await metrics_app(scope, receive, send)
        else:
            await app(scope, receive, send)

    return route


def main() -> None:
    options = server_options(__doc__.splitlines()[0] if __doc__ else "")
    name = service_name("shop")
    provider = tracer_provider(name)
    # Ours goes inside OpenTelemetry's, so the server span is current when a
    # request reaches it; the per-message send/receive spans are left out
    # (exclude_spans: opentelemetry-instrumentation-asgi 0.49b0 and later).
    quiet: dict[str, Any] = {}
    if "exclude_spans" in inspect.signature(OpenTelemetryMiddleware).parameters:
        quiet["exclude_spans"] = ["receive", "send"]
    app = with_metrics_endpoint(OpenTelemetryMiddleware(metrics.ASGIMiddleware(api), **quiet))
    # SIGTERM stops the server as Ctrl-C does: uvicorn shuts down gracefully,
    # then raises the signal again, which reaches the finally block below.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        # uvicorn sets logging up with this dict: what tracelog.configure() does
        # (stdlib, structlog and loguru -> JSON lines), its own loggers routed to
        # it; access lines carry the request's IDs and are no span events.
        uvicorn.run(
            app,
            host=options.host,
            port=options.port,
            log_config=tracelog.logging_config(service_name=name, output=options.log_file),
        )
    except KeyboardInterrupt:
        pass
    finally:
        provider.shutdown()  # sends the spans still queued
        tracelog.reset()


if __name__ == "__main__":
    main()
