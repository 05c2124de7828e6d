"""``tracelog doctor``: the command's options, and its run (import the app, check, print)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import threading
from typing import IO

from tracelog._console import escape_terminal

__all__ = ["EXIT_HEALTHY", "EXIT_PROBLEM", "add_doctor"]

EXIT_HEALTHY, EXIT_PROBLEM = 0, 1  # every check that ran passed, or not
EXIT_USAGE = 2


def _run(options: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    # Imported here: the parser is built for every subcommand, `tracelog query` included.
    from tracelog._doctor import run  # noqa: PLC0415
    from tracelog._doctor._http import check_url  # noqa: PLC0415

    def fail(message: str) -> int:
        stderr.write(f"tracelog doctor: error: {escape_terminal(message)}\n")
        return EXIT_USAGE

    if not (options.module or options.metrics_url or options.prometheus_url or options.logs):
        return fail("nothing to check: give --import, --metrics-url, --prometheus-url or --logs")
    try:
        for option, url in (
            ("--metrics-url", options.metrics_url),
            ("--prometheus-url", options.prometheus_url),
        ):
            if url is not None:
                check_url(url, option)
    except ValueError as error:
        return fail(str(error))
    for path in options.logs:
        if not os.path.exists(path):
            return fail(f"--logs {path!r}: no such file or directory")
    if options.module:
        # As `python -m` would: the application's modules are found from here.
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            importlib.import_module(options.module)
        except (Exception, SystemExit) as error:  # the module's own failure, or its exit
            return fail(
                f"--import {options.module!r}: cannot import it: {type(error).__name__}: {error}"
            )
    try:
        report = run(
            in_process=bool(options.module),
            metrics_url=options.metrics_url,
            prometheus_url=options.prometheus_url,
            logs=options.logs,
            timeout=options.timeout,
        )
    except (TypeError, ValueError) as error:
        return fail(str(error))
    for line in report.lines():
        stdout.write(escape_terminal(line) + "\n")
    stdout.flush()
    status = EXIT_HEALTHY if report.ok else EXIT_PROBLEM
    if options.module:
        _leave(status, stderr)
    return status


def _leave(status: int, stderr: IO[str]) -> None:
    """Exit now if the imported application left threads running that Python would wait for.

    A module that starts a worker or a server in a non-daemon thread would
    otherwise keep the command from ever ending, its report printed.
    """
    lingering = [
        thread.name
        for thread in threading.enumerate()
        if thread.is_alive() and not thread.daemon and thread is not threading.main_thread()
    ]
    if not lingering or threading.current_thread() is not threading.main_thread():
        return
    stderr.write(
        "tracelog doctor: not waiting for the threads the application started: "
        + escape_terminal(", ".join(lingering))
        + "\n"
    )
    for stream in (sys.stdout, sys.stderr, stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)


def add_doctor(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tracelog doctor`` and its options to *commands*."""
    doctor = commands.add_parser(
        "doctor",
        help="check that logs, traces and metrics of a set-up join on the trace ID",
        description=(
            "Check a running set-up and print each point as ok, problem (with its fix) or"
            " not checked. Exit status: 0 when every check that ran passed, 1 when one found"
            " a problem, 2 on a usage error."
        ),
    )
    doctor.add_argument(
        "--import",
        dest="module",
        metavar="MODULE",
        help="import the application's module that sets the tracer provider and calls"
        " tracelog.configure(), then check this process (found from the current directory)",
    )
    doctor.add_argument(
        "--metrics-url",
        metavar="URL",
        help="the app's metrics endpoint, e.g. http://host:8000/metrics",
    )
    doctor.add_argument(
        "--prometheus-url", metavar="URL", help="Prometheus, e.g. http://localhost:9090"
    )
    doctor.add_argument(
        "--logs",
        metavar="PATH",
        nargs="+",
        default=[],
        help="log files or directories: their newest lines must be JSON with trace IDs",
    )
    doctor.add_argument(
        "--timeout",
        metavar="S",
        type=_seconds,
        default=5.0,
        help="seconds allowed for each HTTP request (default: 5)",
    )
    doctor.set_defaults(run=_run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value
