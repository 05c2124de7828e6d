"""Multiprocess mode for a pre-fork server: its directory, made before prometheus_client loads.

prometheus_client picks multiprocess mode once, when it is first imported, from
``PROMETHEUS_MULTIPROC_DIR``; so this module imports it only in functions
called after the directory is set (`tracelog.gunicorn` calls them).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from typing import Any

from tracelog._errors import report

__all__ = ["hand_directory_to", "mark_dead", "prepare_directory", "remove_directory"]

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# The directory this process made, and removes at exit (not its forked workers).
_made: tuple[str, int] | None = None


def prepare_directory() -> str:
    """Put this process and the ones it starts in multiprocess mode; the directory.

    ``PROMETHEUS_MULTIPROC_DIR`` set: that directory, made if missing, and
    left in place at exit. Unset: a private directory, made empty now, set
    as ``PROMETHEUS_MULTIPROC_DIR``, and removed when this process exits
    (`remove_directory`). If prometheus_client was imported already (in
    single-process mode), it makes its next values in files too.
    """
    global _made
    path = os.environ.get(VARIABLE)
    if path:
        os.makedirs(path, exist_ok=True)
    elif _made is not None and _made[1] == os.getpid():
        path = os.environ[VARIABLE] = _made[0]
    else:
        path = tempfile.mkdtemp(prefix="tracelog-prometheus-")
        os.environ[VARIABLE] = path
        _made = (path, os.getpid())
        atexit.register(remove_directory)
    values: Any = sys.modules.get("prometheus_client.values")
    if values is not None and not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()
    return path


def remove_directory() -> None:
    """Remove the directory `prepare_directory` made, in the process that made it only."""
    global _made
    if _made is None or _made[1] != os.getpid():
        return
    path, _ = _made
    _made = None
    shutil.rmtree(path, ignore_errors=True)


def hand_directory_to(uid: int, gid: int) -> None:
    """Let workers that run as another user (gunicorn's ``user``/``group``) write their files."""
    if _made is None or _made[1] != os.getpid() or not hasattr(os, "geteuid"):
        return
    if os.geteuid() == 0 and (uid, gid) != (0, 0):
        try:
            os.chown(_made[0], uid, gid)
        except OSError as exc:
            report("gunicorn: the multiprocess directory could not be given to the workers", exc)


def mark_dead(pid: int) -> None:
    """prometheus_client's ``mark_process_dead``: a dead worker's live gauges go; never raises.

    Its counts, and its exemplars, stay: they are part of every total.
    """
    try:
        from prometheus_client import multiprocess  # noqa: PLC0415 - after the directory is set

        multiprocess.mark_process_dead(pid, os.environ.get(VARIABLE))  # type: ignore[no-untyped-call]
    except Exception as exc:
        report("gunicorn: a dead worker's live gauges could not be removed", exc)
