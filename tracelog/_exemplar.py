"""Exemplar labels: the current span's IDs, and labels given by hand made safe.

The labels of a span are built once per span (`TraceContext.rendered`) and
are valid by construction (63 characters of label names and hex), so the hot
path neither formats nor validates them again. Labels a caller passes are
checked here before prometheus_client sees them: prometheus_client counts the
observation and only then raises on a bad exemplar, so its error cannot be
caught and retried without counting twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from tracelog._context import TraceContext, current
from tracelog._errors import report

__all__ = [
    "KEY",
    "MAX_RUNES",
    "SPAN_ID_LABEL",
    "TRACE_ID_LABEL",
    "Labels",
    "checked",
    "of_current_span",
    "render",
]

# OpenMetrics: label names and values of one exemplar, together, in UTF-8 characters.
MAX_RUNES = 128
# The per-span cache key of the labels (`TraceContext.rendered`).
KEY = "metrics.exemplar"
# The label names; Grafana's exemplar link (`tracelog.grafana`) is named after the first.
TRACE_ID_LABEL = "trace_id"
SPAN_ID_LABEL = "span_id"
# Classic label names only: prometheus_client's OpenMetrics output writes
# exemplar label names unquoted, so a UTF-8 name it would accept (with a space,
# say) makes the whole scrape unparseable. "__" names are reserved.
_LABEL_NAME = re.compile(r"(?!__)[a-zA-Z_][a-zA-Z0-9_]*")


class Labels(dict[str, str]):
    """A span's exemplar labels; multiprocess mode caches their encoding in ``encoded``."""

    __slots__ = ("encoded",)
    encoded: tuple[bytes, int]


def render(context: TraceContext) -> dict[str, str]:
    """The exemplar labels of *context*: valid by construction (63 characters)."""
    return Labels({TRACE_ID_LABEL: context.trace_id, SPAN_ID_LABEL: context.span_id})


def of_current_span() -> dict[str, str] | None:
    """The labels of the span current in this thread or task when it is sampled, else None.

    The dict is cached for the span: callers must not modify it.
    """
    context = current()
    if context is None or not context.sampled:
        return None
    return context.rendered(KEY, render)


def checked(exemplar: object) -> dict[str, str] | None:
    """The labels of *exemplar* that fit OpenMetrics' rules, or None if none do.

    Labels are kept in their order while they fit in 128 characters; a label
    that would not fit, has an invalid name, or a value that is not a string
    or not encodable as UTF-8 is dropped whole (a cut trace ID would name
    another trace). Never raises; what is dropped is reported once per kind
    to the ``tracelog`` logger.
    """
    try:
        return _checked(exemplar)
    except Exception as exc:  # a mapping whose items() fails, or worse
        report("metrics: exemplar could not be read and was dropped", exc)
        return None


def _checked(exemplar: object) -> dict[str, str] | None:
    if not isinstance(exemplar, Mapping):
        report(f"metrics: exemplar is a {type(exemplar).__qualname__}, not a mapping; dropped")
        return None
    kept: dict[str, str] = {}
    runes = 0
    for key, item in exemplar.items():
        if not isinstance(key, str) or not isinstance(item, str):
            report("metrics: exemplar label without a string name and value dropped")
            continue
        # Plain str copies: a subclass's methods must not run in prometheus_client.
        name, value = str.__str__(key), str.__str__(item)
        size = len(name) + len(value)
        if runes + size > MAX_RUNES:
            report("metrics: exemplar label over OpenMetrics' 128-character limit dropped")
            continue
        if _LABEL_NAME.fullmatch(name) is None:
            report("metrics: exemplar label with an invalid name dropped")
            continue
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate would break every later scrape
                report("metrics: exemplar label whose value is not valid UTF-8 dropped")
                continue
        kept[name] = value
        runes += size
    return kept or None
