"""The "agent" service: plans an answer and calls tools over HTTP, logging with structlog.

``POST /plan`` with ``{"question": ...}`` answers ``{"answer": ..., "steps": [...]}``.
Each tool call is a span; a failed attempt is logged as a warning before the
retry, and that log line becomes an event on the tool call's span.
"""

from __future__ import annotations

import re
import time
import urllib.error
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from opentelemetry import trace

from tracelog import metrics

from .runtime import WSGIApp, post_json, read_json, respond

LIBRARY = "structlog"
MAX_ATTEMPTS = 4
BACKOFF = 0.02  # seconds before the second attempt, doubled for each one after

REGISTRY = metrics.CollectorRegistry()
TOOL_SECONDS = metrics.Histogram(
    "agent_tool_call_seconds", "Tool calls, retries included", ["tool"], registry=REGISTRY
)

log = structlog.get_logger("agent.planner")
tracer = trace.get_tracer("demo.agent")


def plan(question: str) -> list[str]:
    """The tools to call: arithmetic goes to the calculator, the rest to search."""
    return ["calculator"] if re.search(r"\d", question) else ["search"]


def call_tool(tools_url: str, name: str, text: str) -> str:
    """Call one tool, retrying while it times out; one span for all the attempts."""
    with (
        tracer.start_as_current_span(f"tool {name}", attributes={"tool.name": name}) as span,
        TOOL_SECONDS.labels(name).time(),  # exemplar: this span
    ):
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                answer = post_json(f"{tools_url}/tools/{name}", {"input": text, "attempt": attempt})
            except urllib.error.HTTPError as error:
                error.close()
                if error.code != 503 or attempt == MAX_ATTEMPTS:
                    log.error("tool call gave up", tool=name, attempt=attempt, status=error.code)
                    raise
                delay = BACKOFF * 2 ** (attempt - 1)
                log.warning(
                    "tool call failed, retrying",
                    tool=name,
                    attempt=attempt,
                    status=error.code,
                    retry_in_ms=round(delay * 1000),
                )
                time.sleep(delay)
            else:
                span.set_attribute("tool.attempts", attempt)
                log.info("tool answered", tool=name, attempts=attempt)
                return str(answer["result"])
    raise AssertionError("unreachable: the last attempt returns or raises")


def route(environ: dict[str, Any]) -> str:
    """The route template for the request metrics."""
    return "/plan" if environ["PATH_INFO"] == "/plan" else ""


def make_app(tools_url: str) -> WSGIApp:
    """The agent, calling the tool service at *tools_url*."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"] != "/plan" or environ["REQUEST_METHOD"] != "POST":
            return respond(start_response, {"error": "not found"}, "404 Not Found")
        question = str(read_json(environ)["question"])
        with tracer.start_as_current_span("plan"):
            steps = plan(question)
            log.info("plan made", question=question, steps=steps)
        results = [call_tool(tools_url, step, question) for step in steps]
        log.info("answer ready", answer=results[-1])
        return respond(start_response, {"answer": results[-1], "steps": steps})

    return app
