"""gunicorn: its own lines as JSON, and each worker's logging set up again after fork.

As gunicorn's config module::

    gunicorn -c python:tracelog.gunicorn app:app

or from a config file of your own (``gunicorn -c gunicorn.conf.py app:app``)::

    import tracelog
    from tracelog.gunicorn import post_fork

    logconfig_dict = tracelog.logging_config(service_name="shop")

gunicorn applies ``logconfig_dict`` (`tracelog.logging_config`) in the arbiter,
so its own lines (``gunicorn.error``, ``gunicorn.access``) become tracelog's
JSON lines, access lines with the request's trace when a middleware of
tracelog's handles the request. `post_fork` sets logging up again in each new
worker from the same settings, undoing whatever an application preloaded in
the arbiter (``--preload``) did to logging since.
"""

from __future__ import annotations

from typing import Any

from tracelog._logging_config import logging_config

__all__ = ["configure_worker", "logconfig_dict", "post_fork"]

# gunicorn reads its settings from this module's names: only these are settings.
logconfig_dict = logging_config()


def configure_worker(server: Any, worker: Any) -> None:
    """Set the worker's logging up from gunicorn's settings, as its arbiter's was.

    Runs gunicorn's own logging set-up (its ``logconfig_dict``: tracelog's
    handler on the root, its loggers routed to it) in the worker process.
    """
    worker.log.setup(worker.cfg)


def post_fork(server: Any, worker: Any) -> None:
    """The hook gunicorn calls in each worker just forked: `configure_worker`."""
    configure_worker(server, worker)
