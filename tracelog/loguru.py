"""loguru integration: a patcher that stamps IDs and formats that write the schema.

- `patcher` puts ``trace_id``, ``span_id`` and ``trace_flags`` into
  ``record["extra"]``. Patchers run in the thread that logs, before any sink,
  so the IDs are right for every sink, ``enqueue=True`` included.
  `install_patcher` installs it on the global logger, chained after any
  patcher already configured there.
- `JsonFormat` and `ConsoleFormat` are ``format=`` callables for
  ``logger.add``. loguru calls them in the logging thread, before a queued
  sink's hand-off, so the line is rendered where the IDs are current.
- `add_span_event` (and `SpanEventPatcher`, with options) is a patcher that
  adds records to the current span as events, in the thread that logs.
"""

from __future__ import annotations

import datetime
import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tracelog import _context, _errors
from tracelog._errors import MissingExtraError
from tracelog._events import SpanEvents, is_internal
from tracelog._fields import ExceptionFields, Schema, exception_fields
from tracelog._json import safe_str
from tracelog._redact import DEFAULT_REDACT_KEYS
from tracelog._render import ERROR_KEY, Renderer

try:
    import loguru
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError("loguru") from exc

if TYPE_CHECKING:
    from tracelog._otel_logs import OtelLogs

__all__ = [
    "ConsoleFormat",
    "JsonFormat",
    "Patcher",
    "SpanEventPatcher",
    "add_span_event",
    "install_patcher",
    "patcher",
    "uninstall_patcher",
]

_OTEL = Schema(fields="otel", redact=())
_PATCHER_KEYS = frozenset({"trace_id", "span_id", "trace_flags"})


def patcher(record: Any) -> None:
    """Put the current span's IDs into ``record["extra"]`` (nothing outside a span).

    A different value the caller bound under one of these keys is kept as
    ``extra.<key>``, as tracelog's schema keeps a field that collides.
    """
    try:
        trace = _context.current()
        if trace is not None:
            # The OpenTelemetry profile's fields: trace_id, span_id, trace_flags.
            fields = _OTEL.trace_fields(trace)
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


class SpanEventPatcher:
    """A patcher adding each record at or above *level* to the current span as an event.

    Patchers run in the thread that logs, before any sink, so the event goes
    on the right span whatever the sinks do (``enqueue=True`` included):
    ``logger.configure(patcher=SpanEventPatcher(previous=tracelog.loguru.patcher))``.

    Args:
        level: the lowest level that becomes an event (loguru's names too).
        previous: a patcher to run first, if any.
        redact: key words whose values are replaced by ``"[REDACTED]"``.
        attribute_value_length: the longest attribute value; default
            ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``, else 4096.
        error_status: a record at ERROR or above with an exception sets the
            span's status to ERROR.
    """

    __slots__ = ("events", "previous")

    def __init__(
        self,
        level: str | int = "INFO",
        *,
        previous: Callable[[Any], None] | None = None,
        redact: Any = DEFAULT_REDACT_KEYS,
        attribute_value_length: int | None = None,
        error_status: bool = True,
    ) -> None:
        self.previous = previous
        self.events = SpanEvents(
            level=level,
            redact=redact,
            attribute_value_length=attribute_value_length,
            error_status=error_status,
        )

    def __call__(self, record: Any) -> None:
        if self.previous is not None:
            self.previous(record)
        events = self.events
        if record["level"].no >= events.gate:
            span_event(events, record)


_default_patcher: SpanEventPatcher | None = None


def add_span_event(record: Any) -> None:
    """Patcher adding each record at INFO or above to the current span as an event.

    `SpanEventPatcher` with its defaults (made on first use):
    ``logger.patch(tracelog.loguru.add_span_event)``.
    """
    global _default_patcher
    adder = _default_patcher
    if adder is None:
        adder = _default_patcher = SpanEventPatcher()
    adder(record)


def span_event(events: SpanEvents, record: Any) -> None:
    """Add a loguru record to the current span as an event (in the logging thread)."""
    try:
        name = record["name"]
        if is_internal(name):
            return
        trace = _context.current()
        span = _context.current_span() if trace is not None else None
        if span is None:
            return
        exception = _exception_of(record)
        level = record["level"]
        events.add(
            span,
            trace,
            record["message"],
            level.no,
            level.name,
            name,
            record["function"],
            record["file"].path,
            record["line"],
            record["extra"],
            exception,
            _nanoseconds(record["time"]),
        )
    except Exception as exc:
        _errors.report("could not add a span event", exc)


def otel_log(otel: OtelLogs, record: Any) -> None:
    """Send a loguru record to OpenTelemetry as one LogRecord (in the logging thread)."""
    try:
        name = record["name"]
        if is_internal(name):
            return
        level = record["level"]
        otel.emit(
            _context.current(),
            record["message"],
            level.no,
            level.name,
            name,
            record["function"],
            record["file"].path,
            record["line"],
            record["extra"],
            _exception_of(record),
            _nanoseconds(record["time"]),
        )
    except Exception as exc:
        _errors.report("could not send a log record to OpenTelemetry", exc)


def _nanoseconds(when: datetime.datetime) -> int:
    """A loguru record's time (an aware datetime, to the microsecond) in ns since the epoch."""
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_EXCEPTION = "_tracelog_exception"


def _exception_of(record: Any) -> ExceptionFields | None:
    """The record's exception as fields, rendered once per record and kept on it.

    Every handler (and the span-event bridge) of one call sees the same record.
    """
    exception: ExceptionFields | None = record.get(_EXCEPTION)
    if exception is None:
        raised = record["exception"]
        if raised is not None and raised[0] is not None:
            exception = record[_EXCEPTION] = exception_fields((raised[0], raised[1], raised[2]))
    return exception


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
        exception = _exception_of(record)
        # loguru calls formats in the logging thread, so the current span is
        # the record's. The patcher's copy of its IDs in "extra" is dropped.
        trace = _context.current()
        extra = record["extra"]
        if trace is not None and extra.get("trace_id") == trace.trace_id:
            extra = {k: v for k, v in extra.items() if k not in _PATCHER_KEYS}
        site = None
        if renderer.schema.wants_site:
            site = (record["function"], record["file"].path, record["line"])
        return renderer.render(
            record["time"].timestamp(),
            record["level"].name,
            record["name"],
            record["message"],
            trace,
            extra,
            exception,
            site=site,
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
