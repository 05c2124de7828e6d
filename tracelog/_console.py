"""Human-friendly rendering of the same records: one line each, coloured on a TTY.

Everything that came from the application is escaped for the terminal, so a
value can neither forge a second line nor send control sequences.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when a renderer is made: escape_terminal alone stays light
    from tracelog._fields import Schema

__all__ = ["ConsoleRenderer", "escape_terminal", "use_colour"]

# C0 and C1 controls, DEL, bidi overrides and isolates, line/paragraph separators,
# and lone surrogates (valid in JSON text, but no terminal encoding can write them).
_UNSAFE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    r"\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BARE = re.compile(r"[^\s\"'=\\]+")

_RESET = "\x1b[0m"
_DIM = "\x1b[2m"
_BOLD = "\x1b[1m"
_LEVEL_COLOURS = {
    "trace": "\x1b[2m",
    "debug": "\x1b[34m",
    "info": "\x1b[32m",
    "success": "\x1b[32;1m",
    "notice": "\x1b[36m",
    "warning": "\x1b[33m",
    "error": "\x1b[31m",
    "critical": "\x1b[31;1m",
}
_KEY_COLOUR = "\x1b[36m"


def escape_terminal(text: str) -> str:
    """*text* with every character that could drive a terminal escaped."""
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(lambda m: _NAMED.get(m[0]) or f"\\u{ord(m[0]):04x}", text)


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

    __slots__ = ("_colour", "_encoder", "_keys", "_schema")

    def __init__(self, schema: Schema, *, colour: bool = False) -> None:
        profile = schema.profile
        self._schema = schema
        self._colour = colour
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
        colour = self._colour
        level = str(record.get(k_level, ""))
        parts = [
            self._paint(_DIM, escape_terminal(str(record.get(k_time, "")))),
            self._paint(_LEVEL_COLOURS.get(level.lower(), ""), f"{escape_terminal(level):<8}"),
        ]
        logger = record.get(k_logger)
        if logger is not None:
            parts.append(self._paint(_BOLD, escape_terminal(str(logger)) + ":"))
        parts.append(escape_terminal(str(record.get(k_message, ""))))
        skip = {k_time, k_level, k_logger, k_message, k_stacktrace, k_stack}
        for key, value in record.items():
            if key in skip:
                continue
            shown = f"{escape_terminal(key)}={self._value(value)}"
            parts.append(f"{_KEY_COLOUR}{shown}{_RESET}" if colour else shown)
        line = " ".join(parts)
        for key in (k_stacktrace, k_stack):
            block = record.get(key)
            if block:
                lines = str(block).rstrip("\n").split("\n")
                line += "".join(f"\n    {escape_terminal(text)}" for text in lines)
        return line

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self._colour and code else text

    def _value(self, value: Any) -> str:
        if isinstance(value, str) and _BARE.fullmatch(value):
            return escape_terminal(value)
        return escape_terminal(self._encoder.dumps(value))
