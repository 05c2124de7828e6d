"""`tracelog query`: exact matches across profiles, files, gzip and stdin; damage; safe output."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import tracelog
from tracelog.cli import main
from tracelog.query import _scan, parse_trace
from tracelog.query._records import MAX_DEPTH, DamagedLine, parse_line

from .conftest import emit

ID = "4c7c6430fb5466bff54036fa0cbe7eb6"
OTHER = "0af7651916cd43dd8448eb211c80319c"


def run(*argv: str) -> tuple[int, str, str]:
    """Run the command in-process; return (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def records(text: str) -> list[dict[str, Any]]:
    """The JSON lines of --format json output."""
    return [json.loads(line) for line in text.splitlines()]


def line(**fields: Any) -> str:
    """One JSON log line."""
    return json.dumps(fields) + "\n"


def small_chunks(monkeypatch: pytest.MonkeyPatch, chunks: str) -> None:
    """With "small", files are read 64 bytes at a time, so lines straddle many reads."""
    if chunks == "small":
        monkeypatch.setattr(_scan, "FILE_CHUNK", 64)


def write_trace_log(tracer: Any, path: Path, fields: str) -> tuple[str, list[str]]:
    """Log through tracelog with the real SDK into *path*; return the trace ID and its messages."""
    sdk_tracer, _ = tracer
    tracelog.configure(output=str(path), fields=fields, service_name="checkout", level="DEBUG")
    messages = []
    with sdk_tracer.start_as_current_span("request") as span:
        trace_id = f"{span.get_span_context().trace_id:032x}"
        for number, library in enumerate(("stdlib", "structlog", "loguru")):
            emit(library, "info", f"step {number}", step=number)
            messages.append(f"step {number}")
        with sdk_tracer.start_as_current_span("child"):
            emit("stdlib", "error", "child failed")
            messages.append("child failed")
        emit("structlog", "info", "request done")
        messages.append("request done")
    with sdk_tracer.start_as_current_span("other request"):
        emit("stdlib", "info", f"unrelated, but mentions {trace_id}", link=trace_id)
    emit("stdlib", "info", "outside any span")
    tracelog.reset()
    return trace_id, messages


class TestProfiles:
    """Each field profile tracelog writes is matched on its trace-ID field."""

    @pytest.mark.parametrize("fields", ["otel", "ecs", "datadog", "datadog64", "gcp"])
    def test_finds_every_record_of_the_trace(
        self, tracer: Any, tmp_path: Path, fields: str
    ) -> None:
        """Records written by tracelog in each profile are found exactly, in time order."""
        path = tmp_path / "app.jsonl"
        trace_id, messages = write_trace_log(tracer, path, fields)
        status, out, err = run("query", trace_id, str(path), "--format", "json")
        assert status == 0, err
        assert [record["message"] for record in records(out)] == messages
        assert err == ""

    def test_gcp_project_form(
        self, tracer: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """GCP's projects/P/traces/ID form matches the bare ID."""
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "shop")
        path = tmp_path / "app.jsonl"
        trace_id, messages = write_trace_log(tracer, path, "gcp")
        assert f"projects/shop/traces/{trace_id}" in path.read_text()
        status, out, _ = run("query", trace_id, str(path), "--format", "json")
        assert (status, [r["message"] for r in records(out)]) == (0, messages)

    def test_nested_legacy_and_uppercase_forms(self, tmp_path: Path) -> None:
        """Nested ECS and Datadog objects, otelTraceID and uppercase IDs all match."""
        low64 = str(int(ID[16:], 16))
        path = tmp_path / "mixed.log"
        path.write_text(
            line(timestamp="2026-01-01T00:00:01Z", message="ecs", trace={"id": ID})
            + line(timestamp="2026-01-01T00:00:02Z", message="dd", dd={"trace_id": low64})
            + line(timestamp="2026-01-01T00:00:03Z", message="legacy", otelTraceID=ID)
            + line(timestamp="2026-01-01T00:00:04Z", message="upper", trace_id=ID.upper())
            + line(
                timestamp="2026-01-01T00:00:05Z", message="dd int", **{"dd.trace_id": int(low64)}
            )
            + line(timestamp="2026-01-01T00:00:06Z", message="not it", trace_id=OTHER, note=ID)
        )
        status, out, _ = run("query", ID, str(path), "--format", "json")
        assert status == 0
        assert [r["message"] for r in records(out)] == ["ecs", "dd", "legacy", "upper", "dd int"]


class TestArguments:
    """TRACE and PATH arguments, defaults and exit statuses."""

    @pytest.mark.parametrize(
        "given_trace",
        [
            ID.upper(),
            f"00-{ID}-b7ad6b7169203331-01",
            f"https://grafana.example/explore?left=%7B%22query%22:%22{ID}%22%7D",
            f"http://tempo:3200/api/traces/{ID}",
        ],
    )
    def test_trace_forms(self, given_trace: str) -> None:
        """A hex ID in any case, a traceparent and URLs holding one all parse to the ID."""
        assert parse_trace(given_trace).hex == ID

    @pytest.mark.parametrize("bad", ["xyz", ID[:-1], "0" * 32, f"https://x/{ID}/{OTHER}"])
    def test_bad_trace_is_a_usage_error(self, tmp_path: Path, bad: str) -> None:
        """Anything else is refused with a clear message and exit status 2."""
        status, out, err = run("query", bad, str(tmp_path))
        assert (status, out) == (2, "")
        assert "TRACE" in err

    def test_missing_path_is_a_usage_error(self, tmp_path: Path) -> None:
        """A path that does not exist: exit 2, naming it."""
        status, _, err = run("query", ID, str(tmp_path / "nope.log"))
        assert status == 2
        assert "nope.log" in err

    def test_no_match_exits_1(self, tmp_path: Path) -> None:
        """Nothing matched: exit 1, like grep."""
        (tmp_path / "a.log").write_text(line(trace_id=OTHER, message="x"))
        assert run("query", ID, str(tmp_path), "--format", "json")[:2] == (1, "")

    def test_default_path_from_environment(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without PATH, TRACELOG_LOG_DIR is searched, and the command says so."""
        (tmp_path / "a.log").write_text(line(trace_id=ID, message="found"))
        monkeypatch.setenv("TRACELOG_LOG_DIR", str(tmp_path))
        status, out, err = run("query", ID, "--format", "json")
        assert (status, records(out)[0]["message"]) == (0, "found")
        assert "TRACELOG_LOG_DIR" in err

    def test_default_path_is_the_current_directory(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without PATH or TRACELOG_LOG_DIR, the current directory is searched."""
        (tmp_path / "a.jsonl").write_text(line(trace_id=ID, message="here"))
        monkeypatch.delenv("TRACELOG_LOG_DIR", raising=False)
        monkeypatch.chdir(tmp_path)
        status, out, err = run("query", ID, "--format", "json")
        assert (status, records(out)[0]["message"]) == (0, "here")
        assert "current directory" in err


class TestFilters:
    """--span and --level."""

    def test_span_and_level(self, tmp_path: Path) -> None:
        """--span keeps one span's records (hex or Datadog decimal); --level a minimum level."""
        span = "b7ad6b7169203331"
        path = tmp_path / "a.log"
        path.write_text(
            line(
                time="2026-01-01T00:00:01Z",
                severity="INFO",
                message="a",
                **{"logging.googleapis.com/trace": ID, "logging.googleapis.com/spanId": span},
            )
            + line(
                timestamp="2026-01-01T00:00:02Z",
                status="error",
                message="b",
                **{"dd.trace_id": str(int(ID[16:], 16)), "dd.span_id": str(int(span, 16))},
            )
            + line(
                timestamp="2026-01-01T00:00:03Z",
                level="warning",
                trace_id=ID,
                message="c",
                span_id="1111111111111111",
            )
            + line(timestamp="2026-01-01T00:00:04Z", trace_id=ID, message="no level")
        )
        _, out, _ = run("query", ID, str(path), "--format", "json", "--span", span)
        assert [r["message"] for r in records(out)] == ["a", "b"]
        _, out, _ = run("query", ID, str(path), "--format", "json", "--level", "WARNING")
        assert [r["message"] for r in records(out)] == ["b", "c"]
        assert run("query", ID, str(path), "--level", "loud")[0] == 2


class TestMergeAndSources:
    """Directories, rotation, gzip, stdin and special files; merged output."""

    def test_merged_in_time_order_across_files(self, tmp_path: Path) -> None:
        """Files merge in time order; a record without a time follows its predecessor."""
        (tmp_path / "b").mkdir()
        (tmp_path / "a.jsonl").write_text(
            line(timestamp="2026-01-01T00:00:01Z", trace_id=ID, message="1")
            + line(trace_id=ID, message="1b (no time)")
            + line(timestamp="2026-01-01T00:00:04Z", trace_id=ID, message="4")
        )
        (tmp_path / "b" / "svc.log").write_text(
            line(**{"@timestamp": "2026-01-01T00:00:03.5+00:00", "trace.id": ID, "message": "3"})
            + line(
                time="2026-01-01T00:00:02.123456789Z",
                message="2",
                **{"logging.googleapis.com/trace": f"projects/p/traces/{ID}"},
            )
        )
        (tmp_path / "notes.txt").write_text(line(trace_id=ID, message="not a log name"))
        _, out, _ = run("query", ID, str(tmp_path), "--format", "json")
        assert [r["message"] for r in records(out)] == ["1", "1b (no time)", "2", "3", "4"]

    def test_gzip_rotated_and_truncated(self, tmp_path: Path) -> None:
        """Rotated and gzip files are read; a truncated gzip yields what it holds, and a warning."""
        (tmp_path / "app.log").write_text(
            line(timestamp="2026-01-01T00:00:03Z", trace_id=ID, message="3")
        )
        (tmp_path / "app.log.1").write_text(
            line(timestamp="2026-01-01T00:00:02Z", trace_id=ID, message="2")
        )
        data = "".join(
            line(timestamp=f"2026-01-01T00:00:01.{n:06d}Z", trace_id=ID, message=f"1.{n}")
            for n in range(2000)
        ).encode()
        (tmp_path / "app.log.2.gz").write_bytes(gzip.compress(data[:50_000]))
        whole = gzip.compress(data)
        (tmp_path / "app.log.3.gz").write_bytes(whole[: len(whole) // 2])
        status, out, err = run("query", ID, str(tmp_path), "--format", "json")
        messages = [r["message"] for r in records(out)]
        assert status == 0
        assert messages[-2:] == ["2", "3"]
        assert "app.log.3.gz: gzip data ends early" in err
        assert len(messages) > 2 + data[:50_000].count(b"\n")  # part of the cut file too

    def test_stdin(self, tmp_path: Path) -> None:
        """`-` reads standard input (here through the real console entry point)."""
        data = line(trace_id=ID, message="from stdin") + line(trace_id=OTHER, message="no")
        result = subprocess.run(
            [sys.executable, "-m", "tracelog", "query", ID, "-", "--format", "json"],
            input=data.encode(),
            capture_output=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert [r["message"] for r in records(result.stdout.decode())] == ["from stdin"]

    def test_symlink_loop_and_fifo_do_not_hang(self, tmp_path: Path) -> None:
        """Symlink loops are walked once; FIFOs are not opened in a walk, or read empty."""
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "loop").symlink_to(tmp_path, target_is_directory=True)
        (tmp_path / "d" / "a.log").write_text(line(trace_id=ID, message="once"))
        (tmp_path / "self.log").symlink_to(tmp_path / "self.log")
        os.mkfifo(tmp_path / "pipe.log")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tracelog",
                "query",
                ID,
                str(tmp_path),
                str(tmp_path / "pipe.log"),
                "--format",
                "json",
            ],
            capture_output=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert [r["message"] for r in records(result.stdout.decode())] == ["once"]

    def test_anonymous_pipe_is_read_to_its_end(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A process substitution (/dev/fd/N, a pipe) whose writer pauses is not cut off."""
        from tracelog.query import _sources

        monkeypatch.setattr(_sources, "FIFO_IDLE", 0.2)
        read_end, write_end = os.pipe()

        def writer() -> None:
            os.write(write_end, line(message="first").encode())
            time.sleep(0.6)
            os.write(write_end, line(trace_id=ID, message="after a pause").encode())
            os.close(write_end)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            status, out, err = run("query", ID, f"/dev/fd/{read_end}", "--format", "json")
        finally:
            thread.join()
            os.close(read_end)
        assert (status, [r["message"] for r in records(out)]) == (0, ["after a pause"]), err
        assert err == ""


class TestUnreadSources:
    """A source not read to its end: exit 2 when nothing matched, as grep does."""

    def test_skipped_path_and_no_match_exits_2(self, tmp_path: Path) -> None:
        """/dev/null is skipped (not a regular file): nothing matched is not a clean 1."""
        (tmp_path / "a.log").write_text(line(trace_id=OTHER, message="x"))
        status, out, err = run("query", ID, str(tmp_path), os.devnull, "--format", "json")
        assert (status, out) == (2, "")
        assert "skipped" in err

    def test_skipped_path_with_a_match_exits_0_and_warns(self, tmp_path: Path) -> None:
        """Something matched: exit 0, the warning stays."""
        (tmp_path / "a.log").write_text(line(trace_id=ID, message="x"))
        status, out, err = run("query", ID, str(tmp_path), os.devnull, "--format", "json")
        assert (status, [r["message"] for r in records(out)]) == (0, ["x"])
        assert "skipped" in err

    def test_fifo_cut_by_the_idle_rule_exits_2(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A named FIFO whose writer stays silent is cut short: exit 2, not 1."""
        from tracelog.query import _sources

        monkeypatch.setattr(_sources, "FIFO_IDLE", 0.2)
        fifo = tmp_path / "live.log"
        os.mkfifo(fifo)
        holder = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        writer = os.open(fifo, os.O_WRONLY)
        os.close(holder)
        try:
            status, out, err = run("query", ID, str(fifo), "--format", "json")
        finally:
            os.close(writer)
        assert (status, out) == (2, "")
        assert "stopped reading" in err

    def test_no_match_in_complete_sources_still_exits_1(self, tmp_path: Path) -> None:
        """An informational warning (no PATH given) does not turn 1 into 2."""
        (tmp_path / "a.log").write_text(line(trace_id=OTHER, message="x"))
        env = dict(os.environ, TRACELOG_LOG_DIR=str(tmp_path))
        result = subprocess.run(
            [sys.executable, "-m", "tracelog", "query", ID, "--format", "json"],
            capture_output=True,
            check=False,
            timeout=60,
            env=env,
        )
        assert (result.returncode, result.stdout) == (1, b""), result.stderr
        assert b"TRACELOG_LOG_DIR" in result.stderr


DAMAGED = {
    "not JSON": b'{"trace_id": "%s", "message": ' % ID.encode(),
    "not an object": b'["%s"]' % ID.encode(),
    "invalid UTF-8": b'{"trace_id": "%s", "message": "\xff\xfe"}' % ID.encode(),
    "BOM": b'\xef\xbb\xbf{"trace_id": "%s"}' % ID.encode(),
    "deep nesting": b'{"trace_id": "%s", "x": %s}' % (ID.encode(), b"[" * 5000 + b"]" * 5000),
    "huge integer": b'{"trace_id": "%s", "n": %s}' % (ID.encode(), b"9" * 5000),
    "NaN": b'{"trace_id": "%s", "n": NaN}' % ID.encode(),
}


class TestDamage:
    """Damaged lines are skipped, counted and located; memory stays bounded."""

    @pytest.mark.parametrize("chunks", ["default", "small"])
    def test_damaged_lines_are_skipped_counted_and_located(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunks: str
    ) -> None:
        """Each kind of damaged line is skipped; the first five are reported with file:line."""
        good = line(timestamp="2026-01-01T00:00:01Z", trace_id=ID, message="good").encode()
        path = tmp_path / "bad.log"
        body = b"".join(damaged + b"\n" + good for damaged in DAMAGED.values())
        path.write_bytes(body + b'{"trace_id": "' + ID.encode() + b'", "mess')  # truncated
        small_chunks(monkeypatch, chunks)
        status, out, err = run("query", ID, str(path), "--format", "json")
        assert status == 0
        assert [r["message"] for r in records(out)] == ["good"] * len(DAMAGED)
        reported = [text for text in err.splitlines() if "skipped a line" in text]
        assert [text.split(": skipped")[0] for text in reported] == [
            f"tracelog: {path}:{number}" for number in (1, 3, 5, 7, 9)
        ]
        assert "byte-order mark" in reported[3]
        assert f"{len(DAMAGED) + 1} damaged lines" in err

    def test_depth_is_tracelogs_rule_not_the_interpreters(self) -> None:
        """MAX_DEPTH levels parse, one more is damaged; brackets inside strings do not count."""
        at_limit = b'{"x": %s}' % (b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1))
        assert parse_line(at_limit)["x"] is not None
        over = b'{"x": %s}' % (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
        with pytest.raises(DamagedLine, match=f"nested deeper than {MAX_DEPTH} levels"):
            parse_line(over)
        quoted = b'{"x": "%s", "y": "\\"[{"}' % (b"[{" * MAX_DEPTH)
        assert parse_line(quoted) == {"x": "[{" * MAX_DEPTH, "y": '"[{'}

    def test_stream_reports_line_numbers(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """From stdin too, damaged lines are reported with their line number."""
        data = (
            line(trace_id=OTHER) * 3 + f'{{"trace_id": "{ID}"\n' + line(trace_id=ID, message="ok")
        )
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data.encode())))
        status, out, err = run("query", ID, "-", "--format", "json")
        assert (status, [r["message"] for r in records(out)]) == (0, ["ok"])
        assert "tracelog: -:4: skipped a line" in err

    def test_hundred_megabyte_line_in_bounded_memory(self, tmp_path: Path) -> None:
        """A 100 MB line that mentions the ID is skipped and reported; peak RSS stays bounded."""
        path = tmp_path / "huge.log"
        with path.open("wb") as out:
            out.write(line(trace_id=ID, message="before").encode())
            out.write(
                b'{"trace_id": "' + ID.encode() + b'", "blob": "' + b"x" * (100 << 20) + b'"}\n'
            )
            out.write(line(trace_id=ID, message="after").encode())
        probe = (
            "import resource, subprocess, sys\n"
            f"r = subprocess.run([sys.executable, '-m', 'tracelog', 'query', '{ID}', {str(path)!r},"
            " '--format', 'json'], capture_output=True)\n"
            "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)\n"
            "sys.stdout.write(r.stdout.decode() + r.stderr.decode())\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=120
        )
        status, rss_mb = map(int, result.stdout.split("\n", 1)[0].split())
        assert status == 0, result.stdout
        assert rss_mb < 150
        assert '"before"' in result.stdout
        assert '"after"' in result.stdout
        assert f"{path}:2: skipped a line that mentions the trace: longer than" in result.stdout

    def test_long_lines_in_small_buffers(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Lines longer than the buffer are read whole; past the cap, skipped and counted."""
        monkeypatch.setattr(_scan, "CHUNK", 64)
        monkeypatch.setattr(_scan, "MAX_LINE", 256)
        data = (
            line(trace_id=ID, message="a" * 150)
            + line(trace_id=ID, message="b" * 1000)
            + line(trace_id=ID, message="c")
        )
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data.encode())))
        _, out, err = run("query", ID, "-", "--format", "json")
        assert [r["message"][0] for r in records(out)] == ["a", "c"]
        assert "-:2: skipped a line that mentions the trace: longer than" in err


class TestOutput:
    """Pretty and JSON output are safe for a terminal."""

    HOSTILE = "\x1b]0;owned\x07\x1b[2J\r\u202eforged\u009b31m\x7f"

    def test_pretty_output_escapes_terminal_controls(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Pretty mode escapes ESC, C0, C1, DEL, bidi overrides and CR in keys and values."""
        monkeypatch.setenv("FORCE_COLOR", "1")
        path = tmp_path / "a.log"
        path.write_text(
            line(
                timestamp="2026-01-01T00:00:01Z",
                level="error",
                logger=self.HOSTILE,
                trace_id=ID,
                message=self.HOSTILE,
                **{self.HOSTILE: self.HOSTILE},
            )
        )
        status, out, _ = run("query", ID, str(path), "--format", "pretty")
        assert status == 0
        shown = out.replace("\x1b[0m", "").replace("\x1b[2m", "").replace("\x1b[1m", "")
        for code in ("\x1b[31m", "\x1b[36m"):
            shown = shown.replace(code, "")
        assert not any(char in shown for char in "\x1b\x07\r\u202e\u009b\x7f")
        assert "\\u202eforged" in shown
        assert "1 line from 1 file" in out
        assert "1 error" in out

    def test_json_output_is_valid_and_safe(self, tmp_path: Path) -> None:
        """JSON mode prints JSON equal to the record, with C1, DEL and bidi characters escaped."""
        path = tmp_path / "a.log"
        record = {
            "trace_id": ID,
            "message": self.HOSTILE.replace("\x1b", "").replace("\x07", "").replace("\r", ""),
            "raw\u2028": "x",
        }
        path.write_bytes(json.dumps(record, ensure_ascii=False).encode() + b"\n")
        _, out, _ = run("query", ID, str(path), "--format", "json")
        assert records(out) == [record]
        assert not any(char in out for char in "\u202e\u009b\x7f\u2028")

    def test_pretty_indents_nested_spans(self, tracer: Any, tmp_path: Path) -> None:
        """A child span's records are indented under its parent's."""
        path = tmp_path / "app.jsonl"
        trace_id, _ = write_trace_log(tracer, path, "otel")
        _, out, _ = run("query", trace_id, str(path), "--format", "pretty")
        lines = out.splitlines()
        child = next(text for text in lines if "child failed" in text)
        parent = next(text for text in lines if "step 0" in text)
        assert child.index("child failed") > parent.index("step 0")


def test_import_tracelog_leaves_the_cli_out() -> None:
    """`import tracelog` imports neither the CLI nor the query engine."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, tracelog; tracelog.configure; "
            "print([m for m in sys.modules if m.startswith(('tracelog.cli', 'tracelog.query'))])",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_console_script_is_installed() -> None:
    """The `tracelog` console script runs the same command line."""
    script = Path(sys.executable).with_name("tracelog")
    result = subprocess.run(
        [str(script), "query", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "TRACE" in result.stdout


class _Lines:
    def __init__(self) -> None:
        self.found: list[bytes] = []

    def line(self, data: bytes, line_no: int | None, offset: int) -> None:
        self.found.append(data)

    def too_long(self, line_no: int | None, offset: int) -> None:
        self.found.append(b"<too long>")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
            st.sampled_from(
                [ID.encode(), b"x" + ID.encode() + b"y", b"\r\xe2\x80\xa8" + ID.encode()]
            ),
        ),
        max_size=30,
    ),
    st.booleans(),
)
def test_scanner_finds_exactly_the_lines_holding_the_id(
    pieces: list[bytes], final_newline: bool
) -> None:
    """On arbitrary bytes, the stream scan yields exactly the newline-split lines with the ID."""
    data = b"\n".join(pieces) + (b"\n" if final_newline else b"")
    expected = [piece for piece in data.split(b"\n") if ID.encode() in piece]
    sink = _Lines()
    source = io.BytesIO(data)
    needles = parse_trace(ID).needles
    old = _scan.CHUNK
    try:
        _scan.CHUNK = 16
        _scan.scan_stream(source.readinto, needles, sink, lambda: None)
    finally:
        _scan.CHUNK = old
    assert sink.found == expected


def test_file_scan_matches_the_stream_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The read-ahead file scan, across many small chunks, finds the same lines as a stream."""
    monkeypatch.setattr(_scan, "FILE_CHUNK", 1 << 12)
    rows = [
        line(trace_id=ID if n % 97 == 0 else OTHER, n=n, pad="p" * (n % 300)) for n in range(3000)
    ]
    path = tmp_path / "a.log"
    path.write_text("".join(rows))
    needles = parse_trace(ID).needles
    read, streamed = _Lines(), _Lines()
    fd = os.open(path, os.O_RDONLY)
    try:
        _scan.scan_file(fd, os.fstat(fd).st_size, needles, read, lambda done: None)
    finally:
        os.close(fd)
    with path.open("rb") as stream:
        _scan.scan_stream(stream.readinto, needles, streamed, lambda: None)
    assert read.found == streamed.found
    assert len(read.found) == len([n for n in range(3000) if n % 97 == 0])


def test_a_file_truncated_during_the_scan_does_not_kill_the_process(tmp_path: Path) -> None:
    """A copytruncate rotation in the middle of a scan: the scan ends, no SIGBUS."""
    path = tmp_path / "app.log"
    path.write_text(line(trace_id=ID, message="m" * 200) * 20_000)  # about 4.5 MB
    past = time.time() - 3600  # an old file: no special treatment for "recently written"
    os.utime(path, (past, past))
    probe = f"""
import os, sys
from tracelog.query import parse_trace
from tracelog.query._sources import Source, scan
path = {str(path)!r}
class Sink:
    found = 0
    def line(self, data, line_no, offset):
        self.found += 1
        if self.found == 1:
            os.truncate(path, 0)  # what copytruncate does, while the file is being read
    def too_long(self, line_no, offset):
        pass
sink = Sink()
scan(Source(path, "file", os.path.getsize(path)), parse_trace({ID!r}).needles, sink,
     lambda done: None, print)
print("found", sink.found)
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stdout.startswith("found ")
    assert int(done.stdout.split()[1]) >= 1


def test_verdicts_do_not_depend_on_the_parser(tmp_path: Path) -> None:
    """Lines are judged alike before and after orjson takes over from json (past 256 lines)."""
    # NaN is damage; a lone-surrogate escape is valid JSON (orjson refuses it, json does not).
    surrogate = f'{{"trace_id": "{ID}", "message": "lone \\udc80"}}\n'
    nan = f'{{"trace_id": "{ID}", "n": NaN}}\n'
    body = line(trace_id=ID, message="x") * 300 + surrogate + nan
    path = tmp_path / "many.log"
    path.write_text(surrogate + nan + body)
    status, out, err = run("query", ID, str(path), "--format", "json")
    assert status == 0
    messages = [r["message"] for r in records(out)]
    assert messages.count("lone \udc80") == 2
    assert len(messages) == 302
    assert err.count("skipped a line that mentions the trace: not valid JSON") == 2


def test_works_without_stringzilla(tmp_path: Path) -> None:
    """Without the `query` extra, Python's own search finds the same lines."""
    path = tmp_path / "a.log"
    path.write_text(line(trace_id=OTHER, message="no") + line(trace_id=ID, message="yes"))
    code = (
        "import sys; sys.modules['stringzilla'] = None\n"
        "from tracelog.cli import main\n"
        "from tracelog.query import _scan\n"
        "assert not _scan.FAST_SEARCH\n"
        f"sys.exit(main(['query', '{ID}', {str(path)!r}, '--format', 'json']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert [r["message"] for r in records(result.stdout)] == ["yes"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The progress bar is drawn (then cleared) on a terminal stderr, never on a pipe."""
    from tracelog import cli

    monkeypatch.setattr(cli._Progress, "DELAY", 0.0)
    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        progress = cli._Progress(stream, 100 << 20)
        progress(50 << 20)
        progress.close()
    assert "50%" in terminal.getvalue()
    assert terminal.getvalue().endswith("\r\x1b[K")
    assert pipe.getvalue() == ""


def test_a_growing_file_is_read_to_its_size_at_open(tmp_path: Path) -> None:
    """A log appended to without pause does not keep the scan going."""
    path = tmp_path / "live.log"
    path.write_text(line(trace_id=ID, message="first") * 1000)
    stop = threading.Event()

    def writer() -> None:
        with path.open("a") as out:
            while not stop.wait(0.001):
                out.write(line(trace_id=ID, message="later") * 100)
                out.flush()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.05)
        result = subprocess.run(
            [sys.executable, "-m", "tracelog", "query", ID, str(path), "--format", "json"],
            capture_output=True,
            check=False,
            timeout=60,
        )
    finally:
        stop.set()
        thread.join()
    assert result.returncode == 0
    found = records(result.stdout.decode())
    assert [r["message"] for r in found[:1000]] == ["first"] * 1000
    assert len(found) < path.read_bytes().count(b"\n")


_PIECES = st.lists(
    st.one_of(
        st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
        st.sampled_from([ID.encode(), b"x" + ID.upper().encode(), b"\r\xe2\x80\xa8" + ID.encode()]),
        st.integers(min_value=900, max_value=12_000).map(lambda n: b"p" * n),
        st.integers(min_value=900, max_value=12_000).map(lambda n: b"q" * n + ID.encode()),
    ),
    max_size=20,
)


@settings(max_examples=100, deadline=None)
@given(pieces=_PIECES, final_newline=st.booleans())
def test_both_scans_agree_with_a_plain_split(
    tmp_path_factory: pytest.TempPathFactory, pieces: list[bytes], final_newline: bool
) -> None:
    """Both scans, in tiny chunks and buffers, yield the split lines with the ID (or too long)."""
    data = b"\n".join(pieces) + (b"\n" if final_newline else b"")
    cap, needles = 1000, parse_trace(ID).needles
    expected = [
        b"<too long>" if len(piece) > cap else piece
        for piece in data.split(b"\n")
        if any(needle in piece for needle in needles)
    ]
    path = tmp_path_factory.mktemp("scan") / "a.log"
    path.write_bytes(data)
    saved = (_scan.FILE_CHUNK, _scan.CHUNK, _scan.MAX_LINE, _scan.BLOCK)
    _scan.FILE_CHUNK, _scan.CHUNK, _scan.MAX_LINE, _scan.BLOCK = 300, 256, cap, 64
    try:
        read, streamed = _Lines(), _Lines()
        fd = os.open(path, os.O_RDONLY)
        try:
            _scan.scan_file(fd, len(data), needles, read, lambda done: None)
        finally:
            os.close(fd)
        with path.open("rb") as stream:
            _scan.scan_stream(stream.readinto, needles, streamed, lambda: None)
    finally:
        _scan.FILE_CHUNK, _scan.CHUNK, _scan.MAX_LINE, _scan.BLOCK = saved
    assert read.found == expected
    assert streamed.found == expected


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-01-01T00:00:01.5Z", 1767225601.5),
        ("2026-01-01T01:00:01+01:00", 1767225601.0),
        ("2026-01-01T00:00:01", 1767225601.0),
        (1767225601, 1767225601.0),
        (1767225601500, 1767225601.5),
        (10**400, None),
        (1e300, None),
        ("yesterday", None),
        (True, None),
        ("2026-13-01T00:00:00Z", None),
        ("0001-01-01T00:00:00+23:59", None),
        (-99_999_999_999, None),
    ],
)
def test_record_times(stamp: Any, expected: float | None) -> None:
    """Timestamps in text or epoch numbers are read; anything else is no time, never an error."""
    from tracelog.query._records import record_time

    assert record_time({"timestamp": stamp}) == expected


def _span_context(trace_id: str, span_id: str) -> SpanContext:
    """A sampled, remote-free span context with the given hex IDs."""
    return SpanContext(int(trace_id, 16), int(span_id, 16), False, TraceFlags(TraceFlags.SAMPLED))


def log_in_trace(
    tracer: Any, path: Path, fields: str, records: list[tuple[str, dict[str, Any]]]
) -> str:
    """Log (level, extra fields) records through tracelog inside one span; return its trace ID."""
    sdk_tracer, _ = tracer
    tracelog.configure(output=str(path), fields=fields, service_name=f"{fields}-svc", level="DEBUG")
    with sdk_tracer.start_as_current_span("request") as span:
        trace_id = f"{span.get_span_context().trace_id:032x}"
        for number, (level, extra) in enumerate(records):
            emit("stdlib", level, f"record {number}", **extra)
            time.sleep(0.002)
    tracelog.reset()
    return trace_id


class TestOwnProfileOnly:
    """A record is read through its own profile's names; other profiles' names are extras."""

    def test_extra_fields_do_not_shadow_level_or_time(self, tracer: Any, tmp_path: Path) -> None:
        """An HTTP status in a GCP record, a level in an ECS one, a payload timestamp: extras."""
        gcp = log_in_trace(
            tracer, tmp_path / "gcp.jsonl", "gcp", [("info", {"status": 200}), ("warning", {})]
        )
        assert run("query", gcp, str(tmp_path), "--level", "error", "--format", "json")[0] == 1
        status, out, _ = run("query", gcp, str(tmp_path), "--level", "warning", "--format", "json")
        assert (status, [r["message"] for r in records(out)]) == (0, ["record 1"])
        status, out, _ = run("query", gcp, str(tmp_path), "--format", "pretty")
        assert "0 errors" in out

        ecs_dir = tmp_path / "ecs"
        ecs_dir.mkdir()
        ecs = log_in_trace(
            tracer,
            ecs_dir / "ecs.jsonl",
            "ecs",
            [("info", {"level": "debug"}), ("info", {"timestamp": "2020-01-01T00:00:00Z"})],
        )
        status, out, _ = run("query", ecs, str(ecs_dir), "--level", "info", "--format", "json")
        assert (status, [r["message"] for r in records(out)]) == (0, ["record 0", "record 1"])

    def test_pretty_shows_extras_named_like_other_profiles_fields(
        self, tracer: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An otel record's status, time, service and severity extras are shown as key=value."""
        monkeypatch.setenv("NO_COLOR", "1")
        extra = {"status": 503, "time": 0.25, "service": "payments", "severity": "high"}
        trace_id = log_in_trace(tracer, tmp_path / "app.jsonl", "otel", [("warning", extra)])
        status, out, _ = run("query", trace_id, str(tmp_path), "--format", "pretty")
        assert status == 0
        first = out.splitlines()[0]
        for shown in ("status=503", "time=0.25", "service=payments", "severity=high"):
            assert shown in first
        assert "otel-svc" in first
        assert "WARNING" in first

    def test_another_profiles_trace_field_is_not_the_records_trace(
        self, tracer: Any, tmp_path: Path
    ) -> None:
        """A record of another trace that names our ID in trace.id or dd.trace_id is no match."""
        low64 = str(int(ID[16:], 16))
        path = tmp_path / "consumer.jsonl"
        other = log_in_trace(
            tracer,
            path,
            "otel",
            [("warning", {"trace.id": ID}), ("info", {"dd": {"trace_id": low64}})],
        )
        assert other != ID
        status, out, err = run("query", ID, str(path), "--format", "json")
        assert (status, out) == (1, ""), err
        assert [
            r["message"] for r in records(run("query", other, str(path), "--format", "json")[1])
        ] == [
            "record 0",
            "record 1",
        ]

    @pytest.mark.parametrize("fields", ["otel", "ecs", "datadog", "datadog64", "gcp"])
    def test_extras_named_like_any_profiles_trace_field_do_not_pick_the_profile(
        self, tracer: Any, tmp_path: Path, fields: str
    ) -> None:
        """Extras named like every other profile's trace (and span) field: ours all, no other."""
        sdk_tracer, _ = tracer
        names = {
            "otel": ("trace_id", "span_id"),
            "ecs": ("trace.id", "span.id"),
            "datadog": ("dd.trace_id", "dd.span_id"),
            "gcp": ("logging.googleapis.com/trace", "logging.googleapis.com/spanId"),
            "legacy": ("otelTraceID", "otelSpanID"),
        }

        def extras(trace_id: str) -> list[dict[str, str]]:
            found = []
            for profile, (trace_name, span_name) in names.items():
                if profile != fields:
                    value = str(int(trace_id[16:], 16)) if profile == "datadog" else trace_id
                    found.append({trace_name: value})
                    found.append({trace_name: value, span_name: "1111222233334444"})
            return found

        tracelog.configure(
            output=str(tmp_path / "app.jsonl"), fields=fields, service_name="svc", level="DEBUG"
        )
        with sdk_tracer.start_as_current_span("ours") as span:
            ours = f"{span.get_span_context().trace_id:032x}"
            span_id = f"{span.get_span_context().span_id:016x}"
        with sdk_tracer.start_as_current_span("other") as span:
            other = f"{span.get_span_context().trace_id:032x}"
        expected = []
        for extra in extras(other):
            with trace.use_span(NonRecordingSpan(_span_context(ours, span_id))):
                emit("stdlib", "warning", f"ours, {extra}", **extra)
            expected.append(f"ours, {extra}")
            time.sleep(0.002)
        for extra in extras(ours):
            with trace.use_span(NonRecordingSpan(_span_context(other, span_id))):
                emit("stdlib", "warning", f"other, {extra}", **extra)
        tracelog.reset()

        for query in ([], ["--span", span_id], ["--level", "warning"]):
            status, out, err = run("query", ours, str(tmp_path), "--format", "json", *query)
            assert (status, [r["message"] for r in records(out)]) == (0, expected), err

    def test_legacy_records_read_their_own_time_and_level_before_extras(
        self, tmp_path: Path
    ) -> None:
        """asctime/levelname win over an extra time or level; a lenient name must parse."""
        legacy = {"otelTraceID": ID, "otelSpanID": "ba257a214f1fcc4a", "name": "shop.api"}
        path = tmp_path / "legacy.jsonl"
        path.write_text(
            line(
                asctime="2026-11-22 10:00:02,000",
                levelname="ERROR",
                message="failed",
                time=0.25,
                level=3,
                **legacy,
            )
            + line(
                asctime="2026-11-22T10:00:01",
                levelname="INFO",
                message="start",
                timestamp="soon",
                level="high",
                **legacy,
            )
            + line(time="2026-11-22T10:00:03Z", level="warning", message="retry", **legacy)
        )
        status, out, _ = run("query", ID, str(path), "--format", "json")
        assert (status, [r["message"] for r in records(out)]) == (0, ["start", "failed", "retry"])
        status, out, _ = run("query", ID, str(path), "--format", "json", "--level", "warning")
        assert (status, [r["message"] for r in records(out)]) == (0, ["failed", "retry"])
        status, out, _ = run("query", ID, str(path), "--format", "pretty")
        assert "first 2026-11-22T10:00:01" in out
        assert "; 1 error" in out
        assert "time=0.25 level=3" in out
        assert "timestamp=soon level=high" in out

    @pytest.mark.parametrize(
        "value", [f"https://tempo.example/trace/{ID}", f"foo/bar/{ID}", f" {ID} ", f"{ID}\n"]
    )
    def test_only_the_exact_id_matches(self, tmp_path: Path, value: str) -> None:
        """trace_id must be the ID itself: no path prefix, no spaces (GCP's form only in GCP)."""
        path = tmp_path / "a.log"
        path.write_text(line(timestamp="2026-01-01T00:00:01Z", trace_id=value, message="x"))
        assert run("query", ID, str(path), "--format", "json")[:2] == (1, "")


@pytest.mark.parametrize(
    "name",
    [
        "app.log.2026-11-23",
        "app.log.2026-11-22_10",
        "app.log.2026-11-22_10-05-01",
        "app.log-2026-11-22",
        "app.log-2026-11-22.gz",
    ],
)
def test_rotated_file_names_are_walked(tmp_path: Path, name: str) -> None:
    """TimedRotatingFileHandler's and logrotate's dated names are found in a directory walk."""
    data = line(timestamp="2026-01-01T00:00:01Z", trace_id=ID, message=name).encode()
    (tmp_path / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    status, out, _ = run("query", ID, str(tmp_path), "--format", "json")
    assert (status, [r["message"] for r in records(out)]) == (0, [name])


def test_lone_surrogate_in_pretty_output(tmp_path: Path) -> None:
    """A valid JSON lone surrogate is printed escaped on a UTF-8 stdout, not a crash."""
    path = tmp_path / "a.log"
    path.write_text(
        f'{{"timestamp": "2026-01-01T00:00:01Z", "trace_id": "{ID}",'
        ' "message": "bad \\ud800 one", "service.name": "svc\\udfff"}\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "tracelog", "query", ID, str(path), "--format", "pretty"],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"bad \\ud800 one" in done.stdout
    assert b"svc\\udfff" in done.stdout


def test_an_internal_error_exits_2_not_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An unexpected exception is a one-line error and exit 2, never "nothing matched"."""
    import tracelog.query

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(tracelog.query, "search", broken)
    status, out, err = run("query", ID, str(tmp_path))
    assert (status, out) == (2, "")
    assert err == "tracelog: error: internal error: RuntimeError: boom\n"


def test_write_error_exits_2_with_a_message(tmp_path: Path) -> None:
    """Output to /dev/full: a short message and exit 2, no traceback."""
    path = tmp_path / "a.log"
    path.write_text(line(timestamp="2026-01-01T00:00:01Z", trace_id=ID, message="x" * 10000))
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "tracelog", "query", ID, str(path), "--format", "json"],
            stdout=full,
            stderr=subprocess.PIPE,
            check=False,
        )
    assert done.returncode == 2
    assert done.stderr.decode().startswith("tracelog: error: cannot write the output: No space")
    assert b"Traceback" not in done.stderr


def test_a_path_error_is_reported_as_it_is(tmp_path: Path) -> None:
    """A path that cannot be looked at is reported with its real error, not as missing."""
    (tmp_path / "a.log").write_text(line(trace_id=ID))
    loop = tmp_path / "loop.log"
    loop.symlink_to(loop)
    status, _, err = run("query", ID, str(tmp_path / "a.log" / "x.log"))
    assert status == 2
    assert err.endswith("a.log/x.log: Not a directory\n")
    status, _, err = run("query", ID, str(loop))
    assert status == 2
    assert err.endswith("loop.log: Too many levels of symbolic links\n")


def test_warnings_clear_the_progress_bar(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A warning during a scan first clears the bar, so it starts on a clean line."""
    from tracelog import cli

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(cli._Progress, "DELAY", 0.0)
    good = tmp_path / "a.log"
    good.write_text(line(trace_id=ID, message="x") * 2000)
    cut = tmp_path / "b.log.gz"
    cut.write_bytes(gzip.compress(line(trace_id=ID, message="y").encode() * 50)[:-10])
    err = Tty()
    status = main(
        ["query", ID, str(good), str(cut), "--format", "json"], stdout=io.StringIO(), stderr=err
    )
    assert status == 0
    text = err.getvalue()
    assert "\r[" in text  # the bar was drawn
    warning = text.index("tracelog: ")
    assert text[:warning].endswith("\r\x1b[K")


def test_memory_for_many_matches_stays_near_their_size(tmp_path: Path) -> None:
    """100,000 matching lines (about 30 MB): peak RSS grows by about their size, not 5x it."""
    path = tmp_path / "busy.log"
    row = line(timestamp="2026-01-01T00:00:01Z", trace_id=ID, message="m" * 150, n=1, ok=True)
    path.write_text(row * 100_000)
    matched_mb = path.stat().st_size / (1 << 20)
    probe = (
        "import resource, subprocess, sys\n"
        f"r = subprocess.run([sys.executable, '-m', 'tracelog', 'query', '{ID}', {str(path)!r},"
        " '--format', 'json'], stdout=subprocess.DEVNULL)\n"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=120
    )
    status, rss_mb = map(int, done.stdout.split())
    assert status == 0
    # Start-up and buffers take about 35 MB; each match keeps its line plus about 200 bytes.
    assert rss_mb < 40 + 2 * matched_mb, (rss_mb, matched_mb)


def test_gzip_on_stdin_whose_first_byte_comes_alone(tmp_path: Path) -> None:
    """A gzip stream on a pipe is recognised even when its magic number arrives in two reads."""
    data = gzip.compress(line(timestamp="2026-01-01T00:00:01Z", trace_id=ID, message="gz").encode())
    process = subprocess.Popen(
        [sys.executable, "-m", "tracelog", "query", ID, "-", "--format", "json"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write(data[:1])
    process.stdin.flush()
    time.sleep(0.5)
    process.stdin.write(data[1:])
    process.stdin.close()
    assert process.stdout is not None
    assert process.stderr is not None
    out, err = process.stdout.read(), process.stderr.read()
    process.wait(timeout=60)
    assert process.returncode == 0, err
    assert [r["message"] for r in records(out.decode())] == ["gz"]


def test_span_in_datadog_decimal(tmp_path: Path) -> None:
    """--span takes the decimal span ID Datadog writes, as well as 16 hex digits."""
    span = "b7ad6b7169203331"
    path = tmp_path / "dd.log"
    dd_trace = str(int(ID[16:], 16))
    path.write_text(
        line(message="mine", **{"dd.trace_id": dd_trace, "dd.span_id": str(int(span, 16))})
        + line(message="other", **{"dd.trace_id": dd_trace, "dd.span_id": "42"})
    )
    for span_arg in (str(int(span, 16)), span, span.upper()):
        status, out, err = run("query", ID, str(path), "--format", "json", "--span", span_arg)
        assert (status, [r["message"] for r in records(out)]) == (0, ["mine"]), err
    assert run("query", ID, str(path), "--span", "42")[0] == 0
    for bad in ("0", str(1 << 64), "x" * 16, "0" * 16):
        assert run("query", ID, str(path), "--span", bad)[0] == 2


def test_fifo_whose_writer_stays_open_ends_when_idle(tmp_path: Path) -> None:
    """A FIFO's writer that keeps it open does not hang the query: idle means done, with a note."""
    from tracelog.query._sources import FIFO_IDLE

    fifo = tmp_path / "live.log"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)  # holds the FIFO open, as a live producer does
    try:
        os.write(
            writer, line(timestamp="2026-01-01T00:00:01Z", trace_id=ID, message="live").encode()
        )
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "tracelog", "query", ID, str(fifo), "--format", "json"],
            capture_output=True,
            check=False,
            timeout=60,
        )
        elapsed = time.monotonic() - started
    finally:
        os.close(writer)
    assert done.returncode == 0, done.stderr
    assert [r["message"] for r in records(done.stdout.decode())] == ["live"]
    assert f"no data for {FIFO_IDLE:g} s; stopped reading" in done.stderr.decode()
    assert elapsed < FIFO_IDLE + 10


class TestHardening:
    """Inputs and environments that once gave a wrong answer or a wrong exit status."""

    def test_a_fifo_without_a_writer_reads_as_empty_at_once(self, tmp_path: Path) -> None:
        """No writer has the FIFO open: it is empty, exit 1 at once, no warning."""
        fifo = tmp_path / "idle.log"
        os.mkfifo(fifo)
        started = time.monotonic()
        status, out, err = run("query", ID, str(fifo), "--format", "json")
        assert (status, out, err) == (1, "", "")
        assert time.monotonic() - started < 1.0  # FIFO_IDLE (2 s) is not waited out

    def test_a_fifo_with_a_writer_is_read(self, tmp_path: Path) -> None:
        """A writer that opened the FIFO (written or not yet) is read to its end."""
        fifo = tmp_path / "live.log"
        os.mkfifo(fifo)
        holder = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        writer = os.open(fifo, os.O_WRONLY)
        os.close(holder)

        def write_later() -> None:
            time.sleep(0.3)
            os.write(writer, line(trace_id=ID, message="late").encode())
            os.close(writer)

        thread = threading.Thread(target=write_later)
        thread.start()
        try:
            status, out, err = run("query", ID, str(fifo), "--format", "json")
        finally:
            thread.join()
        assert (status, [r["message"] for r in records(out)]) == (0, ["late"]), err

    def test_a_small_datadog_decimal_is_matched_as_a_whole_value(self, tmp_path: Path) -> None:
        """Lower 64 bits of 1: the needle "1" must not make every number a candidate."""
        small = "0" * 16 + "0" * 15 + "1"
        path = tmp_path / "app.log"
        with path.open("w") as out:
            for number in range(20_000):
                out.write(line(message=f"order {number}1", n=number * 10 + 11, ratio=1.5))
            out.write(line(**{"dd.trace_id": "1", "dd.span_id": "7", "message": "string form"}))
            out.write(line(**{"dd.trace_id": 1, "dd.span_id": 7, "message": "number form"}))
            out.write(line(**{"dd.trace_id": "11", "message": "another trace"}))
        status, output, err = run("query", small, str(path), "--format", "pretty")
        assert status == 0, err
        assert "string form" in output
        assert "number form" in output
        assert "another trace" not in output
        assert "mention" not in output  # no false "other lines mention the ID"
        found = _scan_hits(path.read_bytes(), parse_trace(small).needles)
        assert found == 2  # the two records' values; no 11, 21, 1.5 or "order 01"

    def test_json_output_turns_a_raw_carriage_return_into_a_space(self, tmp_path: Path) -> None:
        """A CR between tokens (JSON whitespace) would move a terminal's cursor: not written."""
        path = tmp_path / "app.log"
        path.write_bytes(b'{"trace_id": "%s",\r"message": "hidden"}\n' % ID.encode())
        status, out, _ = run("query", ID, str(path), "--format", "json")
        assert status == 0
        assert "\r" not in out
        assert records(out) == [{"trace_id": ID, "message": "hidden"}]

    @pytest.mark.parametrize(
        ("target", "expected"),
        [("/dev/null", 0), ("/dev/full", 2)],
    )
    def test_stderr_closed(self, tmp_path: Path, target: str, expected: int) -> None:
        """Started with 2>&-: a match is 0 (warnings go nowhere), an unwritable output 2."""
        path = tmp_path / "app.log"
        path.write_text(line(trace_id=ID, message="x") + f'{{"trace_id": "{ID}", bad\n')
        script = (
            "import os, sys; os.close(2); "
            "out = open(sys.argv[1], 'w'); os.dup2(out.fileno(), 1); "
            "from tracelog.cli import main; "
            "sys.stderr = None; sys.exit(main(sys.argv[2:]))"
        )
        result = subprocess.run(
            [sys.executable, "-c", script, target, "query", ID, str(path), "--format", "json"],
            capture_output=False,
            stdout=subprocess.DEVNULL,
            check=False,
            timeout=60,
        )
        assert result.returncode == expected


def _scan_hits(data: bytes, needles: tuple[bytes, ...]) -> int:
    """How many places in *data* the scan stops at for *needles*."""
    return len(_scan._hits(data, needles, 0, len(data)))
