"""A Flask shop whose logs, spans and metrics share the request's trace ID (WSGI).

OpenTelemetry's WSGI middleware starts a server span per request (continuing
an incoming W3C ``traceparent``); tracelog's `WSGIMiddleware`, inside it,
records ``http_server_request_duration_seconds`` and
``http_server_requests_total`` per route with the span as exemplar; the
views log with the standard library's ``logging``, so each JSON line carries
the trace and span IDs and becomes an event on the span. ``/metrics``
serves OpenMetrics, with the exemplars, to scrapers that ask for it. About
one checkout in ten fails with a 503 (``?fail=1`` forces it).

Run it (in the project's venv: ``make test`` creates it)::

    python examples/flask_app.py [--host 127.0.0.1] [--port 8000] [--log-file PATH]
    curl localhost:8000/items/42
    TP=00-4c7c6430fb5466bff54036fa0cbe7eb6-ba257a214f1fcc4a-01
    curl -X POST 'localhost:8000/checkout?fail=1' -H "traceparent: $TP"
    curl -H 'Accept: application/openmetrics-text; version=1.0.0' localhost:8000/metrics

The service name is ``OTEL_SERVICE_NAME`` (default ``shop``). Spans go over
OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (for example
``http://localhost:4318``; needs ``opentelemetry-exporter-otlp-proto-http``),
else to stderr, one JSON line per span. The server is werkzeug's, threaded:
behind a production WSGI server the application is the same.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from _tracing import server_options, service_name, tracer_provider
from flask import Flask, abort, request
from opentelemetry import trace
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server
from werkzeug.wsgi import ClosingIterator

import tracelog
from tracelog import metrics

log = logging.getLogger("shop.api")
tracer = trace.get_tracer("shop.api")
CHARGE_SECONDS = metrics.Histogram(
    "shop_payment_charge_seconds", "Time to charge a card.", ["outcome"]
)

app = Flask(__name__)


class GatewayTimeoutError(Exception):
    """The payment gateway did not answer in time."""


ROUTE_KEY = "shop.route"  # where the matched route waits for the metrics middleware


@app.before_request
def note_route() -> None:
    """Name the server span after the matched route, and keep the route for the metrics.

    WSGI has no routes: OpenTelemetry's middleware names the span after the
    raw path and tracelog's finds no route label; a route template keeps
    both few.
    """
    if request.url_rule is not None:
        route = request.url_rule.rule
        span = trace.get_current_span()
        span.update_name(f"{request.method} {route}")
        span.set_attribute("http.route", route)
        # In the environ: Flask drops its request object there when the request ends.
        request.environ[ROUTE_KEY] = route


@app.get("/items/<int:item_id>")
def get_item(item_id: int) -> dict[str, Any]:
    time.sleep(random.lognormvariate(-4.0, 0.6))  # ~18 ms, a long tail
    log.info("item loaded", extra={"item_id": item_id, "stock": item_id % 7})
    return {"item_id": item_id, "stock": item_id % 7}


def charge_card(*, fail: bool) -> bool:
    """Charge the card in a span of its own; False when the gateway timed out."""
    with tracer.start_as_current_span("charge card"):
        start, outcome = time.perf_counter(), "ok"
        try:
            time.sleep(random.uniform(0.02, 0.15))
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


@app.post("/checkout")
def checkout() -> dict[str, Any]:
    log.info("checkout started", extra={"items": 3})
    if not charge_card(fail=request.args.get("fail") in ("1", "true")):
        abort(503, "payment unavailable")
    log.info("order placed", extra={"order_id": f"A-{random.randrange(10_000)}"})
    return {"status": "paid"}


def flask_route(environ: dict[str, Any]) -> str:
    """The route `note_route` kept, for the ``route`` label ("" when none matched)."""
    route = environ.get(ROUTE_KEY, "")
    return route if isinstance(route, str) else ""


class InFlight:
    """WSGI middleware counting requests until their response is closed, so exit can wait.

    OpenTelemetry's middleware ends the server span when the response is
    closed, just after its last byte is sent: a client may already have its
    answer (and the server its SIGTERM) while the span is still open. Spans
    ended after ``provider.shutdown()`` are dropped, so shutdown waits here first.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self._count = 0
        self._changed = threading.Condition()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with self._changed:
            self._count += 1
        try:
            return ClosingIterator(self.app(environ, start_response), self._done)
        except BaseException:
            self._done()
            raise

    def _done(self) -> None:
        with self._changed:
            self._count -= 1
            self._changed.notify_all()

    def wait(self, timeout: float) -> bool:
        """Wait until no request is in flight, *timeout* seconds at most; whether none is."""
        with self._changed:
            return self._changed.wait_for(lambda: self._count == 0, timeout)


def main() -> None:
    options = server_options(__doc__.splitlines()[0] if __doc__ else "")
    name = service_name("shop")
    provider = tracer_provider(name)
    tracelog.configure(service_name=name, output=options.log_file)
    # No access log: werkzeug writes it outside the server span, so it could
    # carry no trace ID; the views' own lines do.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # Ours goes inside OpenTelemetry's, so the server span is current when a
    # request reaches it; /metrics is dispatched before both: scrapes are
    # neither traced nor counted.
    traced = OpenTelemetryMiddleware(metrics.WSGIMiddleware(app.wsgi_app, route=flask_route))
    in_flight = InFlight(DispatcherMiddleware(traced, {"/metrics": metrics.make_wsgi_app()}))
    app.wsgi_app = in_flight  # type: ignore[method-assign]
    server = make_server(options.host, options.port, app, threaded=True)
    # SIGTERM stops the server as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    log.info("serving", extra={"url": f"http://{options.host}:{server.server_port}"})
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        in_flight.wait(timeout=5.0)  # their spans end as their responses close
        provider.shutdown()  # sends the spans still queued
        tracelog.reset()


if __name__ == "__main__":
    main()
