"""A real Celery worker on a real Redis broker, set up as the README says.

Redis is Debian's ``redis-server``, started here on a free loopback port (a
broker users run; ``.ci/run`` installs it and sets TRACELOG_REQUIRE_REDIS=1,
which turns a missing binary into a failure). The README's tasks.py and
worker command run as written (the broker's port changed); a caller with
OpenTelemetry's Celery instrumentation sends tasks from inside spans of known
trace IDs. Every line the worker writes must be JSON; a task's lines must
carry its trace; a failed task's span gets one ``exception`` event.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests._prometheus import free_port, wait_for
from tests._servers import BIN, readme_blocks, running, server_env, shell_command, spans_of
from tests.test_examples import OTLPReceiver

REQUIRE = "TRACELOG_REQUIRE_REDIS"
CHARGED, FAILED = "c4" * 16, "d5" * 16
PARENT = "e6" * 8

FAILING_TASK = """

class PaymentError(Exception):
    pass


@app.task
def refund(order_id: str) -> None:
    logging.getLogger("tasks").warning("refunding", extra={"order_id": order_id})
    raise PaymentError("card declined")
"""

CALLER = f"""\
from opentelemetry import trace
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import tasks

trace.set_tracer_provider(TracerProvider())
CeleryInstrumentor().instrument()
for trace_id, task in (({CHARGED!r}, tasks.charge), ({FAILED!r}, tasks.refund)):
    caller = SpanContext(int(trace_id, 16), int({PARENT!r}, 16), True, TraceFlags(1))
    with trace.use_span(NonRecordingSpan(caller)):
        task.delay("A-1")
"""


def redis_server() -> str:
    """Debian's redis-server; skip without it, or fail when the environment requires it."""
    found = shutil.which("redis-server")
    if found is None:
        message = "redis-server is not installed (Debian: apt-get install redis-server)"
        if os.environ.get(REQUIRE):
            pytest.fail(f"{REQUIRE} is set but {message}")
        pytest.skip(message)
    return found


def pong(port: int) -> bool:
    """Whether Redis answers PING on *port*."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class Run:
    """One run of the worker: what it wrote and exported."""

    records: list[dict[str, Any]]
    spans: list[Any]
    exit_status: int


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Redis, the README's worker and two tasks sent from inside known traces; then stopped."""
    binary = redis_server()
    directory = tmp_path_factory.mktemp("celery")
    broker_port = free_port()
    redis = [binary, "--port", str(broker_port), "--bind", "127.0.0.1", "--save", ""]
    tasks, command_line = readme_blocks("### Celery")[:2]
    assert "redis://127.0.0.1:6379/0" in tasks
    (directory / "tasks.py").write_text(tasks.replace(":6379/", f":{broker_port}/") + FAILING_TASK)
    (directory / "caller.py").write_text(CALLER)
    command, variables = shell_command(command_line.strip(), broker_port)
    receiver = OTLPReceiver()
    env = server_env(
        directory,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_BSP_SCHEDULE_DELAY="100",
        # CI runs as root: Celery warns of it on stderr before logging is set up
        # (a deployment runs the worker as a user of its own).
        PYTHONWARNINGS="ignore:You're running the worker with superuser privileges",
        **variables,
    )
    try:
        with (
            running(
                redis, directory=directory, env=env, ready=lambda: pong(broker_port), name="redis"
            ),
            running(
                command,
                directory=directory,
                env=env,
                ready=lambda: " ready." in (directory / "worker.out").read_text(),
                name="worker",
            ) as worker,
        ):
            sent = subprocess.run(
                [str(BIN / "python"), "caller.py"],
                cwd=directory,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert sent.returncode == 0, sent.stderr
            wait_for(
                lambda: (
                    "raised unexpected" in worker.output() and "succeeded in" in worker.output()
                ),
                timeout=60,
                failure=lambda: f"the tasks did not run:\n{worker.output()[-4000:]}",
            )
            wait_for(
                lambda: {CHARGED, FAILED} <= {span.trace_id.hex() for span in spans_of(receiver)},
                timeout=30,
                failure=lambda: "the task spans were not exported",
            )
            exit_status = worker.stop()
            records = worker.records()
        yield Run(records, spans_of(receiver), exit_status)
    finally:
        receiver.close()


def of_trace(run: Run, trace_id: str) -> list[tuple[str, str, str]]:
    """(logger, level, message) of each line carrying *trace_id*, in order."""
    return [
        (record["logger"], record["level"], record["message"])
        for record in run.records
        if record.get("trace_id") == trace_id
    ]


class TestCeleryWorker:
    """The README's Celery worker, on Redis."""

    def test_every_line_is_json_once(self, run: Run) -> None:
        """The worker's own lines are JSON (records() checks), none written twice."""
        assert run.exit_status == 0
        messages = [record["message"] for record in run.records]
        assert any(message.startswith("Connected to redis://") for message in messages)
        assert any(message.endswith(" ready.") for message in messages)
        # Printed by Celery as text; a record through tracelog.celery.
        assert messages[-1] == "worker: Warm shutdown (MainProcess)"
        lines = [json.dumps(record, sort_keys=True) for record in run.records]
        assert len(lines) == len(set(lines))
        assert {record.get("service.name") for record in run.records} == {"worker"}
        assert not [r for r in run.records if r["logger"] == "tracelog"]

    def test_task_lines_carry_the_task_trace(self, run: Run) -> None:
        """The task's own lines and Celery's succeeded/raised lines carry the caller's trace."""
        charged = of_trace(run, CHARGED)
        assert charged[0] == ("tasks", "info", "charging")
        assert charged[1][:2] == ("celery.app.trace", "info")
        assert "succeeded in" in charged[1][2]
        assert len(charged) == 2
        failed = of_trace(run, FAILED)
        assert failed[0] == ("tasks", "warning", "refunding")
        assert failed[1][:2] == ("celery.app.trace", "error")
        assert "raised unexpected: PaymentError('card declined')" in failed[1][2]
        assert len(failed) == 2
        (raised,) = [r for r in run.records if "raised unexpected" in r["message"]]
        assert (raised["exception.type"], raised["exception.message"]) == (
            "tasks.PaymentError",
            "card declined",
        )

    def test_a_failed_task_has_one_exception_event(self, run: Run) -> None:
        """The instrumentation's exception event, and no second one from the raised line."""
        (span,) = [
            s for s in run.spans if s.trace_id.hex() == FAILED and s.name == "run/tasks.refund"
        ]
        assert [event.name for event in span.events] == ["refunding", "exception"]
