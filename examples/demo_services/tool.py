"""The "tool" service: runs tools for the agent, logging with loguru. It fails now and then.

``POST /tools/{name}`` with ``{"input": ..., "attempt": n}`` answers ``{"result": ...}``,
or 503 when the (pretend) backend times out. Whether it does is drawn from a
random generator seeded by the call itself, so every run of the demo fails
the same calls and the agent's retries are the same each time.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from loguru import logger

from tracelog import metrics

from .runtime import read_json, respond

LIBRARY = "loguru"
SEED = 7
FAILURE_RATE = 0.4
TIMEOUT = 0.1  # seconds a failing call takes
LAST_FLAKY_ATTEMPT = 2  # later attempts always succeed, so every question gets an answer

FACTS = {
    "capital france": "Paris is the capital of France.",
    "moons mars": "Mars has two moons, Phobos and Deimos.",
    "wrote hobbit": "The Hobbit was written by J. R. R. Tolkien.",
    "largest planet": "Jupiter is the largest planet.",
}
NUMBER = re.compile(r"\d+(?:\.\d+)?")

REGISTRY = metrics.CollectorRegistry()
RUNS = metrics.Counter(
    "tool_runs", "Tool runs, by tool and outcome", ["tool", "outcome"], registry=REGISTRY
)


def search(text: str) -> str:
    """The fact sharing the most words with *text*."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    best = max(FACTS, key=lambda key: len(words & set(key.split())))
    return FACTS[best] if words & set(best.split()) else "No idea."


def calculator(text: str) -> str:
    """The sum of the numbers in *text*."""
    total = sum(float(number) for number in NUMBER.findall(text))
    return f"{total:g}"


TOOLS: dict[str, Callable[[str], str]] = {"search": search, "calculator": calculator}


def route(environ: dict[str, Any]) -> str:
    """The route template for the request metrics (never the raw path)."""
    return "/tools/{name}" if environ["PATH_INFO"].startswith("/tools/") else ""


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """``POST /tools/{name}``."""
    name = environ["PATH_INFO"].removeprefix("/tools/")
    tool = TOOLS.get(name)
    if environ["REQUEST_METHOD"] != "POST" or tool is None:
        return respond(start_response, {"error": "no such tool"}, "404 Not Found")
    request = read_json(environ)
    text, attempt = str(request["input"]), int(request["attempt"])
    log = logger.bind(tool=name, attempt=attempt)
    log.info("tool invoked", input=text)
    luck = random.Random(f"{SEED}:{name}:{text}:{attempt}")
    time.sleep(luck.uniform(0.005, 0.04))  # the work
    if attempt <= LAST_FLAKY_ATTEMPT and luck.random() < FAILURE_RATE:
        time.sleep(TIMEOUT)
        log.warning("backend timed out", timeout_ms=round(TIMEOUT * 1000))
        RUNS.labels(name, "timeout").inc()
        return respond(start_response, {"error": "backend timed out"}, "503 Service Unavailable")
    result = tool(text)
    log.info("tool answered", result=result)
    RUNS.labels(name, "ok").inc()
    return respond(start_response, {"result": result})
