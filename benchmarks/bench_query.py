"""``tracelog query`` vs ripgrep and jq on a ~1 GB JSON-lines log, warm cache.

Goals: ``tracelog query ID file --format json`` takes at most 2.0x the time of
``rg -F ID file`` (which is not exact: it also prints lines that merely mention
the ID), at least 30x less than ``jq -c 'select(.trace_id=="ID")' file``, and
its peak RSS stays under 150 MB.

The file (3 million tracelog otel records from six services, 20 per trace)
is generated once, reproducibly from ``--seed``, under ``benchmarks/.cache/``
(git-ignored) and reused. rg and tracelog run in interleaved rounds through
``_harness.run`` (best of 3 runs per round); jq is slow, so it runs in fewer
rounds (``--jq-rounds``), each paired with a tracelog run.

Run: ``make bench`` (installs ripgrep and jq with apt-get when missing) or
``.venv/bin/python benchmarks/bench_query.py [--records N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _harness import Case, run
from _query_data import generate

HERE = Path(__file__).parent
CACHE = HERE / ".cache"
RSS_GOAL_MB = 150.0
JQ_GOAL = 30.0


def _data(records: int, seed: int) -> tuple[Path, str]:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"query-{records}-{seed}.jsonl"
    id_file = path.with_suffix(".id")
    if not (path.exists() and id_file.exists()):
        print(f"generating {path} ({records} records)...", flush=True)
        id_file.write_text(generate(path, records=records, seed=seed))
    return path, id_file.read_text().strip()


def _tracelog_command() -> list[str]:
    script = Path(sys.executable).with_name("tracelog")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tracelog"]


def _call(command: list[str]) -> object:
    return lambda: subprocess.run(command, stdout=subprocess.DEVNULL, check=False)


def _lines(command: list[str]) -> int:
    output = subprocess.run(command, capture_output=True, check=False).stdout
    return output.count(b"\n")


def main() -> None:
    """Generate (or reuse) the log, then time the three tools side by side."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (rg, tracelog)")
    parser.add_argument("--number", type=int, default=1, help="runs per case per block")
    parser.add_argument("--jq-rounds", type=int, default=2, help="rounds for jq (slow; 0: skip jq)")
    parser.add_argument("--records", type=int, default=3_000_000, help="records in the log")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated log")
    parser.add_argument(
        "--skip-missing",
        action="store_true",
        help="skip rg or jq when not installed (for smoke runs) instead of failing",
    )
    options = parser.parse_args()
    path, trace = _data(options.records, options.seed)
    tracelog = [*_tracelog_command(), "query", trace, str(path), "--format", "json"]
    rg = ["rg", "-F", trace, str(path)]
    jq = ["jq", "-c", f'select(.trace_id=="{trace}")', str(path)]
    missing = [name for name in ("rg", "jq") if shutil.which(name) is None]
    for name in missing:
        package = {"rg": "ripgrep", "jq": "jq"}[name]
        print(f"{name} is not installed: `make bench` installs it (apt-get install {package})")
    if missing and not options.skip_missing:
        sys.exit(2)

    size_mb = path.stat().st_size / 1e6
    print(f"log: {path.name}, {size_mb:.0f} MB, trace {trace}")
    with path.open("rb") as warm:  # warm the page cache
        while warm.read(16 << 20):
            pass

    # Peak RSS first: RUSAGE_CHILDREN keeps the largest child so far, and rg maps the file.
    subprocess.run(tracelog, stdout=subprocess.DEVNULL, check=False)
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    found = _lines(tracelog)
    print(f"tracelog query: {found} lines; peak RSS {rss_mb:.1f} MB", end="")
    print(f" (goal < {RSS_GOAL_MB:.0f} MB: {'met' if rss_mb < RSS_GOAL_MB else 'MISSED'})")
    met = rss_mb < RSS_GOAL_MB
    if "rg" not in missing:
        print(f"rg -F: {_lines(rg)} lines (every line that mentions the ID)")
    if "jq" not in missing:
        print(f"jq select(.trace_id==ID): {_lines(jq)} lines")

    if "rg" not in missing:
        cases = [
            Case("rg -F ID file", _call(rg)),
            Case("tracelog query ID file --format json", _call(tracelog), goal=2.0),
        ]
        met = run("tracelog query vs ripgrep", cases, rounds=options.rounds, number=options.number)
        met = met and rss_mb < RSS_GOAL_MB
    else:
        print("skipped: tracelog vs rg (rg missing)")

    if "jq" not in missing and options.jq_rounds > 0:
        ratios, jq_times, tl_times = [], [], []
        for _ in range(options.jq_rounds):
            start = time.perf_counter()
            subprocess.run(jq, stdout=subprocess.DEVNULL, check=False)
            jq_time = time.perf_counter() - start
            start = time.perf_counter()
            subprocess.run(tracelog, stdout=subprocess.DEVNULL, check=False)
            tl_time = time.perf_counter() - start
            jq_times.append(jq_time)
            tl_times.append(tl_time)
            ratios.append(jq_time / tl_time)
        ratio = statistics.median(ratios)
        ok = ratio >= JQ_GOAL
        met = met and ok
        print(f"\ntracelog query vs jq: {len(ratios)} paired rounds")
        print(
            f"jq {statistics.median(jq_times):.2f} s, tracelog {statistics.median(tl_times):.3f} s:"
            f" tracelog is {ratio:.1f}x faster (range {min(ratios):.1f}-{max(ratios):.1f}x)"
            f"  goal >= {JQ_GOAL:.0f}x  {'met' if ok else 'MISSED'}"
        )
    else:
        print(f"skipped: tracelog vs jq ({'jq missing' if 'jq' in missing else '--jq-rounds 0'})")
    if os.environ.get("CI") is None and missing:
        print("(run `make bench` to install the missing tools)")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
