"""tracelog.metrics: exemplars from the current span, checked labels, timers, exposition."""

from __future__ import annotations

import asyncio
import math
import threading
import time
import urllib.request
import warnings
from typing import Any

import prometheus_client
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

import tracelog._errors
import tracelog.metrics
from tests.conftest import SPAN_HEX, TRACE_HEX, known_span

EXEMPLAR = {"trace_id": TRACE_HEX, "span_id": SPAN_HEX}


@pytest.fixture
def registry() -> CollectorRegistry:
    """A registry of the test's own, so metric names never collide."""
    return CollectorRegistry()


@pytest.fixture(autouse=True)
def _no_multiprocess_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PROMETHEUS_MULTIPROC_DIR: these tests are of one process (see test_multiprocess)."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("prometheus_multiproc_dir", raising=False)


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], Sample]:
    """Every sample of the registry's OpenMetrics output, parsed by prometheus_client's parser."""
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def collected(
    registry: CollectorRegistry,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], Sample]:
    """Every sample as the registry collects it (no text round trip: NaN sums allowed)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample
        for family in registry.collect()
        for sample in family.samples
    }


def exemplars(registry: CollectorRegistry) -> dict[str, dict[str, str]]:
    """Sample name (with its labels) -> exemplar labels, for the samples that have one."""
    return {
        f"{name}{dict(labels)}": dict(sample.exemplar.labels)
        for (name, labels), sample in samples(registry).items()
        if sample.exemplar is not None
    }


class TestExemplar:
    """tracelog.metrics.exemplar(): the labels for the current span."""

    def test_sampled_span(self) -> None:
        """Inside a sampled span, exemplar() is its trace and span ID."""
        with known_span():
            assert tracelog.metrics.exemplar() == EXEMPLAR

    def test_unsampled_span_and_no_span(self) -> None:
        """An unsampled span's trace was never stored: no exemplar; none outside a span either."""
        with known_span(sampled=False):
            assert tracelog.metrics.exemplar() is None
        assert tracelog.metrics.exemplar() is None

    def test_real_sdk_span(self, tracer: tuple[trace.Tracer, Any]) -> None:
        """With the SDK, the exemplar names the span the exporter receives."""
        tracer_, exporter = tracer
        with tracer_.start_as_current_span("work"):
            got = tracelog.metrics.exemplar()
        (span,) = exporter.get_finished_spans()
        assert got == {
            "trace_id": f"{span.context.trace_id:032x}",
            "span_id": f"{span.context.span_id:016x}",
        }

    def test_returns_a_copy(self) -> None:
        """Changing the returned dict does not change the next exemplar."""
        with known_span():
            tracelog.metrics.exemplar()["trace_id"] = "x"  # type: ignore[index]
            assert tracelog.metrics.exemplar() == EXEMPLAR


class TestHistogram:
    """Histogram.observe(): automatic and explicit exemplars, counted as prometheus_client does."""

    def test_observation_in_a_sampled_span_carries_it(self, registry: CollectorRegistry) -> None:
        """observe() inside a sampled span puts its IDs on the bucket the value fell in."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", ["route"], registry=registry)
        with known_span():
            histogram.labels("/a").observe(0.3)
        assert exemplars(registry) == {"h_seconds_bucket{'le': '0.5', 'route': '/a'}": EXEMPLAR}
        exemplar = samples(registry)["h_seconds_bucket", (("le", "0.5"), ("route", "/a"))].exemplar
        assert exemplar is not None
        assert exemplar.value == 0.3

    def test_unsampled_and_no_span_leave_no_exemplar(self, registry: CollectorRegistry) -> None:
        """Outside a span or in an unsampled one, the value is counted without an exemplar."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=registry)
        histogram.observe(0.3)
        with known_span(sampled=False):
            histogram.observe(0.3)
        assert exemplars(registry) == {}
        assert samples(registry)["h_seconds_count", ()].value == 2

    def test_unsampled_does_not_replace_a_sampled_exemplar(
        self, registry: CollectorRegistry
    ) -> None:
        """A later unsampled observation leaves the last sampled exemplar in place."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=registry)
        with known_span():
            histogram.observe(0.3)
        with known_span(trace_id=0xABC, sampled=False):
            histogram.observe(0.3)
        assert exemplars(registry) == {"h_seconds_bucket{'le': '0.5'}": EXEMPLAR}

    def test_explicit_exemplar_wins(self, registry: CollectorRegistry) -> None:
        """An exemplar= argument is used instead of the current span's."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=registry)
        with known_span():
            histogram.observe(2.0, exemplar={"request": "r-1"})
        assert exemplars(registry) == {"h_seconds_bucket{'le': '2.5'}": {"request": "r-1"}}

    def test_too_long_exemplar_counted_once_without_raising(
        self, registry: CollectorRegistry
    ) -> None:
        """Labels past 128 characters are dropped, the rest kept; counted once, nothing raised."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=registry)
        too_long = {"trace_id": TRACE_HEX, "note": "x" * 200, "span_id": SPAN_HEX}
        histogram.observe(0.3, exemplar=too_long)
        assert samples(registry)["h_seconds_count", ()].value == 1
        assert exemplars(registry) == {"h_seconds_bucket{'le': '0.5'}": EXEMPLAR}
        assert any("128-character" in key for key in tracelog._errors.error_counts())

    def test_prometheus_client_would_count_twice(self, registry: CollectorRegistry) -> None:
        """Why labels are checked first: prometheus_client counts, then raises."""
        plain = prometheus_client.Histogram("p_seconds", "p", registry=registry)
        with pytest.raises(ValueError, match="128"):
            plain.observe(0.3, exemplar={"note": "x" * 200})
        with pytest.raises(ValueError, match="128"):
            plain.observe(0.3, exemplar={"note": "x" * 200})
        assert samples(registry)["p_seconds_count", ()].value == 2

    @pytest.mark.parametrize(
        "bad",
        [
            {"not a name": "v"},
            {"__reserved": "v"},
            {"1st": "v"},
            {"trace_id": 123},
            {1: "v"},
            ["trace_id", "x"],
            {},
            {"a" * 129: ""},
            {"note": "lone \ud800 surrogate"},
        ],
    )
    def test_unusable_exemplars_are_dropped(self, registry: CollectorRegistry, bad: Any) -> None:
        """Invalid names, non-string values, non-mappings: no exemplar, the value still counted."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=registry)
        with known_span():
            histogram.observe(0.3, exemplar=bad)
        assert samples(registry)["h_seconds_count", ()].value == 1
        assert exemplars(registry) == {}

    def test_escaped_values_keep_the_scrape_parseable(self, registry: CollectorRegistry) -> None:
        """Quotes, backslashes and newlines in a value survive the OpenMetrics round trip."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=registry)
        odd = {"note": 'say "hi"\\ \n bye'}
        histogram.observe(0.3, exemplar=odd)
        assert exemplars(registry) == {"h_seconds_bucket{'le': '0.5'}": odd}

    def test_exemplar_exactly_at_the_limit_is_kept(self, registry: CollectorRegistry) -> None:
        """128 characters of names and values fit; prometheus_client accepts them unchanged."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=registry)
        fits = {"n": "é" * 127}  # characters, not bytes, are counted
        histogram.observe(0.3, exemplar=fits)
        assert exemplars(registry) == {"h_seconds_bucket{'le': '0.5'}": fits}

    def test_nan_is_counted_as_prometheus_client_counts_it(
        self, registry: CollectorRegistry
    ) -> None:
        """NaN lands in no bucket in prometheus_client; tracelog attaches no exemplar to one."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=registry)
        with known_span():
            histogram.observe(math.nan)
        got = collected(registry)
        assert [key for key, sample in got.items() if sample.exemplar is not None] == []
        assert math.isnan(got["h_seconds_sum", ()].value)
        assert got["h_seconds_count", ()].value == 0

    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(
            st.floats(allow_nan=False) | st.sampled_from([0.005, 0.25, 10.0, math.inf]),
            min_size=1,
            max_size=20,
        )
    )
    def test_same_counts_as_prometheus_client(self, values: list[float]) -> None:
        """Any values: prometheus_client's counts and sum; a bucket's last value is its exemplar."""
        ours, theirs = CollectorRegistry(), CollectorRegistry()
        traced = tracelog.metrics.Histogram("h", "h", registry=ours, buckets=(0.005, 0.25, 10))
        plain = prometheus_client.Histogram("h", "h", registry=theirs, buckets=(0.005, 0.25, 10))
        with known_span():
            for value in values:
                traced.observe(value)
                plain.observe(value)
        got, want = collected(ours), collected(theirs)
        assert {
            key: repr(s.value) for key, s in got.items() if not key[0].endswith("_created")
        } == {key: repr(s.value) for key, s in want.items() if not key[0].endswith("_created")}
        bounds = (0.005, 0.25, 10.0, math.inf)
        last_in: dict[str, float] = {}  # each bucket's exemplar is the last value it counted
        for value in values:
            bound = next(b for b in bounds if value <= b)
            last_in["+Inf" if bound == math.inf else str(bound)] = value
        got_exemplars = {
            dict(labels)["le"]: (dict(sample.exemplar.labels), sample.exemplar.value)
            for (_, labels), sample in got.items()
            if sample.exemplar is not None
        }
        assert got_exemplars == {le: (EXEMPLAR, value) for le, value in last_in.items()}

    def test_created_and_timestamp(self, registry: CollectorRegistry) -> None:
        """_created is prometheus_client's, and the exemplar has the time of the observation."""
        import time

        before = time.time()
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=registry)
        with known_span():
            histogram.observe(0.3)
        after = time.time()
        got = samples(registry)
        assert before <= got["h_seconds_created", ()].value <= after
        exemplar = got["h_seconds_bucket", (("le", "0.5"),)].exemplar
        assert exemplar is not None
        assert exemplar.timestamp is not None
        assert before <= float(exemplar.timestamp) <= after

    def test_labels_children_are_tracelog_histograms(self, registry: CollectorRegistry) -> None:
        """labels() returns tracelog's class, so every child attaches exemplars."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", ["a", "b"], registry=registry)
        assert isinstance(histogram.labels(a="1", b="2"), tracelog.metrics.Histogram)

    def test_missing_labels_still_raise_like_prometheus_client(
        self, registry: CollectorRegistry
    ) -> None:
        """Misuse that prometheus_client refuses is refused the same way (drop-in)."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", ["a"], registry=registry)
        with pytest.raises(ValueError, match="missing label values"):
            histogram.observe(1.0)


class TestThreads:
    """Observations from many threads, each in its own span."""

    def test_counts_exact_and_exemplars_from_real_spans(self, registry: CollectorRegistry) -> None:
        """Every observation counted once; each exemplar names one of the threads' spans."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=registry)
        counter = tracelog.metrics.Counter("c", "c", registry=registry)
        spans = [(0x1000 + n, 0x2000 + n) for n in range(8)]
        barrier = threading.Barrier(len(spans))

        def work(trace_id: int, span_id: int) -> None:
            with known_span(trace_id, span_id):
                barrier.wait()
                for i in range(500):
                    histogram.observe(i / 1000)
                    counter.inc()

        threads = [threading.Thread(target=work, args=span) for span in spans]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        got = samples(registry)
        assert got["h_seconds_count", ()].value == 4000
        assert got["c_total", ()].value == 4000
        allowed = [{"trace_id": f"{t:032x}", "span_id": f"{s:016x}"} for t, s in spans]
        found = list(exemplars(registry).values())
        assert len(found) == 9  # the eight buckets up to 0.5 s, and the counter
        assert all(labels in allowed for labels in found)


class TestTime:
    """Histogram.time(): context manager and decorator, with the span current at the start."""

    def test_context_manager_uses_the_span_current_at_the_start(
        self, registry: CollectorRegistry
    ) -> None:
        """In `with time()` the duration is observed with the exemplar of the span at entry."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=registry)
        with known_span():
            timer = histogram.time()
            with timer, known_span(trace_id=0xABC, span_id=0xDEF):
                pass
        assert timer.duration is not None
        assert timer.duration >= 0
        assert list(exemplars(registry).values()) == [EXEMPLAR]
        assert samples(registry)["h_seconds_count", ()].value == 1

    def test_timer_labels(self, registry: CollectorRegistry) -> None:
        """The timer's labels() picks the child, as prometheus_client's does."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", ["step"], registry=registry)
        with known_span(), histogram.time() as timer:
            timer.labels("pay")
        assert list(exemplars(registry)) == ["h_seconds_bucket{'le': '0.005', 'step': 'pay'}"]

    def test_sync_decorator(self, registry: CollectorRegistry) -> None:
        """@time() on a function: one observation per call, the caller's span as exemplar."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=registry)

        @histogram.time()
        def work(x: int) -> int:
            return x * 2

        with known_span():
            assert work(21) == 42
        work(1)
        assert samples(registry)["h_seconds_count", ()].value == 2
        assert list(exemplars(registry).values()) == [EXEMPLAR]

    def test_generator_decorators_time_the_iteration(self, registry: CollectorRegistry) -> None:
        """@time() on a generator or an async generator times the whole iteration."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=registry)

        @histogram.time()
        def numbers() -> Any:
            for number in range(3):
                time.sleep(0.02)
                yield number

        @histogram.time()
        async def anumbers() -> Any:
            for number in range(3):
                await asyncio.sleep(0.02)
                yield number

        async def collect() -> list[int]:
            return [number async for number in anumbers()]

        with known_span():
            assert list(numbers()) == [0, 1, 2]
            assert asyncio.run(collect()) == [0, 1, 2]
        assert samples(registry)["h_seconds_count", ()].value == 2
        assert samples(registry)["h_seconds_sum", ()].value >= 0.1

    def test_async_generator_passes_asend_athrow_aclose(self, registry: CollectorRegistry) -> None:
        """The timed async generator forwards asend, athrow and aclose to the wrapped one."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=registry)
        cleaned: list[str] = []

        @histogram.time()
        async def echo() -> Any:
            try:
                received = None
                while True:
                    try:
                        received = yield received
                    except KeyError:
                        received = "thrown"
            finally:
                cleaned.append("echo")

        async def drive() -> list[Any]:
            generator = echo()
            seen = [await generator.asend(None), await generator.asend("hello")]
            seen.append(await generator.athrow(KeyError("k")))
            await generator.aclose()
            return seen

        assert asyncio.run(drive()) == [None, "hello", "thrown"]
        assert cleaned == ["echo"]
        assert samples(registry)["h_seconds_count", ()].value == 1

    def test_async_decorator_times_the_whole_coroutine(self, registry: CollectorRegistry) -> None:
        """@time() on a coroutine function awaits it: the sleep is in the duration."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=registry)

        @histogram.time()
        async def work() -> str:
            await asyncio.sleep(0.03)
            return "done"

        async def main() -> str:
            with known_span():
                return await work()

        assert asyncio.iscoroutinefunction(work)
        assert asyncio.run(main()) == "done"
        got = samples(registry)
        assert got["h_seconds_sum", ()].value >= 0.03
        assert got["h_seconds_count", ()].value == 1
        assert list(exemplars(registry).values()) == [EXEMPLAR]

    def test_exception_still_observed(self, registry: CollectorRegistry) -> None:
        """A block that raises is still timed, and the error goes on."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=registry)
        with pytest.raises(KeyError), known_span(), histogram.time():
            raise KeyError("x")
        assert samples(registry)["h_seconds_count", ()].value == 1


class TestCounter:
    """Counter.inc() with exemplars."""

    def test_inc_in_a_sampled_span(self, registry: CollectorRegistry) -> None:
        """inc() inside a sampled span carries its IDs; the amount is the exemplar's value."""
        counter = tracelog.metrics.Counter("jobs", "j", registry=registry)
        with known_span():
            counter.inc(3)
        sample = samples(registry)["jobs_total", ()]
        assert sample.value == 3
        assert sample.exemplar is not None
        assert (dict(sample.exemplar.labels), sample.exemplar.value) == (EXEMPLAR, 3)

    def test_unsampled_and_explicit(self, registry: CollectorRegistry) -> None:
        """No exemplar for an unsampled span; an explicit one wins; bad ones are dropped."""
        counter = tracelog.metrics.Counter("jobs", "j", ["kind"], registry=registry)
        with known_span(sampled=False):
            counter.labels("a").inc()
        with known_span():
            counter.labels("b").inc(exemplar={"job": "j-7"})
            counter.labels("c").inc(exemplar={"job": "x" * 500})
        assert exemplars(registry) == {"jobs_total{'kind': 'b'}": {"job": "j-7"}}
        assert [samples(registry)["jobs_total", (("kind", k),)].value for k in "abc"] == [1, 1, 1]

    def test_negative_amount_raises_like_prometheus_client(
        self, registry: CollectorRegistry
    ) -> None:
        """A negative increment is the caller's error in prometheus_client too."""
        counter = tracelog.metrics.Counter("jobs", "j", registry=registry)
        with pytest.raises(ValueError, match="non-negative"):
            counter.inc(-1)


class TestSingleProcess:
    """Without multiprocess mode the registry given is served as it is, and nothing is warned."""

    def test_no_warning_and_the_registry_as_given(self, registry: CollectorRegistry) -> None:
        """Without PROMETHEUS_MULTIPROC_DIR nothing is warned, and the registry is served."""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tracelog.metrics.Counter("a", "a", registry=registry).inc()
            app = tracelog.metrics.make_wsgi_app(registry)
            tracelog.metrics.make_asgi_app(registry)
        _, _, body = call_wsgi(app, None)
        assert "a_total 1.0" in body.splitlines()


OPENMETRICS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def _observed_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    with known_span():
        tracelog.metrics.Histogram("h_seconds", "h", registry=registry).observe(0.3)
    return registry


def call_wsgi(app: Any, accept: str | None) -> tuple[str, dict[str, str], str]:
    """Call a WSGI app with an Accept header; return status, headers and body."""
    from wsgiref.util import setup_testing_defaults

    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    if accept is not None:
        environ["HTTP_ACCEPT"] = accept
    started: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.update(status=status, headers=dict(headers))

    body = b"".join(app(environ, start_response)).decode()
    return started["status"], started["headers"], body


class TestExposition:
    """The exposition apps and server negotiate OpenMetrics with prometheus_client."""

    def test_wsgi_serves_openmetrics_with_exemplars_to_prometheus(self) -> None:
        """Prometheus's Accept header gets OpenMetrics 1.0.0, exemplars included, parseable."""
        app = tracelog.metrics.make_wsgi_app(_observed_registry())
        status, headers, body = call_wsgi(app, OPENMETRICS_ACCEPT)
        assert status == "200 OK"
        assert headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
        (family,) = text_string_to_metric_families(body)
        with_exemplar = [s for s in family.samples if s.exemplar is not None]
        assert [dict(s.exemplar.labels) for s in with_exemplar] == [EXEMPLAR]  # type: ignore[union-attr]

    @pytest.mark.parametrize("accept", [None, "text/plain;version=0.0.4", "*/*"])
    def test_wsgi_serves_classic_text_otherwise(self, accept: str | None) -> None:
        """A scraper that does not ask for OpenMetrics gets the classic format (no exemplars)."""
        app = tracelog.metrics.make_wsgi_app(_observed_registry())
        _, headers, body = call_wsgi(app, accept)
        assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert 'h_seconds_bucket{le="0.5"} 1.0' in body
        assert "trace_id" not in body
        assert "# EOF" not in body

    def test_exposition_negotiates_as_the_apps_do(self) -> None:
        """exposition(): OpenMetrics with the exemplar for Prometheus, classic text otherwise."""
        registry = _observed_registry()
        body, content_type = tracelog.metrics.exposition(OPENMETRICS_ACCEPT, registry)
        assert content_type.startswith("application/openmetrics-text; version=1.0.0")
        (family,) = text_string_to_metric_families(body.decode())
        with_exemplar = [s for s in family.samples if s.exemplar is not None]
        assert [dict(s.exemplar.labels) for s in with_exemplar] == [EXEMPLAR]  # type: ignore[union-attr]
        body, content_type = tracelog.metrics.exposition(None, registry)
        assert content_type == "text/plain; version=0.0.4; charset=utf-8"
        assert b'h_seconds_bucket{le="0.5"} 1.0' in body
        assert b"trace_id" not in body

    def test_asgi_negotiates_the_same_way(self) -> None:
        """The ASGI app serves OpenMetrics with exemplars to Prometheus's Accept header."""
        app = tracelog.metrics.make_asgi_app(_observed_registry())
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/metrics",
            "query_string": b"",
            "headers": [(b"accept", OPENMETRICS_ACCEPT.encode())],
        }
        asyncio.run(app(scope, receive, send))
        headers = dict(sent[0]["headers"])
        assert headers[b"Content-Type"].startswith(b"application/openmetrics-text")
        body = sent[1]["body"].decode()
        assert f'trace_id="{TRACE_HEX}"' in body
        assert list(text_string_to_metric_families(body))

    def test_start_http_server_on_loopback(self) -> None:
        """start_http_server(port, addr=) serves the registry; OpenMetrics when asked for it."""
        registry = _observed_registry()
        server, thread = tracelog.metrics.start_http_server(0, addr="127.0.0.1", registry=registry)
        try:
            port = server.server_port
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/metrics", headers={"Accept": OPENMETRICS_ACCEPT}
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                content_type = response.headers["Content-Type"]
                body = response.read().decode()
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
        assert content_type.startswith("application/openmetrics-text")
        assert f'span_id="{SPAN_HEX}"' in body
        assert not thread.is_alive()
