"""`make demo` end to end: three service processes, one trace across them, none left behind."""

from __future__ import annotations

import importlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tracelog.cli import main
from tracelog.query import discover, parse_trace, search

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo.py"
SERVICES = ("gateway", "agent", "tool")
RETRY = "tool call failed, retrying"


class Run(NamedTuple):
    """One finished run of the demo."""

    output: Path
    status: int
    stdout: str
    stderr: str


def demo_processes(output: Path) -> list[int]:
    """Pids of live processes whose command line names *output* (the demo's services do)."""
    if not Path("/proc/self").exists():
        pytest.skip("lists processes through /proc")
    needle = str(output).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # it ended meanwhile
            continue
        if needle in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The demo, run once into a fresh output directory."""
    output = tmp_path_factory.mktemp("demo") / "out"
    done = subprocess.run(
        [sys.executable, str(DEMO), "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Run(output, done.returncode, done.stdout, done.stderr)


def spans(output: Path) -> list[dict[str, Any]]:
    """Every span the services exported, each with its service's name under "service"."""
    found = []
    for service in SERVICES:
        for line in (output / f"spans-{service}.jsonl").read_text().splitlines():
            span = json.loads(line)
            assert span["resource"]["attributes"]["service.name"] == service
            span["service"] = service
            found.append(span)
    return found


def hex_id(value: str) -> str:
    """An ID as the span JSON writes it ("0x..."), as logs write it."""
    assert value.startswith("0x")
    return value[2:]


def printed_trace(run: Run) -> str:
    """The trace ID the demo picked from the exemplar."""
    found = re.search(
        r"http_server_request_duration_seconds:\n  [\d.]+ ms, trace ([0-9a-f]{32})\n", run.stdout
    )
    assert found, run.stdout
    return found[1]


def test_exits_zero_and_leaves_no_process(run: Run) -> None:
    """The demo exits 0 with nothing on stderr, and none of its service processes is running."""
    assert (run.status, run.stderr) == (0, "")
    pids = [int(pid) for pid in re.findall(r"pid (\d+)\n", run.stdout)]
    assert len(pids) == 3
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert demo_processes(run.output) == []


def test_writes_every_file(run: Run) -> None:
    """Each service wrote its JSON log, its span file and its scraped OpenMetrics."""
    names = sorted(path.name for path in run.output.iterdir())
    assert names == sorted(
        kind
        for service in SERVICES
        for kind in (f"{service}.log", f"spans-{service}.jsonl", f"metrics-{service}.txt")
    )
    for service in SERVICES:
        metrics = (run.output / f"metrics-{service}.txt").read_text()
        assert metrics.endswith("# EOF\n")  # OpenMetrics, not the classic format


def test_trace_is_the_slowest_exemplar_and_a_real_trace(run: Run) -> None:
    """The printed trace is the highest-valued latency exemplar, and the gateway span it names."""
    trace_id = printed_trace(run)
    text = (run.output / "metrics-gateway.txt").read_text()
    exemplars = [
        sample.exemplar
        for family in text_string_to_metric_families(text)
        if family.name == "http_server_request_duration_seconds"
        for sample in family.samples
        if sample.exemplar is not None
    ]
    slowest = max(exemplars, key=lambda exemplar: exemplar.value)
    assert slowest.labels["trace_id"] == trace_id
    [server] = [
        span
        for span in spans(run.output)
        if hex_id(span["context"]["span_id"]) == slowest.labels["span_id"]
    ]
    assert (server["service"], server["name"], server["kind"], server["parent_id"]) == (
        "gateway",
        "GET /ask",
        "SpanKind.SERVER",
        None,
    )
    assert hex_id(server["context"]["trace_id"]) == trace_id


def test_the_scrape_counted_every_request(run: Run) -> None:
    """The gateway's metrics were read after every request was counted, so none was missed."""
    text = (run.output / "metrics-gateway.txt").read_text()
    counted = sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "http_server_request_duration_seconds"
        for sample in family.samples
        if sample.name.endswith("_count")
    )
    asked = [
        span
        for span in spans(run.output)
        if (span["service"], span["name"]) == ("gateway", "GET /ask")
    ]
    assert (counted, len(asked)) == (6, 6)


def exemplars(text: str, family_name: str) -> list[tuple[dict[str, str], dict[str, str]]]:
    """(sample labels, exemplar labels) of each exemplar on one metric family."""
    return [
        (dict(sample.labels), dict(sample.exemplar.labels))
        for family in text_string_to_metric_families(text)
        if family.name == family_name
        for sample in family.samples
        if sample.exemplar is not None
    ]


def test_every_exemplar_names_the_span_it_was_recorded_in(run: Run) -> None:
    """Each service's exemplars lead to its own spans: server spans, tool calls, tool runs."""
    by_id = {
        (span["service"], hex_id(span["context"]["span_id"])): span for span in spans(run.output)
    }
    expected = {
        ("gateway", "http_server_request_duration_seconds"): lambda labels: "GET /ask",
        ("agent", "http_server_request_duration_seconds"): lambda labels: "POST /plan",
        ("tool", "http_server_request_duration_seconds"): lambda labels: "POST /tools/",
        ("agent", "agent_tool_call_seconds"): lambda labels: f"tool {labels['tool']}",
        ("tool", "tool_runs"): lambda labels: f"POST /tools/{labels['tool']}",
    }
    for (service, family), name in expected.items():
        text = (run.output / f"metrics-{service}.txt").read_text()
        found = exemplars(text, family)
        assert found, (service, family)
        for labels, exemplar in found:
            span = by_id[(service, exemplar["span_id"])]
            assert hex_id(span["context"]["trace_id"]) == exemplar["trace_id"]
            assert span["name"].startswith(name(labels)), (span["name"], labels)


def test_query_finds_the_trace_in_every_service_log(run: Run) -> None:
    """`tracelog query` on the printed trace finds log lines in all three services' logs."""
    trace_id = printed_trace(run)
    out, err = io.StringIO(), io.StringIO()
    status = main(["query", trace_id, str(run.output), "--format", "json"], stdout=out, stderr=err)
    assert status == 0, err.getvalue()
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    logged = [record for record in records if "message" in record]
    assert {record["trace_id"] for record in logged} == {trace_id}
    assert {record["service.name"] for record in logged} == set(SERVICES)
    found = search(parse_trace(trace_id), discover([str(run.output)], print))
    assert {Path(match.source).name for match in found.matches} == {
        f"{service}.log" for service in SERVICES
    }
    # The demo showed the same query, pretty: a line of each service's.
    for logger, message in (
        ("gateway.http", "question received"),
        ("agent.planner", "plan made"),
        ("demo_services.tool", "tool invoked"),
    ):
        assert re.search(rf"\n\S+ \w+ +INFO +{re.escape(logger)}: {message} ", run.stdout)
    # Then the spans of all three services, the retries among their events.
    for service, name in (
        ("gateway", "GET /ask"),
        ("agent", "POST /plan"),
        ("tool", "POST /tools/"),
    ):
        assert re.search(rf"\n\S+ {service} +SERVER +{re.escape(name)}", run.stdout)
    assert re.search(rf"\n\S+ agent +WARNING +- {RETRY} tool=", run.stdout)


def test_every_printed_command_works_when_pasted(tmp_path: Path) -> None:
    """Each command the demo prints runs from where it ran, in a shell without the venv on PATH."""
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, str(DEMO)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stdout
    shown = re.findall(r"^\$ (.+)$", done.stdout, re.MULTILINE)
    further = done.stdout.split("\nExplore further:\n", 1)[1].splitlines()
    commands = shown + [line.strip() for line in further if not line.strip().startswith("#")]
    assert len(commands) == 6, done.stdout
    for command in commands:
        pasted = subprocess.run(
            command,
            shell=True,  # as pasted into a shell
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (command, pasted.returncode, pasted.stderr) == (command, 0, "")
        assert pasted.stdout, command
    assert (tmp_path / "grafana" / "datasources" / "tracelog.yaml").is_file()


def test_every_retry_is_an_event_on_its_tool_call_span(run: Run) -> None:
    """Each retry log line is a span event, with its fields, on the tool-call span it names."""
    by_id = {hex_id(span["context"]["span_id"]): span for span in spans(run.output)}
    retries = [
        json.loads(line)
        for line in (run.output / "agent.log").read_text().splitlines()
        if json.loads(line)["message"] == RETRY
    ]
    assert retries, "the seeded tool fails some calls, so some are retried"
    for record in retries:
        span = by_id[record["span_id"]]
        assert span["name"] == f"tool {record['tool']}"
        assert hex_id(span["context"]["trace_id"]) == record["trace_id"]
        [event] = [
            event
            for event in span["events"]
            if event["name"] == RETRY and event["attributes"]["attempt"] == record["attempt"]
        ]
        attributes = event["attributes"]
        assert {key: attributes[key] for key in ("tool", "status", "retry_in_ms")} == {
            "tool": record["tool"],
            "status": 503,
            "retry_in_ms": record["retry_in_ms"],
        }
        assert (attributes["log.record.severity_text"], attributes["otel.scope.name"]) == (
            "WARNING",
            "agent.planner",
        )


def test_traceparent_joins_the_three_services_in_one_trace(run: Run) -> None:
    """Each request is one trace over all three services; a server span's parent is its caller's."""
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for span in spans(run.output):
        by_trace.setdefault(span["context"]["trace_id"], []).append(span)
    assert len(by_trace) == 6  # one per question
    for trace_spans in by_trace.values():
        by_id = {span["context"]["span_id"]: span for span in trace_spans}
        assert {span["service"] for span in trace_spans} == set(SERVICES)
        [root] = [span for span in trace_spans if span["parent_id"] is None]
        assert (root["service"], root["name"]) == ("gateway", "GET /ask")
        for span in trace_spans:
            if span is root:
                continue
            parent = by_id[span["parent_id"]]
            if span["kind"] == "SpanKind.SERVER":
                # Across a process: the parent is the caller's client span.
                caller = {"agent": "gateway", "tool": "agent"}[span["service"]]
                assert (parent["service"], parent["kind"], parent["name"]) == (
                    caller,
                    "SpanKind.CLIENT",
                    span["name"],
                )
            else:
                assert parent["service"] == span["service"]


def test_ctrl_c_stops_every_service(tmp_path: Path) -> None:
    """SIGINT to the demo while it starts the services ends it promptly, with none left running."""
    output = tmp_path / "out"
    demo = subprocess.Popen(
        [sys.executable, str(DEMO), "--output", str(output)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert demo.stdout is not None
        assert demo.stdout.readline().startswith("Starting three services")
        deadline = time.monotonic() + 30
        while len(demo_processes(output)) < 2:  # the demo, and the first service starting up
            assert time.monotonic() < deadline, "no service process was started"
            time.sleep(0.01)
        demo.send_signal(signal.SIGINT)
        started = time.monotonic()
        status = demo.wait(timeout=15)
        assert time.monotonic() - started < 10
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert status == 130
    assert demo_processes(output) == []


@pytest.fixture
def processes(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The launcher's process module (examples/demo_services/processes.py)."""
    monkeypatch.syspath_prepend(str(DEMO.parent))
    return importlib.import_module("demo_services.processes")


@pytest.mark.parametrize(
    ("printed", "reason"),
    [
        ("sys.stdout.write('rea')", "did not start within 2 s"),  # half a line, then silence
        ("print('listening on 8000')", "failed to start: it printed b'listening on 8000\\n'"),
    ],
)
def test_a_service_that_never_says_ready_is_given_up(
    processes: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, printed: str, reason: str
) -> None:
    """A service that says something else, or half a line, and hangs fails its start in time."""
    script = tmp_path / "hangs.py"
    script.write_text(f"import sys, time\n{printed}\nsys.stdout.flush()\ntime.sleep(60)\n")
    monkeypatch.setattr(processes, "START_TIMEOUT", 2.0)
    service = processes.Service(script, "tool", tmp_path, None)
    started = time.monotonic()
    try:
        with pytest.raises(RuntimeError) as raised:
            service.wait_ready()
        assert time.monotonic() - started < 10
    finally:
        service.stop()
    assert str(raised.value) == f"tool {reason}"
    assert service.process.returncode == -signal.SIGTERM


def broken_demo(tmp_path: Path, service: str, old: str, new: str) -> Run:
    """Run a copy of the demo whose *service* module has *old* replaced by *new*."""
    examples = tmp_path / "examples"
    shutil.copytree(DEMO.parent / "demo_services", examples / "demo_services")
    shutil.copy(DEMO, examples / "demo.py")
    module = examples / "demo_services" / f"{service}.py"
    text = module.read_text()
    assert old in text
    future = "from __future__ import annotations\n"
    module.write_text(text.replace(old, new, 1).replace(future, future + "import os\n", 1))
    output = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(examples / "demo.py"), "--output", str(output)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Run(output, done.returncode, done.stdout, done.stderr)


def test_a_service_failing_to_start_is_one_error_line(tmp_path: Path) -> None:
    """A service that exits at start: the demo exits 1 with one line, and stops the others."""
    run = broken_demo(tmp_path, "gateway", "LIBRARY = ", "raise SystemExit(3)\nLIBRARY = ")
    assert (run.status, run.stderr) == (
        1,
        "demo: error: gateway failed to start (exit status 3); the services are stopped.\n",
    )
    assert len(re.findall(r"pid \d+\n", run.stdout)) == 2  # tool and agent had started
    assert demo_processes(run.output) == []


def test_a_service_dying_mid_request_is_one_error_line(tmp_path: Path) -> None:
    """The tool service dies on its first call: exit 1 with one line, no process left."""
    run = broken_demo(tmp_path, "tool", '    """``POST /tools/{name}``."""\n', "    os._exit(1)\n")
    # Before it, the agent's server reports the failed call (a traceback of its own).
    assert (run.status, run.stderr.splitlines()[-1]) == (
        1,
        "demo: error: HTTP Error 502: Bad Gateway; the services are stopped.",
    )
    assert "demo.py" not in run.stderr  # the launcher printed no traceback
    assert demo_processes(run.output) == []


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 128 + 15), (signal.SIGKILL, -9)])
def test_services_end_with_the_launcher(tmp_path: Path, signum: int, status: int) -> None:
    """With all three services up, SIGTERM or even SIGKILL to the demo ends every one of them."""
    output = tmp_path / "out"
    demo = subprocess.Popen(
        [sys.executable, str(DEMO), "--output", str(output)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert demo.stdout is not None
        lines = [demo.stdout.readline() for _ in range(4)]  # the heading, a line per service
        assert [line.split()[0] for line in lines[1:]] == ["tool", "agent", "gateway"], lines
        demo.send_signal(signum)
        assert demo.wait(timeout=15) == status
        deadline = time.monotonic() + 15  # a SIGKILLed launcher's services see their stdin end
        while demo_processes(output):
            assert time.monotonic() < deadline, demo_processes(output)
            time.sleep(0.05)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        if demo.stdout is not None:
            demo.stdout.close()
        for pid in demo_processes(output):  # only when the test failed: leave none behind
            os.kill(pid, signal.SIGKILL)


def test_ctrl_c_while_the_services_stop_is_not_lost(processes: Any, tmp_path: Path) -> None:
    """Ctrl-C while the services stop: all of them still stop, then the interruption goes on."""
    script = tmp_path / "slow_to_stop.py"
    script.write_text(
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: (time.sleep(1), sys.exit(0)))\n"
        "print('ready 1', flush=True)\n"
        "time.sleep(60)\n"
    )
    # Put back afterwards what Signals.install replaces.
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    signals = processes.Signals()
    signals.install()
    try:
        fleet = processes.Fleet(script, tmp_path, signals)
        service = fleet.start("tool")
        interrupt = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        interrupt.start()
        with pytest.raises(KeyboardInterrupt):
            fleet.stop()
        interrupt.join()
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
    assert (service.process.returncode, signals.received) == (0, signal.SIGINT)
