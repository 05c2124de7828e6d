"""Django: request metrics inside OpenTelemetry's span, and the request's trace on Django's lines.

In ``settings.py``, with OpenTelemetry's ``DjangoInstrumentor`` (which puts
its middleware first)::

    LOGGING = tracelog.logging_config(service_name="shop")
    MIDDLEWARE = ["tracelog.django.TracelogMiddleware", ...]

`TracelogMiddleware` records ``http_server_request_duration_seconds`` and
``http_server_requests_total`` per Django route pattern (``items/<int:id>``)
with the instrumentor's server span as exemplar, and keeps the request's
trace for the rest of the request: Django logs ``Not Found: /gone`` (and
runserver its ``django.server`` line) after that span has ended, and these
lines carry its trace ID still. An exception the instrumentor records on its
span when the response goes out becomes no second ``exception`` event.

`metrics` is a view serving them, with exemplars, to Prometheus (merged
across gunicorn's workers in multiprocess mode)::

    urlpatterns = [path("metrics", tracelog.django.metrics), ...]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.signals import request_finished
from django.http import HttpResponse
from prometheus_client import REGISTRY

from tracelog import _context, _exemplar
from tracelog._events import recorded_by_instrumentation
from tracelog._middleware import Recorder
from tracelog.metrics import exposition

__all__ = ["TracelogMiddleware", "metrics", "route"]

# DjangoInstrumentor's key in request.META while its span is active; with it
# there, the exception Django passes to process_exception is recorded on the
# span by the instrumentor's middleware when the response goes out.
_INSTRUMENTOR_ACTIVE = "opentelemetry-instrumentor-django.activation_key"


def route(request: Any) -> str:
    """Django's route pattern of the view that answered, e.g. ``items/<int:item_id>``; or ""."""
    match = getattr(request, "resolver_match", None)
    pattern = getattr(match, "route", None)
    return pattern if isinstance(pattern, str) else ""


class TracelogMiddleware:
    """Request metrics with the server span as exemplar; the request's trace kept for its lines.

    Place it after OpenTelemetry's middleware (``DjangoInstrumentor`` puts
    its own first), so its span is current here. Works under WSGI and ASGI.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self._recorder = Recorder(REGISTRY, route)
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self._async:
            return self._acall(request)
        labels, start = _begin(request)
        status: object = 500
        try:
            response = self.get_response(request)
            status = getattr(response, "status_code", 500)
            return response
        finally:
            self._end(request, status, start, labels)

    async def _acall(self, request: Any) -> Any:
        labels, start = _begin(request)
        status: object = 500
        try:
            response = await self.get_response(request)
            status = getattr(response, "status_code", 500)
            return response
        finally:
            self._end(request, status, start, labels)

    def _end(
        self, request: Any, status: object, start: float, labels: dict[str, str] | None
    ) -> None:
        self._recorder.record(
            request,
            getattr(request, "method", None),
            route,
            status,
            time.perf_counter() - start,
            labels,
        )

    def process_exception(self, request: Any, exception: BaseException) -> None:
        """Note an exception the instrumentor will record, so the bridge adds no second event."""
        meta = getattr(request, "META", None)
        if isinstance(meta, dict) and _INSTRUMENTOR_ACTIVE in meta:
            recorded_by_instrumentation(exception, later=True)


def metrics(request: Any) -> Any:
    """A view serving `tracelog.metrics.exposition`: OpenMetrics with exemplars to Prometheus.

    Every process's metrics in multiprocess mode (``gunicorn -c
    python:tracelog.gunicorn``), this one's otherwise.
    """
    body, content_type = exposition(request.headers.get("Accept"))
    return HttpResponse(body, content_type=content_type)


def _begin(request: Any) -> tuple[dict[str, str] | None, float]:
    # The rest of the request, Django's own lines about it included (logged
    # after the middleware chain returned), carries the server span's IDs;
    # request.META is the WSGI environ, where a server's access line finds them.
    trace = _context.current()
    _context.keep_request_trace(trace)
    meta = getattr(request, "META", None)
    if isinstance(meta, dict):
        meta[_context.ENVIRON_KEY] = trace
    return _exemplar.of_current_span(), time.perf_counter()


def _forget_request(sender: Any, **kwargs: Any) -> None:
    # The response was closed (after the server's access line): this thread
    # or task handles no request of ours any more.
    _context.keep_request_trace(None)


request_finished.connect(_forget_request, dispatch_uid="tracelog.django")
