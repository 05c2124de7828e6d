"""Multiprocess mode: the cost of keeping exemplars in files, and of scraping their merge.

Goals, in prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``):

- ``tracelog.metrics.Histogram(...).labels(...).observe(v)`` inside a sampled
  span (the exemplar written to this process's exemplar file) costs at most
  2.0x prometheus_client's own multiprocess ``observe(v)`` without one.
- A scrape of 4 worker processes x 50 series stays under 50 ms: 4 processes
  each record the request metrics of tracelog's middleware for 25 routes, a
  histogram series of 15 buckets and a counter series per route (50 label
  sets; ``--routes`` sets another number), with an exemplar on every bucket
  and counter; the scrape is ``tracelog.metrics.make_wsgi_app()`` answering
  Prometheus's ``Accept`` header with every process's counts and exemplars
  merged. prometheus_client's own multiprocess WSGI app over the same files
  (counts only) is timed alongside, as the baseline.

The script runs itself again with ``PROMETHEUS_MULTIPROC_DIR`` set to a fresh
directory (prometheus_client picks the mode when first imported), and the
workers are separate processes.

Run: ``.venv/bin/python benchmarks/bench_multiprocess.py`` (or ``make bench``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from _harness import Case, arguments, in_sampled_span, run

NAME, HELP, LABELS = "request_seconds", "Request latency", ["route"]
VALUE = 0.042
WORKERS = 4
ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
_CHILD = "TRACELOG_BENCH_CHILD"


def fill(routes: int) -> None:
    """In a worker: the middleware's metrics for every route, an exemplar on every bucket."""
    from opentelemetry.sdk.trace import TracerProvider

    import tracelog.metrics

    duration, requests = tracelog.metrics.http_metrics()
    bounds = [0.003, 0.007, 0.02, 0.03, 0.06, 0.08, 0.2, 0.3, 0.6, 0.8, 2.0, 3.0, 6.0, 8.0, 20.0]
    tracer = TracerProvider().get_tracer("bench")
    for route in range(routes):
        values = ("GET", f"/route/{route}", "200")
        for bound in bounds:
            with tracer.start_as_current_span("request"):
                duration.labels(*values).observe(bound)
                requests.labels(*values).inc()


def wsgi_call(app: Callable[..., Any]) -> Callable[[], bytes]:
    """A scrape: *app* called as a WSGI server calls it, with Prometheus's Accept header."""
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "HTTP_ACCEPT": ACCEPT}

    def scrape() -> bytes:
        return b"".join(app(dict(environ), lambda status, headers: None))

    return scrape


def benchmark() -> bool:
    """Both tables, inside a sampled span; whether every goal was met."""
    import prometheus_client
    from prometheus_client import CollectorRegistry, multiprocess

    import tracelog.metrics

    options = arguments(
        __doc__ or "",
        rounds=31,
        number=5000,
        extra={
            "scrapes": (5, "scrapes per case per round"),
            "routes": (25, "routes per worker: a histogram and a counter series each"),
        },
    )
    registry = CollectorRegistry()
    plain = prometheus_client.Histogram(NAME, HELP, LABELS, registry=registry).labels("/checkout")
    traced = tracelog.metrics.Histogram("traced_" + NAME, HELP, LABELS, registry=registry).labels(
        "/checkout"
    )
    observe_ok = run(
        "multiprocess mode: Histogram.observe with the span as exemplar",
        [
            Case("prometheus_client observe(v), no exemplar", lambda: plain.observe(VALUE)),
            Case(
                "tracelog.metrics observe(v), exemplar in the file",
                lambda: traced.observe(VALUE),
                goal=2.0,
            ),
        ],
        rounds=options.rounds,
        number=options.number,
    )

    workers_dir = tempfile.mkdtemp(prefix="bench-workers-")
    try:
        env = {
            **os.environ,
            "PROMETHEUS_MULTIPROC_DIR": workers_dir,
            _CHILD: f"fill {options.routes}",
        }
        children = [subprocess.Popen([sys.executable, __file__], env=env) for _ in range(WORKERS)]
        if any([child.wait() != 0 for child in children]):  # every one waited for
            raise SystemExit("a worker failed")
        theirs = CollectorRegistry()
        multiprocess.MultiProcessCollector(theirs, workers_dir)
        ours = CollectorRegistry()
        tracelog.metrics.MultiProcessCollector(ours, workers_dir)
        plain_scrape = wsgi_call(prometheus_client.make_wsgi_app(theirs))
        traced_scrape = wsgi_call(tracelog.metrics.make_wsgi_app(ours))
        exemplars = traced_scrape().count(b"trace_id=")
        expected = options.routes * 16  # every bucket (15) and the counter of every route
        if exemplars != expected:
            raise SystemExit(f"the scrape carries {exemplars} exemplars, not {expected}")
        scrape_ok = run(
            f"multiprocess mode: one scrape of {WORKERS} workers x {2 * options.routes} series"
            f" ({options.routes} routes: a 15-bucket histogram and a counter each), OpenMetrics",
            [
                Case("prometheus_client make_wsgi_app, counts only", plain_scrape),
                Case(
                    "tracelog.metrics make_wsgi_app, with exemplars",
                    traced_scrape,
                    limit_ms=50.0,
                ),
            ],
            rounds=options.rounds,
            number=options.scrapes,
        )
    finally:
        shutil.rmtree(workers_dir, ignore_errors=True)
    return observe_ok and scrape_ok


def main() -> None:
    """Run in multiprocess mode, in a fresh directory removed afterwards."""
    role = os.environ.get(_CHILD, "")
    if role.startswith("fill "):
        fill(int(role.split()[1]))
    elif role == "bench":
        in_sampled_span(benchmark)
    else:
        directory = tempfile.mkdtemp(prefix="bench-multiprocess-")
        try:
            env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory, _CHILD: "bench"}
            done = subprocess.run([sys.executable, __file__, *sys.argv[1:]], env=env, check=False)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        sys.exit(done.returncode)


if __name__ == "__main__":
    main()
