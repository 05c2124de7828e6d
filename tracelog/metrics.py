"""Prometheus metrics whose observations carry the current trace as an exemplar.

`Histogram` and `Counter` are drop-in subclasses of prometheus_client's: an
observation made inside a sampled span gets the exemplar
``{"trace_id": ..., "span_id": ...}``, the link Grafana follows from a spike
to the trace, and from the trace to its logs. The exposition helpers serve
OpenMetrics (the only format that carries exemplars) to scrapers that ask for
it, and `ASGIMiddleware` / `WSGIMiddleware` time requests inside the server
span::

    from tracelog import metrics

    LATENCY = metrics.Histogram("checkout_seconds", "Checkout latency", ["step"])
    LATENCY.labels("pay").observe(0.12)  # exemplar: the current sampled span

In prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, several
worker processes) the exemplars are kept too, in each process's own file, and
the exposition helpers serve the merge of every process's counts and exemplars.

This module imports prometheus_client; ``import tracelog`` does not.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from typing import Any

import prometheus_client
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from tracelog import _exemplar, _multiprocess
from tracelog._instruments import (
    Counter,
    Histogram,
    HistogramTimer,
    MultiprocessExemplarWarning,
    warn_plain_collector,
)
from tracelog._middleware import ASGIMiddleware, WSGIMiddleware, asgi_route, http_metrics
from tracelog._multiprocess import MultiProcessCollector

__all__ = [
    "REGISTRY",
    "ASGIMiddleware",
    "CollectorRegistry",
    "Counter",
    "Histogram",
    "HistogramTimer",
    "MultiProcessCollector",
    "MultiprocessExemplarWarning",
    "WSGIMiddleware",
    "asgi_route",
    "exemplar",
    "exposition",
    "http_metrics",
    "make_asgi_app",
    "make_wsgi_app",
    "start_http_server",
]


def exemplar() -> dict[str, str] | None:
    """The exemplar for the current span: ``{"trace_id": ..., "span_id": ...}``, or None.

    None outside a span and inside an unsampled one (its trace was never
    stored, so an exemplar would lead nowhere). For metrics of your own:
    ``my_histogram.observe(v, exemplar=tracelog.metrics.exemplar())``.
    """
    labels = _exemplar.of_current_span()
    return None if labels is None else dict(labels)


def _served(registry: Collector) -> Collector:
    """What to serve for *registry*: in multiprocess mode, the default one is every process's.

    In multiprocess mode each process's own registry holds only its own
    values; served as they are, every worker would answer with its own
    counts. So the default registry is replaced by the merge of all
    processes' files, with their exemplars.
    """
    if not _multiprocess.enabled():
        return registry
    if registry is REGISTRY:
        return _multiprocess.merged_registry()
    if _multiprocess.plain_collectors(registry):
        warn_plain_collector()
    return registry


def exposition(accept: str | None, registry: Collector = REGISTRY) -> tuple[bytes, str]:
    """The body and ``Content-Type`` to answer a scrape whose ``Accept`` header is *accept*.

    For a framework's own /metrics route (Django's: `tracelog.django.metrics`):
    negotiated and, in multiprocess mode, merged as `make_wsgi_app` does.

    Raises:
        ValueError: in multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR`` is not a directory.
    """
    encoder, content_type = choose_encoder(accept or "")
    return encoder(_served(registry)), content_type


def make_wsgi_app(
    registry: Collector = REGISTRY, *, disable_compression: bool = False
) -> Callable[..., Any]:
    """prometheus_client's WSGI metrics app: OpenMetrics, with exemplars, to scrapers asking for it.

    prometheus_client picks the format from the ``Accept`` header: Prometheus
    asks for ``application/openmetrics-text`` (version 1.0.0) first and gets
    it; a client asking only for ``text/plain`` gets the classic format,
    which has no exemplars. In multiprocess mode the default registry is
    served as every process's metrics and exemplars, merged.

    Raises:
        ValueError: in multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR`` is not a directory.
    """
    return prometheus_client.make_wsgi_app(_served(registry), disable_compression)


def make_asgi_app(
    registry: Collector = REGISTRY, *, disable_compression: bool = False
) -> Callable[..., Any]:
    """prometheus_client's ASGI metrics app, negotiating and merging as `make_wsgi_app` does."""
    return prometheus_client.make_asgi_app(_served(registry), disable_compression)


def start_http_server(
    port: int,
    addr: str = "0.0.0.0",
    registry: Collector = REGISTRY,
    *,
    certfile: str | None = None,
    keyfile: str | None = None,
    client_cafile: str | None = None,
    client_capath: str | None = None,
    protocol: int = ssl.PROTOCOL_TLS_SERVER,
    client_auth_required: bool = False,
) -> tuple[Any, threading.Thread]:
    """prometheus_client's metrics server in a daemon thread, serving as `make_wsgi_app`.

    Returns the server and its thread (``server.shutdown()`` stops it). One
    process binds the port: with several worker processes, serve /metrics
    from the application with `make_wsgi_app` or `make_asgi_app` instead.
    """
    return prometheus_client.start_http_server(
        port,
        addr,
        _served(registry),
        certfile=certfile,
        keyfile=keyfile,
        client_cafile=client_cafile,
        client_capath=client_capath,
        protocol=protocol,
        client_auth_required=client_auth_required,
    )
