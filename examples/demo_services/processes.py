"""The launcher's side: service processes started, and stopped whatever happens.

Each service runs in a process group of its own, so a terminal's Ctrl-C
reaches only the launcher, which then stops them in order (SIGTERM: they
flush their spans; SIGKILL if one lingers). Ctrl-C while a process is being
started is held back until the launcher knows it, so none is left behind.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

START_TIMEOUT = 30.0  # seconds for a service to start listening
STOP_TIMEOUT = 5.0  # seconds a service gets to flush and exit before it is killed


class Signals:
    """SIGINT and SIGTERM raise KeyboardInterrupt, except inside `held`: then at its end."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._holding = False
        self._pending = False

    def install(self) -> None:
        """Handle SIGINT and SIGTERM from now on."""
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        if self._holding:
            self._pending = True
            return
        raise KeyboardInterrupt

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold signals back in the block; raise at its end if one came."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
            pending, self._pending = self._pending, False
            if pending:
                raise KeyboardInterrupt


class Service:
    """One service process; `url` is set once it listens."""

    def __init__(self, script: Path, name: str, output: Path, downstream: str | None) -> None:
        self.name = name
        command = [sys.executable, str(script), "serve", name, "--output", str(output)]
        if downstream is not None:
            command += ["--downstream", downstream]
        # stdin stays open while we run: its end tells the service we are gone.
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, process_group=0
        )
        self.url = ""

    def wait_ready(self) -> None:
        """Wait for the service's ``ready PORT`` line, `START_TIMEOUT` seconds at most.

        Raises:
            RuntimeError: it exited, said something else or took too long (it is
                left running: `stop` ends it).
        """
        # Read by hand, not readline(): a service that prints half a line and
        # hangs must not hang the launcher.
        fd = self.process.stdout.fileno()  # type: ignore[union-attr]
        timeout = START_TIMEOUT
        deadline = time.monotonic() + timeout
        line = b""
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in line:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise RuntimeError(f"{self.name} did not start within {timeout:g} s")
                chunk = os.read(fd, 256)
                if not chunk:  # it closed its stdout: it has exited, or soon will
                    try:
                        status = f"exit status {self.process.wait(STOP_TIMEOUT)}"
                    except subprocess.TimeoutExpired:
                        status = "it closed its output"
                    raise RuntimeError(f"{self.name} failed to start ({status})")
                line += chunk
        words = line.split(b"\n", 1)[0].split()
        if len(words) != 2 or words[0] != b"ready" or not words[1].isdigit():
            raise RuntimeError(f"{self.name} failed to start: it printed {line[:200]!r}")
        self.url = f"http://127.0.0.1:{int(words[1])}"

    def stop(self) -> None:
        """SIGTERM (the service flushes its spans and exits), then SIGKILL if it lingers."""
        try:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:  # it ended meanwhile
            self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


class Fleet:
    """The services the launcher started, stopped together by `stop`."""

    def __init__(self, script: Path, output: Path, signals: Signals) -> None:
        self._script = script
        self._output = output
        self._signals = signals
        self.services: dict[str, Service] = {}

    def start(self, name: str, downstream: str | None = None) -> Service:
        """Start service *name* and wait until it listens."""
        with self._signals.held():  # known to `stop` before Ctrl-C can cut in
            service = self.services[name] = Service(self._script, name, self._output, downstream)
        service.wait_ready()
        return service

    def stop(self) -> None:
        """Stop every service, last started first; Ctrl-C meanwhile is raised once all are."""
        with self._signals.held():
            for service in reversed(self.services.values()):
                service.stop()
