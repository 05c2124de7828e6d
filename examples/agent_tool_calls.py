"""An asyncio agent whose tool calls are spans, whose retries are span events.

The agent plans, then calls three tools at once (``asyncio.gather``). Each
call is a span (OpenTelemetry's GenAI names: ``execute_tool <name>``); a
call that times out is retried with exponential backoff and jitter, and each
retry is a loguru warning, so it is a JSON line and an event on the call's
span. A call out of attempts logs the exception, which sets the span's
status to ERROR. Every call's duration goes into a tracelog Histogram, whose
exemplar is the call's span: the slow bucket links to the trace that was slow.

Which tools fail is fixed (``get_weather`` times out twice, then answers;
``convert_currency`` never answers); latencies and jitter come from
``--seed``, so a run repeats exactly.

Run it (in the project's venv: ``make test`` creates it)::

    python examples/agent_tool_calls.py [--seed 7]

stdout: the JSON log lines. stderr: each finished span as a JSON line with
its events (or over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set),
then the tool-latency histogram in OpenMetrics form, exemplars included.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
from dataclasses import dataclass

import structlog
from _tracing import service_name, tracer_provider
from loguru import logger
from opentelemetry import trace
from prometheus_client.openmetrics.exposition import generate_latest

import tracelog
from tracelog import metrics

MAX_ATTEMPTS = 3
BACKOFF_SECONDS = 0.05  # before the second attempt; doubled before each next one

log = structlog.get_logger("agent")
tracer = trace.get_tracer("agent")
registry = metrics.CollectorRegistry()
TOOL_SECONDS = metrics.Histogram(
    "agent_tool_call_duration_seconds",
    "Tool call duration, retries included.",
    ["tool", "outcome"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=registry,
)


class ToolTimeoutError(Exception):
    """A tool did not answer in time."""


@dataclass(frozen=True)
class Tool:
    """A tool the agent can call: its typical latency, and how many first attempts time out."""

    name: str
    latency: float
    failures: int
    answer: str

    async def run(self, attempt: int, rng: random.Random) -> str:
        """One attempt: the answer after a latency drawn from *rng*, or a timeout."""
        await asyncio.sleep(rng.lognormvariate(math.log(self.latency), 0.3))
        if attempt <= self.failures:
            raise ToolTimeoutError(f"{self.name} did not answer in time")
        return self.answer


TOOLS = (
    Tool("search_flights", latency=0.08, failures=0, answer="TP1351 LIS 09:40"),
    Tool("get_weather", latency=0.03, failures=2, answer="Lisbon: 19 C, sunny"),
    Tool("convert_currency", latency=0.02, failures=MAX_ATTEMPTS, answer="1 EUR = 1.08 USD"),
)


async def call_tool(tool: Tool, rng: random.Random) -> str | None:
    """Call *tool* in a span of its own, retrying timeouts; None when out of attempts."""
    tool_log = logger.bind(tool=tool.name)
    attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool.name}
    with tracer.start_as_current_span(f"execute_tool {tool.name}", attributes=attributes):
        start, outcome = time.perf_counter(), "error"
        try:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                try:
                    answer = await tool.run(attempt, rng)
                except ToolTimeoutError as exc:
                    if attempt == MAX_ATTEMPTS:
                        # With the exception: an "exception" event, the span's status ERROR.
                        tool_log.opt(exception=exc).error("tool call failed", attempts=attempt)
                        return None
                    delay = BACKOFF_SECONDS * 2 ** (attempt - 1) * rng.uniform(1.0, 1.5)
                    # A log line, and an event on this call's span.
                    tool_log.bind(
                        attempt=attempt, retry_in_s=round(delay, 4), error=str(exc)
                    ).warning("tool call failed, retrying")
                    await asyncio.sleep(delay)
                else:
                    outcome = "ok"
                    tool_log.bind(attempt=attempt).info("tool answered")
                    return answer
            return None
        finally:
            # Inside the span: the exemplar is this call's trace and span.
            TOOL_SECONDS.labels(tool.name, outcome).observe(time.perf_counter() - start)


async def run_agent(question: str, seed: int) -> str:
    """Plan, call every tool at once, and answer with what came back."""
    with tracer.start_as_current_span(
        "invoke_agent trip-planner",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "trip-planner"},
    ):
        log.info("question received", question=question)
        with tracer.start_as_current_span("plan"):
            await asyncio.sleep(0.01)
            log.info("plan made", tools=[tool.name for tool in TOOLS])
        # One generator per tool: its draws do not depend on how the calls interleave.
        results = await asyncio.gather(
            *(call_tool(tool, random.Random(f"{seed}/{tool.name}")) for tool in TOOLS)
        )
        found = {tool.name: result for tool, result in zip(TOOLS, results, strict=True)}
        missing = [name for name, result in found.items() if result is None]
        answer = "; ".join(result for result in found.values() if result is not None)
        log.info("answer ready", answer=answer, missing=missing)
        return answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--seed", type=int, default=7, help="seed of latencies and jitter")
    options = parser.parse_args()
    name = service_name("trip-agent")
    provider = tracer_provider(name)
    tracelog.configure(service_name=name)
    try:
        asyncio.run(run_agent("Weekend in Lisbon: flights, weather, money?", options.seed))
    finally:
        provider.shutdown()  # the last spans are out before the histogram is printed
        tracelog.reset()
    sys.stderr.write(generate_latest(registry).decode())  # type: ignore[no-untyped-call]
    return 0


if __name__ == "__main__":
    sys.exit(main())
