"""A small YAML emitter for configuration files: dicts, lists, strings, ints, bools, None.

tracelog has no YAML dependency, and the files it writes (Grafana
provisioning) hold only these types. Block style throughout; a string is
written plain only when it cannot be read as anything but that string
(`_PLAIN` and not one of YAML 1.1's booleans or nulls, which Go's and
Python's YAML libraries still honour), else double-quoted with escapes for
everything YAML does not allow raw.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = ["dump"]

Value = Mapping[str, "Value"] | Sequence["Value"] | str | int | bool | None

# Starts with a letter or "_", then letters, digits and "_./-": never a number,
# a date, an indicator (- ? : , [ ] { } # & * ! | > ' " % @ `), a comment or a
# key/value separator.
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
# YAML 1.1 reads these (in any of their spellings) as booleans or null.
_RESERVED = frozenset(["y", "yes", "n", "no", "true", "false", "on", "off", "null", "~"])
# What a double-quoted scalar may hold raw: YAML's printable characters, less
# the line breaks of YAML 1.1 (U+0085, U+2028, U+2029) and the byte order mark.
_RAW = re.compile(
    "[\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
# YAML readers (PyYAML, Go's) refuse an implicit key longer than this, as written.
_MAX_KEY = 1024
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def dump(value: Value) -> str:
    """*value* as a YAML document (block style), ending with a newline.

    Raises:
        TypeError: for a type it does not write (floats included: none is needed).
        ValueError: for a string YAML cannot hold (a lone surrogate), or a key
            longer than YAML's 1024 characters.
    """
    lines: list[str] = []
    _node(value, 0, lines)
    return "\n".join(lines) + "\n"


def scalar(value: str | int | bool | None) -> str:
    """One scalar as YAML text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and value.lower() not in _RESERVED:
            return value
        return '"' + "".join(_escaped(character) for character in value) + '"'
    raise TypeError(f"cannot write a {type(value).__name__} as YAML")


def _escaped(character: str) -> str:
    if character in _ESCAPES:
        return _ESCAPES[character]
    if _RAW.match(character):
        return character
    code = ord(character)
    if 0xD800 <= code <= 0xDFFF:
        raise ValueError("a lone surrogate cannot be written as YAML")
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _is_collection(value: object) -> bool:
    return isinstance(value, (Mapping, list, tuple))


def _node(value: Value, indent: int, lines: list[str]) -> None:
    """Append *value* at *indent* spaces: a collection's lines, or one scalar line."""
    pad = " " * indent
    if isinstance(value, Mapping):
        if not value:
            lines.append(pad + "{}")
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"YAML keys written here are strings, not {type(key).__name__}")
            written = scalar(key)
            if len(written) > _MAX_KEY:
                raise ValueError(
                    f"a YAML key cannot be longer than the {_MAX_KEY} characters"
                    f" YAML readers accept; this one is {len(written)} as written"
                )
            _entry(pad + written + ":", item, indent + 2, lines)
    elif isinstance(value, (list, tuple)):
        if not value:
            lines.append(pad + "[]")
        for item in value:
            _entry(pad + "-", item, indent + 2, lines)
    elif isinstance(value, (str, int)) or value is None:
        lines.append(pad + scalar(value))
    else:
        raise TypeError(f"cannot write a {type(value).__name__} as YAML")


def _entry(head: str, item: Value, indent: int, lines: list[str]) -> None:
    """A mapping entry or list item: *head*, then *item* on its line or below it."""
    if not _is_collection(item) or not item:
        if isinstance(item, Mapping):
            lines.append(head + " {}")
        elif isinstance(item, (list, tuple)):
            lines.append(head + " []")
        elif isinstance(item, (str, int)) or item is None:
            lines.append(head + " " + scalar(item))
        else:
            raise TypeError(f"cannot write a {type(item).__name__} as YAML")
        return
    if head.endswith("-") and isinstance(item, Mapping):
        # "- key: value" with the mapping's other keys aligned under the first.
        start = len(lines)
        _node(item, indent, lines)
        lines[start] = head + " " + lines[start][indent:]
        return
    lines.append(head)
    _node(item, indent, lines)
