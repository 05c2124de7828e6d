"""Field-name profiles and the one record schema all three adapters write.

Every adapter (stdlib, structlog, loguru) reduces its record to the same
inputs (time, level, logger, message, trace context, extra fields,
exception) and calls `Schema.build`, so the three write identical records.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeAlias

from opentelemetry import trace as otel_trace

from tracelog._context import TraceContext
from tracelog._json import safe_str
from tracelog._redact import DEFAULT_REDACT_KEYS, REDACTED, Redactor

__all__ = [
    "PROFILES",
    "ExcInfo",
    "ExceptionFields",
    "Schema",
    "exception_fields",
    "exception_from",
    "exception_from_text",
    "format_timestamp",
]

ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType | None]


@dataclass(frozen=True)
class _Profile:
    timestamp: str
    level: str
    logger: str
    message: str
    trace_id: str
    span_id: str
    trace_flags: str | None
    exception_type: str
    exception_message: str
    exception_stacktrace: str
    stack: str
    static: tuple[tuple[str, str], ...] = ()
    # ECS's spec fixes the first three keys: @timestamp, log.level, message.
    message_before_logger: bool = False


_DATADOG = _Profile(
    timestamp="timestamp",
    level="status",
    logger="logger.name",
    message="message",
    trace_id="dd.trace_id",
    span_id="dd.span_id",
    trace_flags=None,
    exception_type="error.kind",
    exception_message="error.message",
    exception_stacktrace="error.stack",
    stack="stack_info",
)
_MAX_UINT64 = (1 << 64) - 1

PROFILES: dict[str, _Profile] = {
    # OpenTelemetry: trace context in non-OTLP log formats, semantic names.
    "otel": _Profile(
        timestamp="timestamp",
        level="level",
        logger="logger",
        message="message",
        trace_id="trace_id",
        span_id="span_id",
        trace_flags="trace_flags",
        exception_type="exception.type",
        exception_message="exception.message",
        exception_stacktrace="exception.stacktrace",
        stack="code.stacktrace",
    ),
    # Elastic Common Schema, dotted keys (Elasticsearch expands them), checked
    # against elastic/ecs-logging's spec/spec.json and the ecs-logging package.
    "ecs": _Profile(
        timestamp="@timestamp",
        level="log.level",
        logger="log.logger",
        message="message",
        trace_id="trace.id",
        span_id="span.id",
        trace_flags=None,
        exception_type="error.type",
        exception_message="error.message",
        exception_stacktrace="error.stack_trace",
        stack="error.stack_trace",  # as ecs-logging writes stack_info; after a traceback
        static=(("ecs.version", "8.11.0"),),
        message_before_logger=True,
    ),
    # Datadog reserved attributes, and the trace IDs as dd-trace-py's log
    # injection writes them: the 128-bit trace ID as 32 hex digits (64-bit ones
    # in decimal), the span ID in decimal.
    "datadog": _DATADOG,
    # The same with the trace ID as the decimal of its lower 64 bits, for
    # pipelines that only correlate that form (Datadog tracers before 128-bit IDs).
    "datadog64": _DATADOG,
    # Google Cloud Logging special fields of structured (JSON) logs.
    "gcp": _Profile(
        timestamp="time",
        level="severity",
        logger="logger",
        message="message",
        trace_id="logging.googleapis.com/trace",
        span_id="logging.googleapis.com/spanId",
        trace_flags="logging.googleapis.com/trace_sampled",
        exception_type="exception.type",
        exception_message="exception.message",
        exception_stacktrace="stack_trace",
        stack="stack_info",
    ),
}
GCP_SOURCE_LOCATION = "logging.googleapis.com/sourceLocation"
# Datadog's unified service tags, as dd-trace-py writes them: from configure()'s
# service_name (dd.service), else DD_SERVICE, DD_ENV, DD_VERSION, else the
# OpenTelemetry resource of the tracer provider.
_DD_TAGS = (
    ("dd.service", "DD_SERVICE", ("service.name",)),
    ("dd.env", "DD_ENV", ("deployment.environment.name", "deployment.environment")),
    ("dd.version", "DD_VERSION", ("service.version",)),
)

_GCP_SEVERITY = {
    "trace": "DEBUG",
    "debug": "DEBUG",
    "info": "INFO",
    "success": "NOTICE",
    "notice": "NOTICE",
    "warning": "WARNING",
    "warn": "WARNING",
    "error": "ERROR",
    "exception": "ERROR",
    "critical": "CRITICAL",
    "fatal": "CRITICAL",
}
_GCP_PROJECT_VARIABLES = ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "GCP_PROJECT")

# (whole second, its formatted prefix); a tuple, so threads always read a matching pair.
_second: tuple[int | None, str] = (None, "")


def format_timestamp(seconds: float) -> str:
    """RFC 3339 in UTC, to the nearest microsecond: ``2026-11-22T10:04:05.123456Z``."""
    global _second
    whole = int(seconds // 1)  # floor, so times before 1970 keep positive microseconds
    # Rounded, not truncated: a float carries the microsecond (loguru's exact
    # datetime, say) only to within a fraction of it.
    micros = round((seconds - whole) * 1_000_000)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    cached = _second
    if cached[0] == whole:
        prefix = cached[1]
    else:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second = (whole, prefix)
    return f"{prefix}.{micros:06d}Z"


@dataclass(frozen=True, slots=True)
class ExceptionFields:
    """An exception rendered once, in the emitting thread if need be."""

    type: str
    message: str
    stacktrace: str


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a class; builtins by their bare name."""
    name = getattr(cls, "__qualname__", None) or getattr(cls, "__name__", "<unknown>")
    module = getattr(cls, "__module__", None)
    if not module or module == "builtins":
        return str(name)
    return f"{module}.{name}"


def exception_fields(exc_info: ExcInfo | tuple[Any, Any, Any]) -> ExceptionFields:
    """The OpenTelemetry ``exception.*`` values of an ``exc_info`` tuple."""
    exc_type, value, tb = exc_info
    try:
        stacktrace = "".join(traceback.format_exception(exc_type, value, tb))
    except Exception:
        stacktrace = ""
    return ExceptionFields(
        type=qualified_name(exc_type) if isinstance(exc_type, type) else safe_str(exc_type),
        message=safe_str(value),
        stacktrace=stacktrace,
    )


def exception_from(exc_info: Any) -> ExceptionFields | None:
    """Exception fields for any ``exc_info`` form logging libraries accept.

    True (the exception being handled, read here: call it in the logging
    thread), an exception instance, or an ``exc_info`` tuple; None when there
    is no exception. Fields made already are returned as they are.
    """
    if not exc_info:
        return None
    if isinstance(exc_info, ExceptionFields):
        return exc_info
    if isinstance(exc_info, BaseException):
        return exception_fields((type(exc_info), exc_info, exc_info.__traceback__))
    if isinstance(exc_info, tuple):
        if len(exc_info) != 3 or exc_info[0] is None:
            return None
        return exception_fields(exc_info)
    current = sys.exc_info()
    return None if current[0] is None else exception_fields(current)


def exception_from_text(text: str) -> ExceptionFields:
    """Exception fields from a formatted traceback: the type and message of the one it ends with."""
    kind, message = _raised(text)
    return ExceptionFields(type=kind, message=message, stacktrace=text)


def _raised(text: str) -> tuple[str, str]:
    """The type and message of the exception a formatted traceback ends with.

    The traceback module writes the raised exception after its last frame
    (``  File "..."`` and the indented source lines under it) as
    ``module.Type: message``, the message possibly over several lines (and
    notes after it). An exception group's own lines carry a ``  | `` prefix.
    """
    lines = text.rstrip("\n").split("\n")
    if lines and lines[0].startswith("  + Exception Group Traceback"):
        lines = [line[4:] if line.startswith("  | ") else line for line in lines[1:]]
    start = 0
    for index, line in enumerate(lines):
        if line.startswith('  File "'):
            start = index + 1
    for index in range(start, len(lines)):
        line = lines[index]
        if not line or line[0].isspace() or line[0] in "+|" or line.startswith("Traceback ("):
            continue
        kind, colon, first = line.partition(": ")
        if not colon:
            kind, first = line.rstrip(":"), ""
        if not kind or " " in kind:
            return "", ""
        rest = []
        for more in lines[index + 1 :]:
            if more.lstrip().startswith(("+", "|")):
                break  # an exception group's members
            rest.append(more)
        return kind, "\n".join([first, *rest]) if rest else first
    return "", ""


class Schema:
    """Builds records in one field profile.

    Args:
        fields: ``"otel"``, ``"ecs"``, ``"datadog"``, ``"datadog64"`` or ``"gcp"``.
        service_name: written as the profile's service field when given.
        redact: key words whose values are replaced by ``"[REDACTED]"``.
    """

    __slots__ = (
        "_dd_pending",
        "_head",
        "_k_exc_message",
        "_k_exc_stacktrace",
        "_k_exc_type",
        "_k_level",
        "_k_logger",
        "_k_message",
        "_k_stack",
        "_k_time",
        "_levels",
        "_profile",
        "_project",
        "_trace_key",
        "fields",
        "redactor",
        "service_name",
        "wants_site",
    )

    def __init__(
        self,
        *,
        fields: str = "otel",
        service_name: str | None = None,
        redact: Redactor | Any = DEFAULT_REDACT_KEYS,
    ) -> None:
        profile = PROFILES.get(fields) if isinstance(fields, str) else None
        if profile is None:
            raise ValueError(
                f"fields must be one of {', '.join(map(repr, PROFILES))}, not {fields!r}"
            )
        if service_name is not None and not isinstance(service_name, str):
            raise TypeError(f"service_name must be a string, not {type(service_name).__name__}")
        self.fields = fields
        self.service_name = service_name or None
        self.redactor = redact if isinstance(redact, Redactor) else Redactor(redact)
        self._profile = profile
        self._k_time = profile.timestamp
        self._k_level = profile.level
        self._k_logger = profile.logger
        self._k_message = profile.message
        self._k_exc_type = profile.exception_type
        self._k_exc_message = profile.exception_message
        self._k_exc_stacktrace = profile.exception_stacktrace
        self._k_stack = profile.stack
        self._levels: dict[str, str] = {}
        self._project = ""
        if fields == "gcp":
            self._project = next(
                (os.environ[v] for v in _GCP_PROJECT_VARIABLES if os.environ.get(v)), ""
            )
        # A string key: its hash is cached, so the per-record lookup is cheap.
        self._trace_key = f"{fields}:{self._project}"
        # Whether build() writes the code location (`site`): GCP's sourceLocation.
        self.wants_site = fields == "gcp"
        head: dict[str, Any] = {}
        self._dd_pending: tuple[tuple[str, tuple[str, ...]], ...] = ()
        if self.service_name:
            if fields in ("datadog", "datadog64"):
                head["service"] = self.service_name
            elif fields == "gcp":
                head["serviceContext"] = {"service": self.service_name}
            else:
                head["service.name"] = self.service_name
        if fields in ("datadog", "datadog64"):
            pending = []
            for key, variable, _attributes in _DD_TAGS:
                given = self.service_name if key == "dd.service" else None
                value = given or os.environ.get(variable)
                if value:
                    head[key] = value
                else:
                    pending.append((key, _attributes))
            # Read off the tracer provider's resource when the first span is rendered.
            self._dd_pending = tuple(pending)
        head.update(profile.static)
        self._head = head

    @property
    def profile(self) -> _Profile:
        """The field names of this schema's profile."""
        return self._profile

    @property
    def trace_keys(self) -> tuple[str, ...]:
        """The keys this profile writes the trace context under."""
        p = self._profile
        return (p.trace_id, p.span_id) + ((p.trace_flags,) if p.trace_flags else ())

    def level(self, name: str) -> str:
        """The profile's rendering of a level name (any case)."""
        value = self._levels.get(name)
        if value is None:
            lower = name.lower() if isinstance(name, str) else safe_str(name).lower()
            value = _GCP_SEVERITY.get(lower, "DEFAULT") if self.fields == "gcp" else lower
            if len(self._levels) < 256:
                self._levels[name] = value
        return value

    def trace_fields(self, ctx: TraceContext) -> dict[str, Any]:
        """The trace context in this profile's fields, formatted once per span."""
        return ctx.rendered(self._trace_key, self._render_trace)

    def _render_trace(self, ctx: TraceContext) -> dict[str, Any]:
        p = self._profile
        fields: dict[str, Any]
        if self.fields in ("datadog", "datadog64"):
            trace_id = int(ctx.trace_id, 16)
            fields = {
                # dd-trace-py's format_trace_id: hex when the ID needs 128 bits.
                p.trace_id: ctx.trace_id
                if self.fields == "datadog" and trace_id > _MAX_UINT64
                else str(trace_id & _MAX_UINT64),
                p.span_id: str(int(ctx.span_id, 16)),
            }
            if self._dd_pending:
                fields.update(_resource_tags(self._dd_pending))
            return fields
        if self.fields == "gcp":
            trace = (
                f"projects/{self._project}/traces/{ctx.trace_id}" if self._project else ctx.trace_id
            )
            fields = {p.trace_id: trace, p.span_id: ctx.span_id}
            if p.trace_flags:
                fields[p.trace_flags] = ctx.sampled
            return fields
        fields = {p.trace_id: ctx.trace_id, p.span_id: ctx.span_id}
        if p.trace_flags:
            fields[p.trace_flags] = ctx.trace_flags
        if self.fields == "ecs" and ctx.local_root:
            # ECS's transaction: the service's entry span (ecs-logging takes it
            # from Elastic's agent; here, a span whose parent is remote or none).
            fields["transaction.id"] = ctx.span_id
        return fields

    def build(
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
    ) -> dict[str, Any]:
        """One record as an ordered dict of output fields.

        Order: time, level, logger, message (ECS: message, then logger),
        service, trace context, code location (GCP, from *site*: function,
        file, line), extra fields, exception. An extra field whose key the
        record already uses is kept under ``extra.<key>``, unless it only
        repeats the same value (as a processor that stamped the IDs before does).
        """
        levels = self._levels
        record: dict[str, Any] = {
            self._k_time: format_timestamp(timestamp),
            self._k_level: levels[level] if level in levels else self.level(level),
        }
        if self._profile.message_before_logger:
            record[self._k_message] = message
            if logger is not None:
                record[self._k_logger] = logger
        else:
            if logger is not None:
                record[self._k_logger] = logger
            record[self._k_message] = message
        if self._head:
            record.update(self._head)
        if trace is not None:
            # trace_fields() with its cache hit inlined: this runs for every record.
            fields = trace._rendered.get(self._trace_key)
            record.update(fields if fields is not None else self.trace_fields(trace))
        if site is not None and self.wants_site:
            location = _source_location(site)
            if location:
                record[GCP_SOURCE_LOCATION] = location
        tail: dict[str, Any] | None = None
        if exception is not None:
            tail = {}
            if exception.type:
                tail[self._k_exc_type] = exception.type
                tail[self._k_exc_message] = exception.message
            tail[self._k_exc_stacktrace] = exception.stacktrace
        if stack:
            tail = tail or {}
            before = tail.get(self._k_stack)  # ECS: the traceback's field too
            tail[self._k_stack] = stack if before is None else f"{before}\n{stack}"
        if extras:
            self._add_extras(record, extras, tail)
        if tail:
            record.update(tail)
        return record

    def _add_extras(
        self, record: dict[str, Any], extras: Mapping[Any, Any], tail: dict[str, Any] | None
    ) -> None:
        redactor = self.redactor
        # Redactor.is_sensitive's cache, read here first: one call less per field.
        known = redactor._cache if redactor else None
        for given_key, given in extras.items():
            key = given_key if type(given_key) is str else safe_str(given_key)
            if known is not None and (known[key] if key in known else redactor.is_sensitive(key)):
                value: Any = REDACTED
            elif type(given) not in _SCALARS:
                value = redactor.clean(given)
            else:
                value = given
            if key in record or (tail is not None and key in tail):
                if _repeats(record[key] if key in record else tail[key], value):  # type: ignore[index]
                    continue
                key = _free_key(key, record, tail)
            record[key] = value


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _repeats(taken: Any, value: Any) -> bool:
    """Whether an extra value is a copy of what the record says already."""
    if type(taken) is not type(value):
        return False
    try:
        return bool(taken == value)
    except Exception:
        return False


def _free_key(key: str, record: dict[str, Any], tail: dict[str, Any] | None) -> str:
    candidate = f"extra.{key}"
    while candidate in record or (tail is not None and candidate in tail):
        candidate = f"extra.{candidate}"
    return candidate


def _source_location(site: tuple[Any, Any, Any]) -> dict[str, Any]:
    """GCP's sourceLocation from (function, file, line), as google-cloud-logging writes it."""
    function, path, line = site
    location: dict[str, Any] = {}
    if type(line) is int:
        location["line"] = line
    if isinstance(path, str) and path:
        location["file"] = path
    if isinstance(function, str) and function:
        location["function"] = function
    return location


def _resource_tags(pending: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, str]:
    """Datadog's dd.* tags not set by DD_* variables, from the tracer provider's resource."""
    try:
        resource = getattr(otel_trace.get_tracer_provider(), "resource", None)
        attributes = getattr(resource, "attributes", None) or {}
        tags = {}
        for key, names in pending:
            for name in names:
                value = attributes.get(name)
                # The SDK's default service name says nothing: left out, as ddtrace does.
                if isinstance(value, str) and value and not value.startswith("unknown_service"):
                    tags[key] = value
                    break
        return tags
    except Exception:
        return {}
