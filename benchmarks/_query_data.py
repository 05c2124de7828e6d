"""A reproducible JSON-lines log of several services for `bench_query.py`.

Records are real tracelog records (``Schema.build`` + ``JsonEncoder``, otel
profile), 20 per trace, traces interleaved as concurrent requests are in a
real log. A few records of other traces mention the target trace ID in their
message or in a ``link`` field, so a plain text search finds more lines than
the trace has: that is the difference between grep and an exact query.
"""

from __future__ import annotations

import random
from pathlib import Path

from tracelog._context import from_hex
from tracelog._fields import Schema
from tracelog._json import JsonEncoder

LINES_PER_TRACE = 20
CONCURRENT = 40  # traces whose records interleave
MENTIONS = 5  # records of other traces that mention the target ID
SERVICES = ("gateway", "checkout", "cart", "payments", "inventory", "auth")
ROUTES = ("/checkout", "/cart/items", "/payments/charge", "/inventory/reserve", "/login")
MESSAGES = (
    "request received",
    "cart loaded",
    "price computed",
    "payment authorised",
    "stock reserved",
    "cache miss, loading from database",
    "upstream call finished",
    "response sent",
)
START = 1_795_000_000.0  # 2026-11-18


def generate(path: Path, *, records: int, seed: int) -> str:
    """Write *records* records to *path* and return the target trace ID (hex)."""
    rng = random.Random(seed)
    schemas = {name: Schema(fields="otel", service_name=name) for name in SERVICES}
    encoder = JsonEncoder()
    traces = max(1, records // LINES_PER_TRACE)
    target_index = traces // 2
    target = ""
    now = START
    written = 0
    mentioned = 0
    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="utf-8") as out:
        for first in range(0, traces, CONCURRENT):
            batch = []
            for index in range(first, min(first + CONCURRENT, traces)):
                trace_id = f"{rng.getrandbits(128):032x}"
                if index == target_index:
                    target = trace_id
                spans = [from_hex(trace_id, f"{rng.getrandbits(64) | 1:016x}") for _ in range(4)]
                route = rng.choice(ROUTES)
                for line in range(LINES_PER_TRACE):
                    batch.append((index, line, route, spans[min(line // 5, 3)]))
            rng.shuffle(batch)
            lines = []
            for index, line, route, span in batch:
                if written >= records:
                    break
                now += rng.random() * 0.002
                service = SERVICES[(index + line // 4) % len(SERVICES)]
                level = "error" if rng.random() < 0.01 else ("debug" if line % 7 == 3 else "info")
                extras: dict[str, object] = {
                    "http.method": "POST",
                    "http.route": route,
                    "user_id": f"u-{rng.randrange(100_000):05d}",
                    "duration_ms": round(rng.random() * 250, 3),
                }
                message = MESSAGES[line % len(MESSAGES)]
                if target and index > target_index and mentioned < MENTIONS and line == 0:
                    # Mentions of the target ID in fields that are not the trace ID.
                    if mentioned % 2:
                        extras["link"] = target
                    else:
                        message = f"retrying after trace {target} failed"
                    mentioned += 1
                record = schemas[service].build(
                    now, level, f"{service}.handler", message, span, extras
                )
                lines.append(encoder.dumps(record))
                written += 1
            out.write("\n".join(lines) + "\n")
    tmp.replace(path)
    return target
