"""Redaction of sensitive values, by key, at any nesting depth.

A key is split into lowercase words (``X-Api-Key`` -> x, api, key;
``accessToken`` -> access, token) and is sensitive when a configured pattern
appears in it as whole consecutive words. So ``db_password`` and
``client_secret`` are redacted while ``input_tokens`` and ``max_tokens``
(plural: LLM counters, not credentials) are not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["DEFAULT_REDACT_KEYS", "REDACTED", "Redactor", "key_words"]

REDACTED = "[REDACTED]"

DEFAULT_REDACT_KEYS: tuple[str, ...] = (
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "authorization",
    "auth",
    "cookie",
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
_MAX_CACHED_KEYS = 8192


def key_words(key: str) -> tuple[str, ...]:
    """Split a key into lowercase words: ``"X-Api-Key"`` -> ``("x", "api", "key")``."""
    spaced = _CAMEL.sub(r"\1_\2", _CAMEL_ACRONYM.sub(r"\1_\2", key))
    return tuple(word for word in _SEPARATORS.split(spaced.lower()) if word)


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
        """*value* with sensitive keys redacted in every nested dict.

        Containers (dicts, lists, tuples, sets) are copied, never modified;
        cycles and nesting deeper than `MAX_DEPTH` are replaced by markers.
        Other values are returned as they are.
        """
        kind = type(value)
        if kind is dict or kind is list or kind is tuple or _is_container(value):
            return self._walk(value, 0, set())
        return value

    def _walk(self, value: Any, depth: int, ancestors: set[int]) -> Any:
        if depth >= MAX_DEPTH:
            return TOO_DEEP
        marker = id(value)
        if marker in ancestors:
            return CYCLE
        ancestors.add(marker)
        try:
            if isinstance(value, Mapping):
                out: dict[Any, Any] = {}
                for key, item in list(value.items()):
                    if isinstance(key, str) and self._patterns and self.is_sensitive(key):
                        out[key] = REDACTED
                    elif type(item) in _SCALARS:
                        out[key] = item
                    else:
                        out[key] = self._walk_item(item, depth, ancestors)
                return out
            return [
                item if type(item) in _SCALARS else self._walk_item(item, depth, ancestors)
                for item in list(value)
            ]
        finally:
            ancestors.discard(marker)

    def _walk_item(self, item: Any, depth: int, ancestors: set[int]) -> Any:
        if _is_container(item):
            return self._walk(item, depth + 1, ancestors)
        return item


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _is_container(value: Any) -> bool:
    return isinstance(value, (Mapping, list, tuple, set, frozenset))


def _contains(words: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    size = len(pattern)
    if size == 1:
        return pattern[0] in words
    return any(words[i : i + size] == pattern for i in range(len(words) - size + 1))
