"""tracelog.metrics' Histogram and Counter: prometheus_client's, with the current span as exemplar.

Public through `tracelog.metrics`; documented there.
"""

from __future__ import annotations

import functools
import inspect
import os
import time
import warnings
from bisect import bisect_left
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import prometheus_client
from prometheus_client.context_managers import Timer
from prometheus_client.samples import Exemplar
from prometheus_client.values import MutexValue

from tracelog import _exemplar
from tracelog._context import current as _current
from tracelog._errors import report

__all__ = [
    "Counter",
    "Histogram",
    "HistogramTimer",
    "MultiprocessExemplarWarning",
    "warn_if_multiprocess",
]

F = TypeVar("F", bound=Callable[..., Any])

# prometheus_client's own methods, called without an exemplar (nothing to validate).
_histogram_observe = prometheus_client.Histogram.observe
_counter_inc = prometheus_client.Counter.inc
_KEY, _render = _exemplar.KEY, _exemplar.render
_time = time.time
# Exemplar(...) without the Python frame of a NamedTuple's __new__.
_new_tuple = tuple.__new__


class MultiprocessExemplarWarning(RuntimeWarning):
    """prometheus_client drops exemplars in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``)."""


_warned_multiprocess = False


def warn_if_multiprocess() -> None:
    """Warn once per process when prometheus_client runs in multiprocess mode.

    Never raises: where warnings are errors (``-W error``), the warning is
    reported to the ``tracelog`` logger instead.
    """
    global _warned_multiprocess
    if _warned_multiprocess:
        return
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ or "prometheus_multiproc_dir" in os.environ:
        _warned_multiprocess = True
        try:
            warnings.warn(
                "PROMETHEUS_MULTIPROC_DIR is set: prometheus_client's multiprocess mode drops "
                "exemplars, so tracelog.metrics observations will carry no trace IDs",
                MultiprocessExemplarWarning,
                stacklevel=3,
            )
        except Exception as exc:
            report("metrics: multiprocess mode drops exemplars", exc)


def _direct_store(value: object) -> bool:
    """Whether an exemplar can be stored into *value* without its lock.

    prometheus_client's single-process value (`MutexValue`) takes a lock only
    to assign one attribute, an assignment that is atomic anyway; skipping
    the lock is a third of the exemplar's cost. Any other value class
    (multiprocess mode, a future version) goes through ``set_exemplar()``.
    """
    return type(value) is MutexValue and "_exemplar" in vars(value)


class Histogram(prometheus_client.Histogram):
    """prometheus_client's Histogram; observations inside a sampled span carry its IDs.

    ``observe(v)`` attaches the current sampled span's exemplar to the bucket
    *v* falls in; an explicit ``exemplar=`` wins and is checked first (labels
    that do not fit OpenMetrics' 128 characters are dropped, never raised).
    Either way the observation is counted exactly once, by prometheus_client.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("_labelvalues") is None:  # the metric itself, not a labels() child
            warn_if_multiprocess()
        super().__init__(*args, **kwargs)

    # prometheus_client's signature, for help() and editors.
    __init__.__signature__ = inspect.signature(prometheus_client.Histogram.__init__)  # type: ignore[attr-defined]

    def _metric_init(self) -> None:
        super()._metric_init()
        self._exemplar_store = _direct_store(self._buckets[0])

    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        # The hot path, inlined: one context read, labels cached per span, no
        # validation (they are valid by construction), no extra frames.
        if exemplar is None:
            context = _current()
            labels = (
                None if context is None or not context.sampled else context.rendered(_KEY, _render)
            )
        else:
            labels = _exemplar.checked(exemplar)
        _histogram_observe(self, amount)
        if labels is not None:
            self._attach(amount, labels)

    def _observe_with(self, amount: float, labels: dict[str, str] | None) -> None:
        """Observe with labels already checked (or None), e.g. taken at a timer's start."""
        _histogram_observe(self, amount)
        if labels is not None:
            self._attach(amount, labels)

    def _attach(self, amount: float, labels: dict[str, str]) -> None:
        """Put the exemplar on the bucket prometheus_client just counted *amount* in."""
        try:
            # The first bound >= amount (none for NaN, which it counts in no bucket).
            bounds = self._upper_bounds
            index = bisect_left(bounds, amount)
            if index < len(bounds) and amount <= bounds[index]:
                value = _new_tuple(Exemplar, (labels, amount, _time()))
                if self._exemplar_store:
                    self._buckets[index]._exemplar = value
                else:
                    self._buckets[index].set_exemplar(value)
        except Exception as exc:  # counted already; only the exemplar is lost
            report("metrics: exemplar not attached", exc)

    def time(self) -> HistogramTimer:
        """Time a block or a function (sync or async) and observe the seconds it took.

        The exemplar is the span current when the block or call starts.
        """
        return HistogramTimer(self)


class HistogramTimer(Timer):
    """`Histogram.time()`: a context manager and a decorator for sync and async functions."""

    def __init__(self, metric: Histogram) -> None:
        super().__init__(metric, "observe")  # type: ignore[no-untyped-call]
        self._labels: dict[str, str] | None = None

    def _new_timer(self) -> HistogramTimer:
        return HistogramTimer(self._metric)

    def __enter__(self) -> HistogramTimer:
        self._labels = _exemplar.of_current_span()
        self._start = time.perf_counter()
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.duration = max(time.perf_counter() - self._start, 0)  # clocks can step back
        self._metric._observe_with(self.duration, self._labels)

    def __call__(self, f: F) -> F:
        if inspect.isasyncgenfunction(f):
            # Timed across the iteration, from the first item asked for to the last;
            # asend(), athrow() and aclose() reach the wrapped generator.

            @functools.wraps(f)
            async def timed_agen(*args: Any, **kwargs: Any) -> Any:
                inner = f(*args, **kwargs)
                with self._new_timer():
                    try:
                        value = await inner.asend(None)
                        while True:
                            try:
                                sent = yield value
                            except GeneratorExit:
                                raise
                            except BaseException as exc:  # athrow(): thrown into the inner one
                                value = await inner.athrow(exc)
                            else:
                                value = await inner.asend(sent)
                    except StopAsyncIteration:
                        return
                    finally:
                        await inner.aclose()

            return timed_agen  # type: ignore[return-value]
        if inspect.isgeneratorfunction(f):

            @functools.wraps(f)
            def timed_gen(*args: Any, **kwargs: Any) -> Any:
                with self._new_timer():
                    return (yield from f(*args, **kwargs))

            return timed_gen  # type: ignore[return-value]
        if inspect.iscoroutinefunction(f):

            @functools.wraps(f)
            async def timed(*args: Any, **kwargs: Any) -> Any:
                with self._new_timer():
                    return await f(*args, **kwargs)

            return timed  # type: ignore[return-value]
        return super().__call__(f)


class Counter(prometheus_client.Counter):
    """prometheus_client's Counter; increments inside a sampled span carry its IDs.

    An explicit ``exemplar=`` wins and is checked as in `Histogram.observe`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("_labelvalues") is None:  # the metric itself, not a labels() child
            warn_if_multiprocess()
        super().__init__(*args, **kwargs)

    __init__.__signature__ = inspect.signature(prometheus_client.Counter.__init__)  # type: ignore[attr-defined]

    def inc(self, amount: float = 1, exemplar: dict[str, str] | None = None) -> None:
        labels = _exemplar.of_current_span() if exemplar is None else _exemplar.checked(exemplar)
        _counter_inc(self, amount)
        if labels is not None:
            self._set_exemplar(amount, labels)

    def _inc_with(self, amount: float, labels: dict[str, str] | None) -> None:
        """Increment with labels already checked (or None)."""
        _counter_inc(self, amount)
        if labels is not None:
            self._set_exemplar(amount, labels)

    def _set_exemplar(self, amount: float, labels: dict[str, str]) -> None:
        try:
            self._value.set_exemplar(Exemplar(labels, amount, _time()))
        except Exception as exc:
            report("metrics: exemplar not attached", exc)
