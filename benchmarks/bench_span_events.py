"""The span-event bridge: what it adds per record, in units of a bare ``span.add_event``.

Goal: per record, the extra cost of ``configure()`` with the bridge on
(``span_events="INFO"``, the default) over the same ``configure()`` with it
off (``span_events=None``) is at most 1.5x the cost of a bare
``span.add_event`` with the same three attributes, for each of stdlib,
structlog and loguru, inside a sampled span of the real SDK.

The cost of a bare ``add_event`` is measured two ways, and both ratios are
printed, each taken round by round from cases measured moments apart:

- in context (the goal's figure): the same pipeline with the bridge off and a
  hand-written ``span.add_event(message, fields)`` after each log call, minus
  the pipeline alone. This is what adding span events by hand costs there;
  the ratio says what the bridge costs beside it.
- alone: ``span.add_event`` in a tight loop, where its code and data stay in
  the CPU's caches. Inside a logging pipeline the same call costs more (the
  "by hand" rows show how much), so this ratio overstates the bridge's cost;
  it is printed for reference.

Every record carries the same message and three fields; the event the bridge
adds also carries the six log and code attributes.

Run: ``.venv/bin/python benchmarks/bench_span_events.py`` (or ``make bench``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import structlog
from _harness import Case, ExtraCost, arguments, in_sampled_span, report_extra, run
from loguru import logger as loguru_logger
from opentelemetry import trace

import tracelog

MESSAGE = "request handled"
FIELDS = {"path": "/checkout", "status": 200, "ms": 12.5}


def main() -> None:
    """Time each library with the bridge on, off, and off plus add_event by hand."""
    options = arguments(__doc__ or "", rounds=31, number=2000)
    sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    stdlib_log = logging.getLogger("bench.events")
    structlog_log = structlog.get_logger("bench.events")
    loguru_log = loguru_logger.bind(**FIELDS)
    calls: dict[str, Callable[[], object]] = {
        "stdlib": lambda: stdlib_log.info(MESSAGE, extra=FIELDS),
        "structlog": lambda: structlog_log.info(MESSAGE, **FIELDS),
        "loguru": lambda: loguru_log.info(MESSAGE),
    }
    current: dict[str, Any] = {}

    def remember_span() -> None:
        current["span"] = trace.get_current_span()

    def bare_add_event() -> None:
        current["span"].add_event(MESSAGE, FIELDS)

    def configure(span_events: str | None) -> Callable[[], None]:
        def setup() -> None:
            remember_span()
            tracelog.configure(output=sink, span_events=span_events)

        return setup

    def by_hand(call: Callable[[], object]) -> Callable[[], None]:
        def both() -> None:
            call()
            current["span"].add_event(MESSAGE, FIELDS)

        return both

    alone = Case("bare span.add_event alone, three attributes", bare_add_event, remember_span)
    cases = [alone]
    in_context, standalone, inflation = [], [], []
    for library, call in calls.items():
        off = Case(f"{library}: span_events=None", call, configure(None), tracelog.reset)
        on = Case(f"{library}: span_events='INFO'", call, configure("INFO"), tracelog.reset)
        hand = Case(
            f"{library}: span_events=None + add_event by hand",
            by_hand(call),
            configure(None),
            tracelog.reset,
        )
        cases += [off, on, hand]
        in_context.append(
            ExtraCost(f"{library}: bridge / add_event in context", on, off, hand, 1.5, off)
        )
        standalone.append(ExtraCost(f"{library}: bridge / add_event alone", on, off, alone))
        inflation.append(ExtraCost(f"{library}: add_event by hand / alone", hand, off, alone))

    def body() -> bool:
        run(
            "span events: each pipeline with the bridge on, off, and off + add_event by hand",
            cases,
            rounds=options.rounds,
            number=options.number,
        )
        met = report_extra(
            "the bridge's extra cost (on - off), in units of add_event's cost in the same pipeline"
            " ((by hand - off)): the goal",
            in_context,
        )
        report_extra("the same extra cost in units of add_event alone (for reference)", standalone)
        report_extra("add_event's own cost in the pipeline, in units of add_event alone", inflation)
        return met

    in_sampled_span(body)


if __name__ == "__main__":
    main()
