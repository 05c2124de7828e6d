"""tracelog.metrics' Histogram and Counter: prometheus_client's, with the current span as exemplar.

Public through `tracelog.metrics`; documented there.
"""

from __future__ import annotations

import functools
import inspect
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

from tracelog import _exemplar, _exemplar_file
from tracelog._context import current as _current
from tracelog._errors import report
from tracelog._multiprocess import is_multiprocess_value

__all__ = [
    "Counter",
    "Histogram",
    "HistogramTimer",
    "MultiprocessExemplarWarning",
    "warn_plain_collector",
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
    """Metrics served in multiprocess mode without exemplars.

    tracelog.metrics keeps exemplars in multiprocess mode and its exposition
    helpers serve them; prometheus_client's own ``MultiProcessCollector``
    drops them. This is warned, once per process, when an exposition helper
    is given a registry holding that collector.
    """


_warned_multiprocess = False


def warn_plain_collector() -> None:
    """Warn once per process that a registry serves prometheus_client's merge, without exemplars.

    Never raises: where warnings are errors (``-W error``), the warning is
    reported to the ``tracelog`` logger instead.
    """
    global _warned_multiprocess
    if _warned_multiprocess:
        return
    _warned_multiprocess = True
    try:
        warnings.warn(
            "this registry holds prometheus_client's MultiProcessCollector, which drops"
            " exemplars: use tracelog.metrics.MultiProcessCollector instead (or pass no"
            " registry: tracelog.metrics then serves every process's metrics and exemplars)",
            MultiprocessExemplarWarning,
            stacklevel=4,  # the caller of make_wsgi_app() and the like
        )
    except Exception as exc:
        report("metrics: prometheus_client's MultiProcessCollector drops exemplars", exc)


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
    In multiprocess mode the exemplar goes to this process's exemplar file.
    """

    def _metric_init(self) -> None:
        super()._metric_init()
        self._exemplar_store = _direct_store(self._buckets[0])
        if is_multiprocess_value(self._buckets[0]):
            # Exemplars go to this process's file: its slots find the bucket and write there.
            self._attach = _exemplar_file.slots(  # type: ignore[method-assign]
                self._name + "_bucket",
                dict(zip(self._labelnames, self._labelvalues, strict=True)),
                self._upper_bounds,
            ).observe

    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        # The hot path, inlined: one context read, labels cached per span, no
        # validation (they are valid by construction), no extra frames.
        if exemplar is None:
            context = _current()
            if context is None or not context.sampled:
                labels = None
            else:  # `context.rendered(_KEY, _render)`, without its frame once made
                labels = context._rendered.get(_KEY) or context.rendered(_KEY, _render)
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
                if self._exemplar_store:
                    self._buckets[index]._exemplar = _new_tuple(Exemplar, (labels, amount, _time()))
                else:
                    self._buckets[index].set_exemplar(Exemplar(labels, amount, _time()))
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
    In multiprocess mode the exemplar goes to this process's exemplar file.
    """

    def _metric_init(self) -> None:
        super()._metric_init()
        self._exemplar_file: _exemplar_file.Slots | None = None
        if is_multiprocess_value(self._value):
            self._exemplar_file = _exemplar_file.slots(
                self._name + "_total",
                dict(zip(self._labelnames, self._labelvalues, strict=True)),
                None,
            )

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
        file = self._exemplar_file
        if file is not None:
            file.write(0, amount, labels)
            return
        try:
            self._value.set_exemplar(Exemplar(labels, amount, _time()))
        except Exception as exc:
            report("metrics: exemplar not attached", exc)
