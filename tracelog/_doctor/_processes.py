"""Several processes behind one /metrics: multiprocess mode in this process, flapping over HTTP.

A pre-fork server (gunicorn ``-w N``, uvicorn ``--workers N``) runs several
processes behind one port. Without prometheus_client's multiprocess mode each
answers a scrape with its own counts, so successive scrapes flap between
them: counters go down (Prometheus counts a reset each time, and ``rate()``
and ``increase()`` come out wrong) and the process metrics change.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

from tracelog._doctor._http import Answer, HttpError, get_at_once, shown
from tracelog._doctor._metrics import ACCEPT, NO_ANSWER, OPENMETRICS
from tracelog._doctor._report import DoctorCheck

__all__ = ["AT_ONCE", "SCRAPES", "multiprocess_check", "processes_check"]

SCRAPES = 12  # scrapes at most; the check stops at the first sign of several processes
AT_ONCE = 3  # scrapes in flight together
_VARIABLES = ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")
_IDENTITY = "process_start_time_seconds"
# Advice that never binds a port per worker (start_http_server in each one would
# fail with EADDRINUSE in all but the first).
MERGE = (
    "run gunicorn with -c python:tracelog.gunicorn (uvicorn --workers and other pre-fork"
    " servers: start them with PROMETHEUS_MULTIPROC_DIR set to an empty directory), and"
    " serve /metrics with tracelog.metrics.make_wsgi_app() or make_asgi_app(), which then"
    " serve every worker's counts and exemplars, merged"
)


def multiprocess_check() -> list[DoctorCheck]:
    """The in-process ``multiprocess`` check: multiprocess mode, when set, is really on."""
    name = "multiprocess"
    variable = next((v for v in _VARIABLES if os.environ.get(v)), None)
    if variable is None:
        return [
            DoctorCheck.ok(
                name,
                "PROMETHEUS_MULTIPROC_DIR is not set: this process serves its own metrics"
                " (right for one process; with several workers, see metrics-processes)",
            )
        ]
    path = os.environ[variable]
    if not os.path.isdir(path):
        return [
            DoctorCheck.problem(
                name,
                f"{variable} is {path!r}, which is not a directory: prometheus_client fails"
                " to make any metric",
                "create it, empty, before the server starts, or let gunicorn -c"
                " python:tracelog.gunicorn make one",
            )
        ]
    values = sys.modules.get("prometheus_client.values")
    if values is not None and not getattr(values.ValueClass, "_multiprocess", False):
        return [
            DoctorCheck.problem(
                name,
                f"{variable} is set, but prometheus_client was imported before it was: this"
                " process keeps its values in memory, outside the other processes' merge",
                f"set {variable} in the server's environment (or run gunicorn with -c"
                " python:tracelog.gunicorn), so it is set before anything imports"
                " prometheus_client",
            )
        ]
    return [
        DoctorCheck.ok(
            name,
            f"multiprocess mode in {path}: tracelog.metrics keeps every process's counts and"
            " exemplars there, and its make_wsgi_app()/make_asgi_app() serve their merge",
        )
    ]


@dataclass
class _Scrape:
    """What one scrape showed: counter totals and the answering process's start time."""

    counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    started: float | None = None


def _read(body: bytes, content_type: str) -> _Scrape:
    if content_type.split(";", maxsplit=1)[0].strip().lower() == OPENMETRICS:
        from prometheus_client.openmetrics.parser import (  # noqa: PLC0415
            text_string_to_metric_families,
        )
    else:
        from prometheus_client.parser import (  # noqa: PLC0415
            text_string_to_metric_families,
        )
    scrape = _Scrape()
    for family in text_string_to_metric_families(body.decode("utf-8", "replace")):  # type: ignore[no-untyped-call]
        for sample in family.samples:
            if sample.name == _IDENTITY:
                scrape.started = sample.value
            elif family.type == "counter" and sample.name.endswith("_total"):
                scrape.counters[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return scrape


def processes_check(url: str, *, timeout: float) -> list[DoctorCheck]:
    """The ``metrics-processes`` check: successive scrapes come from one set of counts.

    Scrapes go out in rounds of `AT_ONCE`, their connections all made before any
    request is sent (`get_at_once`): a pre-fork server's worker holding one cannot
    take the next, so its other workers answer the rest (one scrape after another,
    or even three at once, the same idle worker can take them all).
    """
    name = "metrics-processes"
    deadline = time.monotonic() + timeout
    scrapes: list[_Scrape] = []
    previous: list[_Scrape] = []  # the last round: all of it ended before this round began
    while len(scrapes) < SCRAPES:
        left = deadline - time.monotonic()
        if scrapes and left <= 0:
            break
        wait = max(left, 0.1)
        answers = [_read_answer(a) for a in get_at_once(url, AT_ONCE, timeout=wait, accept=ACCEPT)]
        failures = [a for a in answers if isinstance(a, str)]
        round_ = [a for a in answers if isinstance(a, _Scrape)]
        unparsed = next((f for f in failures if f.startswith(_UNPARSED)), None)
        if unparsed is not None:
            return [DoctorCheck.skipped(name, unparsed)]
        if not scrapes and not round_:
            return [DoctorCheck.skipped(name, f"{NO_ANSWER}: {failures[0]}")]
        flapping = _flapping(scrapes, previous, round_)
        scrapes += round_
        if flapping is not None:
            return [
                DoctorCheck.problem(
                    name,
                    f"{len(scrapes)} scrapes of {shown(url)}: {flapping}: several processes"
                    " answer /metrics, each with its own counts, without prometheus_client's"
                    " multiprocess mode; Prometheus counts a reset at each switch, so rate()"
                    " and increase() come out wrong (or the app restarted during the check)",
                    MERGE,
                )
            ]
        if failures:  # the deadline or the server gave out: judge what came
            break
        previous = round_
    if len(scrapes) < 2:
        return [DoctorCheck.skipped(name, "one scrape only, within --timeout")]
    return [
        DoctorCheck.ok(
            name,
            f"{len(scrapes)} scrapes of {shown(url)} agree: no counter went down and the same"
            " process (or one multiprocess merge) answered each",
        )
    ]


_UNPARSED = "the answer does not parse"


def _read_answer(answer: Answer | HttpError) -> _Scrape | str:
    """One scrape's counts, or why there are none, in words fit for a report."""
    if isinstance(answer, HttpError):
        return str(answer)
    try:
        return _read(answer.body, answer.content_type)
    except Exception as error:  # the parsers raise ValueError, and worse on odd input
        return f"{_UNPARSED}: {type(error).__name__}: {error}"


def _flapping(earlier: list[_Scrape], previous: list[_Scrape], round_: list[_Scrape]) -> str | None:
    """Why *round_* cannot come from the one process that answered *earlier*; None if it can.

    A process's start time never changes. Its counters never go down, but only
    between rounds: scrapes of one round run at the same time, in any order.
    """
    first = next((s.started for s in (*earlier, *round_) if s.started is not None), None)
    for scrape in round_:
        if first is not None and scrape.started is not None and scrape.started != first:
            return f"{_IDENTITY} changed from {first:.2f} to {scrape.started:.2f}"
    for before_scrape in previous:
        for scrape in round_:
            for key, value in scrape.counters.items():
                before = before_scrape.counters.get(key)
                if before is not None and value < before:
                    labels = ",".join(f'{k}="{v}"' for k, v in key[1])
                    return f"{key[0]}{{{labels}}} went down from {before:g} to {value:g}"
    return None
