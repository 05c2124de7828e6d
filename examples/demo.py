"""tracelog demo: one request, three signals, one trace ID.

Starts three services on loopback, each its own process: a gateway (stdlib
logging) that asks an agent (structlog), which calls a flaky tool service
(loguru) and retries. A few questions go through them; then each service's
``/metrics`` is scraped in OpenMetrics form, the slowest request is picked
from a latency exemplar, and ``tracelog query`` shows every log line of its
trace, from every service, then its spans with their events (the log lines
logged in them, which tracelog turned into span events).

Everything lands in ``demo-output/``: ``<service>.log`` (JSON logs),
``spans-<service>.jsonl`` (finished spans, one JSON object a line) and
``metrics-<service>.txt`` (OpenMetrics with exemplars).

Run it with ``make demo`` (or ``python examples/demo.py`` in the venv).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from demo_services import SERVICES, run
from demo_services.processes import Fleet, Signals
from prometheus_client.openmetrics.parser import text_string_to_metric_families

LIBRARIES = {"gateway": "stdlib logging", "agent": "structlog", "tool": "loguru"}
QUESTIONS = (
    "What is the capital of France?",
    "How many moons does Mars have?",
    "Add 17 and 25",
    "Who wrote The Hobbit?",
    "What is 120 plus 3.5?",
    "Which planet is the largest?",
)
LATENCY = "http_server_request_duration_seconds"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str, accept: str = "application/json") -> bytes:
    """GET *url* on loopback."""
    request = urllib.request.Request(url, headers={"Accept": accept})
    with _OPENER.open(request, timeout=30) as response:
        body: bytes = response.read()
        return body


def ask(gateway: str, question: str) -> tuple[str, dict[str, Any], float]:
    """Ask the gateway one question: (question, its JSON answer, seconds taken)."""
    started = time.perf_counter()
    body = get(f"{gateway}/ask?{urllib.parse.urlencode({'q': question})}")
    return question, json.loads(body), time.perf_counter() - started


def slowest_exemplar(openmetrics: str) -> tuple[float, dict[str, str]]:
    """The latency exemplar with the highest value: (seconds, its trace_id and span_id labels)."""
    found: list[tuple[float, dict[str, str]]] = []
    for family in text_string_to_metric_families(openmetrics):  # type: ignore[no-untyped-call]
        if family.name != LATENCY:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket") and sample.exemplar is not None:
                found.append((sample.exemplar.value, dict(sample.exemplar.labels)))
    if not found:
        raise RuntimeError(f"no exemplar on {LATENCY}")
    return max(found, key=lambda item: item[0])


def requests_counted(openmetrics: str) -> float:
    """How many requests the exposition's latency histogram has counted, over all its series."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(openmetrics)  # type: ignore[no-untyped-call]
        if family.name == LATENCY
        for sample in family.samples
        if sample.name == f"{LATENCY}_count"
    )


def scrape(url: str, *, at_least: int = 0, timeout: float = 5.0) -> str:
    """*url*'s /metrics as OpenMetrics, once it has counted *at_least* requests.

    A request is counted as its response closes, just after the client has the
    answer: the scrape that follows may come first, so it is repeated briefly.
    """
    deadline = time.monotonic() + timeout
    while True:
        text = get(f"{url}/metrics", accept=OPENMETRICS).decode()
        if requests_counted(text) >= at_least or time.monotonic() > deadline:
            return text
        time.sleep(0.02)


def _shown(path: Path) -> str:
    """*path* as the user would type it from here."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def _tracelog_command() -> str:
    """How to run ``tracelog`` from here: the venv's script when the demo runs in one."""
    script = Path(sys.executable).parent / "tracelog"
    return _shown(script) if script.exists() else "tracelog"


def run_demo(output: Path, signals: Signals) -> int:
    output.mkdir(parents=True, exist_ok=True)
    for name in SERVICES:  # a fresh run: the logs are appended to otherwise
        for file in (f"{name}.log", f"spans-{name}.jsonl", f"metrics-{name}.txt"):
            (output / file).unlink(missing_ok=True)

    fleet = Fleet(Path(__file__), output, signals)
    try:
        print(
            f"Starting three services on loopback; everything they write goes to {_shown(output)}/",
            flush=True,
        )
        downstream = None
        for name in SERVICES:
            service = fleet.start(name, downstream)
            downstream = service.url
            print(
                f"  {name:<8} {LIBRARIES[name]:<15} {service.url:<23} pid {service.process.pid}",
                flush=True,
            )

        print(
            f"\nAsking the gateway {len(QUESTIONS)} questions, three at a time"
            " (round trips as the client timed them):"
        )
        gateway = fleet.services["gateway"].url
        with ThreadPoolExecutor(max_workers=3) as pool:
            answers = list(pool.map(lambda question: ask(gateway, question), QUESTIONS))
        for question, answer, seconds in answers:
            print(f"  {seconds * 1000:6.1f} ms  {question:<32} -> {answer['answer']}")

        scraped = {}
        for name, service in fleet.services.items():
            # Every question went through the gateway: its exemplars must cover them all.
            text = scrape(service.url, at_least=len(QUESTIONS) if name == "gateway" else 0)
            (output / f"metrics-{name}.txt").write_text(text, encoding="utf-8")
            scraped[name] = text
    finally:
        fleet.stop()  # before the query: a stopped service has written all its spans
    print("Scraped /metrics (OpenMetrics) and stopped the services.")

    seconds, labels = slowest_exemplar(scraped["gateway"])
    trace_id = labels["trace_id"]
    tracelog = _tracelog_command()
    query_it = f"{tracelog} query {trace_id} {_shown(output)}/"
    print(
        f"\nThe slowest request, by the latency exemplar on the gateway's {LATENCY}:\n"
        f"  {seconds * 1000:.1f} ms, trace {trace_id}\n"
        "Its log lines from every service in time order, then its spans, each under its\n"
        "parent, with the events its log lines became:\n"
        f"\n$ {query_it}\n",
        flush=True,
    )
    query = [sys.executable, "-m", "tracelog", "query", trace_id, str(output), "--format", "pretty"]
    status = subprocess.run(query, check=False).returncode
    if status != 0:
        print(f"tracelog query exited with status {status}", file=sys.stderr)
        return 1

    print(
        "\nExplore further:\n"
        "  # the warnings only: each failed tool call, and the agent's retry\n"
        f"  {query_it} --level warning\n"
        "  # one span: the gateway's request, whose latency the exemplar recorded\n"
        f"  {query_it} --span {labels['span_id']}\n"
        "  # the log lines as written, for jq and friends\n"
        f"  {query_it} --format json\n"
        "  # per service: JSON logs, spans (a JSON object a line), OpenMetrics with exemplars\n"
        f"  ls {_shown(output)}/\n"
        "  # Grafana provisioning: Prometheus, Tempo and Loki data sources linked on the trace ID\n"
        f"  {tracelog} grafana --out grafana/"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--output", type=Path, default=Path("demo-output"), help="default: %(default)s"
    )
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run one service (the demo starts them itself)")
    serve.add_argument("name", choices=SERVICES)
    serve.add_argument("--output", type=Path, required=True)
    serve.add_argument("--downstream", help="the URL of the service it calls")
    options = parser.parse_args(argv)
    if options.command == "serve":
        run(options.name, output=options.output, downstream=options.downstream)
        return 0
    signals = Signals()  # SIGTERM, like Ctrl-C, unwinds through run_demo's cleanup
    signals.install()
    try:
        return run_demo(options.output.resolve(), signals)
    except KeyboardInterrupt:
        print("\nInterrupted; the services are stopped.", file=sys.stderr)
        return 128 + (signals.received or signal.SIGINT)
    except (RuntimeError, OSError) as error:  # a service did not start or failed a request
        print(f"demo: error: {error}; the services are stopped.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
