"""Multiprocess mode: prometheus_client's merged counts, with every process's exemplars.

Counts come from prometheus_client's own `MultiProcessCollector`; this module
adds, to each histogram bucket and counter it serves, the most recent
exemplar any process wrote (see `_exemplar_file`), and serves that merge
from the exposition helpers when multiprocess mode is on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client import values
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector as _PlainCollector
from prometheus_client.registry import CollectorRegistry
from prometheus_client.samples import Exemplar, Sample

from tracelog import _exemplar_file
from tracelog._errors import report
from tracelog._exemplar_merge import SampleKey, latest, sample_key_labels

__all__ = [
    "MultiProcessCollector",
    "enabled",
    "is_multiprocess_value",
    "merged_registry",
    "plain_collectors",
]


def is_multiprocess_value(value: object) -> bool:
    """Whether prometheus_client keeps *value* in a multiprocess file."""
    return getattr(type(value), "_multiprocess", False) is True


def enabled() -> bool:
    """Whether prometheus_client makes values in multiprocess mode in this process.

    prometheus_client decides once, when it is first imported, from
    ``PROMETHEUS_MULTIPROC_DIR``.
    """
    return getattr(values.ValueClass, "_multiprocess", False) is True


class MultiProcessCollector(_PlainCollector):
    """prometheus_client's `MultiProcessCollector`, serving every process's exemplars too.

    Counts, sums and gauges are prometheus_client's merge of the processes'
    files. Each histogram bucket and counter then carries the most recent
    exemplar any process recorded for it (written by tracelog.metrics'
    Histogram and Counter), kept only if it lies within the bucket's bounds.

    Args:
        registry: where to register it (None: nowhere).
        path: the multiprocess directory; default ``PROMETHEUS_MULTIPROC_DIR``.
    """

    def __init__(self, registry: CollectorRegistry | None, path: str | None = None) -> None:
        self._exemplar_path = path or _exemplar_file.directory()
        super().__init__(registry, path)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        families = list(super().collect())  # type: ignore[no-untyped-call]
        try:
            found = latest(self._exemplar_path or "")
            for family in families:
                if family.type == "histogram" and _INTERLEAVED:
                    family.samples.sort(key=_label_set)
                if found and family.type in ("histogram", "counter"):
                    family.samples = _with_exemplars(family.samples, found)
        except Exception as exc:  # the counts are served without exemplars
            report("metrics: multiprocess exemplars not served", exc)
        return families


def _interleaved() -> bool:
    """Whether this prometheus_client's merge interleaves the label sets of a histogram.

    Before 0.24 it gives first every label set's ``_sum``, then each one's
    buckets: OpenMetrics (and prometheus_client's own parser) wants each label
    set's samples together.
    """
    try:
        major, minor = (int(part) for part in version("prometheus-client").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return True  # sorting is right for any version
    return (major, minor) < (0, 24)


_INTERLEAVED = _interleaved()


def _label_set(sample: Sample) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(item for item in sample.labels.items() if item[0] != "le"))


def _with_exemplars(samples: list[Sample], found: dict[SampleKey, Exemplar]) -> list[Sample]:
    """*samples*, each bucket and counter sample with its exemplar, if one was found."""
    # prometheus_client's merge gives labels sorted, "le" last: the order of `SampleKey`.
    # Checked on one sample; should that order ever change, every sample is sorted.
    ordered = all(_in_key_order(s.labels) for s in samples[:1])
    with_exemplars = []
    for sample in samples:
        if sample.name.endswith(("_bucket", "_total")):
            labels = sample.labels
            key = tuple(labels.items()) if ordered else sample_key_labels(labels)
            exemplar = found.get((sample.name, key))
            if exemplar is not None:
                # Sample._replace, without its cost: the exemplar is the fifth field.
                sample = _new_tuple(type(sample), (*sample[:4], exemplar, *sample[5:]))  # noqa: PLW2901
        with_exemplars.append(sample)
    return with_exemplars


def _in_key_order(labels: dict[str, str]) -> bool:
    return tuple(labels.items()) == sample_key_labels(labels)


_new_tuple = tuple.__new__
_merged: tuple[str, CollectorRegistry] | None = None
_merged_lock = threading.Lock()


def merged_registry() -> CollectorRegistry:
    """A registry serving every process's metrics and exemplars, from the current directory.

    Raises:
        ValueError: ``PROMETHEUS_MULTIPROC_DIR`` is not a directory.
    """
    global _merged
    path = _exemplar_file.directory() or ""
    with _merged_lock:
        if _merged is None or _merged[0] != path:
            if not os.path.isdir(path):
                raise ValueError(
                    f"PROMETHEUS_MULTIPROC_DIR is {path!r}, not a directory: create it (empty)"
                    " before the server starts, or run gunicorn with -c python:tracelog.gunicorn"
                )
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path)
            _merged = (path, registry)
        return _merged[1]


def plain_collectors(registry: Any) -> bool:
    """Whether *registry* holds prometheus_client's own MultiProcessCollector (no exemplars)."""
    collectors = getattr(registry, "_collector_to_names", None)
    if not isinstance(collectors, dict):
        return isinstance(registry, _PlainCollector) and not isinstance(
            registry, MultiProcessCollector
        )
    return any(
        isinstance(c, _PlainCollector) and not isinstance(c, MultiProcessCollector)
        for c in list(collectors)
    )
