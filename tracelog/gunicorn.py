"""gunicorn settings: ``gunicorn -c python:tracelog.gunicorn app:app``.

Several worker processes, one set of metrics: loading this module (gunicorn
does, as its configuration, before it loads the application) puts
prometheus_client in multiprocess mode. With ``PROMETHEUS_MULTIPROC_DIR``
unset, it makes a private directory, fresh, and removes it when gunicorn
exits; a directory you set is used as it is. Each worker keeps its counts and
exemplars in files there; `tracelog.metrics.make_wsgi_app` (or
``make_asgi_app``) in any worker serves the merge of all of them. A worker
that dies (even by SIGKILL) keeps its counts and last exemplars in the total;
its live gauges are removed (prometheus_client's ``mark_process_dead``).

From a configuration file of your own, import the hooks (gunicorn reads them
from the file's names), or call them from hooks of your own::

    from tracelog.gunicorn import child_exit, on_exit, on_starting

The hooks take gunicorn's arbiter and worker; this module does not import
gunicorn.
"""

from __future__ import annotations

from typing import Any

from tracelog import _multiprocess_setup

__all__ = ["child_exit", "on_exit", "on_starting"]

_multiprocess_setup.prepare_directory()


def on_starting(server: Any) -> None:
    """In the master, at start: workers of another ``user`` may write in the directory."""
    _multiprocess_setup.hand_directory_to(server.cfg.uid, server.cfg.gid)


def child_exit(server: Any, worker: Any) -> None:
    """In the master, when a worker exited: mark it dead (its live gauges go)."""
    _multiprocess_setup.mark_dead(worker.pid)


def on_exit(server: Any) -> None:
    """In the master, at exit: remove the private directory, if one was made."""
    _multiprocess_setup.remove_directory()
