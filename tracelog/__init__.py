"""tracelog: logs, traces and metrics that join on the trace ID.

Start-up::

    import tracelog
    tracelog.configure(service_name="checkout")

or, where a framework configures logging (Django's ``LOGGING``, uvicorn's
``log_config``, gunicorn's ``logconfig_dict``)::

    LOGGING = tracelog.logging_config(service_name="checkout")

``import tracelog`` imports neither structlog nor loguru; their adapters
(`tracelog.structlog`, `tracelog.loguru`) are imported when used. The
public names below are loaded on first use, so the ``tracelog`` command
(``tracelog.cli``) starts without importing the logging machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracelog._configure import configure, reset
    from tracelog._context import TraceContext
    from tracelog._context import current as current_trace
    from tracelog._doctor import DoctorCheck, DoctorReport, doctor
    from tracelog._errors import MissingExtraError
    from tracelog._logging_config import logging_config
    from tracelog._redact import DEFAULT_REDACT_KEYS

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "DoctorCheck",
    "DoctorReport",
    "MissingExtraError",
    "TraceContext",
    "__version__",
    "configure",
    "current_trace",
    "doctor",
    "logging_config",
    "reset",
]

__version__ = "0.1.0"

_LAZY = {
    "configure": ("tracelog._configure", "configure"),
    "reset": ("tracelog._configure", "reset"),
    "TraceContext": ("tracelog._context", "TraceContext"),
    "current_trace": ("tracelog._context", "current"),
    "doctor": ("tracelog._doctor", "doctor"),
    "DoctorReport": ("tracelog._doctor", "DoctorReport"),
    "DoctorCheck": ("tracelog._doctor", "DoctorCheck"),
    "MissingExtraError": ("tracelog._errors", "MissingExtraError"),
    "logging_config": ("tracelog._logging_config", "logging_config"),
    "DEFAULT_REDACT_KEYS": ("tracelog._redact", "DEFAULT_REDACT_KEYS"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'tracelog' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
