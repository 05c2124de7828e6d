"""``--prometheus-url``: exemplar storage is on, and Prometheus holds the app's exemplars.

Prometheus without ``--enable-feature=exemplar-storage`` still answers
``/api/v1/query_exemplars``, with success and no data, so that answer alone
cannot tell. Two signals can: the ``enable-feature`` entry of
``/api/v1/status/flags``, and Prometheus's own metric
``prometheus_tsdb_exemplar_max_exemplars`` (0 when storage is off, or sized
to nothing). Both are read; either one says "off".
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

from tracelog._doctor._http import HttpError, get, join, shown
from tracelog._doctor._metrics import exemplar_label_names
from tracelog._doctor._report import DoctorCheck, Status

__all__ = ["WINDOW", "middleware_series", "prometheus_checks"]

WINDOW = 3600.0  # seconds back in time searched for exemplars
_FEATURE = "exemplar-storage"
_CAPACITY = "prometheus_tsdb_exemplar_max_exemplars"
_ENABLE = f"start Prometheus with --enable-feature={_FEATURE}"


def middleware_series() -> list[str]:
    """The series tracelog's middleware metrics put exemplars on (histogram buckets, counter)."""
    from tracelog._middleware import http_metrics  # noqa: PLC0415 - imports prometheus_client

    names = []
    for metric in http_metrics(None):  # a pair registered nowhere, for the names only
        for family in metric.describe():
            names.append(family.name + ("_bucket" if family.type == "histogram" else "_total"))
    return names


def prometheus_checks(url: str, series: list[str], *, timeout: float) -> list[DoctorCheck]:
    """The ``prometheus-storage`` and ``prometheus-exemplars`` checks."""
    storage = _storage(url, series, timeout)
    if storage.status is not Status.OK:
        return [
            storage,
            DoctorCheck.skipped("prometheus-exemplars", "exemplar storage is not usable"),
        ]
    return [storage, _held(url, series, timeout)]


def _json(url: str, timeout: float) -> Any:
    answer = get(url, timeout=timeout, accept="application/json")
    try:
        return json.loads(answer.body)
    except ValueError:
        raise HttpError(f"{shown(url)}: the answer is not JSON") from None


def _capacity(url: str, timeout: float) -> float | None:
    """Prometheus's own ``prometheus_tsdb_exemplar_max_exemplars``; None when unreadable."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    try:
        text = get(join(url, "/metrics"), timeout=timeout).body.decode("utf-8", "replace")
        for family in text_string_to_metric_families(text):
            if family.name == _CAPACITY and family.samples:
                return float(family.samples[0].value)
    except Exception:  # a proxy in front that hides /metrics: the flags decide alone
        return None
    return None


def _query(url: str, series: list[str], timeout: float) -> dict[str, Any]:
    end = time.time()
    selector = "{__name__=~" + json.dumps("|".join(series)) + "}"
    parameters = urllib.parse.urlencode({"query": selector, "start": end - WINDOW, "end": end})
    answer = _json(join(url, f"/api/v1/query_exemplars?{parameters}"), timeout)
    if not isinstance(answer, dict):
        raise HttpError("query_exemplars answered no JSON object")
    return answer


def _storage(url: str, series: list[str], timeout: float) -> DoctorCheck:
    name = "prometheus-storage"
    try:
        flags = _json(join(url, "/api/v1/status/flags"), timeout)
    except HttpError as error:
        return DoctorCheck.problem(
            name, str(error), "check the URL (Prometheus's, e.g. http://host:9090)"
        )
    features = ""
    if isinstance(flags, dict) and isinstance(flags.get("data"), dict):
        features = str(flags["data"].get("enable-feature", ""))
    enabled = _FEATURE in [part.strip() for part in features.split(",")]
    if not enabled:
        return DoctorCheck.problem(
            name,
            f"Prometheus runs without --enable-feature={_FEATURE} (its features:"
            f" {features or 'none'}): it drops every exemplar it scrapes, and its"
            " query_exemplars API answers with nothing",
            _ENABLE,
        )
    capacity = _capacity(url, timeout)
    if capacity is not None and capacity <= 0:
        return DoctorCheck.problem(
            name,
            f"exemplar storage is on but holds no exemplar ({_CAPACITY} is {capacity:g})",
            "set storage.exemplars.max_exemplars above 0 in Prometheus's configuration",
        )
    try:
        answer = _query(url, series, timeout)
    except HttpError as error:
        return DoctorCheck.problem(
            name, f"query_exemplars does not answer: {error}", "check Prometheus's logs"
        )
    if answer.get("status") != "success":
        return DoctorCheck.problem(
            name,
            f"query_exemplars answered {answer.get('status')!r}: {answer.get('error')}",
            "check Prometheus's logs",
        )
    room = "" if capacity is None else f", room for {capacity:g} exemplars"
    return DoctorCheck.ok(name, f"exemplar storage is on{room}; query_exemplars answers")


def _held(url: str, series: list[str], timeout: float) -> DoctorCheck:
    name = "prometheus-exemplars"
    try:
        answer = _query(url, series, timeout)
    except HttpError as error:
        return DoctorCheck.problem(
            name, f"query_exemplars does not answer: {error}", "check Prometheus's logs"
        )
    data = answer.get("data")
    label = exemplar_label_names()[0]
    found = 0
    on: set[str] = set()
    targets: set[str] = set()
    other: set[str] = set()
    for entry in data if isinstance(data, list) else []:
        if not isinstance(entry, dict):
            continue
        series_labels = entry.get("seriesLabels")
        if not isinstance(series_labels, dict):
            series_labels = {}
        for exemplar in entry.get("exemplars", []):
            labels = exemplar.get("labels", {}) if isinstance(exemplar, dict) else {}
            if label in labels:
                found += 1
                on.add(str(series_labels.get("__name__")))
                targets.add(_target(series_labels))
            else:
                other.update(labels)
    minutes = f"{WINDOW / 60:g} minutes"
    if found:
        # Every service behind tracelog's middleware has these series: the targets named
        # show whether the exemplars are this app's or another service's.
        return DoctorCheck.ok(
            name,
            f"{found} exemplars with {label} on {', '.join(sorted(on))} in the last {minutes},"
            f" scraped from {', '.join(sorted(targets))}",
        )
    if other:
        return DoctorCheck.problem(
            name,
            f"exemplars on {', '.join(series)} are labelled {', '.join(sorted(other))},"
            f" not {label}",
            f"observe through tracelog.metrics, whose exemplars carry the trace ID as {label}",
        )
    return DoctorCheck.problem(
        name,
        f"no exemplar on {', '.join(series)} in the last {minutes}",
        "check that Prometheus scrapes the app (its /metrics must answer OpenMetrics, see"
        " --metrics-url) and that requests run inside sampled spans",
    )


def _target(series_labels: dict[str, Any]) -> str:
    """The scrape target a series came from, as ``job/instance``."""
    return f"{series_labels.get('job', '?')}/{series_labels.get('instance', '?')}"
