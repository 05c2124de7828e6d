"""``tracelog.doctor()`` and ``tracelog doctor``: check a set-up end to end, say what to fix.

The package is private (``_doctor``): a submodule named ``doctor`` would
shadow the function ``tracelog.doctor``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

from tracelog._doctor._report import DoctorCheck, DoctorReport, Status, guarded

__all__ = ["DoctorCheck", "DoctorReport", "Status", "doctor", "run"]


def doctor(
    *,
    metrics_url: str | None = None,
    prometheus_url: str | None = None,
    logs: Iterable[str | os.PathLike[str]] = (),
    timeout: float = 5.0,
) -> DoctorReport:
    """Check this process's set-up, and optionally its metrics, Prometheus and log files.

    In this process: an OpenTelemetry SDK tracer provider is installed,
    enabled, with a sampler that samples root spans; a test span (a root
    span named ``tracelog doctor``, exported like any other) yields log
    lines with its IDs, in the configured field profile, from every library
    `tracelog.configure` set up (the test lines are kept out of the
    configured output); they become events on that span; if
    ``PROMETHEUS_MULTIPROC_DIR`` is set, it is a directory and was set before
    prometheus_client was imported.

    Args:
        metrics_url: the app's metrics endpoint: it must answer OpenMetrics
            to Prometheus's ``Accept`` header, with exemplars labelled as
            tracelog labels them, and successive scrapes must not flap
            between processes (counters going down, process metrics
            changing).
        prometheus_url: Prometheus: exemplar storage must be on, and hold
            exemplars for the app's series (those seen at *metrics_url*,
            else tracelog's middleware metrics).
        logs: log files or directories: their newest lines must be JSON and
            carry trace IDs.
        timeout: seconds allowed for each HTTP request.

    Returns:
        The report; a failed (or crashed) check is a problem in it, never an
        exception.

    Raises:
        ValueError, TypeError: an option is invalid (nothing was checked).
    """
    return run(
        in_process=True,
        metrics_url=metrics_url,
        prometheus_url=prometheus_url,
        logs=logs,
        timeout=timeout,
    )


def run(
    *,
    in_process: bool,
    metrics_url: str | None = None,
    prometheus_url: str | None = None,
    logs: Iterable[str | os.PathLike[str]] = (),
    timeout: float = 5.0,
) -> DoctorReport:
    """`doctor`, with the in-process checks optional (the command runs them after ``--import``)."""
    from tracelog._doctor._http import check_url  # noqa: PLC0415 - urllib, when needed

    if metrics_url is not None:
        check_url(metrics_url, "metrics_url")
    if prometheus_url is not None:
        check_url(prometheus_url, "prometheus_url")
    if isinstance(logs, (str, os.PathLike)):
        raise TypeError("logs takes a collection of paths, e.g. ['/var/log/app']")
    paths = [os.fspath(path) for path in logs]
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        # Sockets and timers take up to TIMEOUT_MAX (292 years) and overflow above.
        or not 0 < timeout <= threading.TIMEOUT_MAX
    ):
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    checks: list[DoctorCheck] = []
    if in_process:
        from tracelog._doctor._inprocess import in_process_checks  # noqa: PLC0415

        checks += in_process_checks()
    series: list[str] = []
    if metrics_url is not None:
        from tracelog._doctor._metrics import metrics_checks  # noqa: PLC0415

        def metrics() -> list[DoctorCheck]:
            found, names = metrics_checks(metrics_url, timeout=timeout)
            series.extend(names)
            return found

        checks += guarded("metrics-format", metrics)
        from tracelog._doctor._metrics import NO_ANSWER  # noqa: PLC0415
        from tracelog._doctor._processes import processes_check  # noqa: PLC0415

        if checks[-1].finding == NO_ANSWER:  # not asked again: a silent server costs one timeout
            checks.append(DoctorCheck.skipped("metrics-processes", NO_ANSWER))
        else:
            checks += guarded(
                "metrics-processes", lambda: processes_check(metrics_url, timeout=timeout)
            )
    if prometheus_url is not None:
        from tracelog._doctor._prometheus import (  # noqa: PLC0415
            middleware_series,
            prometheus_checks,
        )

        checks += guarded(
            "prometheus-storage",
            lambda: prometheus_checks(
                prometheus_url, series or middleware_series(), timeout=timeout
            ),
        )
    if paths:
        from tracelog._doctor._files import files_check  # noqa: PLC0415

        checks += guarded("log-files", lambda: files_check(paths))
    return DoctorReport(tuple(checks))
