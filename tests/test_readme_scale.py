"""The manual's "Scale: past one machine" settings agree with the records tracelog writes."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import yaml

from tests._servers import docs_text
from tests.conftest import Captured, known_span
from tracelog._levels import LEVELS, severity_number

# The level names tracelog writes (the manual's record table).
WRITTEN_LEVELS = ("trace", "debug", "info", "success", "warning", "error", "critical")


def collector_aliases() -> dict[str, int]:
    """The filelog receiver's severity names without a preset, as OpenTelemetry numbers.

    As opentelemetry-collector-contrib's pkg/stanza/operator/helper/severity_builder.go
    defines them: trace, debug, info, warn, error, fatal (each with 2, 3 and 4), the
    numbers 1 to 24, and the extra names warning (2, 3, 4) and err (2, 3, 4).
    """
    aliases: dict[str, int] = {}
    for base, name in enumerate(("trace", "debug", "info", "warn", "error", "fatal")):
        for step, suffix in enumerate(("", "2", "3", "4")):
            number = base * 4 + step + 1
            aliases[name + suffix] = aliases[str(number)] = number
            if name in ("warn", "error"):
                aliases[{"warn": "warning", "error": "err"}[name] + suffix] = number
    return aliases


def snippet(heading: str, language: str) -> str:
    """The first ``language`` code block after *heading* in the manual (docs/)."""
    text = docs_text()
    found = re.compile(rf"```{language}\n(.*?)```", re.S).search(text, text.index(heading))
    assert found, heading
    return found[1]


def filelog_operators() -> list[dict[str, Any]]:
    """The operators of the manual's OpenTelemetry Collector filelog receiver."""
    config = yaml.safe_load(snippet("**OpenTelemetry Collector**", "yaml"))
    operators: list[dict[str, Any]] = config["receivers"]["filelog"]["operators"]
    return operators


def test_filelog_maps_every_level_to_its_severity_number() -> None:
    """Each level tracelog writes gets the severity number tracelog gives its span events."""
    (parser,) = [op for op in filelog_operators() if op["type"] == "json_parser"]
    mapping = collector_aliases()
    for severity, values in parser["severity"].get("mapping", {}).items():
        for value in values if isinstance(values, list) else [values]:
            mapping[str(value).lower()] = collector_aliases()[str(severity)]
    assert {level: mapping.get(level, 0) for level in WRITTEN_LEVELS} == {
        level: severity_number(LEVELS[level.upper()]) for level in WRITTEN_LEVELS
    }


def test_filelog_reads_the_fields_a_record_has(configured: Callable[..., Captured]) -> None:
    """Every attribute the filelog operators read is a field of a real record in a span."""
    captured = configured(service_name="shop")
    with known_span():
        logging.getLogger("shop").info("hello")
    (record,) = captured.records()
    config = snippet("**OpenTelemetry Collector**", "yaml")
    read = set(re.findall(r'attributes(?:\.(\w+)|\["([^"]+)"\])', config))
    assert read, config
    assert {dotted or quoted for dotted, quoted in read} <= set(record)


def test_filelog_leaves_no_parsed_id_in_the_attributes() -> None:
    """What trace_parser moved into the trace context is removed from the attributes after it.

    Left there, Loki's OTLP endpoint would store a second trace_id as structured metadata.
    """
    operators = filelog_operators()
    (at,) = [index for index, op in enumerate(operators) if op["type"] == "trace_parser"]
    parser = operators[at]
    parsed = {parser[name]["parse_from"] for name in ("trace_id", "span_id", "trace_flags")}
    removed = {op["field"] for op in operators[at + 1 :] if op["type"] == "remove"}
    assert parsed == {"attributes.trace_id", "attributes.span_id", "attributes.trace_flags"}
    assert parsed <= removed
    for op in operators[at + 1 :]:
        if op["type"] == "remove":  # only when present: remove fails on a missing field
            assert op["if"] == f"{op['field']} != nil"
