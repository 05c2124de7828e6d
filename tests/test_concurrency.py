"""IDs are captured where a record is emitted: threads, asyncio tasks, all three libraries."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest

from .conftest import LIBRARIES, emit


def _check(records: list[dict[str, object]], expected: int) -> None:
    records = [r for r in records if r["logger"] == "tests.conftest"]
    assert len(records) == expected, "lost or duplicated lines"
    mismatches = [
        r for r in records if (r["trace_id"], r["span_id"]) != (r["want_trace"], r["want_span"])
    ]
    assert mismatches == []


def test_threads_each_in_their_own_span(configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """Sixteen threads, each in its own SDK span, logging through all three libraries."""
    out = configured()
    sdk_tracer, _ = tracer
    start = threading.Barrier(16)

    def work(n: int) -> None:
        start.wait()
        with sdk_tracer.start_as_current_span(f"worker-{n}") as span:
            ids = span.get_span_context()
            for i in range(30):
                emit(
                    LIBRARIES[i % 3],
                    "info",
                    "step",
                    want_trace=f"{ids.trace_id:032x}",
                    want_span=f"{ids.span_id:016x}",
                )

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = out.records()
    _check(records, 16 * 30)
    assert len({r["trace_id"] for r in records}) == 16


@pytest.mark.parametrize("tasks", [2000])
def test_thousands_of_asyncio_tasks(tasks: int, configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """Thousands of interleaved asyncio tasks each log with their own span's IDs."""
    out = configured()
    sdk_tracer, _ = tracer

    async def handle(n: int) -> None:
        with sdk_tracer.start_as_current_span(f"task-{n}") as span:
            ids = span.get_span_context()
            want = {"want_trace": f"{ids.trace_id:032x}", "want_span": f"{ids.span_id:016x}"}
            for library in LIBRARIES:
                await asyncio.sleep(0)  # let every other task run in between
                emit(library, "info", "handled", task=n, **want)
            with sdk_tracer.start_as_current_span("child") as child:
                await asyncio.sleep(0)
                child_ids = child.get_span_context()
                emit(
                    LIBRARIES[n % 3],
                    "info",
                    "child",
                    task=n,
                    want_trace=f"{child_ids.trace_id:032x}",
                    want_span=f"{child_ids.span_id:016x}",
                )

    async def main() -> None:
        await asyncio.gather(*(handle(n) for n in range(tasks)))

    asyncio.run(main())
    records = [r for r in out.records() if r["logger"] == "tests.conftest"]
    _check(records, tasks * 4)
    per_task = Counter(r["task"] for r in records)
    assert set(per_task.values()) == {4}
