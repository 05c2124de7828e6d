"""FastAPI under the real uvicorn CLI with --workers 2, set up as the README says.

The README's app module and its two commands (the dictConfig saved as JSON,
then ``uvicorn --workers 2 --log-config``) run as written, on a free port;
routes that log, fail and are missing are the test's. Every line the
supervisor and the workers write must be JSON; each request's lines (the
app's, the access line, the traceback of a failure) must carry its trace ID.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tracelog
from tests._prometheus import free_port, wait_for
from tests._servers import (
    BIN,
    answers,
    readme_blocks,
    request,
    running,
    server_env,
    shell_command,
    spans_of,
    traceparent,
)
from tests.test_examples import OTLPReceiver

ORDER, MISSING, BOOM = "4d" * 16, "5e" * 16, "6f" * 16
PARENT = "a1" * 8

ROUTES = """

import logging

from fastapi import HTTPException

log = logging.getLogger("shop.api")


@api.get("/orders/{order_id}")
async def order(order_id: int) -> dict[str, int]:
    log.info("order loaded", extra={"order_id": order_id})
    return {"order_id": order_id}


@api.get("/missing")
async def missing() -> None:
    raise HTTPException(status_code=404, detail="no such item")


@api.get("/boom")
async def boom() -> None:
    log.warning("charging")
    raise RuntimeError("card declined")
"""


@dataclass
class Run:
    """One run of uvicorn --workers 2: what it wrote and exported."""

    records: list[dict[str, Any]]
    spans: list[Any]
    statuses: dict[str, int]
    exit_status: int


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The README's app under uvicorn --workers 2, sent one request per case, then stopped."""
    directory = tmp_path_factory.mktemp("uvicorn")
    app, commands = readme_blocks("### FastAPI and uvicorn")[:2]
    (directory / "shop").mkdir()
    (directory / "shop" / "__init__.py").write_text("")
    (directory / "shop" / "app.py").write_text(app + ROUTES)
    save, serve = commands.strip().splitlines()
    receiver = OTLPReceiver()
    port = free_port()
    command, variables = shell_command(serve, port)
    assert "--workers" in command
    env = server_env(
        directory,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_BSP_SCHEDULE_DELAY="100",
        PATH=f"{BIN}:/usr/bin:/bin",
        **variables,
    )
    saved = subprocess.run(
        ["bash", "-c", save], cwd=directory, env=env, capture_output=True, text=True, check=False
    )
    assert (saved.returncode, saved.stderr) == (0, ""), saved.stderr
    url = f"http://127.0.0.1:{port}"
    try:
        with running(command, directory=directory, env=env, ready=answers(f"{url}/missing")) as srv:
            statuses = {}
            for path, trace_id in (("/orders/3", ORDER), ("/missing", MISSING), ("/boom", BOOM)):
                status, _, _ = request(
                    "GET", url + path, {"traceparent": traceparent(trace_id, PARENT)}
                )
                statuses[path] = status
            wait_for(
                lambda: (
                    {span.trace_id.hex() for span in spans_of(receiver)} >= {ORDER, MISSING, BOOM}
                ),
                timeout=30,
                failure=lambda: "the request spans were not exported",
            )
            exit_status = srv.stop()
            records = srv.records()
        yield Run(records, spans_of(receiver), statuses, exit_status)
    finally:
        receiver.close()


def of_trace(run: Run, trace_id: str) -> list[tuple[str, str, str]]:
    """(logger, level, message) of each line carrying *trace_id*, in order."""
    return [
        (record["logger"], record["level"], record["message"])
        for record in run.records
        if record.get("trace_id") == trace_id
    ]


class TestUvicornWorkers:
    """uvicorn's CLI, two workers, logging from tracelog.logging_config() saved as JSON."""

    def test_supervisor_and_workers_write_json_once(self, run: Run) -> None:
        """Supervisor and worker lines are JSON (records() checks), none twice, none coloured."""
        assert run.statuses == {"/orders/3": 200, "/missing": 404, "/boom": 500}
        messages = [record["message"] for record in run.records]
        assert any(message.startswith("Started parent process") for message in messages)
        assert sum(message.startswith("Started server process") for message in messages) == 2
        assert not [record for record in run.records if "color_message" in record]
        lines = [tuple(sorted(record.items())) for record in run.records]
        assert len(lines) == len(set(lines))
        assert {record.get("service.name") for record in run.records} == {"shop"}
        assert not [r for r in run.records if r["logger"] == "tracelog"]  # nothing to warn of

    def test_each_request_line_carries_its_trace(self, run: Run) -> None:
        """App lines, access lines and the traceback of a failure carry the request's trace."""
        order = of_trace(run, ORDER)
        assert order[0] == ("shop.api", "info", "order loaded")
        assert [m for logger, _, m in order if logger == "uvicorn.access"] == [
            m for _, _, m in order[1:]
        ]
        assert len(order) == 2
        assert order[1][2].endswith('"GET /orders/3 HTTP/1.1" 200')

        (missing,) = of_trace(run, MISSING)
        assert missing[0] == "uvicorn.access"
        assert missing[2].endswith('"GET /missing HTTP/1.1" 404')

        boom = of_trace(run, BOOM)
        assert [(logger, level) for logger, level, _ in boom] == [
            ("shop.api", "warning"),
            ("uvicorn.access", "info"),
            ("uvicorn.error", "error"),
        ]
        assert boom[1][2].endswith('"GET /boom HTTP/1.1" 500')
        (traceback,) = [r for r in run.records if r["message"].startswith("Exception in ASGI")]
        assert (traceback["trace_id"], traceback["exception.type"]) == (BOOM, "RuntimeError")

    def test_access_lines_are_no_span_events(self, run: Run) -> None:
        """No span gets an access line as event; the failed request's span is an ERROR."""
        names = [event.name for span in run.spans for event in span.events]
        assert not [name for name in names if "HTTP/1.1" in name]
        (server,) = [
            s for s in run.spans if s.trace_id.hex() == BOOM and s.parent_span_id.hex() == PARENT
        ]
        assert server.status.code == server.status.STATUS_CODE_ERROR
        # The traceback is logged after the span ended: a line, not an event.
        assert [event.name for event in server.events] == ["charging"]


def test_the_saved_config_is_the_dict(tmp_path: Path) -> None:
    """The README's first command saves tracelog.logging_config() as JSON, unchanged."""
    save = readme_blocks("### FastAPI and uvicorn")[1].strip().splitlines()[0]
    done = subprocess.run(
        ["bash", "-c", save],
        cwd=tmp_path,
        env=server_env(tmp_path, PATH=f"{BIN}:/usr/bin:/bin"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    saved = json.loads((tmp_path / "logging.json").read_text())
    assert saved == tracelog.logging_config(service_name="shop")
