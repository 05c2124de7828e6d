"""Level names and numbers, and their OpenTelemetry severity numbers."""

from __future__ import annotations

import logging

__all__ = ["LEVELS", "level_number", "severity_number"]

LEVELS = {
    "TRACE": 5,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "SUCCESS": 25,
    "WARNING": logging.WARNING,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
    "FATAL": logging.CRITICAL,
}
"""Level names tracelog accepts: stdlib's, plus loguru's TRACE and SUCCESS."""


def level_number(level: str | int, *, option: str = "level") -> int:
    """The number of a level name (``"INFO"``, loguru's ``"SUCCESS"``) or number.

    Raises:
        TypeError, ValueError: *level* is not a known level name or a number
            (the message names *option*).
    """
    if isinstance(level, bool) or not isinstance(level, (int, str)):
        raise TypeError(f"{option} must be a level name or number, not {level!r}")
    if isinstance(level, int):
        if level < 0:
            raise ValueError(f"{option} must not be negative, not {level}")
        return level
    number = LEVELS.get(level.upper())
    if number is None:
        registered = logging.getLevelName(level.upper())
        if isinstance(registered, int):
            return registered
        raise ValueError(f"unknown {option} {level!r}; use one of {', '.join(LEVELS)} or a number")
    return number


def severity_number(levelno: int) -> int:
    """OpenTelemetry's SeverityNumber for a Python level number.

    DEBUG 5, INFO 9, WARNING 13, ERROR 17, CRITICAL 21, and the numbers in
    between into their ranges as the OpenTelemetry SDK's logging handler maps
    them (so loguru's SUCCESS, 25, is INFO4, 12). Below DEBUG is the TRACE
    range, which the SDK leaves unspecified: loguru's TRACE, 5, is TRACE (1).
    """
    if levelno < 10:
        return 1 + min(max(levelno - 5, 0), 3)
    if levelno > 53:
        return 24
    tens, units = divmod(levelno, 10)
    return (tens - 1) * 4 + 5 + min(units, 3)
