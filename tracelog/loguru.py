"""loguru integration: a patcher that stamps IDs and formats that write the schema.

- `patcher` puts ``trace_id``, ``span_id`` and ``trace_flags`` into
  ``record["extra"]``. Patchers run in the thread that logs, before any sink,
  so the IDs are right for every sink, ``enqueue=True`` included.
  `install_patcher` installs it on the global logger, chained after any
  patcher already configured there.
- `JsonFormat` and `ConsoleFormat` are ``format=`` callables for
  ``logger.add``. loguru calls them in the logging thread, before a queued
  sink's hand-off, so the line is rendered where the IDs are current.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import time
from collections.abc import Callable
from typing import Any

from tracelog import _context, _errors
from tracelog._errors import MissingExtraError
from tracelog._fields import ExceptionFields, exception_fields
from tracelog._json import safe_str
from tracelog._output import Output
from tracelog._redact import DEFAULT_REDACT_KEYS
from tracelog._render import ERROR_KEY, Renderer

try:
    import loguru
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError("loguru") from exc

__all__ = [
    "ConsoleFormat",
    "JsonFormat",
    "Patcher",
    "install_patcher",
    "patcher",
    "uninstall_patcher",
]

_CACHE_KEY = "loguru"
_PATCHER_KEYS = frozenset({"trace_id", "span_id", "trace_flags"})


def patcher(record: Any) -> None:
    """Put the current span's IDs into ``record["extra"]`` (nothing outside a span).

    A different value the caller bound under one of these keys is kept as
    ``extra.<key>``, as tracelog's schema keeps a field that collides.
    """
    try:
        trace = _context.current()
        if trace is not None:
            fields = trace._rendered.get(_CACHE_KEY)
            if fields is None:
                fields = {
                    "trace_id": trace.trace_id,
                    "span_id": trace.span_id,
                    "trace_flags": trace.trace_flags,
                }
                trace._rendered[_CACHE_KEY] = fields
            extra = record["extra"]
            if "trace_id" in extra or "span_id" in extra or "trace_flags" in extra:
                for key, value in fields.items():
                    if key in extra and extra[key] != value:
                        extra[f"extra.{key}"] = extra[key]
            extra.update(fields)
    except Exception as exc:
        _errors.report("could not read the trace context", exc)


class Patcher:
    """`patcher`, chained after a previously configured patcher.

    Args:
        previous: the patcher to run first, if any.
    """

    __slots__ = ("enabled", "previous")

    def __init__(self, previous: Callable[[Any], None] | None = None) -> None:
        self.previous = previous
        self.enabled = True

    def __call__(self, record: Any) -> None:
        if self.previous is not None:
            self.previous(record)
        if self.enabled:
            patcher(record)


def install_patcher(logger: Any = None) -> bool:
    """Install `patcher` on loguru's logger, after any patcher configured there.

    Calling it again while installed does nothing.

    Returns:
        Whether this call installed it (False: it was installed already).
    """
    logger = loguru.logger if logger is None else logger
    previous = getattr(getattr(logger, "_core", None), "patcher", None)
    if isinstance(previous, Patcher) and previous.enabled:
        return False
    logger.configure(patcher=Patcher(previous))
    return True


def uninstall_patcher(logger: Any = None) -> None:
    """Undo `install_patcher`, giving back the previous patcher."""
    logger = loguru.logger if logger is None else logger
    current = getattr(getattr(logger, "_core", None), "patcher", None)
    if not isinstance(current, Patcher):
        return
    if current.previous is not None:
        logger.configure(patcher=current.previous)
    else:
        # loguru cannot unset a patcher; leave a pass-through in place.
        current.enabled = False


_counter = itertools.count()


class _Format:
    """A ``format=`` callable: renders the record and returns a template for it."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        # The rendered line travels in the record under a key of its own,
        # so the template never contains the line (whose braces loguru would parse).
        self._key = f"_tracelog_line_{next(_counter)}"
        self._template = "{" + self._key + "}\n"

    def __call__(self, record: Any) -> str:
        try:
            line = self._render(record, self.renderer)
        except Exception as exc:
            _errors.report("could not render a loguru record", exc)
            line = self._fallback(record, exc, self.renderer)
        record[self._key] = line
        return self._template

    def _render(self, record: Any, renderer: Renderer) -> str:
        exception: ExceptionFields | None = None
        raised = record["exception"]
        if raised is not None and raised[0] is not None:
            exception = exception_fields((raised[0], raised[1], raised[2]))
        # loguru calls formats in the logging thread, so the current span is
        # the record's. The patcher's copy of its IDs in "extra" is dropped.
        trace = _context.current()
        extra = record["extra"]
        if trace is not None and extra.get("trace_id") == trace.trace_id:
            extra = {k: v for k, v in extra.items() if k not in _PATCHER_KEYS}
        return renderer.render(
            record["time"].timestamp(),
            record["level"].name,
            record["name"],
            record["message"],
            trace,
            extra,
            exception,
        )

    def _fallback(self, record: Any, error: Exception, renderer: Renderer) -> str:
        def get(key: str) -> Any:
            try:
                return record[key]
            except Exception:
                return None

        try:
            timestamp = get("time").timestamp()
        except Exception:
            timestamp = time.time()
        level = get("level")
        # Whatever still renders: the renderer drops single fields that do not.
        try:
            extras: dict[Any, Any] = {
                k: v for k, v in dict(get("extra") or {}).items() if k not in _PATCHER_KEYS
            }
        except Exception:
            extras = {}
        extras[ERROR_KEY] = f"{type(error).__name__}: {safe_str(error)}"
        return renderer.render(
            timestamp,
            safe_str(getattr(level, "name", "error")),
            None if get("name") is None else safe_str(get("name")),
            safe_str(get("message")),
            _context.current(),
            extras,
        )


class JsonFormat(_Format):
    """loguru ``format=`` callable writing tracelog's JSON schema, one line per record.

    Use it with any sink: ``logger.add("app.jsonl", format=JsonFormat())``.

    Args:
        fields: the field profile.
        service_name: the service name to write, if any.
        redact: key words whose values are replaced by ``"[REDACTED]"``.
    """

    def __init__(
        self,
        *,
        fields: str = "otel",
        service_name: str | None = None,
        redact: Any = DEFAULT_REDACT_KEYS,
    ) -> None:
        super().__init__(
            Renderer(format="json", fields=fields, service_name=service_name, redact=redact)
        )


class ConsoleFormat(_Format):
    """loguru ``format=`` callable: human-friendly lines with the same fields.

    Args:
        fields: the field profile.
        service_name: the service name to show, if any.
        redact: key words whose values are replaced by ``"[REDACTED]"``.
        colour: add ANSI colours.
    """

    def __init__(
        self,
        *,
        fields: str = "otel",
        service_name: str | None = None,
        redact: Any = DEFAULT_REDACT_KEYS,
        colour: bool = False,
    ) -> None:
        super().__init__(
            Renderer(
                format="console",
                fields=fields,
                service_name=service_name,
                redact=redact,
                colour=colour,
            )
        )


class _Writer(_Format):
    """configure()'s loguru format: renders the record and writes it itself.

    Writing from the format callable, which loguru calls first in a handler,
    means nothing loguru does afterwards for this handler can lose the line:
    its own exception formatting (which fails on very long exception chains)
    or ``opt(raw=True)``, which would bypass a format. The sink then has
    nothing left to do.
    """

    def __init__(self, renderer: Renderer, output: Output) -> None:
        super().__init__(renderer)
        self._target = (renderer, output)

    def retarget(self, renderer: Renderer, output: Output) -> None:
        """Switch to another renderer and output at once."""
        self._target = (renderer, output)

    def __call__(self, record: Any) -> str:
        renderer, output = self._target
        try:
            line = self._render(record, renderer)
        except Exception as exc:
            _errors.report("could not render a loguru record", exc)
            line = self._fallback(record, exc, renderer)
        output.write(line + "\n")
        return ""

    @staticmethod
    def sink(message: str) -> None:
        """The handler's sink: the line was written by the format already."""


# loguru adds a stderr handler with id 0 at import; configure() replaces it
# and reset() puts one back, whose id is kept here for the next configure().
_default_handler_id: int | None = 0


class _Installation:
    """What configure() did to loguru, to update in place and to undo."""

    def __init__(self) -> None:
        self._handler_id: int | None = None
        self._level: int | None = None
        self._writer: _Writer | None = None
        self._own_patcher = False
        self._removed_default = False

    def apply(self, renderer: Renderer, level: int, output: Output) -> None:
        global _default_handler_id
        logger = loguru.logger
        if self._handler_id is None:
            self._own_patcher = install_patcher(logger)
            if _default_handler_id is not None:
                # loguru's own stderr handler would write every record twice.
                with contextlib.suppress(ValueError):  # the application removed it already
                    logger.remove(_default_handler_id)
                    self._removed_default = True
                _default_handler_id = None
        if self._writer is not None and self._level == level:
            self._writer.retarget(renderer, output)
            return
        # A new level needs a new handler: add it before removing the old one,
        # so a record logged meanwhile may be written twice but never lost.
        writer = _Writer(renderer, output)
        handler_id = logger.add(
            writer.sink,
            level=level,
            format=writer,
            colorize=False,
            backtrace=False,
            diagnose=False,
            catch=True,
        )
        if self._handler_id is not None:
            with contextlib.suppress(ValueError):
                logger.remove(self._handler_id)
        self._handler_id, self._level, self._writer = handler_id, level, writer

    def undo(self) -> None:
        global _default_handler_id
        logger = loguru.logger
        if self._handler_id is not None:
            with contextlib.suppress(ValueError):  # the application removed it already
                logger.remove(self._handler_id)
        if self._own_patcher:
            uninstall_patcher(logger)
        if self._removed_default:
            _default_handler_id = logger.add(sys.stderr)
        self._handler_id = self._level = self._writer = None
        self._own_patcher = self._removed_default = False
