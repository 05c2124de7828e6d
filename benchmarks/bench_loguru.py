"""loguru: tracelog.configure() with IDs vs loguru's own ``serialize=True`` sink.

Goal: loguru through ``tracelog.configure()`` (patcher and JSON format, IDs
included) costs at most 1.0x loguru's own JSON output (``serialize=True``),
inside a sampled span. Both write to a text stream on ``/dev/null``. The goal's
case turns the span-event bridge off (``span_events=None``), since the baseline
adds no span events; ``configure()``'s defaults, bridge on, are timed alongside
(the bridge's own cost is ``bench_span_events.py``'s subject).

Run: ``.venv/bin/python benchmarks/bench_loguru.py`` (or ``make bench``).
"""

from __future__ import annotations

import os

from _harness import Case, arguments, run_in_sampled_span
from loguru import logger

import tracelog


def main() -> None:
    """Time both sinks side by side inside a sampled span."""
    options = arguments(__doc__ or "", rounds=31, number=2000)
    sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    logger.remove()
    serialized: list[int] = []

    def serialize_in() -> None:
        serialized.append(logger.add(sink, serialize=True, level="INFO"))

    def serialize_out() -> None:
        logger.remove(serialized.pop())

    def call() -> None:
        logger.info("request handled", path="/checkout", status=200, ms=12.5)

    cases = [
        Case("loguru serialize=True, no IDs", call, serialize_in, serialize_out),
        Case(
            "tracelog.configure(span_events=None), IDs",
            call,
            lambda: tracelog.configure(output=sink, integrations=["loguru"], span_events=None),
            tracelog.reset,
            goal=1.0,
        ),
        Case(
            "tracelog.configure() defaults, + span events",
            call,
            lambda: tracelog.configure(output=sink, integrations=["loguru"]),
            tracelog.reset,
        ),
    ]
    run_in_sampled_span("loguru: configure() vs serialize=True", cases, options)


if __name__ == "__main__":
    main()
