"""Flask under real gunicorn with two workers, set up as the README says; and a config of one's own.

The README's app.py and gunicorn command run as written (on a free port).
Every line the arbiter and the workers write must be JSON and each request's
lines carry its trace ID. A gunicorn config file of the user's, importing
`tracelog.gunicorn`'s hook, with ``--preload`` and an application that sets
logging up its own way at import (in the arbiter), still gets JSON lines from
the workers: each is set up again after fork.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests._prometheus import free_port
from tests._servers import (
    BIN,
    answers,
    readme_blocks,
    request,
    running,
    server_env,
    shell_command,
    traceparent,
)
from tests.test_examples import OTLPReceiver

ITEM, MISSING, BOOM = "7a" * 16, "8b" * 16, "9c" * 16
PARENT = "b2" * 8

BOOM_ROUTE = """

@app.get("/boom")
def boom() -> str:
    raise RuntimeError("card declined")
"""


def of_trace(records: list[dict[str, Any]], trace_id: str) -> list[tuple[str, str]]:
    """(logger, message) of each line carrying *trace_id*, in order."""
    return [(r["logger"], r["message"]) for r in records if r.get("trace_id") == trace_id]


def serve(directory: Path, command: list[str], variables: dict[str, str], port: int) -> Any:
    """Run gunicorn with *command*, send the three requests, stop it; (records, statuses)."""
    receiver = OTLPReceiver()
    env = server_env(directory, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, **variables)
    url = f"http://127.0.0.1:{port}"
    try:
        with running(
            command, directory=directory, env=env, ready=answers(f"{url}/nope"), gunicorn=True
        ) as srv:
            statuses = {}
            for path, trace_id in (("/items/5", ITEM), ("/nope", MISSING), ("/boom", BOOM)):
                status, _, _ = request(
                    "GET", url + path, {"traceparent": traceparent(trace_id, PARENT)}
                )
                statuses[path] = status
            assert srv.stop() == 0
            return srv, statuses
    finally:
        receiver.close()


def test_readme_flask_app_under_gunicorn_writes_json_with_each_requests_trace(
    tmp_path: Path,
) -> None:
    """Arbiter and workers write JSON only, once; app, error and access lines carry the trace."""
    app, command_line = readme_blocks("### Flask and gunicorn")[:2]
    (tmp_path / "app.py").write_text(app + BOOM_ROUTE)
    port = free_port()
    command, variables = shell_command(command_line.strip(), port)
    assert command[1:3] == ["-c", "python:tracelog.gunicorn"]
    server, statuses = serve(tmp_path, command, variables, port)
    assert statuses == {"/items/5": 200, "/nope": 404, "/boom": 500}
    records = server.records()  # every line JSON
    lines = server.stdout.read_text().splitlines()
    assert len(lines) == len(set(lines))
    assert {r["service.name"] for r in records} == {"shop"}
    booted = [r for r in records if r["message"].startswith("Booting worker with pid")]
    assert len(booted) == 2
    assert [logger for logger, _ in of_trace(records, ITEM)] == ["shop", "gunicorn.access"]
    assert [logger for logger, _ in of_trace(records, MISSING)] == ["gunicorn.access"]
    boom = of_trace(records, BOOM)
    assert [logger for logger, _ in boom] == ["app", "gunicorn.access"]
    assert boom[0][1] == "Exception on /boom [GET]"
    assert '"GET /boom HTTP/1.1" 500' in boom[1][1]
    assert not [r for r in records if r["logger"] == "tracelog"]


def test_own_config_file_with_preload_sets_each_worker_up_again(tmp_path: Path) -> None:
    """An app that sets logging up its way in the arbiter (--preload): workers write JSON still."""
    app = readme_blocks("### Flask and gunicorn")[0]
    # Set up its own way when imported, in the arbiter: tracelog's handler is gone there.
    (tmp_path / "app.py").write_text(
        "import logging\nlogging.basicConfig(force=True)\n" + app + BOOM_ROUTE
    )
    (tmp_path / "gunicorn.conf.py").write_text(
        "import tracelog\n"
        "from tracelog.gunicorn import Logger as logger_class, post_fork\n"
        "\n"
        'logconfig_dict = tracelog.logging_config(service_name="own")\n'
    )
    port = free_port()
    command = [
        str(BIN / "gunicorn"),
        "-c",
        "gunicorn.conf.py",
        "--preload",
        "--workers",
        "2",
        "--bind",
        f"127.0.0.1:{port}",
        "app:app",
    ]
    server, statuses = serve(tmp_path, command, {}, port)
    assert statuses == {"/items/5": 200, "/nope": 404, "/boom": 500}
    records = [
        json.loads(line) for line in server.stdout.read_text().splitlines() if line.startswith("{")
    ]
    assert [logger for logger, _ in of_trace(records, ITEM)] == ["shop", "gunicorn.access"]
    assert [logger for logger, _ in of_trace(records, MISSING)] == ["gunicorn.access"]
    assert {r["service.name"] for r in records if r.get("trace_id")} == {"own"}
    # The arbiter's lines after the app's set-up are its plain ones, and tracelog said why.
    (warning,) = [r for r in records if r["logger"] == "tracelog"]
    assert warning["message"].startswith("tracelog's handler was taken off the root logger")
    assert "INFO:gunicorn.error:Booting worker" in server.stderr.read_text()
