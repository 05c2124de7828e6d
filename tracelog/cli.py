"""The ``tracelog`` command: ``tracelog query``, ``tracelog grafana`` and ``tracelog doctor``.

Subcommands register themselves in `_build_parser`; each is a function taking
the parsed arguments and the output streams and returning the exit status.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from tracelog.query import Result

__all__ = ["main"]

EXIT_MATCHED, EXIT_NO_MATCH, EXIT_USAGE = 0, 1, 2
EXIT_UNREAD = 2  # nothing matched, but a source was not read to its end (as grep does)


class _Progress:
    """A progress bar on stderr, shown only on a terminal and only once a scan takes a while."""

    DELAY = 0.5

    def __init__(self, stream: IO[str], total: int) -> None:
        self._stream = stream
        self._total = total
        try:
            self._enabled = total > 0 and stream.isatty()
        except (AttributeError, ValueError):
            self._enabled = False
        self._start = time.monotonic()
        self._shown = False
        self._last = 0.0

    def __call__(self, done: int) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if now - self._start < self.DELAY or now - self._last < 0.1:
            return
        self._last = now
        fraction = min(done / self._total, 1.0)
        bar = "#" * int(fraction * 30)
        self._stream.write(f"\r[{bar:<30}] {fraction:4.0%} {done >> 20}/{self._total >> 20} MiB")
        self._stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()


def _query(options: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from tracelog._console import escape_terminal
    from tracelog.query import Damage, discover, level_number, parse_span, parse_trace, search

    def fail(message: str) -> int:
        stderr.write(f"tracelog query: error: {message}\n")
        return EXIT_USAGE

    try:
        trace = parse_trace(options.trace)
    except ValueError as error:
        return fail(f"TRACE {escape_terminal(options.trace)!r}: {error}")
    span = None
    if options.span is not None:
        try:
            span = parse_span(options.span)
        except ValueError as error:
            return fail(f"--span {escape_terminal(options.span)!r}: {error}")
    min_level = None
    if options.level is not None:
        min_level = level_number(options.level)
        if min_level is None:
            return fail(f"--level {escape_terminal(options.level)!r}: unknown level")

    progress: _Progress | None = None

    def warn(message: str) -> None:
        if progress is not None:
            progress.close()  # a warning must not land in the middle of the bar
        stderr.write(f"tracelog: {escape_terminal(message)}\n")

    # Every warning from finding and reading the sources says one was not read
    # to its end (skipped, cut short, unreadable): then "nothing matched" is not sure.
    unread = False

    def warn_unread(message: str) -> None:
        nonlocal unread
        unread = True
        warn(message)

    paths = options.paths
    if not paths:
        log_dir = os.environ.get("TRACELOG_LOG_DIR")
        if log_dir:
            paths = [log_dir]
            warn(f"no PATH given: searching TRACELOG_LOG_DIR ({log_dir})")
        else:
            paths = ["."]
            warn(f"no PATH given: searching the current directory ({os.getcwd()})")
    try:
        sources = discover(paths, warn_unread)
    except OSError as error:
        return fail(escape_terminal(str(error)))

    progress = _Progress(stderr, sum(source.size for source in sources))

    def report(damage: Damage) -> None:
        warn(f"{damage.where}: skipped a line that mentions the trace: {damage.reason}")

    try:
        result = search(
            trace,
            sources,
            span=span,
            min_level=min_level,
            warn=warn_unread,
            report=report,
            progress=progress,
        )
    finally:
        progress.close()

    output_format = options.format or ("pretty" if _isatty(stdout) else "json")
    try:
        _write(result, output_format, stdout)
    except BrokenPipeError:
        raise
    except OSError as error:
        raise _OutputError(error.strerror or str(error)) from error
    if result.damaged > len(result.damage):
        warn(
            f"{result.damaged} damaged lines mentioning the trace were skipped"
            f" (the first {len(result.damage)} are shown above)"
        )
    # The status says whether the output holds the trace: json prints log lines only,
    # so spans alone are no match there (as for grep, 0 means lines were printed).
    if result.matches or (result.spans and output_format == "pretty"):
        return EXIT_MATCHED
    if result.spans:
        count = len(result.spans)
        warn(
            f"no log line of the trace matched; {count} span{'s' * (count != 1)} of it"
            " did (--format pretty shows them)"
        )
    return EXIT_UNREAD if unread else EXIT_NO_MATCH


def _grafana(options: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from tracelog import grafana
    from tracelog._console import escape_terminal

    def fail(message: str) -> int:
        stderr.write(f"tracelog grafana: error: {escape_terminal(message)}\n")
        return EXIT_USAGE

    given = {
        name: getattr(options, name)
        for name in ("prometheus_url", "tempo_url", "loki_url", "fields", "dashboards_path")
        if getattr(options, name) is not None
    }
    try:
        done = grafana.write(options.out, force=options.force, **given)
    except ValueError as error:
        # The option names of the command line, not of the Python function: each
        # message starts with the name (what follows may quote the user's value).
        message = str(error)
        for name in ("prometheus_url", "tempo_url", "loki_url", "dashboards_path", "fields", "out"):
            if message.startswith(name + " "):
                message = "--" + name.replace("_", "-") + message[len(name) :]
                break
        return fail(message)
    except OSError as error:
        if isinstance(error, FileExistsError) and error.errno is None:
            # write()'s refusal of a file it did not write; the system's own carry an errno.
            return fail(str(error).replace("pass force=True", "use --force"))
        where = f"{error.filename}: " if error.filename else ""
        return fail(f"cannot write {where}{error.strerror or error}")
    for path, what in done.items():
        stdout.write(f"{what:9} {escape_terminal(str(path))}\n")
    for note in grafana.limitations(options.fields or "otel"):
        stderr.write(f"tracelog grafana: warning: {note}\n")
    return 0


class _OutputError(Exception):
    """Writing the results failed (a full disk, /dev/full)."""


def _write(result: Result, output_format: str, stdout: IO[str]) -> None:
    from tracelog._console import use_colour
    from tracelog.query._json_lines import json_line

    if output_format == "json":
        binary = getattr(stdout, "buffer", None)
        for match in result.matches:
            line = json_line(match) + b"\n"
            if binary is not None:
                binary.write(line)
            else:
                stdout.write(line.decode("utf-8"))
    else:
        from tracelog.query._pretty import render, render_spans, summary

        colour = use_colour(_isatty(stdout))
        for text in render(result.matches, colour=colour, spans=result.spans):
            stdout.write(text + "\n")
        if result.spans:
            stdout.write("\n" if result.matches else "")
            for text in render_spans(result.spans, colour=colour):
                stdout.write(text + "\n")
        stdout.write(
            ("\n" if result.matches or result.spans else "") + summary(result, colour=colour) + "\n"
        )
    stdout.flush()


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracelog", description="Logs, traces and metrics that join on the trace ID."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    query = commands.add_parser(
        "query",
        help="every log line of one trace, across services and files",
        description=(
            "Print every JSON log record of one trace, from files, directories and stdin,"
            " merged in time order; the trace's spans, where the OpenTelemetry SDK wrote them"
            " as JSON lines, are drawn after them by --format pretty. Exit status: 0 when"
            " something matched (for --format json, a log line), 1 when nothing did, 2 on a"
            " usage error or when nothing matched and a source could not be read to its end."
        ),
    )
    query.add_argument(
        "trace", metavar="TRACE", help="trace ID (32 hex digits), traceparent, or a URL holding one"
    )
    query.add_argument(
        "paths",
        metavar="PATH",
        nargs="*",
        help="files, directories (searched recursively) or - for stdin;"
        " default: $TRACELOG_LOG_DIR, else the current directory",
    )
    query.add_argument(
        "--format",
        choices=("pretty", "json"),
        help="pretty (the default on a terminal) or json (JSON lines, the default otherwise)",
    )
    query.add_argument("--span", metavar="SPAN_ID", help="only this span's records")
    query.add_argument(
        "--level", metavar="LEVEL", help="only records at least this severe (e.g. warning)"
    )
    query.set_defaults(run=_query)

    # The defaults are tracelog.grafana's (a test holds the help to them): importing it
    # here would slow every command's start.
    grafana = commands.add_parser(
        "grafana",
        help="Grafana provisioning files that match tracelog's logs and exemplars",
        description=(
            "Write Grafana provisioning files into DIR (mount it as /etc/grafana/provisioning):"
            " datasources/tracelog.yaml (Prometheus, Loki and Tempo, linked to each other),"
            " dashboards/tracelog.yaml and dashboards/tracelog.json (request metrics with"
            " exemplars). Only files tracelog wrote are replaced, unless --force."
            " Exit status: 0 when written, 2 on a usage error or when a file cannot be written."
        ),
    )
    grafana.add_argument("--out", metavar="DIR", required=True, help="where to write the files")
    grafana.add_argument(
        "--prometheus-url",
        metavar="URL",
        help="Prometheus, as Grafana reaches it (default: http://prometheus:9090)",
    )
    grafana.add_argument(
        "--tempo-url",
        metavar="URL",
        help="Tempo's HTTP API (default: http://tempo:3200)",
    )
    grafana.add_argument(
        "--loki-url",
        metavar="URL",
        help="Loki's HTTP API (default: http://loki:3100)",
    )
    grafana.add_argument(
        "--fields",
        metavar="PROFILE",
        help="the field profile of the logs: otel (default), ecs, datadog, datadog64 or gcp",
    )
    grafana.add_argument(
        "--dashboards-path",
        metavar="PATH",
        help="where Grafana sees DIR/dashboards (default: /etc/grafana/provisioning/dashboards)",
    )
    grafana.add_argument(
        "--force", action="store_true", help="also replace files tracelog did not write"
    )
    grafana.set_defaults(run=_grafana)
    from tracelog._doctor._command import add_doctor

    add_doctor(commands)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run the command line; return the exit status (2 for usage errors, as argparse does)."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    if err is None:  # started with stderr closed (2>&-): warnings go nowhere, statuses stay
        err = io.StringIO()
    parser = _build_parser()
    try:
        options = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        status: int = options.run(options, out, err)
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, as grep does.
        _drop_stdout()
        return EXIT_MATCHED
    except KeyboardInterrupt:
        err.write("\n")
        return 130
    except _OutputError as error:
        _drop_stdout()
        _last_words(err, f"cannot write the output: {error}")
        return EXIT_USAGE
    except Exception as error:  # a bug must not read as "nothing matched" (exit 1)
        _last_words(err, f"internal error: {type(error).__name__}: {error}")
        return EXIT_USAGE
    return status


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _last_words(err: IO[str], message: str) -> None:
    from tracelog._console import escape_terminal

    try:
        err.write(f"tracelog: error: {escape_terminal(message)}\n")
        err.flush()
    except Exception:  # nowhere left to say it; the exit status still does
        pass
