"""``--format json``: each record's line as read, safe to print anywhere."""

from __future__ import annotations

import re

from tracelog.query._search import Match

__all__ = ["json_line"]

# Characters JSON may hold raw inside strings that a terminal would act on.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def json_line(match: Match) -> bytes:
    r"""The record's line as read, with the few characters a terminal would obey escaped.

    They can only stand inside JSON strings, where ``\\uXXXX`` means the same
    character, so the line stays the same JSON value. A carriage return can
    only stand between tokens, as whitespace (raw control characters are not
    allowed in strings): it becomes a space, which a terminal does not obey.
    """
    line = match.line.rstrip(b"\r")
    if b"\r" in line:
        line = line.replace(b"\r", b" ")
    if line.isascii() and b"\x7f" not in line:
        return line
    text = line.decode("utf-8")
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m[0]):04x}", text).encode("utf-8")
