"""gunicorn: its lines as JSON, access lines with the request's trace, workers set up after fork.

As gunicorn's config module::

    gunicorn -c python:tracelog.gunicorn app:app

or from a config file of your own (``gunicorn -c gunicorn.conf.py app:app``)::

    import tracelog
    from tracelog.gunicorn import Logger as logger_class, post_fork

    logconfig_dict = tracelog.logging_config(service_name="shop")

gunicorn applies ``logconfig_dict`` (`tracelog.logging_config`) in the arbiter,
so its own lines (``gunicorn.error``, ``gunicorn.access``) become tracelog's
JSON lines. Its `Logger` writes each access line with the trace a middleware of
tracelog's left in the request's environ (gunicorn logs it after the response,
and so the span, has ended). `post_fork` sets logging up again in each new
worker from the same settings, undoing whatever an application preloaded in
the arbiter (``--preload``) did to logging since.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

from tracelog import _context
from tracelog._logging_config import logging_config

__all__ = ["Logger", "configure_worker", "logconfig_dict", "logger_class", "post_fork"]


class Logger(GunicornLogger):  # type: ignore[misc]
    """gunicorn's logger, writing each access line with the trace of its request."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        trace = environ.get(_context.ENVIRON_KEY) if isinstance(environ, dict) else None
        with _context.kept_for(trace):
            super().access(resp, req, environ, request_time)


def configure_worker(server: Any, worker: Any) -> None:
    """Set the worker's logging up from gunicorn's settings, as its arbiter's was.

    Runs gunicorn's own logging set-up (its ``logconfig_dict``: tracelog's
    handler on the root, its loggers routed to it) in the worker process.
    """
    worker.log.setup(worker.cfg)


# gunicorn reads its settings from this module's names: only these three are settings.
logconfig_dict = logging_config()
logger_class = Logger


def post_fork(server: Any, worker: Any) -> None:
    """The hook gunicorn calls in each worker just forked: `configure_worker`."""
    configure_worker(server, worker)
