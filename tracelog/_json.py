r"""One line of valid JSON for any record, whatever it holds.

Serialization uses python-json-logger's backends: its orjson formatter when
orjson is installed, its standard-library ``json`` formatter otherwise. The
fast path hands the record straight to the backend; only when that fails
(lone surrogates, cycles, ints beyond 64 bits for orjson, NaN for ``json``)
is the record sanitized in Python and serialized again. The rules are the
same for both backends:

- NaN and infinities become ``null``; ints too long for decimal (Python's
  digit limit) are written as ``0x...`` text; numeric types such as numpy's
  are written as numbers;
- lone surrogates become the text ``\udXXX``;
- bytes are decoded as UTF-8, undecodable bytes shown as ``\xNN``;
- other objects become ``str(obj)``, then ``repr(obj)``, then a marker;
- cycles and very deep nesting are cut with a marker;
- U+0085, U+2028 and U+2029 are escaped, so no line reader splits a record.
"""

from __future__ import annotations

import datetime
import enum
import functools
import json
import math
import numbers
import operator
import re
import sys
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _StdlibBackend

from tracelog import _errors
from tracelog._redact import CYCLE, MAX_DEPTH, TOO_DEEP

try:
    from pythonjsonlogger.orjson import OrjsonFormatter as _OrjsonBackend
except ImportError:  # orjson is optional
    _OrjsonBackend = None  # type: ignore[assignment,misc]

__all__ = ["ORJSON_AVAILABLE", "JsonEncoder", "json_default", "safe_str", "sanitize"]

ORJSON_AVAILABLE = _OrjsonBackend is not None


def json_default(obj: Any) -> Any:
    """Render an object JSON does not know; never raises."""
    try:
        if isinstance(obj, float):  # subclasses such as numpy.float64: a number either way
            return float.__float__(obj)
        if isinstance(obj, numbers.Integral) and not isinstance(obj, enum.Enum):
            return operator.index(obj)  # numpy integers and the like
        if isinstance(obj, numbers.Real) and not isinstance(obj, enum.Enum):
            return float(obj)
        if isinstance(obj, (bytes, bytearray, memoryview)):
            return bytes(obj).decode("utf-8", "backslashreplace")
        if isinstance(obj, (datetime.datetime, datetime.date, datetime.time)):
            return obj.isoformat()
        if isinstance(obj, enum.Enum):
            return safe_str(obj.value)
        if isinstance(obj, uuid.UUID):
            return str(obj)
        if isinstance(obj, BaseException):
            return f"{type(obj).__name__}: {safe_str(obj)}"
        if isinstance(obj, (set, frozenset)):
            return [
                safe_str(item) if not isinstance(item, (str, int, float)) else item for item in obj
            ]
    except Exception:
        pass
    return safe_str(obj)


def safe_str(obj: Any) -> str:
    """``str(obj)``, else ``repr(obj)``, else a marker naming the type."""
    if isinstance(obj, str):
        return obj
    for render in (str, repr):
        try:
            text = render(obj)
            if isinstance(text, str):
                return text
        except Exception:
            pass
    try:
        name = type(obj).__qualname__
    except Exception:
        name = "object"
    return f"<unrepresentable {name}>"


def _decimal_fits(number: int) -> bool:
    """Whether Python will write *number* in decimal (it refuses past a digit limit)."""
    if -(2**64) < number < 2**64:
        return True
    limit = sys.get_int_max_str_digits()
    return limit == 0 or number.bit_length() * 0.30103 < limit - 2


def _clean_str(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def sanitize(obj: Any, depth: int = 0, ancestors: set[int] | None = None) -> Any:
    """A copy of *obj* made only of JSON-native values, by the module's rules."""
    kind = type(obj)
    if kind is str:
        return _clean_str(obj)
    if kind is int:
        return obj if _decimal_fits(obj) else f"{obj:#x}"
    if obj is None or kind is bool:
        return obj
    if kind is float:
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, int, float)) and not isinstance(obj, enum.Enum):
        # Subclasses render as their base value, read through the base type's
        # own slot so an overridden __str__ or __int__ cannot raise here.
        if isinstance(obj, str):
            return _clean_str(str.__str__(obj))
        if isinstance(obj, int):
            return sanitize(int.__int__(obj), depth, ancestors)
        return sanitize(float.__float__(obj), depth, ancestors)
    if not isinstance(obj, (Mapping, list, tuple, set, frozenset)):
        return sanitize(json_default(obj), depth, ancestors)
    if depth >= MAX_DEPTH:
        return TOO_DEEP
    ancestors = set() if ancestors is None else ancestors
    marker = id(obj)
    if marker in ancestors:
        return CYCLE
    ancestors.add(marker)
    try:
        if isinstance(obj, Mapping):
            return {
                _clean_str(key if isinstance(key, str) else safe_str(key)): sanitize(
                    value, depth + 1, ancestors
                )
                for key, value in list(obj.items())
            }
        return [sanitize(item, depth + 1, ancestors) for item in list(obj)]
    except Exception:
        return safe_str(obj)
    finally:
        ancestors.discard(marker)


# JSON allows these raw inside strings, but str.splitlines() and other
# line readers break on them; escaped, every record stays on its own line.
_LINE_BREAKS = re.compile("[\x85\u2028\u2029]")


def _escape_line_breaks(line: str) -> str:
    if _LINE_BREAKS.search(line) is None:
        return line
    return _LINE_BREAKS.sub(lambda m: f"\\u{ord(m[0]):04x}", line)


_compact_dumps = functools.partial(json.dumps, separators=(",", ":"), allow_nan=False)


class JsonEncoder:
    """Serializes record dicts to single-line JSON text; never raises.

    Args:
        backend: ``"orjson"``, ``"json"``, or None for orjson when installed.
    """

    __slots__ = ("_fast", "backend")

    def __init__(self, *, backend: str | None = None) -> None:
        if backend not in (None, "orjson", "json"):
            raise ValueError(f'backend must be "orjson", "json" or None, not {backend!r}')
        if backend == "orjson" and not ORJSON_AVAILABLE:
            raise _errors.MissingExtraError("orjson")
        use_orjson = ORJSON_AVAILABLE if backend is None else backend == "orjson"
        self.backend = "orjson" if use_orjson else "json"
        fast: Callable[[Any], str]
        if use_orjson:
            fast = _OrjsonBackend(json_default=json_default).jsonify_log_record
        else:
            fast = _StdlibBackend(
                json_default=json_default,
                json_serializer=_compact_dumps,
                json_ensure_ascii=False,
            ).jsonify_log_record
        self._fast = fast

    def dumps(self, record: Any) -> str:
        """One line of JSON for *record* (no trailing newline)."""
        try:
            line = self._fast(record)
            if line.isascii():
                return line
            if self.backend == "json":
                # The json backend lets lone surrogates through; they would
                # fail later, when the line is encoded for output.
                line.encode("utf-8")
            return _escape_line_breaks(line)
        except Exception:
            pass
        try:
            return _escape_line_breaks(_compact_dumps(sanitize(record), ensure_ascii=False))
        except Exception as exc:  # pragma: no cover - sanitize() output is JSON-native
            _errors.report("JSON serialization failed", exc)
            return _compact_dumps({"message": "<tracelog could not render this record>"})
