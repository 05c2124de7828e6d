"""ASGI and WSGI middleware: request duration and count per route, method and status.

Placed inside OpenTelemetry's ASGI/WSGI middleware, the server span is current
when a request reaches it, so its exemplar is taken there, at the start of the
request, and used when the request ends (a WSGI body may be closed after the
span stopped being current). The span's IDs are kept for the rest of the
request too (`_context.keep_request_trace`, and in the WSGI environ): servers
log about a request after its span has ended.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.registry import CollectorRegistry

from tracelog import _context, _exemplar
from tracelog._errors import report
from tracelog._instruments import Counter, Histogram

__all__ = [
    "DURATION_METRIC",
    "LABELS",
    "REQUESTS_METRIC",
    "ASGIMiddleware",
    "WSGIMiddleware",
    "asgi_route",
    "http_metrics",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

LABELS = ("method", "route", "status_code")
# The metric names as exposed (the counter with its "_total"); `tracelog.grafana` queries them.
DURATION_METRIC = "http_server_request_duration_seconds"
REQUESTS_METRIC = "http_server_requests_total"
# HTTP methods as OpenTelemetry's semantic conventions list them; any other is
# "_OTHER", so a client cannot create series by inventing methods.
_METHODS = frozenset(
    ("CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE")
)

_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, tuple[Histogram, Counter]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def http_metrics(registry: CollectorRegistry | None = REGISTRY) -> tuple[Histogram, Counter]:
    """The request metrics the middleware record into *registry*, made on first use.

    ``http_server_request_duration_seconds`` (a histogram) and
    ``http_server_requests_total`` (a counter), labelled ``method``,
    ``route`` and ``status_code``. One pair per registry, shared by every
    middleware using it; with ``registry=None`` (as prometheus_client
    allows) a new pair registered nowhere.
    """
    if registry is None:
        return _make_pair(None)
    with _lock:
        pair = _by_registry.get(registry)
        if pair is None:
            pair = _by_registry[registry] = _make_pair(registry)
        return pair


def _make_pair(registry: CollectorRegistry | None) -> tuple[Histogram, Counter]:
    return (
        Histogram(
            DURATION_METRIC,
            "Duration of HTTP server requests.",
            LABELS,
            registry=registry,
        ),
        Counter(REQUESTS_METRIC, "HTTP server requests.", LABELS, registry=registry),
    )


def _method(value: object) -> str:
    return value if isinstance(value, str) and value in _METHODS else "_OTHER"


def asgi_route(scope: Scope) -> str:
    """The route template of an ASGI request, or "" when the framework did not set one.

    Reads ``scope["route"]`` after the application ran: its ``path_format``
    (Starlette-style routes, FastAPI) or ``path``, or the string itself.
    The template is relative to the application that matched it; the
    middleware puts the mount path in front (see `ASGIMiddleware`).
    """
    route = scope.get("route")
    if isinstance(route, str):
        return route
    for attribute in ("path_format", "path"):
        template = getattr(route, attribute, None)
        if isinstance(template, str):
            return template
    return ""


def _mounted_route(root_path: object) -> Callable[[Scope], str]:
    """`asgi_route`, behind the mount prefixes routing appended to ``root_path``.

    A sub-application mounted at ``/v1`` sets its routes' templates relative
    to itself; Starlette (and FastAPI) append the mount's path to the
    scope's ``root_path`` while routing, so what was appended since the
    request came in is the prefix to restore.
    """

    def route(scope: Scope) -> str:
        template = asgi_route(scope)
        now = scope.get("root_path", "")
        if (
            template
            and isinstance(now, str)
            and isinstance(root_path, str)
            and len(now) > len(root_path)
            and now.startswith(root_path)
        ):
            return now[len(root_path) :] + template
        return template

    return route


class Recorder:
    """Records requests into the middleware metrics of a registry."""

    def __init__(
        self, registry: CollectorRegistry | None, route: Callable[[Any], str | None] | None
    ) -> None:
        self._duration, self._requests = http_metrics(registry)
        self._route = route

    def record(
        self,
        request: Any,
        method: object,
        default_route: Callable[[Any], str],
        status: object,
        seconds: float,
        labels: dict[str, str] | None,
    ) -> None:
        """Observe one request; never raises into the server."""
        try:
            route = (self._route or default_route)(request) or ""
            values = (_method(method), str(route), str(status))
            self._duration.labels(*values)._observe_with(max(seconds, 0.0), labels)
            self._requests.labels(*values)._inc_with(1, labels)
        except Exception as exc:
            report("metrics: request not recorded", exc)


def _no_route(environ: Any) -> str:
    return ""


class ASGIMiddleware:
    """Record each HTTP request's duration and count, with the server span as exemplar.

    Wrap the application, then wrap the result in OpenTelemetry's
    ``OpenTelemetryMiddleware``, so the server span is current here.

    Args:
        app: the ASGI application.
        registry: where the metrics live (see `http_metrics`).
        route: ``scope -> template`` for the ``route`` label, called after the
            application ran; default `asgi_route` (never the raw path: one
            series per URL would be unbounded).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        registry: CollectorRegistry | None = REGISTRY,
        route: Callable[[Scope], str | None] | None = None,
    ) -> None:
        self.app = app
        self._recorder = Recorder(registry, route)

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        # For the rest of this request's task: the server's own lines about it
        # (uvicorn's traceback of a failure) come after the span has ended.
        _context.keep_request_trace(_context.current())
        labels = _exemplar.of_current_span()
        start = time.perf_counter()
        status: object = 500  # what the server answers if no response starts
        route = _mounted_route(scope.get("root_path", ""))

        async def send_status(message: Message) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = message.get("status", 500)
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._recorder.record(
                scope,
                scope.get("method"),
                route,
                status,
                time.perf_counter() - start,
                labels,
            )


class WSGIMiddleware:
    """Record each request's duration (until the body is closed) and count, with exemplars.

    Wrap the application, then wrap the result in OpenTelemetry's
    ``OpenTelemetryMiddleware``.

    Args:
        app: the WSGI application.
        registry: where the metrics live (see `http_metrics`).
        route: ``environ -> template`` for the ``route`` label; WSGI has no
            standard place for it, so the default is "" (no route).
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        registry: CollectorRegistry | None = REGISTRY,
        route: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> None:
        self.app = app
        self._recorder = Recorder(registry, route)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        # Until the body is closed, and in the environ for a server logging after that.
        trace = _context.current()
        _context.keep_request_trace(trace)
        environ[_context.ENVIRON_KEY] = trace
        labels = _exemplar.of_current_span()
        start = time.perf_counter()
        status: list[object] = [500]

        def start_status(status_line: str, headers: Any, exc_info: Any = None) -> Any:
            try:
                status[0] = int(status_line.split(" ", 1)[0])
            except Exception:
                status[0] = 500
            return start_response(status_line, headers, exc_info)

        def done() -> None:
            _context.keep_request_trace(None)
            self._recorder.record(
                environ,
                environ.get("REQUEST_METHOD"),
                _no_route,
                status[0],
                time.perf_counter() - start,
                labels,
            )

        try:
            body = self.app(environ, start_status)
        except BaseException:
            done()
            raise
        return _closing(body, done, environ.get("wsgi.file_wrapper"))


def _closing(
    body: Iterable[bytes], done: Callable[[], None], file_wrapper: object
) -> Iterable[bytes]:
    """*body*, recording the request when the server closes it (PEP 3333).

    A body of the server's ``wsgi.file_wrapper`` type is returned itself, its
    ``close`` wrapped, so the server still recognises it (and can send the
    file with sendfile); a body with a length keeps it (the server then sends
    ``Content-Length``).
    """
    if isinstance(file_wrapper, type) and isinstance(body, file_wrapper):
        try:
            close = getattr(body, "close", None)
            pending = [done]  # recorded on the first close only

            def close_and_record() -> None:
                try:
                    if close is not None:
                        close()
                finally:
                    if pending:
                        pending.pop()()

            body.close = close_and_record  # type: ignore[attr-defined]
            return body
        except Exception:  # a body that takes no attributes: recorded now instead
            done()
            return body
    if callable(getattr(type(body), "__len__", None)):
        return _SizedClosingBody(body, done)
    return _ClosingBody(body, done)


class _ClosingBody:
    """A response body that records the request when the server closes it (PEP 3333)."""

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]) -> None:
        self._body = body
        self._done: Callable[[], None] | None = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            done, self._done = self._done, None
            if done is not None:
                done()


class _SizedClosingBody(_ClosingBody):
    """`_ClosingBody` for a body with a length (a list of chunks): the server may use it."""

    def __len__(self) -> int:
        try:
            return len(self._body)  # type: ignore[arg-type]
        except Exception as exc:  # servers treat TypeError as "no length"
            raise TypeError("the response body has no length") from exc
