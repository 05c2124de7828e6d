"""Errors tracelog raises, and how it reports the ones it must not raise."""

from __future__ import annotations

import logging
import sys
import threading

__all__ = ["MissingExtraError", "report", "write_stderr"]

_local = threading.local()
_seen: dict[str, int] = {}


class MissingExtraError(ImportError):
    """An adapter was used without the library it adapts.

    The message names the extra to install, e.g. ``pip install "tracelog[loguru]"``.
    """

    def __init__(self, library: str, *, extra: str | None = None) -> None:
        extra = extra or library
        super().__init__(
            f"tracelog's {library} integration needs {library}, which is not installed: "
            f'pip install "tracelog[{extra}]"',
            name=library,
        )
        self.library = library
        self.extra = extra


def report(where: str, exc: BaseException | None = None, *, to_stderr: bool = False) -> None:
    """Report an internal failure on the hot path without raising.

    The first failure of each kind goes to the ``tracelog`` logger; later ones
    are only counted (see `error_counts`), so a broken value logged in a loop
    does not become a storm. A failure while reporting (the ``tracelog``
    logger writes through tracelog too) goes to stderr instead of recursing,
    as do failures of the output itself (*to_stderr*), which the logger
    would only send back to the broken output.
    """
    key = f"{where}: {type(exc).__name__}" if exc is not None else where
    count = _seen.get(key, 0)
    _seen[key] = count + 1
    if count:
        return
    if to_stderr or getattr(_local, "busy", False):
        _write_stderr(key, exc)
        return
    _local.busy = True
    try:
        logging.getLogger("tracelog").warning(
            "tracelog: %s (%s); later occurrences are counted, not logged",
            where,
            _describe(exc),
        )
    except Exception:
        _write_stderr(key, exc)
    finally:
        _local.busy = False


def error_counts() -> dict[str, int]:
    """How often each kind of internal failure happened in this process."""
    return dict(_seen)


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no exception"
    try:
        return f"{type(exc).__qualname__}: {exc}"
    except Exception:
        return type(exc).__qualname__


def _write_stderr(key: str, exc: BaseException | None) -> None:
    write_stderr(f"tracelog: {key}: {_describe(exc)}\n")


def write_stderr(text: str) -> None:
    """Write *text* to stderr, if there is one; never raises."""
    try:
        stream = sys.stderr or sys.__stderr__
        if stream is not None:
            stream.write(text)
    except Exception:  # nowhere left to say it
        pass
