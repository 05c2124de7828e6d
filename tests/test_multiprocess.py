"""Multiprocess mode: every process's counts (prometheus_client's) and exemplars (tracelog's).

The in-process tests switch prometheus_client into multiprocess mode the way
its own tests do (``values.ValueClass = MultiProcessValue()``), in a fresh
directory; the others run real processes: several writers, a fork after the
metrics were made, a writer killed with SIGKILL, a writer that never stops
while the files are read.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from prometheus_client.values import MultiProcessValue

import tracelog._errors
import tracelog._instruments
import tracelog.metrics
from tests.conftest import SPAN_HEX, TRACE_HEX, known_span
from tests.test_metrics import OPENMETRICS_ACCEPT, call_wsgi
from tracelog import _exemplar_file, _exemplar_merge, _multiprocess

EXEMPLAR = {"trace_id": TRACE_HEX, "span_id": SPAN_HEX}
SampleKey = tuple[str, tuple[tuple[str, str], ...]]


@pytest.fixture
def directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """prometheus_client in multiprocess mode in this process, in a fresh directory."""
    path = tmp_path / "multiproc"
    path.mkdir()
    exemplars = _exemplar_file._File()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(path))
    monkeypatch.setattr(prometheus_client.values, "ValueClass", MultiProcessValue())
    monkeypatch.setattr(_exemplar_file, "_file", exemplars)
    monkeypatch.setattr(_multiprocess, "_merged", None)
    monkeypatch.setattr(tracelog._instruments, "_warned_multiprocess", False)
    yield path
    monkeypatch.undo()
    if exemplars._file is not None:
        exemplars._file.close()
    # prometheus_client keeps the files of a MultiProcessValue class open until they are
    # collected (0.20 has no way to close them): collect them here, not in a later test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def scrape(app: Any = None) -> dict[SampleKey, Sample]:
    """Every sample of one OpenMetrics scrape of *app* (default: make_wsgi_app())."""
    status, headers, body = call_wsgi(app or tracelog.metrics.make_wsgi_app(), OPENMETRICS_ACCEPT)
    assert status == "200 OK"
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def exemplars(samples: dict[SampleKey, Sample]) -> dict[str, tuple[dict[str, str], float]]:
    """Sample (name and labels) -> its exemplar's labels and value, where it has one."""
    return {
        f"{name}{dict(labels)}": (dict(sample.exemplar.labels), sample.exemplar.value)
        for (name, labels), sample in samples.items()
        if sample.exemplar is not None
    }


def exemplar_file(directory: Path) -> Path:
    """This process's exemplar file."""
    return directory / f"exemplars_{os.getpid()}.tracelog"


def slot_positions(path: Path, sample: str) -> list[int]:
    """Where the slots of *sample*'s first series start, in the file: two per bucket."""
    data = path.read_bytes()
    used = int.from_bytes(data[4:8], "little")
    for key, offset, pairs in _exemplar_file.entries(data, used):
        if key.startswith(f'["{sample}"'):
            return [offset + n * _exemplar_file.SLOT for n in range(2 * pairs)]
    raise AssertionError(f"no series {sample} in {path}")


class TestOneProcess:
    """In this process, in multiprocess mode: exemplars go to its file and come back merged."""

    def test_bucket_and_counter_exemplars_are_served(self, directory: Path) -> None:
        """observe() and inc() in a sampled span: their exemplars, values and times are served."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", ["route"], registry=None)
        counter = tracelog.metrics.Counter("jobs", "j", registry=None)
        before = time.time()
        with known_span():
            histogram.labels("/a").observe(0.3)
            counter.inc(2)
        after = time.time()
        got = scrape()
        assert exemplars(got) == {
            "h_seconds_bucket{'le': '0.5', 'route': '/a'}": (EXEMPLAR, 0.3),
            "jobs_total{}": (EXEMPLAR, 2.0),
        }
        assert got["h_seconds_count", (("route", "/a"),)].value == 1
        assert got["jobs_total", ()].value == 2
        stamp = got["h_seconds_bucket", (("le", "0.5"), ("route", "/a"))].exemplar
        assert stamp is not None
        assert before <= float(stamp.timestamp) <= after  # type: ignore[arg-type]
        assert exemplar_file(directory).exists()

    def test_unsampled_and_no_span_leave_none_and_replace_none(self, directory: Path) -> None:
        """Counted, without exemplar; an unsampled observation keeps the sampled one's exemplar."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=None)
        histogram.observe(0.3)
        assert exemplars(scrape()) == {}
        with known_span():
            histogram.observe(0.3)
        with known_span(trace_id=0xABC, sampled=False):
            histogram.observe(0.3)
        got = scrape()
        assert exemplars(got) == {"h_seconds_bucket{'le': '0.5'}": (EXEMPLAR, 0.3)}
        assert got["h_seconds_count", ()].value == 3

    def test_explicit_exemplars_checked_and_kept_whole(self, directory: Path) -> None:
        """exemplar= wins; 128 characters of 4-byte UTF-8 and escapes survive; bad ones drop."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", ["case"], registry=None)
        widest = {"n": "\U0001d11e" * 127}  # 128 characters, 508 bytes of UTF-8
        odd = {"note": 'say "hi"\\ \n bye', "x": ""}
        with known_span():
            histogram.labels("widest").observe(0.3, exemplar=widest)
            histogram.labels("odd").observe(0.3, exemplar=odd)
            histogram.labels("long").observe(0.3, exemplar={"note": "x" * 200})
            histogram.labels("bad").observe(0.3, exemplar={"not a name": "v"})
        got = scrape()
        assert exemplars(got) == {
            "h_seconds_bucket{'case': 'widest', 'le': '0.5'}": (widest, 0.3),
            "h_seconds_bucket{'case': 'odd', 'le': '0.5'}": (odd, 0.3),
        }
        assert [got["h_seconds_count", (("case", c),)].value for c in ("long", "bad")] == [1, 1]

    def test_nan_is_counted_as_prometheus_client_counts_it(self, directory: Path) -> None:
        """NaN lands in no bucket, so it gets no exemplar; the sum is NaN as prometheus_client's."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=None)
        with known_span():
            histogram.observe(math.nan)
        samples = {s.name: s for f in _merged().collect() for s in f.samples}
        assert math.isnan(samples["h_seconds_sum"].value)
        assert samples["h_seconds_count"].value == 0
        assert all(s.exemplar is None for s in samples.values())

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        st.lists(
            st.floats(allow_nan=False) | st.sampled_from([0.005, 0.25, 10.0, math.inf]),
            min_size=1,
            max_size=20,
        )
    )
    def test_same_counts_as_prometheus_client_and_the_last_exemplar(
        self, directory: Path, values: list[float]
    ) -> None:
        """Any values: prometheus_client's own counts; each bucket's exemplar is its last value."""
        series = f"s{time.monotonic_ns()}"  # the directory outlives one example
        traced = tracelog.metrics.Histogram(
            "h", "h", ["s"], registry=None, buckets=(0.005, 0.25, 10)
        )
        plain = prometheus_client.Histogram(
            "p", "p", ["s"], registry=None, buckets=(0.005, 0.25, 10)
        )
        spans = [(0x1000 + n, 0x2000 + n) for n in range(len(values))]
        for value, (trace_id, span_id) in zip(values, spans, strict=True):
            with known_span(trace_id, span_id):
                traced.labels(series).observe(value)
                plain.labels(series).observe(value)
        got = {  # collected, not scraped: the text parser refuses negative sums
            (s.name, tuple(sorted(s.labels.items()))): s
            for family in _merged().collect()
            for s in family.samples
            if s.labels.get("s") == series
        }
        ours = {(n[1:], labels): repr(s.value) for (n, labels), s in got.items() if n[0] == "h"}
        theirs = {(n[1:], labels): repr(s.value) for (n, labels), s in got.items() if n[0] == "p"}
        assert ours == theirs
        last_in: dict[str, tuple[float, tuple[int, int]]] = {}
        for value, span in zip(values, spans, strict=True):
            bound = next(b for b in (0.005, 0.25, 10.0, math.inf) if value <= b)
            last_in["+Inf" if bound == math.inf else str(bound)] = (value, span)
        assert {
            dict(labels)["le"]: (dict(s.exemplar.labels), s.exemplar.value)
            for (name, labels), s in got.items()
            if name == "h_bucket" and s.exemplar is not None
        } == {
            le: ({"trace_id": f"{t:032x}", "span_id": f"{s:016x}"}, value)
            for le, (value, (t, s)) in last_in.items()
        }

    def test_a_torn_slot_serves_the_exemplar_before_it(self, directory: Path) -> None:
        """A slot whose CRC fails is never served: its pair's other slot is, then none at all."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=None)
        with known_span(trace_id=0xA, span_id=0xA):
            histogram.observe(0.3)  # bucket 0.5: its pair's first slot
        with known_span():
            histogram.observe(0.4)  # the same bucket: the second slot
        path = exemplar_file(directory)
        index = 7  # 0.5 is the eighth default bound
        first, second = slot_positions(path, "h_seconds_bucket")[2 * index : 2 * index + 2]
        assert exemplars(scrape()) == {"h_seconds_bucket{'le': '0.5'}": (EXEMPLAR, 0.4)}

        def damage(position: int) -> None:
            with path.open("r+b") as file:
                file.seek(position + 30)  # a byte of the labels
                byte = file.read(1)
                file.seek(position + 30)
                file.write(bytes([byte[0] ^ 0x20]))

        damage(second)
        older = {"trace_id": f"{0xA:032x}", "span_id": f"{0xA:016x}"}
        assert exemplars(scrape()) == {"h_seconds_bucket{'le': '0.5'}": (older, 0.3)}
        damage(first)
        got = scrape()
        assert exemplars(got) == {}
        assert got["h_seconds_count", ()].value == 2

    def test_exemplars_outside_their_bucket_or_over_128_are_dropped(self, directory: Path) -> None:
        """Written past the checks (by hand into the file), invalid exemplars are not served."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=None)
        histogram.observe(0.3)
        slots = _exemplar_file.slots("h_seconds_bucket", {}, histogram._upper_bounds)
        slots.write(7, 0.3, EXEMPLAR)  # bucket (0.25, 0.5]: valid
        slots.write(0, 0.3, EXEMPLAR)  # bucket (-inf, 0.005]: 0.3 is not in it
        slots.write(1, 0.007, {"note": "x" * 200})  # bucket (0.005, 0.01], labels too long
        assert exemplars(scrape()) == {"h_seconds_bucket{'le': '0.5'}": (EXEMPLAR, 0.3)}

    def test_files_that_are_not_exemplar_files_are_skipped(self, directory: Path) -> None:
        """Garbage, truncated or foreign files named like exemplar files do not stop a scrape."""
        histogram = tracelog.metrics.Histogram("h_seconds", "h", registry=None)
        with known_span():
            histogram.observe(0.3)
        (directory / "exemplars_1.tracelog").write_bytes(b"TLX1\xff\xff\xff\x7fgarbage")
        (directory / "exemplars_2.tracelog").write_bytes(os.urandom(5000))
        (directory / "exemplars_3.tracelog").write_bytes(b"")
        truncated = exemplar_file(directory).read_bytes()[:3000]
        (directory / "exemplars_4.tracelog").write_bytes(truncated)
        assert exemplars(scrape()) == {"h_seconds_bucket{'le': '0.5'}": (EXEMPLAR, 0.3)}

    def test_asgi_and_the_metrics_server_serve_the_merge(self, directory: Path) -> None:
        """make_asgi_app() and start_http_server() serve the directory's counts and exemplars."""
        with known_span():
            tracelog.metrics.Counter("jobs", "j", registry=None).inc()
        asgi = tracelog.metrics.make_asgi_app()
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
        asyncio.run(asgi(scope, receive, send))
        assert f'jobs_total 1.0 # {{span_id="{SPAN_HEX}",trace_id="{TRACE_HEX}"}} 1.0' in (
            sent[1]["body"].decode()
        )
        server, thread = tracelog.metrics.start_http_server(0, addr="127.0.0.1")
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{server.server_port}/metrics",
                headers={"Accept": OPENMETRICS_ACCEPT},
            )
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(request, timeout=10) as response:
                body = response.read().decode()
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
        assert f'jobs_total 1.0 # {{span_id="{SPAN_HEX}",trace_id="{TRACE_HEX}"}} 1.0' in body

    def test_a_missing_directory_fails_fast_naming_it(
        self, directory: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """make_wsgi_app() in multiprocess mode without its directory: a clear error at once."""
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory / "gone"))
        with pytest.raises(ValueError, match="not a directory: create it"):
            tracelog.metrics.make_wsgi_app()


def _merged() -> CollectorRegistry:
    registry = CollectorRegistry()
    tracelog.metrics.MultiProcessCollector(registry)
    return registry


class TestRegistries:
    """Registries given to the exposition helpers in multiprocess mode."""

    def test_tracelogs_collector_serves_exemplars_unwarned(self, directory: Path) -> None:
        """A registry with tracelog.metrics.MultiProcessCollector: exemplars, no warning."""
        with known_span():
            tracelog.metrics.Counter("jobs", "j", registry=None).inc()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            app = tracelog.metrics.make_wsgi_app(_merged())
        assert exemplars(scrape(app)) == {"jobs_total{}": (EXEMPLAR, 1.0)}

    def test_prometheus_clients_collector_is_warned_once(self, directory: Path) -> None:
        """Its own MultiProcessCollector drops exemplars: one MultiprocessExemplarWarning."""
        with known_span():
            tracelog.metrics.Counter("jobs", "j", registry=None).inc()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        with pytest.warns(
            tracelog.metrics.MultiprocessExemplarWarning, match="drops exemplars"
        ) as warned:
            app = tracelog.metrics.make_wsgi_app(registry)
        assert [w.filename for w in warned] == [__file__]  # it names the caller's line
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tracelog.metrics.make_asgi_app(registry)
        got = scrape(app)
        assert (got["jobs_total", ()].value, got["jobs_total", ()].exemplar) == (1.0, None)

    def test_warnings_as_errors_are_reported_instead(self, directory: Path) -> None:
        """Under -W error the warning goes to the tracelog logger; the app is still made."""
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            app = tracelog.metrics.make_wsgi_app(registry)
        assert callable(app)
        assert any("MultiProcessCollector" in key for key in tracelog._errors.error_counts())


def run_python(code: str, directory: Path, *args: str) -> subprocess.Popen[str]:
    """Start *code* in a new Python in multiprocess mode in *directory*; stdout piped."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(process: subprocess.Popen[str]) -> str:
    """Wait for *process* (killing its group if it lingers); its stdout, after it succeeded."""
    try:
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    assert process.returncode == 0, err
    return out


# Observes in a span with the trace and span IDs given as arguments: a worker of its own.
WORKER = """
    import sys
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
    import tracelog.metrics

    histogram = tracelog.metrics.Histogram("h_seconds", "h", ["route"])
    trace_id, value, route = int(sys.argv[1], 16), float(sys.argv[2]), sys.argv[3]
    context = SpanContext(trace_id, trace_id, False, TraceFlags(TraceFlags.SAMPLED))
    with trace.use_span(NonRecordingSpan(context)):
        histogram.labels(route).observe(value)
        tracelog.metrics.http_metrics()[1].labels("GET", route, "200").inc()
"""


def ids(trace_id: int) -> dict[str, str]:
    """The exemplar labels of the WORKER's span with *trace_id*."""
    return {"trace_id": f"{trace_id:032x}", "span_id": f"{trace_id:016x}"}


class TestProcesses:
    """Real processes writing the same directory."""

    def test_every_process_counts_and_the_newest_exemplar_wins(self, directory: Path) -> None:
        """Three processes: counts add up; a shared bucket shows the last one's exemplar."""
        runs = ((1, "0.3", "/shared"), (2, "0.35", "/shared"), (3, "0.45", "/shared"))
        for number, value, route in (*runs, (4, "0.02", "/own")):
            finish(run_python(WORKER, directory, f"{number:x}", value, route))
        got = scrape()
        assert got["h_seconds_count", (("route", "/shared"),)].value == 3
        requests = ("http_server_requests_total", (("method", "GET"), ("status_code", "200")))
        assert (
            got[requests[0], (*requests[1][:1], ("route", "/shared"), *requests[1][1:])].value == 3
        )
        assert exemplars(got) == {
            "h_seconds_bucket{'le': '0.5', 'route': '/shared'}": (ids(3), 0.45),
            "h_seconds_bucket{'le': '0.025', 'route': '/own'}": (ids(4), 0.02),
            "http_server_requests_total{'method': 'GET', 'route': '/shared', 'status_code':"
            " '200'}": (ids(3), 1.0),
            "http_server_requests_total{'method': 'GET', 'route': '/own', 'status_code': '200'}": (
                ids(4),
                1.0,
            ),
        }
        assert len(list(directory.glob("exemplars_*.tracelog"))) == 4

    def test_buckets_that_differ_between_processes_bound_each_exemplar(
        self, directory: Path
    ) -> None:
        """Processes bucketing a series differently: each exemplar must fit its merged bucket."""
        code = """
            import sys
            from opentelemetry import trace
            from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
            import tracelog.metrics

            trace_id, value = int(sys.argv[1], 16), float(sys.argv[2])
            buckets = [float(b) for b in sys.argv[3].split(",")]
            histogram = tracelog.metrics.Histogram("h_seconds", "h", buckets=buckets)
            context = SpanContext(trace_id, trace_id, False, TraceFlags(TraceFlags.SAMPLED))
            with trace.use_span(NonRecordingSpan(context)):
                histogram.observe(value)
        """
        finish(run_python(code, directory, "a", "0.7", "0.5,1.0"))  # in (0.5, 1.0]
        finish(run_python(code, directory, "b", "0.3", "1.0"))  # newer, in its (-inf, 1.0]
        got = scrape()
        assert [got["h_seconds_bucket", (("le", le),)].value for le in ("0.5", "1.0")] == [0, 2]
        # 0.3 is below the merged bucket (0.5, 1.0]: the older exemplar that fits is served.
        assert exemplars(got) == {"h_seconds_bucket{'le': '1.0'}": (ids(0xA), 0.7)}

    def test_a_fork_writes_its_own_file(self, directory: Path) -> None:
        """Metrics made before a fork (gunicorn --preload): the child writes a file of its own."""
        out = finish(
            run_python(
                """
                import os
                from opentelemetry import trace
                from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
                import tracelog.metrics

                def span(n):
                    context = SpanContext(n, n, False, TraceFlags(TraceFlags.SAMPLED))
                    return trace.use_span(NonRecordingSpan(context))

                histogram = tracelog.metrics.Histogram("h_seconds", "h")
                with span(0xA):
                    histogram.observe(0.3)
                child = os.fork()
                if child == 0:
                    with span(0xB):
                        histogram.observe(0.02)
                    os._exit(0)
                os.waitpid(child, 0)
                print(os.getpid(), child)
                """,
                directory,
            )
        )
        parent, child = out.split()
        per_file = {}
        for pid in (parent, child):
            alone = directory / f"only-{pid}"
            alone.mkdir()
            (alone / f"exemplars_{pid}.tracelog").write_bytes(
                (directory / f"exemplars_{pid}.tracelog").read_bytes()
            )
            per_file[pid] = {
                dict(labels)["le"]: dict(e.labels)["trace_id"]
                for (_, labels), e in _exemplar_merge.latest(str(alone)).items()
            }
        assert per_file == {parent: {"0.5": f"{0xA:032x}"}, child: {"0.025": f"{0xB:032x}"}}
        got = scrape()
        assert got["h_seconds_count", ()].value == 2
        assert set(exemplars(got)) == {
            "h_seconds_bucket{'le': '0.5'}",
            "h_seconds_bucket{'le': '0.025'}",
        }

    def test_a_process_killed_with_sigkill_keeps_its_counts_and_last_exemplars(
        self, directory: Path
    ) -> None:
        """SIGKILL after its last observation: the count and the last exemplar stay served."""
        process = run_python(
            """
            import sys, time
            from opentelemetry import trace
            from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
            import tracelog.metrics

            counter = tracelog.metrics.Counter("jobs", "j")
            for n in range(1, 501):
                context = SpanContext(n, n, False, TraceFlags(TraceFlags.SAMPLED))
                with trace.use_span(NonRecordingSpan(context)):
                    counter.inc()
            print("done", flush=True)
            time.sleep(600)
            """,
            directory,
        )
        try:
            assert process.stdout is not None
            assert process.stdout.readline() == "done\n"
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        got = scrape()
        assert (got["jobs_total", ()].value, exemplars(got)) == (
            500,
            {"jobs_total{}": (ids(500), 1.0)},
        )

    def test_files_read_while_written_never_serve_a_torn_exemplar(self, directory: Path) -> None:
        """A process writing without pause, read 100 times: every exemplar is one it wrote."""
        process = run_python(
            """
            from opentelemetry import trace
            from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
            import tracelog.metrics

            histogram = tracelog.metrics.Histogram("h_seconds", "h", buckets=(1.0,))
            counter = tracelog.metrics.Counter("jobs", "j")
            print("writing", flush=True)
            n = 0
            while True:  # value n / 1e6 and trace n: each exemplar names its own value
                n += 1
                context = SpanContext(n, n, False, TraceFlags(TraceFlags.SAMPLED))
                with trace.use_span(NonRecordingSpan(context)):
                    histogram.observe((n % 900_000) / 1e6)
                    counter.inc(n % 900_000)
            """,
            directory,
        )
        try:
            assert process.stdout is not None
            assert process.stdout.readline() == "writing\n"
            seen = set()
            for _ in range(100):
                for sample in scrape().values():
                    if sample.exemplar is not None:
                        labels = sample.exemplar.labels
                        number = int(labels["trace_id"], 16)
                        assert labels["span_id"] == f"{number:016x}"
                        expected = number % 900_000
                        scale = 1e6 if sample.name == "h_seconds_bucket" else 1
                        assert round(sample.exemplar.value * scale) == expected
                        seen.add(number)
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        assert len(seen) > 10  # read as it was written, not once at the end


class TestGunicornSetUp:
    """What importing tracelog.gunicorn does to a process (gunicorn's master imports it)."""

    def run(self, code: str, env: dict[str, str]) -> list[str]:
        """Run *code* in a new Python with *env* (no PROMETHEUS_MULTIPROC_DIR unless given)."""
        base = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            env={**base, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    def test_unset_makes_a_private_directory_removed_at_exit(self) -> None:
        """No PROMETHEUS_MULTIPROC_DIR: an empty private one, set for children, gone at exit."""
        made, empty = self.run(
            """
            import os
            import tracelog.gunicorn
            path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
            print(path)
            print(os.listdir(path))
            """,
            {},
        )
        assert Path(made).name.startswith("tracelog-prometheus-")
        assert empty == "[]"
        assert not Path(made).exists()

    def test_a_directory_given_is_made_if_missing_and_kept(self, tmp_path: Path) -> None:
        """PROMETHEUS_MULTIPROC_DIR set: that directory, made when missing, left at exit."""
        given = tmp_path / "metrics"
        (path,) = self.run(
            """
            import os
            import tracelog.gunicorn
            print(os.environ["PROMETHEUS_MULTIPROC_DIR"])
            """,
            {"PROMETHEUS_MULTIPROC_DIR": str(given)},
        )
        assert path == str(given)
        assert given.is_dir()

    def test_prometheus_client_imported_first_still_writes_files(self) -> None:
        """prometheus_client loaded before the set-up: its next values go to the files."""
        (files,) = self.run(
            """
            import os
            import prometheus_client
            import tracelog.gunicorn
            prometheus_client.Counter("jobs", "Jobs.").inc()
            files = os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])
            print(sorted(name.split("_")[0] for name in files))
            """,
            {},
        )
        assert files == "['counter']"

    @pytest.mark.skipif(os.geteuid() != 0, reason="changing a directory's owner needs root")
    def test_the_directory_is_handed_to_the_workers_user(self) -> None:
        """The private directory goes to the workers' user and group (gunicorn's on_starting)."""
        (owner,) = self.run(
            """
            import os
            import tracelog.gunicorn
            from tracelog import _multiprocess_setup
            _multiprocess_setup.hand_directory_to(65534, 65534)
            stat = os.stat(os.environ["PROMETHEUS_MULTIPROC_DIR"])
            print(stat.st_uid, stat.st_gid)
            """,
            {},
        )
        assert owner == "65534 65534"
