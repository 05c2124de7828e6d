"""The TRACE argument, and the byte strings a matching log line must contain."""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["TraceId", "parse_span", "parse_trace"]

_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_HEX16 = re.compile(r"[0-9a-fA-F]{16}")
# A 32-hex run that is not part of a longer hex run (a URL may hold other hex).
_EMBEDDED = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{32}(?![0-9a-fA-F])")


class WholeValue(bytes):
    """A needle that counts only as a whole JSON value, never inside a longer one.

    Datadog's decimal trace ID: the decimal of a small lower half (``1``)
    is a substring of countless numbers; as a value it stands between a
    quote or a colon and a quote, a comma, a bracket or a space.
    """


class TraceId(NamedTuple):
    """A trace ID and the ways tracelog's field profiles write it.

    Attributes:
        hex: 32 lowercase hex digits.
        datadog: the decimal string of its lower 64 bits (Datadog's ``dd.trace_id``).
    """

    hex: str
    datadog: str

    @property
    def needles(self) -> tuple[bytes, ...]:
        """What the byte-level scan looks for: lowercase hex, uppercase hex, Datadog decimal."""
        lower = self.hex.encode()
        return (lower, lower.upper(), WholeValue(self.datadog.encode()))


def _make(hex_id: str) -> TraceId:
    hex_id = hex_id.lower()
    if hex_id == "0" * 32:
        raise ValueError("the all-zero trace ID is not a valid trace ID")
    return TraceId(hex=hex_id, datadog=str(int(hex_id[16:], 16)))


def parse_trace(text: str) -> TraceId:
    """The trace ID in *text*: 32 hex digits, a W3C traceparent, or a URL holding one.

    Raises:
        ValueError: with a message saying what was expected.
    """
    value = text.strip()
    if _HEX32.fullmatch(value):
        return _make(value)
    # Imported here: OpenTelemetry's import costs the command's start-up otherwise.
    from tracelog._context import parse_traceparent  # noqa: PLC0415

    context = parse_traceparent(value)
    if context is not None:
        return _make(context.trace_id)
    import urllib.parse  # noqa: PLC0415 - only URLs need it

    parts = urllib.parse.urlsplit(value)
    if parts.scheme and (parts.netloc or parts.path):
        # Grafana and Tempo links carry the ID in the path, the query or a
        # URL-encoded JSON state; decode twice for links nested in links.
        decoded = urllib.parse.unquote(urllib.parse.unquote(value))
        found = {match.lower() for match in _EMBEDDED.findall(decoded)}
        if len(found) == 1:
            return _make(found.pop())
        if len(found) > 1:
            raise ValueError(
                f"the URL holds {len(found)} different trace IDs ({', '.join(sorted(found))}):"
                " pass the one you mean"
            )
        raise ValueError("the URL holds no 32-hex-digit trace ID")
    raise ValueError(
        "expected a trace ID (32 hex digits), a W3C traceparent (00-<trace>-<span>-<flags>)"
        " or a URL that contains a trace ID"
    )


def parse_span(text: str) -> str:
    """A span ID as 16 lowercase hex digits.

    *text* is 16 hex digits, or the decimal form Datadog writes (up to 20
    digits, below 2**64); 16 decimal digits are read as hex.

    Raises:
        ValueError: unless *text* is one of those and not zero.
    """
    value = text.strip()
    if _HEX16.fullmatch(value):
        number = int(value, 16)
    elif value.isascii() and value.isdigit() and len(value) <= 20 and int(value) < 1 << 64:
        number = int(value)
    else:
        raise ValueError("expected a span ID: 16 hex digits, or a Datadog decimal span ID")
    if number == 0:
        raise ValueError("the all-zero span ID is not a valid span ID")
    return f"{number:016x}"
