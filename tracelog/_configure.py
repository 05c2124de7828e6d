"""``tracelog.configure()`` and ``tracelog.reset()``: one call at start-up."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from typing import IO

from opentelemetry import trace

from tracelog import _errors
from tracelog._fields import PROFILES
from tracelog._output import Output
from tracelog._redact import DEFAULT_REDACT_KEYS, Redactor
from tracelog._render import FORMATS, Renderer

__all__ = ["INTEGRATIONS", "configure", "reset"]

INTEGRATIONS = ("stdlib", "structlog", "loguru")
_LEVELS = {
    "TRACE": 5,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "SUCCESS": 25,
    "WARNING": logging.WARNING,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
    "FATAL": logging.CRITICAL,
}

_lock = threading.RLock()
_undo: list[Callable[[], None]] = []
_output: Output | None = None


def configure(
    *,
    service_name: str | None = None,
    level: str | int = "INFO",
    format: str = "json",
    output: str | os.PathLike[str] | IO[str] | None = None,
    fields: str = "otel",
    redact: Iterable[str] = DEFAULT_REDACT_KEYS,
    integrations: Iterable[str] | None = None,
) -> None:
    """Send stdlib logging, structlog and loguru to one output, in one schema.

    Every record carries the IDs of the span current where it was logged.
    Calling it again replaces the previous configuration; `reset` undoes it.
    It never calls ``logging.basicConfig``: it adds one handler to the root
    logger and leaves other handlers alone.

    Args:
        service_name: the ``service.name`` to write. Default:
            ``OTEL_SERVICE_NAME``, else the SDK tracer provider's resource,
            else none.
        level: the root level, a name (``"INFO"``) or a number.
        format: ``"json"``, or ``"console"`` for people (coloured on a TTY).
        output: None for ``sys.stdout``, a path to append to, or a text stream.
        fields: ``"otel"``, ``"ecs"``, ``"datadog"`` or ``"gcp"``.
        redact: key words whose values are replaced by ``"[REDACTED]"``.
        integrations: any of ``"stdlib"``, ``"structlog"``, ``"loguru"``;
            None for every one that is installed.

    Raises:
        ValueError, TypeError: an option is invalid (nothing is changed).
        tracelog.MissingExtraError: a requested integration is not installed.
    """
    levelno = _level(level)
    if format not in FORMATS:
        raise ValueError(f'format must be "json" or "console", not {format!r}')
    if fields not in PROFILES:
        raise ValueError(f"fields must be one of {', '.join(map(repr, PROFILES))}, not {fields!r}")
    try:
        redact_keys = redact if isinstance(redact, str) else tuple(redact)
    except TypeError:
        raise TypeError(f"redact takes a collection of key words, not {redact!r}") from None
    Redactor(redact_keys)  # validates before anything changes
    adapters = _adapters(integrations)
    name = _service_name(service_name)
    with _lock:
        target = Output(output)
        try:
            # One renderer for all three libraries: one schema, by construction.
            renderer = Renderer(
                format=format,
                fields=fields,
                service_name=name,
                redact=redact_keys,
                isatty=target.isatty(),
            )
        except BaseException:
            target.close()
            raise
        reset()
        global _output
        _output = target
        try:
            for install in adapters:
                _undo.append(install(renderer, levelno, target))
        except BaseException:
            reset()
            raise


def reset() -> None:
    """Undo `configure` completely: handlers, factories, patchers, structlog config."""
    global _output
    with _lock:
        while _undo:
            undo = _undo.pop()
            try:
                undo()
            except Exception as exc:
                _errors.report("could not undo part of the configuration", exc)
        if _output is not None:
            _output.close()
            _output = None


def _level(level: str | int) -> int:
    if isinstance(level, bool) or not isinstance(level, (int, str)):
        raise TypeError(f"level must be a level name or number, not {level!r}")
    if isinstance(level, int):
        if level < 0:
            raise ValueError(f"level must not be negative, not {level}")
        return level
    number = _LEVELS.get(level.upper())
    if number is None:
        registered = logging.getLevelName(level.upper())
        if isinstance(registered, int):
            return registered
        raise ValueError(f"unknown level {level!r}; use one of {', '.join(_LEVELS)} or a number")
    return number


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _adapters(
    integrations: Iterable[str] | None,
) -> list[Callable[[Renderer, int, Output], Callable[[], None]]]:
    if integrations is None:
        names = [name for name in INTEGRATIONS if name == "stdlib" or _installed(name)]
    else:
        if isinstance(integrations, str):
            raise TypeError(
                'integrations takes a collection of names, e.g. ["stdlib", "structlog"]'
            )
        names = list(integrations)
        unknown = [name for name in names if name not in INTEGRATIONS]
        if unknown:
            raise ValueError(
                f"unknown integrations {unknown!r}; choose from {', '.join(INTEGRATIONS)}"
            )
    adapters = []
    for name in INTEGRATIONS:
        if name in names:
            # Importing the adapter raises MissingExtraError if its library is absent.
            module = importlib.import_module(f"tracelog.{name}")
            adapters.append(module._configure)
    return adapters


def _service_name(explicit: str | None) -> str | None:
    if explicit is not None:
        if not isinstance(explicit, str):
            raise TypeError(f"service_name must be a string, not {type(explicit).__name__}")
        return explicit or None
    name = os.environ.get("OTEL_SERVICE_NAME", "").strip()
    if name:
        return name
    try:
        resource = getattr(trace.get_tracer_provider(), "resource", None)
        value = getattr(resource, "attributes", {}).get("service.name")
    except Exception:
        value = None
    if isinstance(value, str) and value and not value.startswith("unknown_service"):
        return value
    for pair in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, _, value = pair.partition("=")
        if key.strip() == "service.name" and value.strip():
            return urllib.parse.unquote(value.strip())
    return None
