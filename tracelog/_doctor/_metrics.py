"""``--metrics-url``: /metrics answers OpenMetrics, with exemplars labelled as tracelog's."""

from __future__ import annotations

from tracelog import _exemplar
from tracelog._context import from_hex
from tracelog._doctor._http import HttpError, get, shown
from tracelog._doctor._report import DoctorCheck

__all__ = ["ACCEPT", "NO_ANSWER", "OPENMETRICS", "exemplar_label_names", "metrics_checks"]

# What Prometheus (2.x) sends when scraping: OpenMetrics first, classic text last.
ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
OPENMETRICS = "application/openmetrics-text"
NO_ANSWER = "the metrics endpoint did not answer"
_SERVE = (
    "serve /metrics with tracelog.metrics.make_wsgi_app, make_asgi_app or start_http_server"
    " (or prometheus_client's, which negotiate the format), not generate_latest's classic text"
)


def exemplar_label_names() -> tuple[str, ...]:
    """The label names tracelog gives exemplars, read from the code that writes them."""
    sample = from_hex("0" * 31 + "1", "0" * 15 + "1")
    assert sample is not None
    return tuple(_exemplar.render(sample))


def metrics_checks(url: str, *, timeout: float) -> tuple[list[DoctorCheck], list[str]]:
    """The ``metrics-format`` and ``metrics-exemplars`` checks, and the series holding exemplars."""
    try:
        answer = get(url, timeout=timeout, accept=ACCEPT)
    except HttpError as error:
        return [
            DoctorCheck.problem(
                "metrics-format", str(error), "check the URL, and that the app is serving"
            ),
            DoctorCheck.skipped("metrics-exemplars", NO_ANSWER),
        ], []
    media_type = answer.content_type.split(";")[0].strip().lower()
    if media_type != OPENMETRICS:
        answered = answer.content_type or "no Content-Type"
        return [
            DoctorCheck.problem(
                "metrics-format",
                f"asked for OpenMetrics as Prometheus does, {shown(url)} answered {answered}:"
                " the classic text format carries no exemplars",
                _SERVE,
            ),
            DoctorCheck.skipped("metrics-exemplars", "the answer is not OpenMetrics"),
        ], []
    format_ok = DoctorCheck.ok("metrics-format", f"{shown(url)} answers {answer.content_type}")
    exemplars, series = _exemplars(answer.body)
    return [format_ok, exemplars], series


def _exemplars(body: bytes) -> tuple[DoctorCheck, list[str]]:
    from prometheus_client.openmetrics.parser import (  # noqa: PLC0415 - only this check
        text_string_to_metric_families,
    )

    try:
        families = list(text_string_to_metric_families(body.decode("utf-8")))  # type: ignore[no-untyped-call]
    except Exception as error:  # the parser raises ValueError, and worse on odd input
        return DoctorCheck.problem(
            "metrics-exemplars",
            f"the answer does not parse as OpenMetrics: {type(error).__name__}: {error}",
            _SERVE,
        ), []
    names = exemplar_label_names()
    good: dict[str, int] = {}
    wrong: dict[str, set[tuple[str, ...]]] = {}
    for family in families:
        for sample in family.samples:
            if sample.exemplar is None:
                continue
            labels = tuple(sorted(sample.exemplar.labels))
            if set(names) <= set(labels):
                good[sample.name] = good.get(sample.name, 0) + 1
            else:
                wrong.setdefault(sample.name, set()).add(labels)
    expected = ", ".join(names)
    if wrong:
        seen = "; ".join(
            f"{name}: {' / '.join(', '.join(labels) or '(none)' for labels in sorted(sets))}"
            for name, sets in sorted(wrong.items())
        )
        return DoctorCheck.problem(
            "metrics-exemplars",
            f"exemplars labelled otherwise than tracelog's {expected} ({seen}): the Grafana"
            f" datasource that `tracelog grafana` writes looks the trace up by {names[0]},"
            " so these exemplars link to nothing",
            "observe through tracelog.metrics (Histogram, Counter, the middleware) or pass"
            " exemplar=tracelog.metrics.exemplar(), instead of labelling exemplars by hand",
        ), sorted(good)
    if not good:
        return DoctorCheck.problem(
            "metrics-exemplars",
            "no sample carries an exemplar: no observation was made inside a sampled span"
            " (or the metrics are not tracelog.metrics')",
            "observe through tracelog.metrics (Histogram, Counter, ASGIMiddleware or"
            " WSGIMiddleware) inside sampled spans, then check again",
        ), []
    total = sum(good.values())
    return DoctorCheck.ok(
        "metrics-exemplars",
        f"{total} exemplar{'s' if total != 1 else ''} labelled {expected}"
        f" on {', '.join(sorted(good))}",
    ), sorted(good)
