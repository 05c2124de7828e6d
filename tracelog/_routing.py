"""Where stdlib records go besides tracelog's handler: said once, on tracelog's output.

A set-up of logging after tracelog's (``logging.config.dictConfig``,
``basicConfig(force=True)``, a framework's own) can take tracelog's handler
off the root logger, leave handlers of its own writing the same records (as
plain text, mostly), or keep a framework's loggers from reaching the root.
`findings` names each case with its fix; `check` writes each new one once, as
a JSON line on tracelog's own output, and ``tracelog doctor`` reports them.
"""

from __future__ import annotations

import logging
import logging.handlers
import threading
from typing import NamedTuple

from tracelog import _configure

__all__ = ["FRAMEWORKS", "Finding", "check", "findings", "forget"]

# The frameworks whose loggers tracelog.logging_config() routes, and how.
FRAMEWORKS = {
    "django": "LOGGING = tracelog.logging_config(...) in settings.py",
    "uvicorn": "uvicorn.run(..., log_config=tracelog.logging_config(...)), or --log-config"
    " with that dict saved as JSON",
    "gunicorn": "gunicorn -c python:tracelog.gunicorn (or logconfig_dict ="
    " tracelog.logging_config(...) in your gunicorn config)",
    "celery": "tracelog.celery.setup_logging(...) in the Celery app's module",
}
_ONE_SET_UP = (
    "set logging up once, through tracelog: "
    + "; ".join(f"{name}: {how}" for name, how in FRAMEWORKS.items())
    + "; else call tracelog.configure() after the other set-up"
)


class Finding(NamedTuple):
    """One way records miss tracelog's handler, or reach another one too."""

    kind: str  # "removed", "doubled" or "unrouted"
    message: str
    fix: str


def findings(handler: logging.Handler) -> list[Finding]:
    """What takes records past *handler* (tracelog's, for the root logger), or doubles them."""
    root = logging.getLogger()
    # dict.copy() is one step: another thread's getLogger() cannot break it.
    loggers = {
        name: logger
        for name, logger in root.manager.loggerDict.copy().items()
        if isinstance(logger, logging.Logger)
    }
    if handler not in root.handlers:
        if any(handler in logger.handlers for logger in loggers.values()):
            return []  # placed on loggers of the application's choosing: its routing
        if any(isinstance(other, logging.handlers.QueueHandler) for other in root.handlers):
            return []  # behind a queue: its listener's handlers cannot be seen from here
        return [
            Finding(
                "removed",
                "tracelog's handler was taken off the root logger after it was set up (by"
                " logging.config.dictConfig, basicConfig(force=True) or a framework's logging"
                " set-up): log records no longer reach this output",
                _ONE_SET_UP,
            )
        ]
    found = [
        _doubled("the root logger", other) for other in root.handlers if _writes(other, handler)
    ]
    for name in sorted(loggers):
        logger = loggers[name]
        if _reaches_root(logger):
            found += [
                _doubled(f"the {name!r} logger", other)
                for other in logger.handlers
                if _writes(other, handler)
            ]
        elif name.split(".", maxsplit=1)[0] in FRAMEWORKS and _reaches_root(logger.parent):
            # The first logger of the line that stops: its children are said with it.
            found.append(_unrouted(name, logger))
    return found


def _reaches_root(logger: logging.Logger | None) -> bool:
    """Whether records of *logger* propagate to the root logger's handlers."""
    current = logger
    while isinstance(current, logging.Logger) and current.parent is not None:
        if current.disabled or not current.propagate:
            return False
        current = current.parent
    return True


def _writes(other: logging.Handler, handler: logging.Handler) -> bool:
    """Whether *other* writes lines of the records *handler* writes (plain text, mostly)."""
    from tracelog.stdlib import ConsoleFormatter, JsonFormatter  # noqa: PLC0415 - no cycle

    if other is handler or not isinstance(other, logging.StreamHandler):
        return False
    if isinstance(other.formatter, (JsonFormatter, ConsoleFormatter)):
        return False  # tracelog's lines, somewhere else on purpose
    # Filters decide (Django's console handler writes only with DEBUG on).
    probe = logging.LogRecord(
        "tracelog", max(other.level, logging.WARNING), __file__, 0, "probe", None, None
    )
    try:
        return bool(other.filter(probe))
    except Exception:
        return True


def _doubled(where: str, other: logging.Handler) -> Finding:
    return Finding(
        "doubled",
        f"records of {where} are written twice: by tracelog and by {other!r} there",
        'take that handler off the logger (its "handlers" in the dictConfig; with'
        " tracelog.logging_config() the frameworks' loggers have none): tracelog's handler on"
        " the root logger writes these records already",
    )


def _unrouted(name: str, logger: logging.Logger) -> Finding:
    framework = name.split(".", maxsplit=1)[0]
    if logger.disabled:
        why = "is disabled (a dictConfig with disable_existing_loggers left on)"
    else:
        names = ", ".join(repr(other) for other in logger.handlers) or "no handler"
        why = f"does not propagate to the root logger; it has {names}"
    return Finding(
        "unrouted",
        f"the {name!r} logger {why}: its records never reach tracelog's output",
        f"{framework}: {FRAMEWORKS[framework]} (its entry for {name!r}: no handlers,"
        " propagate True)",
    )


# What was said since tracelog was last set up (reset() forgets it).
_said: set[str] = set()
_said_lock = threading.Lock()


def forget() -> None:
    """Forget what was said: a new set-up may go wrong again, and be told again."""
    with _said_lock:
        _said.clear()


def check() -> None:
    """Write each new finding about tracelog's handler once, as a warning line on its output."""
    state = _configure.configured()
    installation = None if state is None else state.installations.get("stdlib")
    handler = None if installation is None else installation.handler
    if not isinstance(handler, logging.Handler):
        return  # reset() meanwhile, or stdlib not set up: nothing to say
    from tracelog.stdlib import stamp  # noqa: PLC0415 - no cycle

    for finding in findings(handler):
        with _said_lock:
            if finding.message in _said:
                continue
            _said.add(finding.message)
        record = logging.LogRecord(
            "tracelog", logging.WARNING, __file__, 0, finding.message, None, None
        )
        record.fix = finding.fix
        stamp(record, trace=None)  # about the set-up, not about a request
        handler.emit(record)
