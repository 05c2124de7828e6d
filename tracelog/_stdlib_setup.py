"""How ``tracelog.configure()`` wires the standard library's ``logging``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tracelog import _errors, _routing
from tracelog._events import SpanEvents
from tracelog._json import safe_str
from tracelog._output import Output
from tracelog._render import Renderer
from tracelog.stdlib import (
    ConsoleFormatter,
    JsonFormatter,
    check_on_next_record,
    install_record_factory,
    otel_log,
    span_event,
    uninstall_record_factory,
)

if TYPE_CHECKING:
    from tracelog._otel_logs import OtelLogs

__all__ = ["ACCESS_LOGGERS", "Installation", "OutputHandler"]

# Servers' access lines restate the server span (method, path, status, time):
# as events they would add one per request named after the client's address.
ACCESS_LOGGERS = frozenset(("uvicorn.access", "gunicorn.access", "django.server"))


class OutputHandler(logging.Handler):
    """The handler `tracelog.configure` installs: formats and writes to an Output.

    Output and formatter are one pair, swapped together by a reconfiguration,
    so a record is never formatted for one and written to the other. With a
    span-event bridge, the record also becomes an event once it is written,
    and with OpenTelemetry logs (*otel*) a LogRecord. Without *lines* nothing
    is written (the event and LogRecord are still made).
    """

    def __init__(
        self,
        output: Output,
        formatter: logging.Formatter,
        events: SpanEvents | None = None,
        otel: OtelLogs | None = None,
        *,
        lines: bool = True,
    ) -> None:
        super().__init__()
        self._target = (output, formatter)
        self.formatter = formatter
        self.events = events
        self.otel = otel
        self.lines = lines

    @property
    def output(self) -> Output:
        """Where this handler writes."""
        return self._target[0]

    def retarget(self, output: Output, formatter: logging.Formatter) -> None:
        """Switch to another output and formatter at once."""
        self._target = (output, formatter)
        self.formatter = formatter

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        super().setFormatter(fmt)
        if fmt is not None and hasattr(self, "_target"):
            self._target = (self._target[0], fmt)

    def handle(self, record: logging.LogRecord) -> bool | logging.LogRecord:  # type: ignore[override]
        # The Output serializes whole lines already; the handler lock is not needed.
        result = self.filter(record)
        if isinstance(result, logging.LogRecord):
            record = result
        if result:
            self.emit(record)
        return result

    def emit(self, record: logging.LogRecord) -> None:
        if self.lines:
            output, formatter = self._target
            try:
                line = formatter.format(record)
            except Exception as exc:
                _errors.report("a log formatter failed", exc)
                line = safe_str(getattr(record, "msg", ""))
            output.write(line + "\n")
        events = self.events
        if (
            events is not None
            and record.levelno >= events.gate
            and record.name not in ACCESS_LOGGERS
        ):
            span_event(events, record)
        otel = self.otel
        if otel is not None:
            otel_log(otel, record)

    def close(self) -> None:
        # logging.config.dictConfig and basicConfig(force=True) close every
        # handler they take away; whether this one is still where it should
        # be is checked on the next record, once their set-up is complete.
        super().close()
        check_on_next_record(_routing.check)


class Installation:
    """What configure() did to stdlib logging, to update in place and to undo."""

    def __init__(self) -> None:
        self._handler: OutputHandler | None = None
        self._previous_level = logging.NOTSET
        self._own_factory = False

    @property
    def handler(self) -> OutputHandler | None:
        """The handler put on the root logger; None when not applied."""
        return self._handler

    def apply(
        self,
        renderer: Renderer | None,
        level: int,
        output: Output,
        events: SpanEvents | None,
        otel: OtelLogs | None = None,
        *,
        attach: bool = True,
    ) -> None:
        """Set up (or update) the record factory and the handler.

        With *attach*, the handler goes on the root logger and the root level
        is set; without, a ``dictConfig`` places the handler and sets levels.
        """
        formatter: JsonFormatter | ConsoleFormatter = (
            ConsoleFormatter()
            if renderer is not None and renderer.format == "console"
            else JsonFormatter()
        )
        if renderer is not None:
            formatter.renderer = renderer
        root = logging.getLogger()
        if self._handler is None:
            self._own_factory = install_record_factory()
            self._previous_level = root.level
            self._handler = OutputHandler(
                output, formatter, events, otel, lines=renderer is not None
            )
        else:
            self._handler.retarget(output, formatter)
            self._handler.events = events
            self._handler.otel = otel
            self._handler.lines = renderer is not None
        if attach:
            root.addHandler(self._handler)
            root.setLevel(level)
        # Said once, on this output, if another set-up removes or doubles it.
        check_on_next_record(_routing.check)

    def undo(self) -> None:
        if self._handler is None:
            return
        root = logging.getLogger()
        root.removeHandler(self._handler)
        root.setLevel(self._previous_level)
        if self._own_factory:
            uninstall_record_factory()
        self._handler = None
        _routing.forget()
