"""Side-by-side timing: interleaved rounds, medians, paired ratios against a baseline.

These machines are noisy, so a single absolute time means little. Every case
runs in every round, in a rotating order; within a round each case is timed
in a few blocks and keeps its fastest (the block least disturbed by the rest
of the machine). Each round yields a ratio of each case to the baseline
measured moments apart; the reported ratio is the median of those paired
ratios, with its interquartile range. Absolute figures (median per call) are
printed for scale only.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider


@dataclass
class Case:
    """One way of doing the same work; setup/teardown switch global state in and out."""

    name: str
    call: Callable[[], object]
    setup: Callable[[], object] = lambda: None
    teardown: Callable[[], object] = lambda: None
    goal: float | None = None  # the highest acceptable ratio to the baseline, if any
    limit_ms: float | None = None  # the highest acceptable median time per call, if any
    per_call_ns: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)


def arguments(
    description: str, *, rounds: int, number: int, extra: dict[str, tuple[int, str]] | None = None
) -> argparse.Namespace:
    """Command-line options shared by the benchmarks, and *extra* ``{name: (default, help)}``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rounds", type=int, default=rounds, help="interleaved rounds")
    parser.add_argument("--number", type=int, default=number, help="calls per case per round")
    for name, (default, text) in (extra or {}).items():
        parser.add_argument(f"--{name}", type=int, default=default, help=text)
    return parser.parse_args()


BLOCKS = 3


def _time(case: Case, number: int) -> float:
    call = case.call
    case.setup()
    try:
        for _ in range(min(number, 200)):  # warm caches for this case
            call()
        best = float("inf")
        for _ in range(BLOCKS):
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter_ns()
                for _ in range(number):
                    call()
                best = min(best, time.perf_counter_ns() - start)
            finally:
                gc.enable()
    finally:
        case.teardown()
    return best / number


def run(title: str, cases: list[Case], *, rounds: int, number: int) -> bool:
    """Time every case in every round; print the table; return whether all goals were met."""
    baseline = cases[0]
    for index in range(rounds):
        order = cases[index % len(cases) :] + cases[: index % len(cases)]
        timings = {case.name: _time(case, number) for case in order}
        for case in cases:
            case.per_call_ns.append(timings[case.name])
            case.ratios.append(timings[case.name] / timings[baseline.name])

    print(f"\n{title}")
    print(
        f"{rounds} interleaved rounds x {BLOCKS} blocks x {number} calls per case;"
        f" baseline: {baseline.name}"
    )
    _header("median/call")
    met = True
    for case in cases:
        ok = _row(
            case.name, statistics.median(case.per_call_ns), case.ratios, case.goal, case.limit_ms
        )
        met = met and ok
    return met


def _header(column: str) -> None:
    header = f"{'case':<52} {column:>12} {'ratio':>7} {'IQR of ratio':>15}  goal"
    print(header)
    print("-" * len(header))


def _row(
    name: str,
    figure_ns: float,
    ratios: list[float],
    goal: float | None,
    limit_ms: float | None = None,
) -> bool:
    """Print one row: the figure, the median ratio, its IQR, the verdict; return whether met."""
    ratio = statistics.median(ratios)
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    ok = (goal is None or ratio <= goal) and (limit_ms is None or figure_ns < limit_ms * 1e6)
    verdicts = [] if goal is None else [f"<= {goal:.2f}x"]
    verdicts += [] if limit_ms is None else [f"< {limit_ms:g} ms"]
    verdict = f"{' and '.join(verdicts)}  {'met' if ok else 'MISSED'}" if verdicts else ""
    spread = f"{q1:>6.3f}-{q3:<6.3f}x"
    print(f"{name:<52} {figure_ns / 1000:>9.2f} us {ratio:>6.3f}x {spread}  {verdict}")
    return ok


@dataclass
class ExtraCost:
    """The cost *on* adds over *off*, in units of *unit* (minus *unit_minus*), round by round."""

    name: str
    on: Case
    off: Case
    unit: Case
    goal: float | None = None
    unit_minus: Case | None = None


def report_extra(title: str, rows: list[ExtraCost]) -> bool:
    """Print each row's median paired ratio (on - off) / unit; return whether goals were met."""
    print(f"\n{title}")
    _header("extra/call")
    met = True
    for row in rows:
        extra = [on - off for on, off in zip(row.on.per_call_ns, row.off.per_call_ns, strict=True)]
        units = row.unit.per_call_ns
        if row.unit_minus is not None:
            units = [u - m for u, m in zip(units, row.unit_minus.per_call_ns, strict=True)]
        ratios = [cost / unit for cost, unit in zip(extra, units, strict=True)]
        ok = _row(row.name, statistics.median(extra), ratios, row.goal)
        met = met and ok
    return met


def in_sampled_span(body: Callable[[], bool]) -> None:
    """Run *body* in a sampled span of the real SDK; exit 1 if it says a goal was missed."""
    provider = TracerProvider()
    # Global, so LoggingInstrumentor and configure() find it as an application's would.
    trace.set_tracer_provider(provider)
    with provider.get_tracer("bench").start_as_current_span("request"):
        met = body()
    sys.exit(0 if met else 1)


def run_in_sampled_span(title: str, cases: list[Case], options: argparse.Namespace) -> None:
    """`run` the cases inside a sampled span of the real SDK, then exit 1 if a goal was missed."""
    in_sampled_span(lambda: run(title, cases, rounds=options.rounds, number=options.number))
