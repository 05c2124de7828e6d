"""The Grafana dashboard of tracelog's request metrics (`tracelog.metrics.ASGIMiddleware`).

Request rate, 5xx error ratio and latency percentiles, the latency queries
with exemplars on, so a point on the panel opens its trace. The metric and
label names come from the middleware's module, never retyped.
"""

from __future__ import annotations

from typing import Any

from tracelog._middleware import DURATION_METRIC, LABELS, REQUESTS_METRIC

__all__ = ["UID", "dashboard"]

UID = "tracelog-http"
_METHOD, _ROUTE, _STATUS = LABELS
_PERCENTILES = (0.5, 0.9, 0.99)


def dashboard(*, prometheus_uid: str) -> dict[str, Any]:
    """The dashboard's JSON model, its queries on the Prometheus data source *prometheus_uid*."""
    source = {"type": "prometheus", "uid": prometheus_uid}
    # "All" matches every value, the empty route too (requests no route matched).
    selector = f'job=~"$job", {_ROUTE}=~"$route"'
    requests = f"rate({REQUESTS_METRIC}{{{selector}}}[$__rate_interval])"
    errors = f'rate({REQUESTS_METRIC}{{{selector}, {_STATUS}=~"5.."}}[$__rate_interval])'
    buckets = f"rate({DURATION_METRIC}_bucket{{{selector}}}[$__rate_interval])"
    panels = [
        _panel(
            1,
            "Request rate",
            "Requests per second, by route and method.",
            "reqps",
            {"h": 8, "w": 12, "x": 0, "y": 0},
            source,
            [
                _target(
                    "A",
                    f"sum by ({_ROUTE}, {_METHOD}) ({requests})",
                    "{{" + _METHOD + "}} {{" + _ROUTE + "}}",
                    source,
                )
            ],
        ),
        _panel(
            2,
            "Error rate (5xx)",
            "Share of requests answered with a 5xx status, by route.",
            "percentunit",
            {"h": 8, "w": 12, "x": 12, "y": 0},
            source,
            [
                _target(
                    "A",
                    # "or ... * 0": a route without errors reads 0, not "no data".
                    f"(sum by ({_ROUTE}) ({errors}) or sum by ({_ROUTE}) ({requests}) * 0)"
                    f" / sum by ({_ROUTE}) ({requests})",
                    "{{" + _ROUTE + "}}",
                    source,
                )
            ],
        ),
        _panel(
            3,
            "Latency percentiles",
            "p50, p90 and p99 of request duration. Each exemplar (a dot) is one sampled"
            " request: hover it and follow its trace_id to the trace in Tempo.",
            "s",
            {"h": 10, "w": 24, "x": 0, "y": 8},
            source,
            [
                _target(
                    chr(ord("A") + index),
                    f"histogram_quantile({quantile}, sum by (le) ({buckets}))",
                    f"p{round(quantile * 100)}",
                    source,
                    exemplar=True,
                )
                for index, quantile in enumerate(_PERCENTILES)
            ],
        ),
    ]
    return {
        "uid": UID,
        "title": "tracelog: HTTP requests",
        "description": "Request metrics of tracelog.metrics' ASGI/WSGI middleware, with exemplars.",
        "tags": ["tracelog"],
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-30m", "to": "now"},
        "refresh": "10s",
        "timezone": "browser",
        "templating": {
            "list": [
                _variable("job", f"label_values({REQUESTS_METRIC}, job)", source),
                _variable(
                    _ROUTE, f'label_values({REQUESTS_METRIC}{{job=~"$job"}}, {_ROUTE})', source
                ),
            ]
        },
        "panels": panels,
    }


def _variable(name: str, query: str, source: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "label": name,
        "type": "query",
        "datasource": source,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "definition": query,
        "refresh": 2,  # on time range change: new jobs and routes appear
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def _target(
    ref: str, expr: str, legend: str, source: dict[str, str], *, exemplar: bool = False
) -> dict[str, Any]:
    return {
        "refId": ref,
        "datasource": source,
        "expr": expr,
        "legendFormat": legend,
        "range": True,
        "exemplar": exemplar,
    }


def _panel(
    panel_id: int,
    title: str,
    description: str,
    unit: str,
    grid: dict[str, int],
    source: dict[str, str],
    targets: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "description": description,
        "gridPos": grid,
        "datasource": source,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": targets,
    }
