"""How ``tracelog.configure()`` wires loguru."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Any

import loguru

from tracelog import _errors
from tracelog._events import SpanEvents
from tracelog._output import Output
from tracelog._render import Renderer
from tracelog.loguru import _Format, install_patcher, otel_log, span_event, uninstall_patcher

if TYPE_CHECKING:
    from tracelog._otel_logs import OtelLogs

__all__ = ["Installation"]


class _Writer(_Format):
    """configure()'s loguru format: renders the record and writes it itself.

    Writing from the format callable, which loguru calls first in a handler,
    means nothing loguru does afterwards for this handler can lose the line:
    its own exception formatting (which fails on very long exception chains)
    or ``opt(raw=True)``, which would bypass a format. The sink then has
    nothing left to do. With a span-event bridge, the record then becomes an
    event too, and with OpenTelemetry logs a LogRecord (loguru calls formats
    in the thread that logs). With no renderer, no line is written.
    """

    def __init__(
        self,
        renderer: Renderer | None,
        output: Output,
        events: SpanEvents | None,
        otel: OtelLogs | None,
    ) -> None:
        super().__init__(renderer)  # type: ignore[arg-type]
        self._target = (renderer, output, events, otel)

    def retarget(
        self,
        renderer: Renderer | None,
        output: Output,
        events: SpanEvents | None,
        otel: OtelLogs | None,
    ) -> None:
        """Switch to another renderer, output, bridge and LogRecord sender at once."""
        self._target = (renderer, output, events, otel)

    def __call__(self, record: Any) -> str:
        renderer, output, events, otel = self._target
        if renderer is not None:
            try:
                line = self._render(record, renderer)
            except Exception as exc:
                _errors.report("could not render a loguru record", exc)
                line = self._fallback(record, exc, renderer)
            output.write(line + "\n")
        if events is not None:
            try:
                if record["level"].no >= events.gate:
                    span_event(events, record)
            except Exception as exc:
                _errors.report("could not add a span event", exc)
        if otel is not None:
            otel_log(otel, record)
        return ""

    @staticmethod
    def sink(message: str) -> None:
        """The handler's sink: the line was written by the format already."""


# loguru adds a stderr handler with id 0 at import; configure() replaces it
# and reset() puts one back, whose id is kept here for the next configure().
_default_handler_id: int | None = 0


class Installation:
    """What configure() did to loguru, to update in place and to undo."""

    def __init__(self) -> None:
        self._handler_id: int | None = None
        self._level: int | None = None
        self._writer: _Writer | None = None
        self._own_patcher = False
        self._removed_default = False

    def apply(
        self,
        renderer: Renderer | None,
        level: int,
        output: Output,
        events: SpanEvents | None,
        otel: OtelLogs | None = None,
    ) -> None:
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
            self._writer.retarget(renderer, output, events, otel)
            return
        # A new level needs a new handler: add it before removing the old one,
        # so a record logged meanwhile may be written twice but never lost.
        writer = _Writer(renderer, output, events, otel)
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
