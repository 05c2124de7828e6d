"""``tracelog.configure()`` and ``tracelog.reset()``: one call at start-up."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import os
import threading
import urllib.parse
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from opentelemetry import trace

from tracelog import _errors
from tracelog._events import SpanEvents, value_length
from tracelog._fields import PROFILES
from tracelog._levels import level_number
from tracelog._output import Output
from tracelog._redact import DEFAULT_REDACT_KEYS, Redactor
from tracelog._render import FORMATS, Renderer

if TYPE_CHECKING:
    from tracelog._otel_logs import OtelLogs

__all__ = [
    "INTEGRATIONS",
    "Configured",
    "Plan",
    "apply",
    "configure",
    "configured",
    "plan",
    "reset",
]

INTEGRATIONS = ("stdlib", "structlog", "loguru")

_lock = threading.RLock()
_installations: dict[str, Any] = {}
_output: Output | None = None


class Configured(NamedTuple):
    """What the last `configure` set up (read by ``tracelog doctor``).

    ``renderer`` is None when ``format=None`` (no lines are written);
    ``otel`` is the LogRecord sender of ``otel_logs=True``.
    """

    renderer: Renderer | None
    output: Output
    level: int
    events: SpanEvents | None
    installations: dict[str, Any]
    otel: OtelLogs | None = None


_configured: Configured | None = None


def configured() -> Configured | None:
    """The current configuration, None before `configure` or after `reset`.

    Hold ``_lock`` while using it, so no reconfiguration changes it meanwhile.
    """
    return _configured


# logging's module lock is taken before configure()'s, always: a dictConfig
# holds it while it calls tracelog.stdlib.handler (which configures), so the
# other order could deadlock with a configure() or a fork in another thread.
_logging_lock: Any = logging._lock  # type: ignore[attr-defined]


def _before_fork() -> None:
    # A child must not start with another thread half-way through configure().
    _logging_lock.acquire()
    _lock.acquire()


def _after_fork_in_parent() -> None:
    _lock.release()
    _logging_lock.release()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


def configure(
    *,
    service_name: str | None = None,
    level: str | int = "INFO",
    format: str | None = "json",
    output: str | os.PathLike[str] | IO[str] | None = None,
    fields: str = "otel",
    redact: Iterable[str] = DEFAULT_REDACT_KEYS,
    integrations: Iterable[str] | None = None,
    span_events: str | int | None = "INFO",
    error_status: bool = True,
    attribute_value_length: int | None = None,
    otel_logs: bool = False,
) -> None:
    """Send stdlib logging, structlog and loguru to one output, in one schema.

    Every record carries the IDs of the span current where it was logged.
    Calling it again updates the previous configuration in place, losing no
    record logged meanwhile; `reset` undoes it.
    It never calls ``logging.basicConfig``: it adds one handler to the root
    logger and leaves other handlers alone.

    Args:
        service_name: the ``service.name`` to write. Default:
            ``OTEL_SERVICE_NAME``, else the SDK tracer provider's resource,
            else none.
        level: the root level, a name (``"INFO"``) or a number.
        format: ``"json"``, ``"console"`` for people (coloured on a TTY), or
            None to write no lines (with *otel_logs*: records go to
            OpenTelemetry only).
        output: None for ``sys.stdout``, a path to append to, or a text stream.
        fields: ``"otel"``, ``"ecs"``, ``"datadog"``, ``"datadog64"`` or ``"gcp"``.
        redact: key words whose values are replaced by ``"[REDACTED]"``.
        integrations: any of ``"stdlib"``, ``"structlog"``, ``"loguru"``;
            None for every one that is installed.
        span_events: records at or above this level also become events on
            the span current where they were logged; None turns that off.
        error_status: a record at ERROR or above with an exception sets its
            span's status to ERROR.
        attribute_value_length: the longest span-event attribute value;
            default ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``, else 4096.
        otel_logs: also send every record, of every configured library, to
            the global OpenTelemetry ``LoggerProvider`` as one LogRecord: the
            message as body, the IDs of the span current where it was
            logged, severity, timestamps, its fields (redacted as in the
            line) and ``code.*``/``exception.*`` attributes. Records of the
            ``opentelemetry.*`` and ``tracelog.*`` loggers are not sent.

    Raises:
        ValueError, TypeError: an option is invalid (nothing is changed).
        tracelog.MissingExtraError: a requested integration is not installed.
    """
    apply(plan(locals()))


class Plan(NamedTuple):
    """configure()'s options, validated and resolved; nothing is changed yet."""

    level: int
    format: str | None
    fields: str
    redact: Any
    events: SpanEvents | None
    otel: OtelLogs | None
    adapters: dict[str, ModuleType]
    service_name: str | None
    output: str | os.PathLike[str] | IO[str] | None


def plan(options: Mapping[str, Any]) -> Plan:
    """Validate *options*, as `configure` takes them (unknown names and defaults included).

    The one place that reads configure()'s options: `tracelog.logging_config`
    and the dictConfig handler take the same ones through it.

    Raises:
        ValueError, TypeError: an option is invalid.
        tracelog.MissingExtraError: a requested integration is not installed.
    """
    bound = _SIGNATURE.bind(**options)  # TypeError names an unknown option
    bound.apply_defaults()
    given = dict(bound.arguments)
    levelno = level_number(given["level"])
    format, fields, otel_logs = given["format"], given["fields"], given["otel_logs"]
    if format is not None and format not in FORMATS:
        raise ValueError(f'format must be "json", "console" or None, not {format!r}')
    if not isinstance(otel_logs, bool):
        raise TypeError(f"otel_logs must be True or False, not {otel_logs!r}")
    if format is None and given["output"] is not None:
        raise ValueError("format=None writes no lines, so output= has no use: leave it out")
    if format is None and not otel_logs and given["span_events"] is None:
        raise ValueError(
            "format=None, otel_logs=False and span_events=None send records nowhere:"
            " write lines (format), send LogRecords (otel_logs=True) or add span events"
        )
    if fields not in PROFILES:
        raise ValueError(f"fields must be one of {', '.join(map(repr, PROFILES))}, not {fields!r}")
    redact = given["redact"]
    try:
        redact_keys = redact if isinstance(redact, str) else tuple(redact)
    except TypeError:
        raise TypeError(f"redact takes a collection of key words, not {redact!r}") from None
    Redactor(redact_keys)  # validates before anything changes
    value_length(given["attribute_value_length"])  # validated even when span_events is None
    events = (
        None
        if given["span_events"] is None
        else SpanEvents(
            level=given["span_events"],
            redact=redact_keys,
            attribute_value_length=given["attribute_value_length"],
            error_status=given["error_status"],
        )
    )
    otel = None
    if otel_logs:
        from tracelog._otel_logs import OtelLogs  # noqa: PLC0415 - the Logs API, when asked for

        otel = OtelLogs(redact=redact_keys)
    return Plan(
        level=levelno,
        format=format,
        fields=fields,
        redact=redact_keys,
        events=events,
        otel=otel,
        adapters=_adapters(given["integrations"]),
        service_name=_service_name(given["service_name"]),
        output=given["output"],
    )


def apply(plan: Plan, *, attach: bool = True) -> None:
    """Set up what *plan* says, updating the previous configuration in place.

    Args:
        plan: from `plan`.
        attach: put the stdlib handler on the root logger and set the root
            level; False when a ``dictConfig`` places the handler itself.
    """
    global _output, _configured
    with _logging_lock, _lock:
        # The same output as now is kept open: loggers bound to it go on writing.
        reused = _output is not None and _output.is_for(plan.output)
        target = _output if reused and _output is not None else Output(plan.output)
        try:
            # One renderer for all three libraries: one schema, by construction.
            renderer = Renderer(
                format=plan.format or "json",
                fields=plan.fields,
                service_name=plan.service_name,
                redact=plan.redact,
                isatty=target.isatty(),
            )
        except BaseException:
            if not reused:
                target.close()
            raise
        writes = None if plan.format is None else renderer
        try:
            for integration in [i for i in _installations if i not in plan.adapters]:
                _installations.pop(integration).undo()
            # Each installation is updated in place: no moment without a handler.
            for integration, module in plan.adapters.items():
                installation = _installations.get(integration)
                if installation is None:
                    installation = _installations[integration] = module.Installation()
                if integration == "stdlib":
                    installation.apply(
                        writes, plan.level, target, plan.events, plan.otel, attach=attach
                    )
                else:
                    installation.apply(writes, plan.level, target, plan.events, plan.otel)
        except BaseException:
            if not reused:
                target.close()
            reset()
            raise
        previous, _output = _output, target
        _configured = Configured(
            writes, target, plan.level, plan.events, dict(_installations), plan.otel
        )
        if previous is not None and previous is not target:
            previous.close(successor=target)


def reset() -> None:
    """Undo `configure` completely: handlers, factories, patchers, structlog config."""
    global _output, _configured
    with _logging_lock, _lock:
        _configured = None
        for integration in reversed(list(_installations)):
            try:
                _installations.pop(integration).undo()
            except Exception as exc:
                _errors.report(f"could not undo the {integration} configuration", exc)
        if _output is not None:
            _output.close()
            _output = None


_SIGNATURE = inspect.signature(configure)


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _adapters(integrations: Iterable[str] | None) -> dict[str, ModuleType]:
    """The set-up modules of the integrations to configure, in a fixed order."""
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
    modules = {}
    for name in INTEGRATIONS:
        if name in names:
            # The public adapter first: it raises MissingExtraError, naming the
            # extra, if its library is not installed.
            importlib.import_module(f"tracelog.{name}")
            modules[name] = importlib.import_module(f"tracelog._{name}_setup")
    return modules


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
