"""gunicorn settings: ``gunicorn -c python:tracelog.gunicorn app:app``.

Logging: gunicorn applies ``logconfig_dict`` (`tracelog.logging_config`) in the
arbiter, so its own lines (``gunicorn.error``, ``gunicorn.access``) become
tracelog's JSON lines. Its `Logger` writes each access line with the trace a
middleware of tracelog's left in the request's environ (gunicorn logs it after
the response, and so the span, has ended). `post_fork` sets logging up again in
each new worker from the same settings, undoing whatever an application
preloaded in the arbiter (``--preload``) did to logging since.

Metrics: loading this module (gunicorn does, as its configuration, before it
loads the application) puts prometheus_client in multiprocess mode. With
``PROMETHEUS_MULTIPROC_DIR`` unset, it makes a private directory, fresh, and
removes it when gunicorn exits; a directory you set is used as it is. Each
worker keeps its counts and exemplars in files there;
`tracelog.metrics.make_wsgi_app` (or ``make_asgi_app``) in any worker serves
the merge of all of them. A worker that dies (even by SIGKILL) keeps its counts
and last exemplars in the total; its live gauges are removed
(prometheus_client's ``mark_process_dead``).

From a configuration file of your own (``gunicorn -c gunicorn.conf.py app:app``),
import the settings and hooks (gunicorn reads them from the file's names), or
call them from hooks of your own::

    import tracelog
    from tracelog.gunicorn import Logger as logger_class
    from tracelog.gunicorn import child_exit, on_exit, on_starting, post_fork

    logconfig_dict = tracelog.logging_config(service_name="shop")
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

from tracelog import _context, _multiprocess_setup
from tracelog._logging_config import logging_config

__all__ = [
    "Logger",
    "child_exit",
    "configure_worker",
    "logconfig_dict",
    "logger_class",
    "on_exit",
    "on_starting",
    "post_fork",
]

# Before the application (and so prometheus_client) is loaded.
_multiprocess_setup.prepare_directory()


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


# gunicorn reads its settings from this module's names.
logconfig_dict = logging_config()
logger_class = Logger


def on_starting(server: Any) -> None:
    """In the master, at start: workers of another ``user`` may write in the directory."""
    _multiprocess_setup.hand_directory_to(server.cfg.uid, server.cfg.gid)


def post_fork(server: Any, worker: Any) -> None:
    """In each worker just forked: `configure_worker`."""
    configure_worker(server, worker)


def child_exit(server: Any, worker: Any) -> None:
    """In the master, when a worker exited: mark it dead (its live gauges go)."""
    _multiprocess_setup.mark_dead(worker.pid)


def on_exit(server: Any) -> None:
    """In the master, at exit: remove the private directory, if one was made."""
    _multiprocess_setup.remove_directory()
