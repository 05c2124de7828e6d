"""Redaction of sensitive values, by key, at any nesting depth.

A key is split into lowercase words (``X-Api-Key`` -> x, api, key;
``accessToken`` -> access, token) and is sensitive when a configured pattern
appears in it as whole consecutive words. So ``db_password`` and
``client_secret`` are redacted while ``input_tokens`` and ``max_tokens``
(plural: LLM counters, not credentials) are not.

Headers are redacted in the forms frameworks hand them out: mappings
(Starlette's, httpx's, requests'), lists of name/value pairs (an ASGI
scope's ``headers``, WSGI's ``response_headers``, ``dict.items()``),
werkzeug's ``Headers``/``EnvironHeaders`` (Flask's ``request.headers``) and
``email.message.Message`` (``http.client``'s response headers, and
``urllib``'s). A namedtuple is written as a mapping of its fields, so its
sensitive fields are redacted too.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Iterable, Mapping, MappingView, Sequence, Set
from typing import Any

__all__ = ["DEFAULT_REDACT_KEYS", "REDACTED", "Redactor", "key_words"]

REDACTED = "[REDACTED]"

DEFAULT_REDACT_KEYS: tuple[str, ...] = (
    "password",
    "passwords",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "secrets",
    # "tokens" is left out on purpose: input_tokens, max_tokens are LLM counters.
    "token",
    "api_key",
    "api_keys",
    "apikey",
    "access_key",
    "private_key",
    "authorization",
    "auth",
    "cookie",
    "cookies",
    "session_id",
    "sessionid",
    "credential",
    "credentials",
    "jwt",
)
"""Key words whose values tracelog replaces with ``"[REDACTED]"`` by default."""

# Containers deeper than this are cut off (and cycles are cut) in the output.
MAX_DEPTH = 64
TOO_DEEP = "[too deep]"
CYCLE = "[cycle]"

_CAMEL_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_SEPARATORS = re.compile(r"[^a-z0-9]+")
_DIGITS = re.compile(r"(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])")
# The cache of is_sensitive's answers is bounded by the characters it holds, and
# keys longer than MAX_CACHED_KEY (never a real field name; possibly chosen by
# a client, as a key in a logged request body) are not kept at all, here or in
# any other cache of keys (the attribute maker's).
MAX_CACHED_KEY = 128
_MAX_CACHED_CHARS = 256 * 1024


def key_words(key: str) -> tuple[str, ...]:
    """Split a key into lowercase words: ``"X-Api-Key"`` -> ``("x", "api", "key")``.

    Words break at separators, at camelCase and acronym boundaries, and
    between letters and digits (``password1`` -> password, 1).
    """
    spaced = _CAMEL.sub(r"\1_\2", _CAMEL_ACRONYM.sub(r"\1_\2", key))
    return tuple(word for word in _SEPARATORS.split(_DIGITS.sub("_", spaced.lower())) if word)


class Redactor:
    """Decides which keys are sensitive and copies values with them redacted."""

    __slots__ = ("_cache", "_cached_chars", "_patterns")

    def __init__(self, keys: Iterable[str] = DEFAULT_REDACT_KEYS) -> None:
        if isinstance(keys, str):
            raise TypeError("redact= takes a collection of key words, not a single string")
        patterns = set()
        for key in keys:
            if not isinstance(key, str):
                raise TypeError(f"redact= key words must be strings, not {type(key).__name__}")
            words = key_words(key)
            if words:
                patterns.add(words)
        self._patterns: tuple[tuple[str, ...], ...] = tuple(sorted(patterns))
        # Replaced, never cleared, when full: a reader holding the old dict
        # (Fields._add_extras) never sees a key vanish between `in` and `[]`.
        self._cache: dict[str, bool] = {}
        self._cached_chars = 0

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def is_sensitive(self, key: str) -> bool:
        """Whether values under *key* must not reach the output."""
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        words = key_words(key)
        result = any(_contains(words, pattern) for pattern in self._patterns)
        size = len(key)
        if size <= MAX_CACHED_KEY:
            if self._cached_chars + size > _MAX_CACHED_CHARS:
                self._cache = {}
                self._cached_chars = 0
            self._cache[key] = result
            self._cached_chars += size
        return result

    def is_sensitive_pair(self, value: Any) -> bool:
        """Whether *value* is a (name, value) pair, as headers come, with a sensitive name."""
        return bool(self._patterns) and _is_pair(value) and self._key_is_sensitive(value[0])

    def clean(self, value: Any) -> Any:
        """*value* with sensitive keys redacted in every nested mapping.

        Containers (mappings and any other collection but text and bytes) are
        copied, never modified: mappings as dicts, the others as lists.
        Dataclass, attrs and pydantic instances are copied as dicts of their
        fields, so their sensitive fields are redacted too. Cycles, nesting
        deeper than `MAX_DEPTH` and containers that cannot be read are
        replaced by markers (never by their ``str()``, which could hold the
        very values to hide). Other values are returned as they are.
        """
        if type(value) in _SCALARS:
            return value
        return self._walk(value, 0, set())

    def _walk(self, value: Any, depth: int, ancestors: set[int]) -> Any:
        try:
            if self.is_sensitive_pair(value):
                return [value[0], REDACTED]
            fields = _fields_of(value)
        except Exception:
            return _unreadable(value)
        if fields is None and not _is_container(value):
            return value
        if depth >= MAX_DEPTH:
            return TOO_DEEP
        marker = id(value)
        if marker in ancestors:
            return CYCLE
        ancestors.add(marker)
        try:
            if fields is not None or isinstance(value, Mapping):
                items = fields.items() if fields is not None else list(value.items())
                out: dict[Any, Any] = {}
                for key, item in items:
                    if self._patterns and self._key_is_sensitive(key):
                        out[key] = REDACTED
                    elif type(item) in _SCALARS:
                        out[key] = item
                    else:
                        out[key] = self._walk(item, depth + 1, ancestors)
                return out
            return [
                item if type(item) in _SCALARS else self._walk(item, depth + 1, ancestors)
                for item in list(value)
            ]
        except Exception:
            return _unreadable(value)
        finally:
            ancestors.discard(marker)

    def _key_is_sensitive(self, key: Any) -> bool:
        if isinstance(key, str):
            return self.is_sensitive(key)
        if isinstance(key, (bytes, bytearray)):  # e.g. ASGI header names
            return self.is_sensitive(bytes(key).decode("utf-8", "backslashreplace"))
        return False


_SCALARS = frozenset({str, int, float, bool, type(None)})
_PLAIN = _SCALARS | {dict, list}
# Declared sequences and sets, not anything with __len__ and __iter__: a numpy
# array or a DataFrame renders better as its own str(), and a range lazily.
_CONTAINERS = (Mapping, Sequence, Set, MappingView)
_NOT_CONTAINERS = (str, bytes, bytearray, memoryview, range)


def _is_container(value: Any) -> bool:
    return isinstance(value, _CONTAINERS) and not isinstance(value, _NOT_CONTAINERS)


def _is_pair(item: Any) -> bool:
    """Whether *item* is a (name, value) pair, as in a list of headers."""
    return (
        type(item) in (tuple, list)
        and len(item) == 2
        and isinstance(item[0], (str, bytes, bytearray))
    )


def _fields_of(value: Any) -> dict[Any, Any] | None:
    """What a record or header object holds, as a mapping, else None.

    The fields of a dataclass, attrs or pydantic instance or a namedtuple,
    and the headers of a werkzeug ``Headers`` or an ``email.message.Message``
    (a repeated header's values as a list).
    """
    if type(value) in _PLAIN or isinstance(value, type):
        return None
    if isinstance(value, tuple):
        names = getattr(type(value), "_fields", None)
        if type(names) is tuple and len(names) == len(value):
            return dict(zip(names, value, strict=True))
        return None
    if _is_header_map(value):
        headers: dict[Any, Any] = {}
        for name, item in list(value.items()):
            if name not in headers:
                headers[name] = item
            elif isinstance(headers[name], list):
                headers[name].append(item)
            else:
                headers[name] = [headers[name], item]
        return headers
    if dataclasses.is_dataclass(value):
        return {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
    attributes = getattr(type(value), "__attrs_attrs__", None)
    if attributes is not None:
        return {a.name: getattr(value, a.name, None) for a in attributes}
    dump = getattr(type(value), "model_dump", None)  # pydantic v2
    if callable(dump):
        dumped = dump(value)
        return dumped if isinstance(dumped, dict) else None
    return None


def _is_header_map(value: Any) -> bool:
    """Whether *value* is a multi-valued header map that is no Mapping.

    Neither library is imported for this: a value can only be one of their
    instances once its module has been imported by the application.
    """
    email_message = sys.modules.get("email.message")
    if email_message is not None and isinstance(value, email_message.Message):
        return True
    datastructures = sys.modules.get("werkzeug.datastructures")
    headers = getattr(datastructures, "Headers", None)
    return isinstance(headers, type) and isinstance(value, headers)


def _unreadable(value: Any) -> str:
    try:
        name = type(value).__qualname__
    except Exception:
        name = "object"
    return f"<unrepresentable {name}>"


def _contains(words: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    size = len(pattern)
    if size == 1:
        return pattern[0] in words
    return any(words[i : i + size] == pattern for i in range(len(words) - size + 1))
