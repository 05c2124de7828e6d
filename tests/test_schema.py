"""One record schema for all three libraries, in every field profile."""

from __future__ import annotations

import datetime
import io
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracelog
from tracelog._fields import format_timestamp

from .conftest import (
    LIBRARIES,
    SPAN_HEX,
    SPAN_ID,
    TRACE_HEX,
    TRACE_ID,
    emit,
    known_span,
    parse_lines,
)

RFC3339_UTC_MICROS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def _without_time(record: dict[str, Any], key: str = "timestamp") -> dict[str, Any]:
    assert RFC3339_UTC_MICROS.fullmatch(record[key]), record[key]
    return {k: v for k, v in record.items() if k != key}


@pytest.mark.parametrize("library", LIBRARIES)
def test_contract_record_inside_a_span(library: str, configured) -> None:  # type: ignore[no-untyped-def]
    """Every library writes exactly this record for the same call."""
    out = configured(service_name="shop")
    with known_span():
        emit(library, "warning", "stock low", sku="A-1", left=3, ratio=0.5, tags=["x", "y"])
    (record,) = out.records()
    assert _without_time(record) == {
        "level": "warning",
        "logger": __name__.replace("test_schema", "conftest"),
        "message": "stock low",
        "service.name": "shop",
        "trace_id": TRACE_HEX,
        "span_id": SPAN_HEX,
        "trace_flags": "01",
        "sku": "A-1",
        "left": 3,
        "ratio": 0.5,
        "tags": ["x", "y"],
    }
    assert list(record)[:4] == ["timestamp", "level", "logger", "message"]


@pytest.mark.parametrize("library", LIBRARIES)
def test_contract_record_outside_a_span(library: str, configured) -> None:  # type: ignore[no-untyped-def]
    """Outside any span there are no trace fields at all, not placeholders."""
    out = configured()
    emit(library, "info", "idle")
    (record,) = out.records()
    assert _without_time(record) == {
        "level": "info",
        "logger": __name__.replace("test_schema", "conftest"),
        "message": "idle",
    }


@pytest.mark.parametrize("library", LIBRARIES)
def test_contract_unsampled_span(library: str, configured) -> None:  # type: ignore[no-untyped-def]
    """An unsampled span: IDs present, the sampled bit clear."""
    out = configured()
    with known_span(sampled=False):
        emit(library, "info", "quiet")
    (record,) = out.records()
    assert (record["trace_id"], record["span_id"], record["trace_flags"]) == (
        TRACE_HEX,
        SPAN_HEX,
        "00",
    )


@pytest.mark.parametrize("library", LIBRARIES)
def test_contract_exception(library: str, configured) -> None:  # type: ignore[no-untyped-def]
    """Exceptions become exception.type/message/stacktrace, the same everywhere."""
    out = configured()

    class PaymentError(Exception):
        pass

    with known_span():
        try:
            raise PaymentError("card declined")
        except PaymentError:
            emit(library, "exception", "charge failed", order=7)
    (record,) = out.records()
    stacktrace = record.pop("exception.stacktrace")
    assert stacktrace.startswith("Traceback (most recent call last):\n")
    assert stacktrace.rstrip("\n").endswith(
        "test_schema.test_contract_exception.<locals>.PaymentError: card declined"
    )
    assert _without_time(record) == {
        "level": "error",
        "logger": __name__.replace("test_schema", "conftest"),
        "message": "charge failed",
        "trace_id": TRACE_HEX,
        "span_id": SPAN_HEX,
        "trace_flags": "01",
        "order": 7,
        "exception.type": "tests.test_schema.test_contract_exception.<locals>.PaymentError",
        "exception.message": "card declined",
    }


DATADOG_TRACE = str(TRACE_ID & 0xFFFFFFFFFFFFFFFF)
DATADOG_SPAN = str(SPAN_ID)


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            "ecs",
            {
                "log.level": "error",
                "log.logger": "tests.conftest",
                "message": "m",
                "service.name": "svc",
                "ecs.version": "8.11.0",
                "trace.id": TRACE_HEX,
                "span.id": SPAN_HEX,
            },
        ),
        (
            "datadog",
            {
                "status": "error",
                "logger.name": "tests.conftest",
                "message": "m",
                "service": "svc",
                "dd.service": "svc",
                "dd.trace_id": TRACE_HEX,
                "dd.span_id": DATADOG_SPAN,
            },
        ),
        (
            "datadog64",
            {
                "status": "error",
                "logger.name": "tests.conftest",
                "message": "m",
                "service": "svc",
                "dd.service": "svc",
                "dd.trace_id": DATADOG_TRACE,
                "dd.span_id": DATADOG_SPAN,
            },
        ),
        (
            "gcp",
            {
                "severity": "ERROR",
                "logger": "tests.conftest",
                "message": "m",
                "serviceContext": {"service": "svc"},
                "logging.googleapis.com/trace": f"projects/proj-1/traces/{TRACE_HEX}",
                "logging.googleapis.com/spanId": SPAN_HEX,
                "logging.googleapis.com/trace_sampled": True,
            },
        ),
    ],
)
def test_profiles(
    library: str, fields: str, expected: dict[str, Any], configured, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """ECS, Datadog and GCP profiles name and format the fields as those backends expect."""
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj-1")
    for name in ("DD_SERVICE", "DD_ENV", "DD_VERSION"):
        monkeypatch.delenv(name, raising=False)
    out = configured(fields=fields, service_name="svc")
    with known_span():
        emit(library, "error", "m")
    (record,) = out.records()
    time_key = {"ecs": "@timestamp", "gcp": "time"}.get(fields, "timestamp")
    if fields == "gcp":
        location = record.pop("logging.googleapis.com/sourceLocation")
        assert location["file"] == emit.__code__.co_filename
        assert location["function"] == "emit"
        assert emit.__code__.co_firstlineno < location["line"] < emit.__code__.co_firstlineno + 15
    assert _without_time(record, time_key) == expected


def test_datadog64_ids_are_the_lower_64_bits_in_decimal(configured) -> None:  # type: ignore[no-untyped-def]
    """datadog64: dd.trace_id is the decimal of the trace ID's lower 64 bits (the older rule)."""
    out = configured(fields="datadog64")
    trace_id = (0xFFFFFFFFFFFFFFFF << 64) | 0x0000000000000001
    with known_span(trace_id=trace_id, span_id=0xFFFFFFFFFFFFFFFF):
        emit("stdlib", "info", "m")
    (record,) = out.records()
    assert (record["dd.trace_id"], record["dd.span_id"]) == ("1", str(2**64 - 1))


def test_gcp_without_a_project_writes_the_bare_trace_id(configured, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Without GOOGLE_CLOUD_PROJECT the trace field is the bare ID."""
    for name in ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "GCP_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    out = configured(fields="gcp")
    with known_span(sampled=False):
        emit("loguru", "success", "m")
    (record,) = out.records()
    assert record["logging.googleapis.com/trace"] == TRACE_HEX
    assert record["logging.googleapis.com/trace_sampled"] is False
    assert record["severity"] == "NOTICE"


@pytest.mark.parametrize("library", LIBRARIES)
def test_extra_fields_never_overwrite_schema_fields(library: str, configured) -> None:  # type: ignore[no-untyped-def]
    """An extra field named like a schema field is kept under extra.<key>."""
    out = configured()
    with known_span():
        emit(library, "info", "m", level="fake", order=1)
    (record,) = out.records()
    assert (record["level"], record["extra.level"], record["order"]) == ("info", "fake", 1)


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_stale_trace_id_field_does_not_hide_the_real_one(library: str, configured) -> None:  # type: ignore[no-untyped-def]
    """A caller's own trace_id field never replaces the current span's, and is kept."""
    out = configured()
    with known_span():
        emit(library, "info", "m", trace_id="from-an-old-request")
    emit(library, "info", "outside", trace_id="from-an-old-request")
    inside, outside = out.records()
    assert (inside["trace_id"], inside["extra.trace_id"]) == (TRACE_HEX, "from-an-old-request")
    # Outside a span the caller's field is all there is, and it is kept as given.
    assert outside["trace_id"] == "from-an-old-request"
    assert "span_id" not in outside


@given(st.floats(min_value=-2e9, max_value=4e9, allow_nan=False))
def test_timestamps_agree_with_datetime(seconds: float) -> None:
    """format_timestamp matches datetime's UTC rendering to the microsecond."""
    text = format_timestamp(seconds)
    assert RFC3339_UTC_MICROS.fullmatch(text)
    parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    exact = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=seconds)
    assert abs((parsed - exact).total_seconds()) < 2e-6


field_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(exclude_categories=()), max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    message=st.text(st.characters(exclude_categories=()), max_size=40),  # surrogates too
    fields=st.dictionaries(
        st.from_regex(r"k_[a-z0-9_]{1,8}", fullmatch=True), field_values, max_size=5
    ),
    sampled=st.booleans(),
)
def test_any_call_gives_the_same_record_in_all_three(
    message: str, fields: dict[str, Any], sampled: bool
) -> None:
    """For arbitrary messages and fields, the three libraries write the same record."""
    out = io.StringIO()
    tracelog.configure(output=out, level="DEBUG")
    try:
        with known_span(sampled=sampled):
            for library in LIBRARIES:
                emit(library, "info", message, **fields)
    finally:
        tracelog.reset()
    records = parse_lines(out.getvalue())
    assert len(records) == 3
    comparable = [{k: v for k, v in r.items() if k not in ("timestamp", "logger")} for r in records]
    assert comparable[0] == comparable[1] == comparable[2]
    assert comparable[0]["trace_id"] == TRACE_HEX
