"""Celery: the worker's own lines as JSON; task lines carry the task span's trace.

In the module that makes the Celery app::

    import tracelog.celery

    tracelog.celery.setup_logging(service_name="worker")

Celery then leaves logging to tracelog (it sets up no handler of its own, and
does not take over the root logger): ``logging.config.dictConfig`` of
`tracelog.logging_config` runs where Celery would set logging up, and the
``celery.*`` loggers write through tracelog's handler. With OpenTelemetry's
``CeleryInstrumentor``, whose span is current while a task runs, a task's
lines, Celery's ``succeeded`` and ``raised`` lines included, carry its trace.
"""

from __future__ import annotations

import logging.config
from typing import Any

from celery import signals

from tracelog._configure import configure
from tracelog._logging_config import logging_config, takes_options_of

__all__ = ["setup_logging"]

_UID = "tracelog.celery"
_NOTICES = "celery.apps.worker"


def _notices_as_records() -> None:
    """Make the notices Celery's worker prints (``worker: Warm shutdown``) log records.

    It writes them to stdout as plain text (``celery.apps.worker.safe_say``),
    between the JSON lines; they go through its logger instead, and are
    printed as before if that fails.
    """
    try:
        from celery.apps import worker  # noqa: PLC0415 - the worker's module, once it runs
    except ImportError:
        return
    printed = getattr(worker, "safe_say", None)
    if not callable(printed) or getattr(printed, "tracelog", False):
        return

    def say(msg: Any, *args: Any, **kwargs: Any) -> None:
        try:
            logging.getLogger(_NOTICES).info("%s", str(msg).strip())
        except Exception:
            printed(msg, *args, **kwargs)

    say.tracelog = True  # type: ignore[attr-defined]
    worker.safe_say = say


@takes_options_of(configure)
def setup_logging(**options: Any) -> None:
    """Have Celery's processes set logging up through tracelog, with `tracelog.configure`'s options.

    Connects a receiver to Celery's ``setup_logging`` signal; the options are
    validated now. Call it in the module that makes the Celery app, before
    the worker starts.

    Raises:
        ValueError, TypeError: an option is invalid.
    """
    config = logging_config(**options)

    def set_up(**_: Any) -> None:
        logging.config.dictConfig(config)
        _notices_as_records()

    # A second call replaces the first.
    signals.setup_logging.disconnect(dispatch_uid=_UID)
    signals.setup_logging.connect(set_up, weak=False, dispatch_uid=_UID)
