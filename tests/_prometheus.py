"""A real Prometheus for tests: found, started on a free port, waited for, stopped.

Needs Debian's ``prometheus`` binary (``.ci/run`` installs it). Without it the
tests that use it skip, unless ``TRACELOG_REQUIRE_PROMETHEUS`` is set (as
``.ci/run`` does), which makes the missing binary a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler

import pytest

REQUIRE = "TRACELOG_REQUIRE_PROMETHEUS"
# Direct connections only: a proxy from the environment must not see loopback traffic.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def binary() -> str:
    """The prometheus binary; skip without it, or fail when the environment requires it."""
    found = shutil.which("prometheus")
    if found is None:
        message = "the prometheus binary is not installed (Debian: apt-get install prometheus)"
        if os.environ.get(REQUIRE):
            pytest.fail(f"{REQUIRE} is set but {message}")
        pytest.skip(message)
    return found


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(condition: Callable[[], bool], *, timeout: float, failure: Callable[[], str]) -> None:
    """Poll *condition* until it holds, or fail after *timeout* seconds saying what was awaited."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(failure())
        time.sleep(0.1)


def get(url: str, headers: dict[str, str] | None = None) -> bytes:
    """GET *url* directly (no proxy), returning the body."""
    with OPENER.open(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
        body: bytes = response.read()
        return body


class QuietHandler(WSGIRequestHandler):
    """wsgiref's handler without its per-request stderr line."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Prometheus:
    """A real Prometheus scraping one target every second, exemplar storage on or off."""

    def __init__(
        self, binary: str, directory: Path, target_port: int, *, exemplar_storage: bool = True
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = directory / "prometheus.yml"
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "scrape_configs:\n"
            "  - job_name: app\n"
            "    static_configs:\n"
            f"      - targets: ['127.0.0.1:{target_port}']\n"
        )
        (directory / "data").mkdir()
        self.log = directory / "prometheus.log"
        features = ["--enable-feature=exemplar-storage"] if exemplar_storage else []
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    *features,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def log_tail(self) -> str:
        """The end of Prometheus's own log, for failure messages."""
        return self.log.read_text(errors="replace")[-3000:]

    def ready(self) -> bool:
        """Whether Prometheus answers /-/ready (fails the test if it died)."""
        if self.process.poll() is not None:
            pytest.fail(f"prometheus exited with {self.process.returncode}:\n{self.log_tail()}")
        try:
            get(f"{self.url}/-/ready")
        except OSError:
            return False
        return True

    def query_exemplars(self, query: str, start: float, end: float) -> list[dict[str, Any]]:
        """GET /api/v1/query_exemplars, the API Grafana calls to show exemplars."""
        params = urllib.parse.urlencode({"query": query, "start": start, "end": end})
        answer = json.loads(get(f"{self.url}/api/v1/query_exemplars?{params}"))
        assert answer["status"] == "success", answer
        data: list[dict[str, Any]] = answer["data"]
        return data

    def stop(self) -> None:
        """Terminate Prometheus and wait for it; kill it if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


@contextmanager
def running(
    directory: Path, target_port: int, *, exemplar_storage: bool = True
) -> Iterator[Prometheus]:
    """A ready Prometheus scraping *target_port*; always stopped afterwards."""
    server = Prometheus(binary(), directory, target_port, exemplar_storage=exemplar_storage)
    try:
        wait_for(
            server.ready,
            timeout=60,
            failure=lambda: f"prometheus not ready within 60 s:\n{server.log_tail()}",
        )
        yield server
    finally:
        server.stop()
    assert server.process.returncode is not None
