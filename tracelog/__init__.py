"""tracelog: logs, traces and metrics that join on the trace ID.

Start-up::

    import tracelog
    tracelog.configure(service_name="checkout")

``import tracelog`` imports neither structlog nor loguru; their adapters
(`tracelog.structlog`, `tracelog.loguru`) are imported when used.
"""

from __future__ import annotations

from tracelog._configure import configure, reset
from tracelog._context import TraceContext
from tracelog._context import current as current_trace
from tracelog._errors import MissingExtraError
from tracelog._redact import DEFAULT_REDACT_KEYS

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "MissingExtraError",
    "TraceContext",
    "__version__",
    "configure",
    "current_trace",
    "reset",
]

__version__ = "0.1.0"
