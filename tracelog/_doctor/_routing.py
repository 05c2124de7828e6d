"""The ``logs-routing`` check: stdlib records reach tracelog's handler, once.

The same findings tracelog writes on its output at run time (`tracelog._routing`):
its handler taken off the root logger by a later set-up, another handler
writing the same records (every line twice), a framework's logger (Django's,
uvicorn's, gunicorn's, Celery's) that does not reach the root.
"""

from __future__ import annotations

import logging

from tracelog import _configure, _routing
from tracelog._doctor._report import DoctorCheck

__all__ = ["routing_check"]

NAME = "logs-routing"


def routing_check() -> list[DoctorCheck]:
    """The ``logs-routing`` check."""
    state = _configure.configured()
    installation = None if state is None else state.installations.get("stdlib")
    handler = None if installation is None else installation.handler
    if not isinstance(handler, logging.Handler):
        return [DoctorCheck.skipped(NAME, "tracelog.configure() set up no stdlib logging")]
    found = _routing.findings(handler)
    if not found:
        present = sorted(
            name
            for name, logger in logging.getLogger().manager.loggerDict.copy().items()
            if name.split(".", maxsplit=1)[0] in _routing.FRAMEWORKS
            and isinstance(logger, logging.Logger)
        )
        frameworks = f" ({', '.join(present)} among them)" if present else ""
        return [
            DoctorCheck.ok(
                NAME,
                "tracelog's handler is on the root logger, no other handler writes its records,"
                f" and every logger's records reach it{frameworks}",
            )
        ]
    fixes = list(dict.fromkeys(finding.fix for finding in found))
    return [
        DoctorCheck.problem(
            NAME, "; ".join(finding.message for finding in found), "; or ".join(fixes)
        )
    ]
