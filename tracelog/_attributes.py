"""A record's fields as valid OpenTelemetry attributes, for span events and LogRecords alike.

Values become what every OpenTelemetry SDK version accepts, before the SDK
sees them: str, bool, int and float stay (ints beyond 64 bits and text with
lone surrogates become safe text), lists and tuples of one such type stay as
tuples, anything else becomes a safe string (containers as the same JSON the
log line has), text is cut at the length limit, and sensitive keys are
redacted as in the JSON output, at any depth. Keys are never cut: a cut key
could hide a sensitive word or collide with another.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from tracelog._context import TraceContext
from tracelog._fields import PROFILES, ExceptionFields, Schema
from tracelog._json import JsonEncoder, safe_str
from tracelog._redact import MAX_CACHED_KEY, REDACTED, Redactor

__all__ = ["EXCEPTION_KEYS", "RESERVED_KEYS", "AttributeMaker", "valid_utf8"]

_MAX_INT = 2**63 - 1
_MIN_INT = -(2**63)
_PRIMITIVES = (str, bool, int, float)

CODE_FUNCTION, CODE_FILE, CODE_LINE = "code.function.name", "code.file.path", "code.line.number"
EXCEPTION_KEYS = ("exception.type", "exception.message", "exception.stacktrace")
# The keys tracelog writes itself, on span events or LogRecords: an extra field
# with one of these names is written as extra.<name>, so it cannot pose as one.
RESERVED_KEYS = frozenset(
    {
        "log.record.severity_text",
        "log.record.severity_number",
        "log.record.body",
        "otel.scope.name",
        CODE_FUNCTION,
        CODE_FILE,
        CODE_LINE,
        *EXCEPTION_KEYS,
    }
)
_MAX_SITES = 4096
# The key cache holds at most 4096 keys of at most MAX_CACHED_KEY characters (~1 MB).
_MAX_KEYS = 4096


class AttributeMaker:
    """Makes attributes from a record's fields, code location and exception; never raises.

    Args:
        redact: the key words whose values are replaced by ``"[REDACTED]"``.
        length: the longest text value; None for no limit (the SDK's own
            limits apply then).
    """

    __slots__ = ("_json", "_keys", "_redactor", "_sites", "length")

    def __init__(self, *, redact: Any, length: int | None) -> None:
        self.length = sys.maxsize if length is None else length
        self._redactor = redact if isinstance(redact, Redactor) else Redactor(redact)
        self._json = JsonEncoder()
        self._sites: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._keys: dict[str, tuple[str, object | None]] = {}

    def code(self, function: Any, path: Any, line: Any) -> dict[str, Any]:
        """The ``code.*`` attributes of a call site, made once per site (do not modify)."""
        site = (function, path, line)
        attributes = self._sites.get(site)
        if attributes is None:
            attributes = {}
            if function is not None:
                attributes[CODE_FUNCTION] = self.text(function)
            if path is not None:
                attributes[CODE_FILE] = self.text(path)
            if type(line) is int and _MIN_INT <= line <= _MAX_INT:
                attributes[CODE_LINE] = line
            if len(self._sites) >= _MAX_SITES:
                self._sites.clear()
            self._sites[site] = attributes
        return attributes

    def exception(self, exception: ExceptionFields, attributes: dict[str, Any]) -> None:
        """Add the semantic conventions' ``exception.*`` attributes to *attributes*."""
        if exception.type:
            attributes["exception.type"] = self.text(exception.type)
        if exception.message or exception.type:
            attributes["exception.message"] = self.text(exception.message)
        if exception.stacktrace:
            attributes["exception.stacktrace"] = self.text(exception.stacktrace)

    def text(self, value: Any) -> str:
        """Text made a valid attribute value: cut at the limit, no lone surrogates."""
        text: str = value if type(value) is str else _plain_str(value)
        if len(text) > self.length:
            text = text[: self.length]
        if not text.isascii():
            text = valid_utf8(text)[: self.length]
        return text

    def extras(
        self, extras: Mapping[Any, Any], trace: TraceContext | None, skip: frozenset[str]
    ) -> dict[str, Any]:
        """The extra fields as attributes; keys in *skip* and copies of *trace*'s IDs left out."""
        attributes: dict[str, Any] = {}
        keys = self._keys
        length = self.length
        ids: dict[str, Any] | None = None
        for raw_key, value in extras.items():
            if raw_key in skip:
                continue
            known = keys.get(raw_key) if type(raw_key) is str else None
            key, marker = self._key(raw_key) if known is None else known
            if marker is not None:
                if marker is _REDACT:
                    attributes[key] = REDACTED
                    continue
                if marker is _SKIP:
                    continue
                if trace is not None:  # a key trace IDs are stamped under
                    if ids is None:
                        ids = trace.rendered("attributes", _all_ids)
                    if ids.get(key, _ABSENT) == value:
                        continue  # IDs stamped by a processor or patcher: the record says them
            kind = type(value)
            if kind is str:
                attributes[key] = (
                    value if len(value) <= length and value.isascii() else self.text(value)
                )
            elif kind is int:
                attributes[key] = (
                    value if _MIN_INT <= value <= _MAX_INT else self.text(_int_text(value))
                )
            elif kind is float or kind is bool:
                attributes[key] = value
            elif value is not None:
                attributes[key] = self._value(value)
        return attributes

    def _key(self, raw_key: Any) -> tuple[str, object | None]:
        """An extra field's attribute key and what it is (cached for str keys).

        The marker is `_REDACT` for a sensitive key, `_ID` for a key trace IDs
        are stamped under, `_SKIP` for an empty key (OpenTelemetry has none),
        None otherwise.
        """
        if isinstance(raw_key, (bytes, bytearray)):
            key = bytes(raw_key).decode("utf-8", "backslashreplace")
        else:
            key = valid_utf8(_plain_str(raw_key))
        marker: object | None = None
        if not key:
            marker = _SKIP
        elif self._redactor and self._redactor.is_sensitive(key):
            marker = _REDACT
        elif key in RESERVED_KEYS:
            key = f"extra.{key}"
        elif key in _ID_KEYS and type(raw_key) is str:
            marker = _ID
        if type(raw_key) is str and len(raw_key) <= MAX_CACHED_KEY:  # never a long one
            if len(self._keys) >= _MAX_KEYS:
                self._keys = {}  # replaced, not cleared: another thread may be reading it
            self._keys[raw_key] = (key, marker)
        return key, marker

    def _value(self, value: Any) -> Any:
        """A valid attribute value for anything but the plain str/int/float/bool."""
        if type(value) in (list, tuple) and not self._redactor.is_sensitive_pair(value):
            kinds = {type(item) for item in value}
            if not kinds:
                return ()
            if len(kinds) == 1:
                kind = kinds.pop()
                if kind is str:
                    return tuple(self.text(item) for item in value)
                if kind is int:
                    if all(_MIN_INT <= item <= _MAX_INT for item in value):
                        return tuple(value)
                elif kind is bool or kind is float:
                    return tuple(value)
        elif isinstance(value, (bytes, bytearray, memoryview)):
            return self.text(bytes(value).decode("utf-8", "backslashreplace"))
        elif isinstance(value, _PRIMITIVES):
            # Subclasses, read through the base type so an override cannot raise.
            if isinstance(value, str):
                return self.text(str.__str__(value))
            if isinstance(value, bool):
                return bool(value)
            if isinstance(value, int):
                number = int.__index__(value)
                return number if _MIN_INT <= number <= _MAX_INT else self.text(_int_text(number))
            return float.__float__(value)
        cleaned = self._redactor.clean(value)
        if isinstance(cleaned, (dict, list)):
            return self.text(self._json.dumps(cleaned))
        return self.text(safe_str(cleaned))


_ABSENT = object()
_REDACT = object()  # marks a sensitive key
_SKIP = object()  # marks a key that cannot be an attribute
_ID = object()  # marks a key a trace-ID field may be stamped under
_ID_SCHEMAS = tuple(Schema(fields=profile, redact=()) for profile in PROFILES)
_ID_KEYS = frozenset(key for schema in _ID_SCHEMAS for key in schema.trace_keys)


def _all_ids(trace: TraceContext) -> dict[str, Any]:
    """The trace-ID fields of every profile, as a processor or patcher would stamp them."""
    ids: dict[str, Any] = {}
    for schema in _ID_SCHEMAS:
        ids.update(schema.trace_fields(trace))
    return ids


def valid_utf8(text: str) -> str:
    r"""*text* with lone surrogates written as ``\udXXX`` (OTLP cannot encode them)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _plain_str(value: Any) -> str:
    """A str subclass as its plain text (read through str, so no override runs), else safe_str."""
    return str.__str__(value) if isinstance(value, str) else safe_str(value)


def _int_text(number: int) -> str:
    """An int beyond 64 bits as text (hex past Python's decimal digit limit)."""
    try:
        return str(number)
    except ValueError:
        return f"{number:#x}"
