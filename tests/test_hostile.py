"""Hostile values never raise into the application and never produce an invalid line."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

import tracelog._json
from tracelog._json import JsonEncoder

from .conftest import LIBRARIES, TRACE_HEX, emit, known_span, parse_lines


class Unprintable:
    """An object whose str() and repr() both raise."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def _cycle() -> dict[str, Any]:
    loop: dict[str, Any] = {"name": "loop"}
    loop["self"] = loop
    loop["list"] = [loop]
    return loop


def _deep(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


HOSTILE: dict[str, Any] = {
    "unprintable": Unprintable(),
    "cycle": _cycle(),
    "raw_bytes": b"\xff\xfe\x00ok",
    "surrogate": "lone \udc80 surrogate",
    "huge": "x" * 1_000_000,
    "nan": math.nan,
    "inf": -math.inf,
    "big_int": 2**100,
    "negative_big_int": -(2**70),
    "newlines": 'line one\n{"level":"critical","message":"forged"}\r\nthree',
    "deep": _deep(2000),
    "odd_keys": {(1, 2): "tuple key", None: "none key", 3: "int key"},
    "a_set": {1, 2},
    "an_object": object(),
    "control": "\x1b[2J\x00\u202e",
}


@pytest.fixture(params=["orjson", "json"])
def backend(request: pytest.FixtureRequest) -> str:
    """Run a test with each of python-json-logger's backends."""
    if request.param == "json":
        tracelog._json.ORJSON_AVAILABLE = False
    return str(request.param)


@pytest.mark.parametrize("library", LIBRARIES)
def test_hostile_values_give_one_valid_line_each(library: str, backend: str, configured) -> None:  # type: ignore[no-untyped-def]
    """Each hostile value: the call returns, one strict-JSON line is written, the message kept."""
    out = configured()
    with known_span():
        for name, value in HOSTILE.items():
            emit(library, "info", f"value {name}", probe=value)
    lines = out.text.split("\n")
    assert lines[-1] == ""
    records = parse_lines(out.text)
    assert [r["message"] for r in records] == [f"value {name}" for name in HOSTILE]
    probes = {r["message"].removeprefix("value "): r["probe"] for r in records}
    assert probes["unprintable"] == "<unrepresentable Unprintable>"
    assert probes["cycle"]["self"] == "[cycle]"
    assert probes["cycle"]["list"] == ["[cycle]"]
    assert probes["raw_bytes"] == "\\xff\\xfe\x00ok"
    assert probes["surrogate"] == "lone \\udc80 surrogate"
    assert probes["huge"] == "x" * 1_000_000
    assert probes["nan"] is None
    assert probes["inf"] is None
    assert probes["big_int"] == 2**100
    assert probes["negative_big_int"] == -(2**70)
    assert probes["newlines"] == HOSTILE["newlines"]
    assert probes["odd_keys"] == {"(1, 2)": "tuple key", "None": "none key", "3": "int key"}
    assert sorted(probes["a_set"]) == [1, 2]
    assert probes["an_object"].startswith("<object object at")
    assert probes["control"] == HOSTILE["control"]
    depth, value = 0, probes["deep"]
    while isinstance(value, list):
        depth, value = depth + 1, value[0]
    assert value == "[too deep]"
    assert depth < 100


@pytest.mark.parametrize("library", LIBRARIES)
def test_hostile_messages(library: str, backend: str, configured) -> None:  # type: ignore[no-untyped-def]
    """Messages with newlines, surrogates and control characters stay on one line."""
    out = configured()
    messages = ["two\nlines", "sur\udcffrogate", "\x1b]0;title\x07", "\u2028sep"]
    for message in messages:
        emit(library, "warning", message)
    assert out.text.count("\n") == len(messages)
    assert [r["message"] for r in parse_lines(out.text)] == [
        "two\nlines",
        "sur\\udcffrogate",
        "\x1b]0;title\x07",
        "\u2028sep",
    ]


@pytest.mark.parametrize("library", LIBRARIES)
def test_many_extra_fields(library: str, configured) -> None:  # type: ignore[no-untyped-def]
    """A record with 129 extra fields keeps all of them."""
    out = configured()
    fields = {f"field_{i}": i for i in range(129)}
    emit(library, "info", "wide", **fields)
    (record,) = out.records()
    assert {k: v for k, v in record.items() if k.startswith("field_")} == fields


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@pytest.mark.parametrize("which", ["orjson", "json"])
@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_encoder_always_writes_one_valid_line(which: str, value: Any) -> None:
    """For arbitrary nested values, both backends write one strict-JSON line."""
    line = JsonEncoder(backend=which).dumps({"message": "m", "value": value})
    assert "\n" not in line
    line.encode("utf-8")
    (record,) = parse_lines(line + "\n")
    assert record["message"] == "m"


class ExplodingMapping(dict):  # type: ignore[type-arg]
    """A mapping that fails when its items are read."""

    def items(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("no items for you")


@pytest.mark.parametrize("library", LIBRARIES)
def test_an_unreadable_mapping_becomes_a_marker(library: str, configured) -> None:  # type: ignore[no-untyped-def]
    """A mapping whose items cannot be read is written as a marker; the rest is kept."""
    out = configured()
    with known_span():
        emit(library, "error", "partial", bad=ExplodingMapping(a=1), good=42, token="t")
    (record,) = out.records()
    assert (record["message"], record["good"], record["token"]) == ("partial", 42, "[REDACTED]")
    assert record["bad"] == "<unrepresentable ExplodingMapping>"
    assert record["trace_id"] == TRACE_HEX


class SneakyStr(str):
    """A str subclass whose str() raises."""

    __slots__ = ()

    def __str__(self) -> str:
        raise RuntimeError("no str")


class SneakyInt(int):
    """An int subclass whose int() raises."""

    def __int__(self) -> int:
        raise RuntimeError("no int")


@pytest.mark.parametrize("library", LIBRARIES)
def test_subclasses_of_builtins_render_as_their_value(
    library: str, backend: str, configured
) -> None:  # type: ignore[no-untyped-def]
    """str/int subclasses with hostile methods still render, in the slow path too."""
    out = configured()
    emit(library, "info", "subclasses", s=SneakyStr("text\udc80"), i=SneakyInt(2**70))
    (record,) = out.records()
    assert (record["s"], record["i"]) == ("text\\udc80", 2**70)


def test_stdlib_record_that_breaks_formatting_keeps_its_fields(configured) -> None:  # type: ignore[no-untyped-def]
    """A malformed exc_info breaks formatting; the record is still written with its fields."""
    out = configured()
    with known_span():
        logging.getLogger("odd").error("odd %s", "exc_info", exc_info=(1, 2), extra={"keep": 1})  # type: ignore[arg-type]
    records = [r for r in out.records() if r["logger"] == "odd"]
    assert len(records) == 1
    record = records[0]
    assert (record["message"], record["keep"], record["trace_id"]) == ("odd exc_info", 1, TRACE_HEX)
    assert record["tracelog.error"].startswith("ValueError")


def test_structlog_event_that_breaks_rendering_keeps_its_fields(configured) -> None:  # type: ignore[no-untyped-def]
    """A bogus _record key breaks rendering; the event is still written with its fields."""
    out = configured()
    with known_span():
        structlog.get_logger("odd").warning("bogus record", _record=5, keep=1)
    records = [r for r in out.records() if r.get("logger") == "odd"]
    assert len(records) == 1
    record = records[0]
    assert (record["message"], record["keep"], record["trace_id"]) == ("bogus record", 1, TRACE_HEX)
    assert record["level"] == "warning"
    assert record["tracelog.error"].startswith("AttributeError")


@pytest.mark.parametrize("library", LIBRARIES)
def test_ints_too_long_for_decimal_become_hex_text(library: str, backend: str, configured) -> None:  # type: ignore[no-untyped-def]
    """An int past Python's decimal digit limit is written as 0x... text; the record survives."""
    out = configured()
    huge = 10**5000
    with known_span():
        emit(library, "info", "huge", amount=huge, other=1)
    (record,) = out.records()
    assert int(record["amount"], 16) == huge
    assert (record["message"], record["other"], record["trace_id"]) == ("huge", 1, TRACE_HEX)


class Millis(float):
    """A float subclass, like numpy.float64."""


@pytest.mark.parametrize("library", LIBRARIES)
def test_number_subclasses_stay_numbers(library: str, backend: str, configured) -> None:  # type: ignore[no-untyped-def]
    """Float subclasses and other Real/Integral types are numbers with both backends."""
    import fractions

    out = configured()
    emit(library, "info", "numbers", ms=Millis(12.5), ratio=fractions.Fraction(1, 4))
    (record,) = out.records()
    assert (record["ms"], record["ratio"]) == (12.5, 0.25)


def test_non_string_extra_keys_keep_the_other_fields(configured) -> None:  # type: ignore[no-untyped-def]
    """A non-str key in stdlib extra= is written as text; the other fields stay."""
    out = configured()
    logging.getLogger("keys").info("odd keys", extra={7: "seven", "order_id": "A-1"})  # type: ignore[dict-item]
    (record,) = out.records()
    assert (record["7"], record["order_id"]) == ("seven", "A-1")


def test_structlog_timestamp_that_is_not_seconds_stays_a_field(configured) -> None:  # type: ignore[no-untyped-def]
    """A timestamp in nanoseconds is not taken as the record's time; it is kept as a field."""
    out = configured()
    with known_span():
        structlog.get_logger("ts").error("late", timestamp=1_763_785_445_123_456_789)
    (record,) = out.records()
    assert record["extra.timestamp"] == 1_763_785_445_123_456_789
    assert record["timestamp"].startswith("20")
    assert (record["level"], record["trace_id"]) == ("error", TRACE_HEX)


def test_structlog_percent_mistakes_are_written_not_raised(configured) -> None:  # type: ignore[no-untyped-def]
    """Positional interpolation in structlog never raises into the caller."""
    out = configured()
    log = structlog.get_logger("fmt")
    log.info("%d items", "three")
    log.info("%s and %s", "one", "two")
    log.log(logging.WARNING, "%(a)s", {"b": 1})
    first, second, third = out.records()
    assert first["message"] == "%d items"
    assert first["tracelog.error"].startswith("message formatting failed: TypeError")
    assert second["message"] == "one and two"
    assert "tracelog.error" not in second
    assert (third["message"], third["level"]) == ("%(a)s", "warning")


def test_loguru_long_exception_chain_is_written(configured, capfd) -> None:  # type: ignore[no-untyped-def]
    """An exception chain too long for loguru's own formatter still gives its line."""
    from loguru import logger

    out = configured()
    error: BaseException = ValueError("root")
    for i in range(1500):
        try:
            raise RuntimeError(f"level {i}") from error
        except RuntimeError as exc:
            error = exc
    logger.opt(exception=error).error("deep chain")
    (record,) = out.records()
    assert (record["message"], record["exception.type"]) == ("deep chain", "RuntimeError")


def test_loguru_raw_messages_are_json_lines(configured) -> None:  # type: ignore[no-untyped-def]
    """opt(raw=True) cannot put raw text into the JSON output."""
    from loguru import logger

    out = configured()
    logger.opt(raw=True).info('progress 50%\nfake {"level":"info"}\n')
    logger.info("next")
    raw, following = out.records()
    assert raw["message"] == 'progress 50%\nfake {"level":"info"}\n'
    assert following["message"] == "next"


def test_a_partial_write_does_not_glue_the_next_line(configured) -> None:  # type: ignore[no-untyped-def]
    """When a stream takes part of a line and refuses the rest, the next line starts afresh."""
    import io

    class Choking(io.StringIO):
        choke = False

        def write(self, text: str) -> int:
            if self.choke:
                self.choke = False
                super().write(text[:20])
                error = BlockingIOError(11, "would block")
                error.characters_written = 20
                raise error
            return super().write(text)

    stream = Choking()
    import tracelog

    tracelog.configure(output=stream, integrations=["stdlib"])
    log = logging.getLogger("choke")
    log.warning("first")
    stream.choke = True
    log.warning("second, cut short")
    log.warning("third")
    first, fragment, *rest, last = stream.getvalue().split("\n")
    assert (len(fragment), last) == (20, "")
    records = [json.loads(line) for line in (first, *rest)]  # every other line is whole
    assert [r["message"] for r in records if r["logger"] == "choke"] == ["first", "third"]
