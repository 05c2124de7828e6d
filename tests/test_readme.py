"""The manual's Python blocks run as pasted and print what the manual says they print."""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import tracelog
from tests._otlp import OTLPReceiver, attributes
from tests.test_readme_scale import snippet

SPAN_IN_EXEMPLAR = re.compile(r' # \{span_id="([0-9a-f]{16})",trace_id="([0-9a-f]{32})"\} ')


def run_python(code: str, tmp_path: Path) -> list[str]:
    """Run *code* as a script of its own (a fresh process: it sets the tracer provider)."""
    script = tmp_path / "pasted.py"
    script.write_text(code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    return done.stdout.splitlines()


def test_quick_start_prints_three_lines_that_differ_only_in_time_and_loguru_logger(
    tmp_path: Path,
) -> None:
    """The quick start writes one line per library, equal but for timestamp and loguru's logger."""
    records = [
        json.loads(line) for line in run_python(snippet("## Quick start", "python"), tmp_path)
    ]
    assert [record.pop("logger") for record in records] == ["checkout", "checkout", "__main__"]
    for record in records:
        del record["timestamp"]
    first = records[0]
    assert records == [first, first, first]
    assert set(first) == {
        "level",
        "message",
        "service.name",
        "trace_id",
        "span_id",
        "trace_flags",
        "order_id",
    }
    assert (first["level"], first["message"], first["service.name"], first["order_id"]) == (
        "info",
        "paid",
        "checkout",
        "A-1",
    )
    assert re.fullmatch(r"[0-9a-f]{32}", first["trace_id"])
    assert int(first["trace_flags"], 16) & 1  # sampled


def test_configure_block_lists_the_real_options_and_defaults() -> None:
    """The `tracelog.configure()` block names configure()'s options, in order, with its defaults."""
    block = snippet("### `tracelog.configure()`", "python")
    options = re.findall(r"^    (?:\*, )?(\w+)=(.+?),\s+#", block, re.MULTILINE)
    parameters = inspect.signature(tracelog.configure).parameters
    assert [name for name, _ in options] == list(parameters)
    for name, default in options:
        if default == "DEFAULT_REDACT_KEYS":
            assert parameters[name].default == tracelog.DEFAULT_REDACT_KEYS
        else:
            assert parameters[name].default == ast.literal_eval(default), name


def test_metrics_block_serves_the_span_as_exemplar(tmp_path: Path) -> None:
    """The metrics block's histogram and counter carry the span's IDs as their exemplar."""
    block = snippet("## Metrics with exemplars", "python")
    assert "start_http_server(9464," in block
    # Port 0: a free one, as the tests' servers use; then read what a scraper would get.
    code = block.replace("start_http_server(9464,", "start_http_server(0,") + (
        "from prometheus_client import REGISTRY\n"
        "from prometheus_client.openmetrics.exposition import generate_latest\n"
        "print(generate_latest(REGISTRY).decode())\n"
    )
    exemplars = {}
    for line in run_python(code, tmp_path):
        found = SPAN_IN_EXEMPLAR.search(line)
        if found:
            exemplars[line.split(" ", 1)[0]] = found.groups()
    assert list(exemplars) == ['checkout_step_seconds_bucket{le="0.25",step="pay"}', "orders_total"]
    assert len(set(exemplars.values())) == 1  # one span, on both


def test_dict_config_and_structlog_blocks_stamp_the_span(tmp_path: Path) -> None:
    """The building blocks' dictConfig and structlog chain write lines with the span's IDs."""
    code = (
        "import logging.config\n"
        "import structlog\n"
        "import tracelog.structlog\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "trace.set_tracer_provider(TracerProvider())\n"
        + snippet("### stdlib: `tracelog.stdlib`", "python")
        + "logging.config.dictConfig(LOGGING)\n"
        + snippet("### structlog: `tracelog.structlog`", "python")
        + "with trace.get_tracer(__name__).start_as_current_span('work') as span:\n"
        "    logging.getLogger('checkout').info('paid')\n"
        "    structlog.get_logger().info('paid')\n"
        "    print(format(span.get_span_context().trace_id, '032x'))\n"
    )
    *lines, trace_id = run_python(code, tmp_path)
    stdlib, structlog = (json.loads(line) for line in lines)
    assert (stdlib["service.name"], stdlib["message"], stdlib["trace_id"]) == (
        "checkout",
        "paid",
        trace_id,
    )
    assert {key: structlog[key] for key in ("event", "level", "trace_id")} == {
        "event": "paid",
        "level": "info",
        "trace_id": trace_id,
    }


def test_otel_logs_block_sends_its_record_over_otlp(tmp_path: Path, otlp: OTLPReceiver) -> None:
    """The "Logs over OTLP" block sends its record to OTEL_EXPORTER_OTLP_ENDPOINT and prints it."""
    code = snippet("## Logs over OTLP", "python")
    script = tmp_path / "pasted.py"
    script.write_text(code, encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.url
    environment["NO_PROXY"] = environment["no_proxy"] = "127.0.0.1"
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    (line,) = [json.loads(text) for text in done.stdout.splitlines()]
    assert (line["message"], line["service.name"], line["order_id"]) == ("paid", "checkout", "A-1")
    ((resource, scope, record),) = otlp.log_records()
    assert (resource["service.name"], scope, record.body.string_value) == (
        "checkout",
        "checkout",
        "paid",
    )
    assert attributes(record.attributes)["order_id"] == "A-1"
