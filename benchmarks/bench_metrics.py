"""prometheus_client Histogram: the cost of `tracelog.metrics`' automatic exemplar.

Goal: ``tracelog.metrics.Histogram(...).labels(...).observe(v)`` inside a
sampled span (exemplar attached) costs at most 2.0x prometheus_client's own
``Histogram(...).labels(...).observe(v)`` without an exemplar. Timed alongside:
the naive way, ``observe(v, exemplar={...})`` with the IDs read from
``get_current_span()`` and hex-formatted on every call (prometheus_client then
validates the labels every time too), and prometheus_client's ``observe(v,
exemplar=...)`` given a ready-made dict (its own exemplar cost, the floor).
Each histogram lives in its own registry, and the children are made once, as
an application keeps them.

Run: ``.venv/bin/python benchmarks/bench_metrics.py`` (or ``make bench``).
"""

from __future__ import annotations

from _harness import Case, arguments, run_in_sampled_span
from opentelemetry import trace
from prometheus_client import CollectorRegistry
from prometheus_client import Histogram as PlainHistogram

import tracelog.metrics

NAME, HELP, LABELS = "request_seconds", "Request latency", ["route"]
VALUE = 0.042


def main() -> None:
    """Time the four ways of observing side by side inside a sampled span."""
    options = arguments(__doc__ or "", rounds=31, number=5000)
    plain = PlainHistogram(NAME, HELP, LABELS, registry=CollectorRegistry()).labels("/checkout")
    naive = PlainHistogram(NAME, HELP, LABELS, registry=CollectorRegistry()).labels("/checkout")
    ready = PlainHistogram(NAME, HELP, LABELS, registry=CollectorRegistry()).labels("/checkout")
    traced = tracelog.metrics.Histogram(NAME, HELP, LABELS, registry=CollectorRegistry()).labels(
        "/checkout"
    )
    fixed = {"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331"}

    def observe_naive() -> None:
        context = trace.get_current_span().get_span_context()
        naive.observe(
            VALUE,
            exemplar={
                "trace_id": format(context.trace_id, "032x"),
                "span_id": format(context.span_id, "016x"),
            },
        )

    cases = [
        Case("prometheus_client observe(v), no exemplar", lambda: plain.observe(VALUE)),
        Case(
            "tracelog.metrics observe(v), exemplar attached",
            lambda: traced.observe(VALUE),
            goal=2.0,
        ),
        Case("naive observe(v, exemplar={format(...)})", observe_naive),
        Case(
            "prometheus_client observe(v, exemplar=<same dict>)",
            lambda: ready.observe(VALUE, exemplar=fixed),
        ),
    ]
    run_in_sampled_span("metrics: Histogram.observe with the span as exemplar", cases, options)


if __name__ == "__main__":
    main()
