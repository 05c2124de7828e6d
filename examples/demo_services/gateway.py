"""The "gateway" service: takes the user's questions to the agent, logging with stdlib logging.

``GET /ask?q=...`` answers ``{"answer": ..., "trace_id": ...}``.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

import tracelog
from tracelog import metrics

from .runtime import WSGIApp, post_json, respond

LIBRARY = "stdlib"
REGISTRY = metrics.CollectorRegistry()  # the request metrics only

log = logging.getLogger("gateway.http")


def route(environ: dict[str, Any]) -> str:
    """The route template for the request metrics."""
    return "/ask" if environ["PATH_INFO"] == "/ask" else ""


def make_app(agent_url: str) -> WSGIApp:
    """The gateway, asking the agent at *agent_url*."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"] != "/ask":
            return respond(start_response, {"error": "not found"}, "404 Not Found")
        question = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("q", [""])[0]
        started = time.perf_counter()
        log.info("question received", extra={"question": question})
        current = tracelog.current_trace()
        trace_id = current.trace_id if current else None
        try:
            answer = post_json(f"{agent_url}/plan", {"question": question})
        except (urllib.error.URLError, OSError) as error:
            log.exception("agent failed", extra={"question": question})
            return respond(
                start_response, {"error": str(error), "trace_id": trace_id}, "502 Bad Gateway"
            )
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        log.info("answer sent", extra={"steps": answer["steps"], "elapsed_ms": elapsed_ms})
        return respond(start_response, {"answer": answer["answer"], "trace_id": trace_id})

    return app
