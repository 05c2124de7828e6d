"""Human-friendly rendering of the same records: one line each, coloured on a TTY.

Everything that came from the application is escaped for the terminal, so a
value can neither forge a second line nor send control sequences.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when a renderer is made: escape_terminal alone stays light
    from tracelog._fields import Schema
    from tracelog._json import JsonEncoder

__all__ = [
    "BOLD",
    "DIM",
    "KEY_COLOUR",
    "LEVEL_COLOURS",
    "ConsoleRenderer",
    "escape_terminal",
    "painter",
    "use_colour",
    "value_text",
]

# C0 and C1 controls, DEL, bidi overrides and isolates, line/paragraph separators,
# and lone surrogates (valid in JSON text, but no terminal encoding can write them).
_UNSAFE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    r"\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BARE = re.compile(r"[^\s\"'=\\]+")

# The palette of the console format and of `tracelog query`'s pretty output.
_RESET = "\x1b[0m"
DIM = "\x1b[2m"
BOLD = "\x1b[1m"
KEY_COLOUR = "\x1b[36m"
LEVEL_COLOURS = {
    "trace": "\x1b[2m",
    "debug": "\x1b[34m",
    "info": "\x1b[32m",
    "success": "\x1b[32;1m",
    "notice": "\x1b[36m",
    "warning": "\x1b[33m",
    "error": "\x1b[31m",
    "critical": "\x1b[31;1m",
}


def escape_terminal(text: str) -> str:
    """*text* with every character that could drive a terminal escaped."""
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(lambda m: _NAMED.get(m[0]) or f"\\u{ord(m[0]):04x}", text)


def painter(colour: bool) -> Callable[[str, str], str]:
    """``paint(code, text)``: *text* in colour *code* when *colour*, else as it is."""
    if not colour:
        return lambda code, text: text
    return lambda code, text: f"{code}{text}{_RESET}" if code else text


def value_text(encoder: JsonEncoder, value: Any) -> str:
    """*value* for ``key=value``: a plain word as it is, anything else as JSON; escaped."""
    if isinstance(value, str) and _BARE.fullmatch(value):
        return escape_terminal(value)
    return escape_terminal(encoder.dumps(value))


def use_colour(isatty: bool) -> bool:
    """Colour when writing to a terminal, unless ``NO_COLOR``; ``FORCE_COLOR`` forces it."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return isatty


class ConsoleRenderer:
    """Renders `Schema` records as ``time level logger: message key=value ...``.

    Args:
        schema: the schema whose records are rendered.
        colour: add ANSI colours.
    """

    __slots__ = ("_encoder", "_keys", "_paint", "_schema")

    def __init__(self, schema: Schema, *, colour: bool = False) -> None:
        profile = schema.profile
        self._schema = schema
        self._paint = painter(colour)
        self._keys = (
            profile.timestamp,
            profile.level,
            profile.logger,
            profile.message,
            profile.exception_stacktrace,
            profile.stack,
        )
        from tracelog._json import JsonEncoder  # noqa: PLC0415 - keeps escape_terminal light

        self._encoder = JsonEncoder()

    def render(self, record: dict[str, Any]) -> str:
        """One console line for *record*, plus indented stack lines if any."""
        k_time, k_level, k_logger, k_message, k_stacktrace, k_stack = self._keys
        paint = self._paint
        level = str(record.get(k_level, ""))
        parts = [
            paint(DIM, escape_terminal(str(record.get(k_time, "")))),
            paint(LEVEL_COLOURS.get(level.lower(), ""), f"{escape_terminal(level):<8}"),
        ]
        logger = record.get(k_logger)
        if logger is not None:
            parts.append(paint(BOLD, escape_terminal(str(logger)) + ":"))
        parts.append(escape_terminal(str(record.get(k_message, ""))))
        skip = {k_time, k_level, k_logger, k_message, k_stacktrace, k_stack}
        for key, value in record.items():
            if key in skip:
                continue
            parts.append(
                paint(KEY_COLOUR, f"{escape_terminal(key)}={value_text(self._encoder, value)}")
            )
        line = " ".join(parts)
        for key in (k_stacktrace, k_stack):
            block = record.get(key)
            if block:
                lines = str(block).rstrip("\n").split("\n")
                line += "".join(f"\n    {escape_terminal(text)}" for text in lines)
        return line
