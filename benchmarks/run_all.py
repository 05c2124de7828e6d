"""Run every benchmark, each in a fresh process; exit 1 if any goal was missed.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/run_all.py``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
BENCHMARKS = [
    "bench_structlog.py",
    "bench_stdlib.py",
    "bench_loguru.py",
    "bench_span_events.py",
    "bench_otel_logs.py",
    "bench_metrics.py",
    "bench_multiprocess.py",
    "bench_query.py",
]


def main() -> int:
    """Run the benchmarks one after another and report which goals were met."""
    missed = []
    for script in BENCHMARKS:
        result = subprocess.run([sys.executable, str(HERE / script), *sys.argv[1:]], check=False)
        if result.returncode != 0:
            missed.append(script)
    print("\nall goals met" if not missed else f"\ngoals missed in: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
