"""Framework servers run for real: a command in a process group of its own, always stopped.

The server (gunicorn, uvicorn, a Celery worker, Redis) is started with its
output in files; `Running.stop` sends SIGTERM to its whole process group (the
workers too) and waits, as a process manager would; whatever happens, the
group is killed on the way out, so a failing test leaves nothing running.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests._prometheus import OPENER, wait_for

BIN = Path(sys.executable).parent
OPENMETRICS = "application/openmetrics-text; version=1.0.0"
# Variables that would send spans elsewhere, rename the service or sample differently.
OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "PROMETHEUS_MULTIPROC_DIR",
)


def server_env(directory: Path, **variables: str) -> dict[str, str]:
    """This environment without OpenTelemetry settings, *directory* importable, plus *variables*."""
    env = {key: value for key, value in os.environ.items() if key not in OTEL_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(directory), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.update(variables)
    return env


def request(
    method: str, url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request, directly (no proxy): status, headers and body, error statuses too."""
    prepared = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with OPENER.open(prepared, timeout=20) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def answers(url: str) -> Callable[[], bool]:
    """A readiness probe: whether *url* answers at all."""

    def probe() -> bool:
        try:
            request("GET", url)
        except OSError:
            return False
        return True

    return probe


def traceparent(trace_id: str, parent_id: str) -> str:
    """A sampled W3C traceparent."""
    return f"00-{trace_id}-{parent_id}-01"


@dataclass
class Running:
    """A server started by `running`."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        """What it wrote to stdout and stderr so far."""
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def records(self) -> list[dict[str, Any]]:
        """Every line of its stdout and stderr, each parsed as a JSON object (or the test fails)."""
        records = []
        for path in (self.stdout, self.stderr):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                try:
                    record = json.loads(line)
                except ValueError:
                    pytest.fail(f"{path.name}:{number} is not JSON: {line[:300]!r}")
                assert isinstance(record, dict), line
                records.append(record)
        return records

    def alive(self) -> bool:
        """Whether it still runs (fails the test, with its output, if it died)."""
        if self.process.poll() is not None:
            pytest.fail(
                f"{self.process.args!r} exited with {self.process.returncode}:\n"
                + self.output()[-4000:]
            )
        return True

    def stop(self) -> int:
        """SIGTERM its process group, wait for it (20 s), then kill; its exit status."""
        if self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            try:
                return self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(self.process, signal.SIGKILL)
        return self.process.wait(timeout=20)


def _signal_group(process: subprocess.Popen[bytes], number: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, number)


def children(pid: int) -> set[int]:
    """The live child processes of *pid*."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def _catches(pid: int, number: int) -> bool:
    """Whether process *pid* has a handler of its own for signal *number* (SigCgt)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (number - 1) & 1)
    return False


def gunicorn_booted(master: int, workers: int) -> bool:
    """Whether the gunicorn *master* has *workers* workers, each past its own signal set-up.

    A worker still booting runs the master's handlers, under which a SIGTERM
    is queued for nobody: it lives on, and gunicorn waits its graceful_timeout
    (30 s) before it kills it. The worker sets SIGHUP, which the master
    catches, back to the default when it sets its own handlers up.
    """
    pids = children(master)
    return len(pids) >= workers and not any(_catches(pid, signal.SIGHUP) for pid in pids)


def gunicorn_worker_count(command: list[str]) -> int:
    """How many workers a gunicorn command line starts (``-w N``, ``--workers N``; else 1)."""
    for flag, value in itertools.pairwise(command):
        if flag in ("-w", "--workers"):
            return int(value)
    for argument in command:
        if argument.startswith("--workers="):
            return int(argument.partition("=")[2])
    return 1


@contextmanager
def running(
    command: list[str],
    *,
    directory: Path,
    env: dict[str, str],
    ready: Callable[[], bool],
    name: str = "server",
    timeout: float = 90,
    gunicorn: bool = False,
) -> Iterator[Running]:
    """Start *command* in *directory*, wait until *ready*; stop its whole group on the way out.

    A *gunicorn* command is also waited for until every worker has booted
    (`gunicorn_booted`), so that the SIGTERM which stops it stops them all.
    """
    stdout, stderr = directory / f"{name}.out", directory / f"{name}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            command,
            cwd=directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group: workers are stopped with it
        )
    server = Running(process, stdout, stderr)
    try:
        workers = gunicorn_worker_count(command) if gunicorn else 0
        wait_for(
            lambda: (
                server.alive()
                and ready()
                and (not gunicorn or gunicorn_booted(process.pid, workers))
            ),
            timeout=timeout,
            failure=lambda: f"{command!r} not ready within {timeout} s:\n{server.output()[-4000:]}",
        )
        yield server
    finally:
        server.stop()
        # Whatever the group's leader did, nothing of the group outlives the test.
        _signal_group(process, signal.SIGKILL)


DOCS = Path(__file__).resolve().parents[1] / "docs"


def docs_text() -> str:
    """Every page of the manual (docs/), one after another: its headings are unique."""
    pages = sorted(DOCS.rglob("*.md"))
    return "\n".join(page.read_text(encoding="utf-8") for page in pages)


def readme_blocks(heading: str) -> list[str]:
    """The code blocks of the manual's section under *heading* (to the next heading), in order."""
    text = docs_text()
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    following = [text.find(marker, start) for marker in ("\n## ", "\n### ")]
    end = min([index for index in following if index >= 0] or [len(text)])
    section = text[start:end]
    blocks = []
    for part in section.split("```")[1::2]:
        _, _, code = part.partition("\n")  # after the language tag
        blocks.append(code)
    return blocks


def shell_command(line: str, port: int) -> tuple[list[str], dict[str, str]]:
    """A README command line: its arguments, and the ``NAME=value`` variables in front of it.

    Port 8000 becomes *port*, and the program the one in this venv.
    """
    words = shlex.split(line.replace(":8000", f":{port}").replace("--port 8000", f"--port {port}"))
    variables = {}
    while words and "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        variables[name] = value
    return [str(BIN / words[0]), *words[1:]], variables


def spans_of(receiver: Any) -> list[Any]:
    """Every span an OTLP receiver (tests.test_examples.OTLPReceiver) was sent."""
    return [
        span
        for export in receiver.exports
        for resources in export.resource_spans
        for scope in resources.scope_spans
        for span in scope.spans
    ]
