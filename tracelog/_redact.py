"""Redaction of sensitive values, by key, at any nesting depth.

A key is split into lowercase words (``X-Api-Key`` -> x, api, key;
``accessToken`` -> access, token) and is sensitive when a configured pattern
appears in it as whole consecutive words. So ``db_password`` and
``client_secret`` are redacted while ``input_tokens`` and ``max_tokens``
(plural: LLM counters, not credentials) are not.
"""

from __future__ import annotations

import dataclasses
import re
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
_MAX_CACHED_KEYS = 8192


def key_words(key: str) -> tuple[str, ...]:
    """Split a key into lowercase words: ``"X-Api-Key"`` -> ``("x", "api", "key")``.

    Words break at separators, at camelCase and acronym boundaries, and
    between letters and digits (``password1`` -> password, 1).
    """
    spaced = _CAMEL.sub(r"\1_\2", _CAMEL_ACRONYM.sub(r"\1_\2", key))
    return tuple(word for word in _SEPARATORS.split(_DIGITS.sub("_", spaced.lower())) if word)


class Redactor:
    """Decides which keys are sensitive and copies values with them redacted."""

    __slots__ = ("_cache", "_patterns")

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
        self._cache: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def is_sensitive(self, key: str) -> bool:
        """Whether values under *key* must not reach the output."""
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        words = key_words(key)
        result = any(_contains(words, pattern) for pattern in self._patterns)
        if len(self._cache) >= _MAX_CACHED_KEYS:
            self._cache.clear()
        self._cache[key] = result
        return result

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
# Declared sequences and sets, not anything with __len__ and __iter__: a numpy
# array or a DataFrame renders better as its own str(), and a range lazily.
_CONTAINERS = (Mapping, Sequence, Set, MappingView)
_NOT_CONTAINERS = (str, bytes, bytearray, memoryview, range)


def _is_container(value: Any) -> bool:
    return isinstance(value, _CONTAINERS) and not isinstance(value, _NOT_CONTAINERS)


def _fields_of(value: Any) -> dict[str, Any] | None:
    """The fields of a dataclass, attrs or pydantic instance, else None."""
    if isinstance(value, type) or type(value) in _SCALARS:
        return None
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
