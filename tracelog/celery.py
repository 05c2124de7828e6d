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

    # A second call replaces the first.
    signals.setup_logging.disconnect(dispatch_uid=_UID)
    signals.setup_logging.connect(set_up, weak=False, dispatch_uid=_UID)
