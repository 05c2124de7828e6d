"""``tracelog.logging_config()``: what configure() sets up, as a ``dictConfig`` dict.

Django (``LOGGING``), uvicorn (``log_config``), gunicorn (``logconfig_dict``)
and Celery configure logging with ``logging.config.dictConfig`` themselves,
after the application's own start-up code: a handler added by `configure`
before that is taken away. Handing them this dict instead makes their set-up
tracelog's: one JSON handler on the root logger (tracelog's own, made by
`handler` as the dict is applied, so the record factory, span events and the
shared output are those of `configure`), and their own loggers routed to it.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from tracelog import _configure
from tracelog._configure import configure
from tracelog._redact import DEFAULT_REDACT_KEYS

__all__ = ["FRAMEWORK_LOGGERS", "handler", "logging_config", "takes_options_of"]

P = ParamSpec("P")
R = TypeVar("R")

# The loggers the frameworks configure with handlers of their own and
# propagate=False (Django's DEFAULT_LOGGING and its documented examples,
# uvicorn's LOGGING_CONFIG, gunicorn's Logger, Celery's worker): routed to the
# root instead. Their levels are left as the frameworks set them (gunicorn's
# --log-level, uvicorn's --log-level).
FRAMEWORK_LOGGERS = (
    "django",
    "django.request",
    "django.server",
    "django.security",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "gunicorn.error",
    "gunicorn.access",
    "celery",
    "celery.task",
    "celery.redirected",
)
NAME = "tracelog"  # of the handler, formatter and filter in the dict


def takes_options_of(model: Callable[P, object]) -> Callable[[Callable[..., R]], Callable[P, R]]:
    """Give the decorated function *model*'s keyword options (for type checkers and help()).

    Options added to `configure` reach it without being listed again; the
    function validates them with `_configure.plan`.
    """

    def decorate(function: Callable[..., R]) -> Callable[P, R]:
        returns = inspect.signature(function).return_annotation
        function.__signature__ = inspect.signature(model).replace(  # type: ignore[attr-defined]
            return_annotation=returns
        )
        return function

    return decorate


@takes_options_of(configure)
def logging_config(**options: Any) -> dict[str, Any]:
    """configure()'s set-up of stdlib logging, as a ``logging.config.dictConfig`` dict.

    Takes `tracelog.configure`'s options. Applied (by Django's ``LOGGING``,
    uvicorn's ``log_config``, gunicorn's ``logconfig_dict``, or
    ``logging.config.dictConfig``), it does what ``configure(**options)``
    does (structlog and loguru included), with tracelog's handler named
    ``"tracelog"`` on the root logger, and routes the frameworks' own
    loggers (``django.*``, ``uvicorn.*``, ``gunicorn.*``, ``celery.*``) to
    it, without handlers of their own. It also names tracelog's formatter
    and filter ``"tracelog"``, for handlers of your own merged into it.
    The dict holds plain values (JSON when ``output`` is None or a path).

    Raises:
        ValueError, TypeError: an option is invalid, or ``integrations``
            leaves out ``"stdlib"``.
        tracelog.MissingExtraError: a requested integration is not installed.
    """
    planned = _configure.plan(options)  # fails here, at start-up, not inside dictConfig
    if "stdlib" not in planned.adapters:
        raise ValueError('logging_config() sets up stdlib logging: integrations must hold "stdlib"')
    portable = _portable(planned, options)
    formatter: dict[str, Any] = {
        "()": "tracelog.stdlib."
        + ("ConsoleFormatter" if planned.format == "console" else "JsonFormatter"),
        "fields": planned.fields,
        "service_name": planned.service_name,
    }
    if tuple(planned.redact) != DEFAULT_REDACT_KEYS:
        formatter["redact"] = _portable_value(planned.redact)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {NAME: {"()": "tracelog.stdlib.TraceContextFilter"}},
        "formatters": {NAME: formatter},
        "handlers": {NAME: {"()": "tracelog.stdlib.handler", "options": portable}},
        "root": {"level": _level_name(planned.level), "handlers": [NAME]},
        "loggers": {name: {"handlers": [], "propagate": True} for name in FRAMEWORK_LOGGERS},
    }


def handler(options: Mapping[str, Any] | None) -> logging.Handler:
    """Apply configure()'s *options*, the handler left for a ``dictConfig`` to place."""
    # Read item by item: a dictConfig converts "ext://sys.stderr" and the like that way.
    given = {} if options is None else {key: options[key] for key in options}
    planned = _configure.plan(given)
    if "stdlib" not in planned.adapters:
        raise ValueError('tracelog.stdlib.handler: integrations must hold "stdlib"')
    _configure.apply(planned, attach=False)
    state = _configure.configured()
    made = None if state is None else state.installations["stdlib"].handler
    if not isinstance(made, logging.Handler):  # cannot happen: applied just now
        raise RuntimeError("tracelog's handler was not set up")
    return made


def _portable(planned: _configure.Plan, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options given, as plain values: lists for collections, text for paths.

    Options left out stay out: their defaults are read where the dict is
    applied (``OTEL_SERVICE_NAME`` in a uvicorn worker, say).
    """
    portable: dict[str, Any] = {}
    for key, given in options.items():
        value = given
        if key == "redact":  # as validated: a one-shot iterable was read once
            value = planned.redact
        elif key == "integrations" and given is not None:
            value = list(planned.adapters)
        portable[key] = _portable_value(value)
    return portable


def _portable_value(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    return value


def _level_name(level: int) -> str | int:
    name = logging.getLevelName(level)
    return name if isinstance(name, str) and not name.startswith("Level ") else level
