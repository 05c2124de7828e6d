"""The benchmark scripts run and print their table (speed itself is measured, not asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"

# Each script: how many goal verdicts it prints, and a word each verdict's row names.
SCRIPTS = {
    "bench_structlog.py": (1, "tracelog"),
    "bench_stdlib.py": (1, "tracelog"),
    "bench_loguru.py": (1, "tracelog"),
    "bench_span_events.py": (3, "bridge"),
    "bench_metrics.py": (1, "tracelog"),
    "bench_otel_logs.py": (1, "otel_logs"),
    "bench_multiprocess.py": (2, "tracelog"),
}
# Options of a script's own, at their smallest.
EXTRA = {"bench_multiprocess.py": ["--scrapes", "1"]}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_benchmark_script_runs(script: str) -> None:
    """Each script runs a tiny round and prints a ratio and a goal verdict for its cases."""
    result = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / script),
            "--rounds",
            "4",
            "--number",
            "20",
            *EXTRA.get(script, []),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=BENCHMARKS,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr  # 1: a goal missed at this tiny size
    lines = result.stdout.splitlines()
    assert any(line.startswith("case ") and "ratio" in line for line in lines)
    verdicts = [line for line in lines if line.rstrip().endswith(("met", "MISSED"))]
    count, word = SCRIPTS[script]
    assert len(verdicts) == count
    assert all(word in verdict for verdict in verdicts)


def test_query_benchmark_runs() -> None:
    """bench_query.py runs on a tiny generated log (rg or jq may be absent here) and reports."""
    result = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "bench_query.py"),
            "--records",
            "2000",
            "--rounds",
            "2",
            "--jq-rounds",
            "1",
            "--skip-missing",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=BENCHMARKS,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 1: goals at this size
    assert "tracelog query: 20 lines; peak RSS" in result.stdout
    assert ("tracelog query vs ripgrep" in result.stdout) != (
        "skipped: tracelog vs rg" in result.stdout
    )
    assert ("tracelog query vs jq" in result.stdout) != ("skipped: tracelog vs jq" in result.stdout)
