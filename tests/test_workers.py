"""Several worker processes, one set of metrics: real gunicorn and uvicorn, a real Prometheus.

gunicorn runs ``tests/_workers_app.py`` with ``-w 3 -c python:tracelog.gunicorn``
and Prometheus (exemplar storage on) scrapes it every second. Requests are
sent in batches, some sampled, some not; between batches the test waits for a
scrape, and halfway one worker is killed with SIGKILL. Every scrape's request
counter must equal the requests sent by then (exactly, for a scrape taken
between batches), ``increase()`` over the run must equal them all, and the
exemplars must come from several workers, each naming a sampled trace with log
lines. Needs Debian's ``prometheus`` binary (see ``tests/_prometheus.py``).
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests._prometheus import Prometheus, free_port, get, running, wait_for
from tests._servers import children, gunicorn_booted
from tests.test_readme_scale import snippet
from tracelog._doctor import Status, run
from tracelog._doctor._http import Answer, get_at_once

ROOT = Path(__file__).resolve().parents[1]
ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
SERIES = 'http_server_requests_total{method="GET",route="/orders/{id}",status_code="200"}'
BATCHES, PER_BATCH, KILL_AFTER = 6, 50, 3
STOP_TIMEOUT = 30
# Seconds allowed between the clocks of a scrape and of a request (Prometheus may move a
# scrape's timestamp by up to 2 ms to align it to the interval).
MARGIN = 0.05


def without_multiprocess_dir() -> dict[str, str]:
    """This environment without PROMETHEUS_MULTIPROC_DIR (so tracelog.gunicorn makes one)."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")
    }


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, wait; SIGKILL it if it lingers (and fail)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)
        pytest.fail(f"{process.args!r} did not stop within {STOP_TIMEOUT} s of SIGTERM")
    finally:
        with contextlib.suppress(ProcessLookupError):  # workers left by a master that died
            os.killpg(process.pid, signal.SIGKILL)


@dataclass
class Server:
    """A pre-fork server of the workers app on a free loopback port."""

    process: subprocess.Popen[bytes]
    port: int
    logs: Path
    stderr: Path
    workers: int
    workers_of: Callable[[int], set[int]]  # the worker pids, from the started process's pid

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> None:
        """Fail the test if the server exited."""
        if self.process.poll() is not None:
            pytest.fail(
                f"the server exited with {self.process.returncode}:\n"
                + self.stderr.read_text(errors="replace")[-3000:]
            )

    def ready(self) -> bool:
        """Whether every worker has the application (it marks itself ready) and /metrics answers.

        A worker counted among the master's children may still be importing the
        application, and then its siblings answer every request; under gunicorn
        it may not have its own signal handlers yet (`gunicorn_booted`).
        """
        self.alive()
        pids = self.worker_pids()
        if len(pids) < self.workers or not all(
            (self.logs / f"ready-{pid}").exists() for pid in pids
        ):
            return False
        if self.workers_of is gunicorn_workers and not gunicorn_booted(
            self.process.pid, self.workers
        ):
            return False
        try:
            get(f"{self.url}/metrics")
        except OSError:
            return False
        return True

    def worker_pids(self) -> set[int]:
        """The live worker processes."""
        return self.workers_of(self.process.pid)

    def directory(self) -> str:
        """The multiprocess directory: where the workers' memory-mapped metric files are."""
        for pid in self.worker_pids():
            for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
                path = line.split(maxsplit=5)[-1]
                if path.endswith((".db", ".tracelog")):
                    return os.path.dirname(path)
        raise AssertionError("no worker maps a metrics file")

    def logged(self) -> dict[str, tuple[int, list[dict[str, Any]]]]:
        """Per trace ID: the worker that logged it, and its lines."""
        found: dict[str, tuple[int, list[dict[str, Any]]]] = {}
        for path in self.logs.glob("app-*.jsonl"):
            pid = int(path.stem.split("-")[1])
            for line in path.read_text().splitlines():
                record = json.loads(line)
                if record.get("logger") == "workers.orders":
                    found.setdefault(record["trace_id"], (pid, []))[1].append(record)
        return found


def command_line(pid: int) -> str:
    """The command line of *pid* ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def gunicorn_workers(master: int) -> set[int]:
    """The workers of gunicorn: its master's children."""
    return children(master)


def uvicorn_workers(shell: int) -> set[int]:
    """The workers of uvicorn under the recipe's shell: its supervisor's spawned children."""
    return {
        worker
        for supervisor in children(shell)
        if "uvicorn" in command_line(supervisor)
        for worker in children(supervisor)
        if "spawn_main" in command_line(worker)
    }


def start(
    command: list[str],
    directory: Path,
    *,
    port: int,
    workers: int,
    workers_of: Callable[[int], set[int]],
) -> Server:
    """Start a pre-fork server in its own process group and wait until every worker answers."""
    logs = directory / "logs"
    logs.mkdir(exist_ok=True)
    logs.chmod(0o777)  # workers may run as another user (gunicorn --user)
    stderr = directory / f"server-{time.monotonic_ns()}.err"
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**without_multiprocess_dir(), "WORKERS_LOG_DIR": str(logs)},
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process, port, logs, stderr, workers, workers_of)
    try:
        wait_for(server.ready, timeout=90, failure=lambda: "the server did not answer in 90 s")
    except BaseException:
        stop(process)
        raise
    return server


def gunicorn(
    directory: Path, *, workers: int = 3, config: bool = True, user: str | None = None
) -> Server:
    """A real ``gunicorn -w N [-c python:tracelog.gunicorn]`` serving the WSGI app."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    if config:
        command += ["-c", "python:tracelog.gunicorn"]
    if user is not None:
        # --preload: the application is imported as root, so workers of a user who may not
        # read this Python (pyenv's, under /root) run it; they still write their own files.
        group = grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
        command += ["--preload", "--user", user, "--group", group]
    return start(
        [*command, "tests._workers_app:app"],
        directory,
        port=port,
        workers=workers,
        workers_of=gunicorn_workers,
    )


def request(port: int, path: str, traceparent: str) -> bytes:
    """GET over HTTP/1.0, read to the end: the worker has closed the connection (and counted)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(
            f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\ntraceparent: {traceparent}\r\n\r\n".encode()
        )
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split()[1] == b"200", head
    return body


def scrape(url: str) -> dict[str, Any]:
    """One OpenMetrics scrape: the request counter's value and every exemplar's trace ID."""
    body = get(f"{url}/metrics", {"Accept": ACCEPT}).decode()
    value = None
    traces = set()
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == "http_server_requests_total":
                value = sample.value
            if sample.exemplar is not None:
                traces.add(sample.exemplar.labels["trace_id"])
    return {"requests": value, "traces": traces, "alive": _alive(body)}


def _alive(body: str) -> float | None:
    for family in text_string_to_metric_families(body):
        if family.name == "workers_alive":
            return sum(sample.value for sample in family.samples)
    return None


@dataclass
class Run:
    """What the test sent, and when."""

    sampled: set[str] = field(default_factory=set)
    unsampled: set[str] = field(default_factory=set)
    spans: list[tuple[float, float]] = field(default_factory=list)  # start, end of each request

    def send(self, server: Server, number: int) -> None:
        """Request *number*: every third unsampled, delays spread over the buckets."""
        sampled = number % 3 != 0
        trace_id = f"{'5a' if sampled else '0f'}{number:030x}"
        (self.sampled if sampled else self.unsampled).add(trace_id)
        traceparent = f"00-{trace_id}-{number + 1:016x}-{'01' if sampled else '00'}"
        started = time.time()
        request(server.port, f"/orders/{number}?ms={(number % 5) * 6}", traceparent)
        self.spans.append((started, time.time()))

    def sent_by(self, moment: float, *, started: bool) -> int:
        """Requests finished (or, *started*, begun) before *moment*."""
        return sum(1 for start, end in self.spans if (start if started else end) < moment)


def range_query(prometheus: Prometheus, query: str, at: float) -> list[tuple[float, float]]:
    """The raw samples of a range selector at *at*: (time, value); one series, or none yet."""
    params = urllib.parse.urlencode({"query": query, "time": at})
    answer = json.loads(get(f"{prometheus.url}/api/v1/query?{params}"))
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    assert len(result) <= 1, result
    return [(float(t), float(v)) for series in result for t, v in series["values"]]


def instant(prometheus: Prometheus, query: str, at: float) -> float:
    """The single value of an instant query at *at*."""
    params = urllib.parse.urlencode({"query": query, "time": at})
    answer = json.loads(get(f"{prometheus.url}/api/v1/query?{params}"))
    assert answer["status"] == "success", answer
    (result,) = answer["data"]["result"]
    return float(result["value"][1])


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory for the module's servers."""
    return tmp_path_factory.mktemp("workers")


@pytest.fixture(scope="module")
def served(module_dir: Path) -> Iterator[tuple[Server, Prometheus]]:
    """The ``gunicorn -w 3 -c python:tracelog.gunicorn`` and the Prometheus scraping it."""
    server = gunicorn(module_dir)
    try:
        (module_dir / "prometheus").mkdir()
        with running(module_dir / "prometheus", server.port) as prometheus:
            yield server, prometheus
    finally:
        stop(server.process)


def test_gunicorn_workers_one_set_of_metrics_with_exemplars(
    served: tuple[Server, Prometheus],
) -> None:
    """Counts right at every scrape, through a SIGKILL; exemplars of several workers' traces."""
    server, prometheus = served
    directory = server.directory()
    assert Path(directory).name.startswith("tracelog-prometheus-")
    sent = Run()
    quiet: list[tuple[float, int]] = []  # (time after a batch, requests sent by then)

    def scraped_since(moment: float) -> Callable[[], bool]:
        """Whether Prometheus scraped after *moment*, that scrape over by the margin."""

        def check() -> bool:
            server.alive()
            now = time.time()
            durations = dict(range_query(prometheus, 'scrape_duration_seconds{job="app"}[1m]', now))
            return any(
                t > moment and t + durations.get(t, 1.0) + 2 * MARGIN < now
                for t, _ in range_query(prometheus, f"{SERIES}[1m]", now)
            )

        return check

    wait_for(scraped_since(time.time()), timeout=60, failure=lambda: "no scrape in 60 s")
    killed: dict[str, Any] = {}
    number = 0
    for batch in range(BATCHES):
        for _ in range(PER_BATCH):
            number += 1
            sent.send(server, number)
        done = time.time()
        # Between batches: the test's own scrapes, each by whichever worker accepts.
        for _ in range(6):
            assert scrape(server.url)["requests"] == number
        if batch + 1 == KILL_AFTER:
            killed.update(kill_a_worker_showing_an_exemplar(server))
        wait_for(scraped_since(done + MARGIN), timeout=60, failure=lambda: "no scrape in 60 s")
        quiet.append((done, number))

    end = time.time()
    samples = range_query(prometheus, f"{SERIES}[10m]", end)
    durations = dict(range_query(prometheus, 'scrape_duration_seconds{job="app"}[10m]', end))
    exact = 0
    for moment, value in samples:
        took = durations.get(moment, 1.0)
        low = sent.sent_by(moment - MARGIN, started=False)
        high = sent.sent_by(moment + took + MARGIN, started=True)
        assert low <= value <= high, (moment, value, low, high)
        exact += low == high
    assert exact >= BATCHES
    for done, total in quiet:  # between each batch and the next, a scrape saw exactly the total
        assert any(t > done and value == total for t, value in samples), (done, total)
    assert samples[0][1] == 0
    assert samples[-1][1] == number == BATCHES * PER_BATCH
    last = samples[-1][0]
    window = f"[{int(last - samples[0][0]) + 60}s]"
    assert instant(prometheus, f"resets({SERIES}{window})", last) == 0
    assert instant(prometheus, f"increase({SERIES}{window})", last) == pytest.approx(
        number, abs=1e-9
    )

    logged = server.logged()
    assert set(logged) == sent.sampled | sent.unsampled  # every request logged, with its trace
    query = '{__name__=~"http_server_request_duration_seconds_bucket|http_server_requests_total"}'
    params = urllib.parse.urlencode({"query": query, "start": samples[0][0] - 60, "end": end + 60})
    answer = json.loads(get(f"{prometheus.url}/api/v1/query_exemplars?{params}"))
    found = [e for series in answer["data"] for e in series["exemplars"]]
    traces = {e["labels"]["trace_id"] for e in found}
    assert traces
    assert traces <= sent.sampled
    assert not traces & sent.unsampled
    for exemplar in found:
        _, lines = logged[exemplar["labels"]["trace_id"]]
        assert [line["span_id"] for line in lines] == [exemplar["labels"]["span_id"]]
    workers = {logged[trace][0] for trace in traces}
    assert len(workers) > 1, workers
    assert killed["pid"] not in server.worker_pids()
    # The killed worker's own exemplars were still served after it died.
    assert killed["traces"] & killed["after"]


def kill_a_worker_showing_an_exemplar(server: Server) -> dict[str, Any]:
    """SIGKILL a worker whose exemplar is served; its counts and exemplars must stay."""
    before = scrape(server.url)
    logged = server.logged()
    owners = {logged[trace][0] for trace in before["traces"] if trace in logged}
    live = server.worker_pids()
    victim = min(owners & live)
    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:
        server.alive()
        pids = server.worker_pids()
        return victim not in pids and len(pids) == server.workers

    wait_for(replaced, timeout=60, failure=lambda: "gunicorn did not replace the killed worker")
    after = scrape(server.url)
    assert after["requests"] == before["requests"]
    assert after["traces"] == before["traces"]
    # child_exit marked it dead: its live gauge left the sum, the new worker's joined it.
    wait_for(
        lambda: scrape(server.url)["alive"] == server.workers,
        timeout=30,
        failure=lambda: f"workers_alive is {scrape(server.url)['alive']}, not {server.workers}",
    )
    mine = {trace for trace, (pid, _) in logged.items() if pid == victim}
    return {"pid": victim, "traces": mine, "after": after["traces"]}


def test_doctor_finds_the_gunicorn_workers_merged(served: tuple[Server, Prometheus]) -> None:
    """Doctor, against the merged /metrics, sees no flapping between the workers."""
    server, _ = served
    report = run(in_process=False, metrics_url=f"{server.url}/metrics", timeout=10)
    assert report["metrics-processes"].status is Status.OK, str(report)


def test_the_private_directory_is_removed_at_exit(tmp_path: Path) -> None:
    """The directory tracelog.gunicorn made, fresh at start, is removed when gunicorn exits."""
    server = gunicorn(tmp_path, workers=2)
    try:
        directory = Path(server.directory())
        # Only this gunicorn's workers' files are in it (a worker may still be starting).
        files = list(directory.iterdir())
        assert files
        assert {int(path.stem.rsplit("_", 1)[1]) for path in files} <= server.worker_pids()
        assert {path.name.split("_")[0] for path in files} == {
            "counter",
            "gauge",
            "histogram",
            "exemplars",
        }
    finally:
        stop(server.process)
    assert server.process.returncode == 0
    assert not directory.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="gunicorn --user needs root")
def test_workers_of_another_user_write_their_files() -> None:
    """Run as root with --user nobody, the workers can write in the private directory."""
    shared = Path(tempfile.mkdtemp(prefix="tracelog-test-"))  # not under pytest's 0700 tmp
    try:
        shared.chmod(0o777)
        server = gunicorn(shared, workers=2, user="nobody")
        try:
            for number in range(1, 21):
                request(server.port, f"/orders/{number}", f"00-{number:032x}-{number:016x}-01")
            assert {Path(f"/proc/{pid}").stat().st_uid for pid in server.worker_pids()} == {
                pwd.getpwnam("nobody").pw_uid
            }
            got = scrape(server.url)
        finally:
            stop(server.process)
        assert got["requests"] == 20
        assert got["traces"]
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_doctor_names_workers_without_multiprocess_mode(tmp_path: Path) -> None:
    """Plain gunicorn -w 3 (no -c): doctor sees scrapes flap between workers and says the fix."""
    server = gunicorn(tmp_path, config=False)
    try:
        for number in range(1, 31):
            request(server.port, f"/orders/{number}", f"00-{number:032x}-{number:016x}-01")
        report = run(in_process=False, metrics_url=f"{server.url}/metrics", timeout=10)
    finally:
        stop(server.process)
    check = report["metrics-processes"]
    assert check.status is Status.PROBLEM, str(report)
    assert "several processes answer /metrics" in check.finding
    assert check.fix is not None
    assert "-c python:tracelog.gunicorn" in check.fix
    assert "start_http_server" not in check.fix  # it would fail with EADDRINUSE per worker


def test_uvicorn_workers_recipe(tmp_path: Path) -> None:
    """The README's uvicorn --workers recipe, as pasted: one set of counts, then no directory."""
    recipe = snippet("#### uvicorn `--workers` and other pre-fork servers", "sh")
    port = free_port()
    assert "uvicorn shop:app --workers 4\n" in recipe
    script = recipe.replace(
        "uvicorn shop:app --workers 4\n",
        f"{sys.executable} -m uvicorn tests._workers_app:asgi_app --workers 2"
        f" --host 127.0.0.1 --port {port}\n",
    )
    server = start(
        ["bash", "-c", script], tmp_path, port=port, workers=2, workers_of=uvicorn_workers
    )
    try:
        directory = Path(server.directory())
        sent = Run()
        number = 0
        # Until both workers have handled requests (the kernel picks the worker).
        while number < 400 and len({pid for pid, _ in server.logged().values()}) < 2:
            number += 1
            sent.send(server, number)
        assert len({pid for pid, _ in server.logged().values()}) == 2
        for _ in range(6):  # whichever worker answers: every worker's requests
            got = wait_counted(server, number)
            assert got["traces"]
            assert got["traces"] <= sent.sampled
    finally:
        stop(server.process)
    assert not directory.exists()  # the recipe's trap removed it


def wait_counted(server: Server, number: int) -> dict[str, Any]:
    """A scrape once it counts *number* requests (an ASGI response is counted as it ends)."""
    got: dict[str, Any] = {}

    def counted() -> bool:
        got.update(scrape(server.url))
        assert got["requests"] <= number
        return bool(got["requests"] == number)

    wait_for(counted, timeout=30, failure=lambda: f"counted {got.get('requests')}, not {number}")
    return got


def test_doctor_scrapes_at_once_reach_every_idle_worker(tmp_path: Path) -> None:
    """Doctor's rounds of scrapes, connections made before requests, go to several workers."""
    server = gunicorn(tmp_path, config=False)
    try:
        rounds = []
        for _ in range(4):
            answers = get_at_once(f"{server.url}/orders/0", 3, timeout=10)
            assert all(isinstance(answer, Answer) for answer in answers), answers
            rounds.append({answer.body for answer in answers if isinstance(answer, Answer)})
        pids = server.worker_pids()
    finally:
        stop(server.process)
    assert {f"ok {pid}".encode() for pid in pids} == set().union(*rounds)
    assert [len(answered) for answered in rounds] == [3] * 4
