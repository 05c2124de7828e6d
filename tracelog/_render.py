"""Records to text: a `Schema` plus JSON or console rendering, never raising."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from tracelog import _errors
from tracelog._console import ConsoleRenderer, use_colour
from tracelog._context import TraceContext
from tracelog._fields import ExceptionFields, Schema
from tracelog._json import JsonEncoder, safe_str, sanitize
from tracelog._redact import DEFAULT_REDACT_KEYS, REDACTED

__all__ = ["ERROR_KEY", "FORMATS", "Renderer"]

FORMATS = ("json", "console")
ERROR_KEY = "tracelog.error"


class Renderer:
    """Turns record inputs into one line of text in a profile and a format.

    Args:
        format: ``"json"`` or ``"console"``.
        fields: the field profile (see `Schema`).
        service_name: the service field's value, if any.
        redact: key words whose values are redacted.
        colour: for ``"console"``: None to colour only on a terminal.
        isatty: whether the destination is a terminal (for ``colour=None``).
    """

    __slots__ = ("_console", "_json", "format", "schema")

    def __init__(
        self,
        *,
        format: str = "json",
        fields: str = "otel",
        service_name: str | None = None,
        redact: Any = DEFAULT_REDACT_KEYS,
        colour: bool | None = None,
        isatty: bool = False,
    ) -> None:
        if format not in FORMATS:
            raise ValueError(f'format must be "json" or "console", not {format!r}')
        self.format = format
        self.schema = Schema(fields=fields, service_name=service_name, redact=redact)
        self._json = JsonEncoder()
        self._console = (
            ConsoleRenderer(self.schema, colour=use_colour(isatty) if colour is None else colour)
            if format == "console"
            else None
        )

    def render(
        self,
        timestamp: float,
        level: str,
        logger: str | None,
        message: str,
        trace: TraceContext | None,
        extras: Mapping[Any, Any] | None = None,
        exception: ExceptionFields | None = None,
        stack: str | None = None,
        site: tuple[Any, Any, Any] | None = None,
    ) -> str:
        """The record as one line (no trailing newline); never raises.

        *site* is where it was logged, (function, file, line), for profiles
        that write it (``schema.wants_site``). Whatever cannot be rendered is
        left out and named in a ``tracelog.error`` field: the record itself is
        always returned.
        """
        try:
            record = self.schema.build(
                timestamp, level, logger, message, trace, extras, exception, stack, site
            )
        except Exception as exc:
            _errors.report("could not build a log record", exc)
            record = self._fallback(
                timestamp, level, logger, message, trace, extras, exception, exc
            )
        return self.text(record)

    def text(self, record: dict[str, Any]) -> str:
        """Render an already built record dict."""
        if self._console is not None:
            try:
                return self._console.render(record)
            except Exception as exc:
                _errors.report("could not render a console line", exc)
        return self._json.dumps(record)

    def _fallback(
        self,
        timestamp: Any,
        level: Any,
        logger: Any,
        message: Any,
        trace: TraceContext | None,
        extras: Any,
        exception: ExceptionFields | None,
        error: BaseException,
    ) -> dict[str, Any]:
        """The record without what broke it: each extra field kept if it renders alone."""
        try:
            stamp = float(timestamp)
        except Exception:
            stamp = time.time()
        record: dict[str, Any] = {"message": safe_str(message)}
        # The second try uses the current time, in case the given one was the problem.
        for when in (stamp if math.isfinite(stamp) else time.time(), time.time()):
            try:
                record = self.schema.build(
                    when,
                    safe_str(level),
                    None if logger is None else safe_str(logger),
                    safe_str(message),
                    trace if isinstance(trace, TraceContext) else None,
                    None,
                    exception if isinstance(exception, ExceptionFields) else None,
                )
                break
            except Exception:
                continue
        dropped = []
        try:
            items = list(extras.items()) if extras else []
        except Exception:
            items, dropped = [], ["(the extra fields)"]
        for key, value in items:
            name = safe_str(key)
            try:
                record.setdefault(name, self._json_safe(name, value))
            except Exception:
                dropped.append(name)
        problem = f"{type(error).__name__}: {safe_str(error)}"
        record[ERROR_KEY] = f"{problem}; left out: {', '.join(dropped)}" if dropped else problem
        return record

    def _json_safe(self, key: str, value: Any) -> Any:
        if self.schema.redactor and self.schema.redactor.is_sensitive(key):
            return REDACTED
        return sanitize(self.schema.redactor.clean(value))
