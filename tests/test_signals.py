"""Signal handlers and forks that log: never a hang, every line written.

Each case runs in a child process with a deadline, so a hang fails the test
instead of the suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

DEADLINE = 60  # seconds; a run that hangs is killed at this point and fails

PRELUDE = """
import json, logging, os, signal, sys, threading, time
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
import tracelog

trace.set_tracer_provider(TracerProvider())
tracer = trace.get_tracer("signals")
tracelog.configure(output=sys.argv[1], integrations=["stdlib"], span_events="INFO")
log = logging.getLogger("app")
"""


def run(tmp_path: Path, body: str) -> tuple[list[dict[str, object]], str]:
    """Run *body* after the prelude in a child; its JSON lines and its stdout."""
    output = tmp_path / "out.log"
    script = PRELUDE + textwrap.dedent(body)
    try:
        result = subprocess.run(
            [sys.executable, "-c", script, str(output)],
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the child hung: still running after {DEADLINE} s")
    assert result.returncode == 0, result.stderr
    lines = output.read_text().splitlines()
    return [json.loads(line) for line in lines], result.stdout


@pytest.mark.parametrize(
    ("signum", "arm"),
    [
        ("SIGPROF", "signal.setitimer(signal.ITIMER_PROF, 0.0005, 0.0005)"),
        ("SIGALRM", "signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)"),
    ],
)
def test_a_handler_that_logs_inside_a_span_never_hangs(
    tmp_path: Path, signum: str, arm: str
) -> None:
    """A signal every millisecond or less whose handler logs, while the span takes events."""
    records, stdout = run(
        tmp_path,
        f"""
        handled = 0
        def handler(number, frame):
            global handled
            handled += 1
            log.info("from the handler", extra={{"n": handled}})
        signal.signal(signal.{signum}, handler)
        with tracer.start_as_current_span("work"):
            {arm}
            deadline = time.monotonic() + 3
            sent = 0
            while time.monotonic() < deadline:
                sent += 1
                log.info("from the loop", extra={{"n": sent}})
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.setitimer(signal.ITIMER_REAL, 0)
        print(sent, handled)
        """,
    )
    sent, handled = map(int, stdout.split())
    assert handled > 50, "the signals must really have come while logging"
    loop = [r for r in records if r["message"] == "from the loop"]
    from_handler = [r for r in records if r["message"] == "from the handler"]
    assert (len(loop), len(from_handler)) == (sent, handled)
    assert [r["n"] for r in loop] == list(range(1, sent + 1))
    trace_ids = {r["trace_id"] for r in loop + from_handler}
    assert len(trace_ids) == 1


def test_a_forked_child_logs_though_another_thread_held_the_span_lock(tmp_path: Path) -> None:
    """Forked while another thread held the span's lock: the child's lines all come, at once."""
    records, stdout = run(
        tmp_path,
        """
        with tracer.start_as_current_span("work") as span:
            held, release = threading.Event(), threading.Event()
            def hold():
                with span._lock:  # as in span.set_attributes, at the moment of the fork
                    held.set()
                    release.wait()
            thread = threading.Thread(target=hold)
            thread.start()
            held.wait()
            pid = os.fork()
            if pid == 0:
                started = time.monotonic()
                for number in range(20):
                    log.info("child", extra={"n": number})
                took = time.monotonic() - started
                logging.shutdown()
                os._exit(0 if took < 10 else 3)
            release.set()
            thread.join()
            _, status = os.waitpid(pid, 0)
            print(os.waitstatus_to_exitcode(status))
        """,
    )
    assert stdout.split() == ["0"]
    child = [r for r in records if r["message"] == "child"]
    assert [r["n"] for r in child] == list(range(20))
    assert len({r["trace_id"] for r in child}) == 1


def test_a_handler_that_logs_during_a_blocked_write_never_splices(tmp_path: Path) -> None:
    """Big lines into a slow pipe, a handler logging meanwhile: every line whole, none lost."""
    script = PRELUDE.replace("output=sys.argv[1]", "output=None") + textwrap.dedent(
        """
        handled = 0
        def handler(number, frame):
            global handled
            handled += 1
            log.info("tick", extra={"n": handled})
        signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)
        for number in range(10):
            log.info("big", extra={"n": number, "blob": "x" * 200_000})
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.stderr.write(f"{handled}\\n")
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    assert process.stderr is not None
    received = bytearray()
    started = time.monotonic()
    while chunk := process.stdout.read1(4096):  # a slow reader: the writer blocks often
        received += chunk
        time.sleep(0.0005)
        if time.monotonic() - started > DEADLINE:
            process.kill()
            pytest.fail(f"the child hung: still running after {DEADLINE} s")
    handled = int(process.stderr.read().decode().split()[-1])
    assert process.wait(timeout=DEADLINE) == 0
    records = [json.loads(line) for line in received.decode().splitlines()]
    assert [r["n"] for r in records if r["message"] == "big"] == list(range(10))
    # A handler can interrupt an earlier one between its count and its log call,
    # so the ticks' order is the handlers', not the counts': each one comes once.
    ticks = sorted(r["n"] for r in records if r["message"] == "tick")
    assert ticks == list(range(1, handled + 1))
    assert handled > 5, "the signals must really have come during the writes"
