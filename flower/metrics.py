"""The ``flower_*`` Prometheus metrics: kept as plain numbers while events arrive, rendered on scrape.

Flower updates six ``prometheus_client`` metric objects per event (a label lookup under a lock each time) and
renders them through the registry. Here each event costs a few dict operations, and ``/metrics`` writes the
text exposition format directly, with the same metric names, help texts, types, labels and buckets as
Flower (and the ``*_created`` samples ``prometheus_client`` adds), followed by the process and Python
collectors of a private registry (so tests and several apps in one process do not share numbers).

Runtime rule 10 (label values are bounded) for task names lives here: the first ``max_task_names`` distinct
task names (``--metrics_max_task_names``) keep their own ``task`` label for the life of the process; every
name seen after that is counted under ``task="__other__"`` (:data:`OVERFLOW_TASK`), and
``flower_metrics_task_names_folded`` says how many distinct names were folded so. Worker labels are bounded by
``--max_workers`` (evicted workers take their series with them, see :meth:`EventMetrics.forget_workers`).

One :class:`EventMetrics` per server, built by the composition root (:func:`flower.runtime.build_runtime`) and
given to whatever exports numbers: the events state (``EventsState(metrics=...)``, which keeps it as Flower's
``state.metrics``), the events receiver, and the queue-length gauge; ``/metrics`` renders it. Nothing reaches it
through another part.

Updated and rendered on the IOLoop thread only.
"""

from __future__ import annotations

import logging
import math
import time
import weakref
from collections.abc import Mapping
from typing import Any, Iterable, TypeVar

import prometheus_client
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from flower.utils import values as readable

logger = logging.getLogger(__name__)

CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

_EVENTS = ('flower_events_total', 'Number of events', 'counter')
_RUNTIME = ('flower_task_runtime_seconds', 'Task runtime', 'histogram')
_PREFETCH_TIME = (
    'flower_task_prefetch_time_seconds',
    'The time the task spent waiting at the celery worker to be executed.',
    'gauge',
)
_PREFETCHED = ('flower_worker_prefetched_tasks', 'Number of tasks of given type prefetched at a worker', 'gauge')
_ONLINE = ('flower_worker_online', 'Worker online status', 'gauge')
_EXECUTING = (
    'flower_worker_number_of_currently_executing_tasks',
    'Number of tasks currently executing at a worker',
    'gauge',
)

#: the ``task`` label value for task names beyond the cap
OVERFLOW_TASK = '__other__'
# Folded names are remembered (as hashes) to count them once each; past this many the gauge stops growing,
# so an endless stream of new names cannot grow memory without bound either.
MAX_FOLDED_REMEMBERED = 1_000_000


def format_value(value: float) -> str:
    """A number the way Prometheus' Go client (and prometheus_client) writes it."""
    value = float(value)
    if value == math.inf:
        return '+Inf'
    if value == -math.inf:
        return '-Inf'
    if value != value:
        return 'NaN'
    text = repr(value)
    dot = text.find('.')
    if value > 0 and dot > 6:
        mantissa = f'{text[0]}.{text[1:dot]}{text[dot + 1 :]}'.rstrip('0.')
        return f'{mantissa}e+{dot - 1:02d}'
    return text


def escape_label(value) -> str:
    return str(value).replace('\\', r'\\').replace('\n', r'\n').replace('"', r'\"')


class _Runtime:
    # ``text`` caches the rendered sample lines until the next observation: between two scrapes most of
    # thousands of (worker, task) histograms do not change, and rendering them is most of a scrape's cost
    __slots__ = ('buckets', 'count', 'sum', 'created', 'text', 'created_text')

    def __init__(self, size: int, now: float):
        self.buckets = [0] * size
        self.count = 0
        self.sum = 0.0
        self.created = now
        self.text: str | None = None
        self.created_text: str | None = None


class _Family(Mapping):
    """One metric family, for code written for Flower: a read-only mapping from label values (a tuple, or
    the worker name for the one-label families) to what :meth:`EventMetrics.render` writes, with
    prometheus_client's API on top: ``family.labels(worker, task).inc()`` (``.set()``, ``.dec()``,
    ``.observe()``), ``remove(*values)``, ``clear()``. The events update the plain dict underneath directly,
    so the hot path never goes through this object."""

    __slots__ = ('owner', 'data', 'name', 'documentation', 'kind', 'labelnames', 'task_at')

    def __init__(
        self,
        owner: 'EventMetrics',
        data: dict,
        spec: tuple[str, str, str],
        labelnames: tuple[str, ...],
        task_at: int | None,
    ):
        self.owner = owner
        self.data = data
        self.name, self.documentation, self.kind = spec
        self.labelnames = labelnames
        self.task_at = task_at  # where the task label is: names there are capped as the events' ones are

    def __getitem__(self, key):
        return self.data[key]

    def __iter__(self):
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f'<{self.kind} {self.name} {self.data!r}>'

    def _key(self, values: tuple, labelkwargs: dict, register: bool):
        if labelkwargs:
            if values or set(labelkwargs) != set(self.labelnames):
                raise ValueError(f'Incorrect label names: {self.name} has labels {", ".join(self.labelnames)}')
            values = tuple(labelkwargs[name] for name in self.labelnames)
        if len(values) != len(self.labelnames):
            raise ValueError(f'Incorrect label count: {self.name} has labels {", ".join(self.labelnames)}')
        values = tuple(str(value) for value in values)
        if self.task_at is not None:
            task = values[self.task_at]
            if register:
                task = self.owner.task_label(task)
            elif task not in self.owner.task_names:
                task = OVERFLOW_TASK
            values = values[: self.task_at] + (task,) + values[self.task_at + 1 :]
        return values if len(values) > 1 else values[0]

    def labels(self, *values, **labelkwargs):
        """The child for these label values, as prometheus_client's ``labels()``."""
        return _CHILDREN[self.kind](self, self._key(values, labelkwargs, register=True))

    def remove(self, *values) -> None:
        self.data.pop(self._key(values, {}, register=False), None)

    def clear(self) -> None:
        self.data.clear()

    @property
    def _metrics(self) -> dict:
        # prometheus_client's private table, which Flower's own code reads: label tuples -> children
        return {(key if isinstance(key, tuple) else (key,)): _CHILDREN[self.kind](self, key) for key in self.data}


class _Child:
    __slots__ = ('family', 'key')

    def __init__(self, family: _Family, key):
        self.family = family
        self.key = key

    @property
    def _value(self):  # prometheus_client tests read ``child._value.get()``
        return self


class _CounterChild(_Child):
    __slots__ = ()

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError('Counters can only be incremented by non-negative amounts.')
        data = self.family.data
        entry = data.get(self.key)
        if entry is None:
            data[self.key] = [amount, time.time(), None, None]
        else:
            entry[0] += amount
            entry[2] = None  # the cached sample line is stale

    def get(self) -> float:
        entry = self.family.get(self.key)
        return 0.0 if entry is None else float(entry[0])


class _GaugeChild(_Child):
    __slots__ = ()

    def set(self, value: float) -> None:
        self.family.data[self.key] = float(value)

    def inc(self, amount: float = 1) -> None:
        data = self.family.data
        data[self.key] = data.get(self.key, 0.0) + amount

    def dec(self, amount: float = 1) -> None:
        self.inc(-amount)

    def set_to_current_time(self) -> None:
        self.set(time.time())

    def get(self) -> float:
        return float(self.family.get(self.key, 0.0))


class _HistogramChild(_Child):
    __slots__ = ()

    def observe(self, amount: float) -> None:
        worker, task = self.key  # a runtime child's key is the (worker, task label) pair
        self.family.owner.observe_runtime(worker, task, float(amount), self.key)

    def get(self) -> float:
        """The sum of the observations (what prometheus_client's histogram ``_sum`` holds)."""
        hist = self.family.get(self.key)
        return 0.0 if hist is None else hist.sum


_CHILDREN = {'counter': _CounterChild, 'gauge': _GaugeChild, 'histogram': _HistogramChild}


class EventMetrics:
    """The six metric families as dictionaries keyed by label values (worker first); also Flower's
    ``PrometheusMetrics`` (``events``, ``runtime``, ``prefetch_time``, ``number_of_prefetched_tasks``,
    ``worker_online``, ``worker_number_of_currently_executing_tasks`` with ``.labels()``, and
    :meth:`observe_task`, :meth:`observe_worker`, :meth:`remove_workers`)."""

    def __init__(
        self, buckets: Iterable[float] | None = None, extra_collectors: Iterable = (), max_task_names: int = 500
    ):
        global _latest
        _latest = weakref.ref(self)  # what get_prometheus_metrics() answers
        bounds = [float(b) for b in (Histogram.DEFAULT_BUCKETS if buckets is None else buckets)]
        if not bounds or bounds[-1] != math.inf:
            bounds.append(math.inf)
        self.bounds = tuple(bounds)
        # the numbers, in plain dicts (the hot path's speed depends on them being exactly dict):
        # (worker, type, task) -> [count, created, cached sample line, cached created line]
        self._events: dict[tuple[str, str, str], list] = {}
        self._runtime: dict[tuple[str, str], _Runtime] = {}
        self._prefetch_time: dict[tuple[str, str], float] = {}
        self._prefetched: dict[tuple[str, str], float] = {}
        self._online: dict[str, float] = {}
        self._executing: dict[str, float] = {}
        # the same numbers as metric families (read-only mappings with prometheus_client's ``labels()``), under
        # our names and Flower's
        self.events = _Family(self, self._events, _EVENTS, ('worker', 'type', 'task'), 2)
        self.runtime = _Family(self, self._runtime, _RUNTIME, ('worker', 'task'), 1)
        self.prefetch_time = _Family(self, self._prefetch_time, _PREFETCH_TIME, ('worker', 'task'), 1)
        self.prefetched = self.number_of_prefetched_tasks = _Family(
            self, self._prefetched, _PREFETCHED, ('worker', 'task'), 1
        )
        self.online = self.worker_online = _Family(self, self._online, _ONLINE, ('worker',), None)
        self.executing = self.worker_number_of_currently_executing_tasks = _Family(
            self, self._executing, _EXECUTING, ('worker',), None
        )
        self._label_cache: dict[tuple, str] = {}
        self.max_task_names = max_task_names  # 0: no cap
        self.task_names: set[str] = set()  # the names with a label of their own
        self._folded: set[int] = set()  # hashes of the distinct names counted under OVERFLOW_TASK
        self._own_names: tuple[int, frozenset] | None = None  # see _family_names
        # families beyond Flower's, read at scrape time: name -> (type, help, value function)
        self._extra: dict[str, tuple[str, str, Any]] = {}  # a callable, or (label, callable) when labelled
        # a private registry: the process/platform/GC families Flower's default registry shows, without
        # sharing numbers between apps (or tests) in one process
        self.registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        for collector in extra_collectors:
            self.registry.register(collector)
        self.extra_gauge(
            'flower_metrics_task_names_folded',
            f'Distinct task names counted under task="{OVERFLOW_TASK}" because '
            '--metrics_max_task_names other names were seen first',
            lambda: len(self._folded),
        )

    def extra_counter(self, name: str, doc: str, value) -> None:
        """A counter family (without labels) whose value ``value()`` returns at scrape time."""
        self._extra[name] = ('counter', doc, value)

    def extra_gauge(self, name: str, doc: str, value) -> None:
        self._extra[name] = ('gauge', doc, value)

    def extra_labelled_gauge(self, name: str, doc: str, label: str, values) -> None:
        """A gauge family with one label; ``values()`` returns ``{label value: number}`` at scrape time."""
        self._extra[name] = ('labelled', doc, (label, values))

    def extra_labelled_counter(self, name: str, doc: str, label: str, values) -> None:
        """A counter family (``<name>_total``) with one label; ``values()`` returns ``{label value: count}``."""
        self._extra[name] = ('labelled_counter', doc, (label, values))

    # -- updates (IOLoop thread) -------------------------------------------------------------------------
    def task_label(self, name: str) -> str:
        """The ``task`` label value for this task name: itself while the cap allows, else :data:`OVERFLOW_TASK`."""
        if name in self.task_names:
            return name
        if not self.max_task_names or len(self.task_names) < self.max_task_names:
            self.task_names.add(name)
            return name
        if len(self._folded) < MAX_FOLDED_REMEMBERED:
            self._folded.add(hash(name))
        return OVERFLOW_TASK

    def count_event(self, worker: str, type_: str, task: str) -> None:
        key = (worker, type_, self.task_label(task))
        entry = self._events.get(key)
        if entry is None:
            # [count, created, cached sample line, cached created line]
            self._events[key] = [1, time.time(), None, None]
        else:
            entry[0] += 1
            entry[2] = None

    def observe_runtime(self, worker: str, task: str, seconds: float, key: tuple[str, str] | None = None) -> None:
        """One runtime observation; ``key`` is the (worker, task label) pair when the caller has it already
        (a ``labels()`` child). One body for both: this runs for every finished task."""
        if key is None:
            key = (worker, self.task_label(task))
        hist = self._runtime.get(key)
        if hist is None:
            hist = self._runtime[key] = _Runtime(len(self.bounds), time.time())
        for i, bound in enumerate(self.bounds):
            if seconds <= bound:
                hist.buckets[i] += 1
                break
        hist.count += 1
        hist.sum += seconds
        hist.text = None

    def set_prefetch_time(self, worker: str, task: str, seconds: float) -> None:
        self._prefetch_time[(worker, self.task_label(task))] = seconds

    def add_prefetched(self, worker: str, task: str, delta: int) -> None:
        key = (worker, self.task_label(task))
        self._prefetched[key] = self._prefetched.get(key, 0.0) + delta

    def set_online(self, worker: str, online: bool) -> None:
        self._online[worker] = 1.0 if online else 0.0

    def set_executing(self, worker: str, active: float) -> None:
        self._executing[worker] = active

    def forget_workers(self, workers: Iterable[str]) -> int:
        """Remove every label set of these workers (for ``--purge_offline_workers`` and evicted workers)."""
        gone = set(workers)
        if not gone:
            return 0
        # one call per table, as each has its own key and value types
        return (
            _forget_keys(self._events, gone)
            + _forget_keys(self._runtime, gone)
            + _forget_keys(self._prefetch_time, gone)
            + _forget_keys(self._prefetched, gone)
            + _forget_keys(self._online, gone)
            + _forget_keys(self._executing, gone)
        )

    # -- Flower's PrometheusMetrics methods ------------------------------------------------------------------
    def observe_task(self, worker: str, event: dict, task) -> None:
        """Count one ``task-*`` event of ``task`` (after the state applied it), as Flower does: the event, the
        runtime, and for tasks without an ETA the prefetch gauges."""
        event_type = event['type']
        name = event.get('name') or getattr(task, 'name', None) or ''
        self.count_event(worker, event_type, name)
        if event.get('runtime'):
            self.observe_runtime(worker, name, float(event['runtime']))
        if task.eta or not task.received:
            return
        if event_type == 'task-received':
            self.add_prefetched(worker, name, 1)
        elif event_type == 'task-started' and task.started:
            self.set_prefetch_time(worker, name, task.started - task.received)
            self.add_prefetched(worker, name, -1)
        elif event_type in ('task-succeeded', 'task-failed') and task.started:
            self.set_prefetch_time(worker, name, 0.0)
        elif event_type in ('task-revoked', 'task-rejected') and not task.started:
            self.add_prefetched(worker, name, -1)

    def observe_worker(self, worker: str, event: dict) -> None:
        """A ``worker-*`` event: online on ``worker-online``/``worker-heartbeat``, offline on ``worker-offline``,
        and the heartbeat's count of executing tasks."""
        event_type = event['type']
        if event_type in ('worker-online', 'worker-heartbeat'):
            self.set_online(worker, True)
        elif event_type == 'worker-offline':
            self.set_online(worker, False)
        if event_type == 'worker-heartbeat' and event.get('active') is not None:
            self.set_executing(worker, event['active'])

    def remove_workers(self, worker_names: Iterable[str]) -> int:
        """Drop every series of these workers; returns how many of them had any (Flower's answer)."""
        gone = set(worker_names) & self.workers()
        self.forget_workers(gone)
        return len(gone)

    def workers(self) -> set[str]:
        names = {key[0] for key in self._events}
        names.update(key[0] for key in self._runtime)
        names.update(key[0] for key in self._prefetch_time)
        names.update(key[0] for key in self._prefetched)
        names.update(self._online)
        names.update(self._executing)
        return names

    # -- rendering ---------------------------------------------------------------------------------------
    def _labels(self, names: tuple[str, ...], values: tuple) -> str:
        key = (names, values)
        text = self._label_cache.get(key)
        if text is None:
            pairs = sorted(zip(names, values))
            text = ','.join(f'{name}="{escape_label(value)}"' for name, value in pairs)
            if len(self._label_cache) > 200_000:
                self._label_cache.clear()
            self._label_cache[key] = text
        return text

    def render(self) -> bytes:
        """The exposition text: the ``flower_*`` families, then process/platform/GC metrics."""
        out: list[str] = []
        labels = self._labels

        name, doc, kind = _EVENTS
        _header(out, name, doc, kind)
        created = []
        for event_key, entry in self._events.items():
            line = entry[2]
            if line is None:
                text = labels(('worker', 'type', 'task'), event_key)
                line = entry[2] = f'{name}{{{text}}} {format_value(entry[0])}\n'
                if entry[3] is None:
                    entry[3] = f'flower_events_created{{{text}}} {format_value(entry[1])}\n'
            out.append(line)
            created.append(entry[3])
        _created_section(out, 'flower_events_created', doc, created)

        name, doc, kind = _RUNTIME
        _header(out, name, doc, kind)
        created = []
        bounds = [format_value(b) for b in self.bounds]
        for runtime_key, hist in self._runtime.items():
            if hist.text is None:
                text = labels(('worker', 'task'), runtime_key)
                lines = []
                running = 0
                for bound, count in zip(bounds, hist.buckets):
                    running += count
                    lines.append(f'{name}_bucket{{{text},le="{bound}"}} {format_value(running)}\n')
                lines.append(f'{name}_count{{{text}}} {format_value(hist.count)}\n')
                lines.append(f'{name}_sum{{{text}}} {format_value(hist.sum)}\n')
                hist.text = ''.join(lines)
                if hist.created_text is None:
                    hist.created_text = f'{name}_created{{{text}}} {format_value(hist.created)}\n'
            out.append(hist.text)
            created.append(hist.created_text)
        _created_section(out, f'{name}_created', doc, created)

        for (name, doc, kind), table, label_names in (
            (_PREFETCH_TIME, self._prefetch_time, ('worker', 'task')),
            (_PREFETCHED, self._prefetched, ('worker', 'task')),
            (_ONLINE, self._online, ('worker',)),
            (_EXECUTING, self._executing, ('worker',)),
        ):
            _header(out, name, doc, kind)
            for sample_key, value in table.items():
                value = readable.number(value, f'a {name} sample')
                if value is None:
                    continue  # unknown: no sample, rather than no scrape
                text = labels(label_names, sample_key if isinstance(sample_key, tuple) else (sample_key,))
                out.append(f'{name}{{{text}}} {format_value(value)}\n')
        for name, (kind, doc, value) in self._extra.items():
            if kind in ('labelled', 'labelled_counter'):
                label, values = value
                sample = f'{name}_total' if kind == 'labelled_counter' else name
                _header(out, sample, doc, 'counter' if kind == 'labelled_counter' else 'gauge')
                for label_value, number in values().items():
                    out.append(f'{sample}{{{label}="{escape_label(label_value)}"}} {format_value(number)}\n')
                continue
            sample = f'{name}_total' if kind == 'counter' else name
            _header(out, sample, doc, kind)
            out.append(f'{sample} {format_value(value())}\n')
        ours = generate_latest(self.registry)
        return ''.join(out).encode() + ours + user_collectors_text(self._family_names())

    def _family_names(self) -> frozenset:
        """Every family name this object writes, with and without ``_total`` (a user's collector in the
        default registry may not add a second family of one of these names)."""
        cached = self._own_names
        if cached is None or cached[0] != len(self._extra):
            names = {spec[0] for spec in (_EVENTS, _RUNTIME, _PREFETCH_TIME, _PREFETCHED, _ONLINE, _EXECUTING)}
            names.update(self._extra)
            names.update(metric.name for metric in self.registry.collect())
            names.update([f'{name}_total' for name in names] + [name[:-6] for name in names if name.endswith('_total')])
            cached = self._own_names = (len(self._extra), frozenset(names))
        return cached[1]


#: Flower's name for the class of ``state.metrics``
PrometheusMetrics = EventMetrics

_latest: weakref.ref | None = None  # the EventMetrics created last
_made_here: EventMetrics | None = None  # one get_prometheus_metrics() had to create, kept alive here


def get_prometheus_metrics() -> EventMetrics:
    """Flower's accessor: the metrics ``/metrics`` shows. Flower has one per process; here each app's events
    state has its own (so apps and tests in one process don't share numbers), and this answers the one
    created last, which in a server is its app's. With none yet, one is created (Prometheus' default
    buckets) and kept."""
    global _made_here
    metrics = _latest() if _latest is not None else None
    if metrics is None:
        metrics = _made_here = EventMetrics()
    return metrics


# -- what user code registered in prometheus_client's default registry ------------------------------------

# prometheus_client's own default collectors: the private registry above already writes these families
_BUILTIN_COLLECTORS = (
    prometheus_client.PROCESS_COLLECTOR,
    prometheus_client.PLATFORM_COLLECTOR,
    prometheus_client.GC_COLLECTOR,
)
_reported: set = set()  # (collector id, problem) already logged: a broken collector warns once, not per scrape


class _Collected:
    """What ``generate_latest`` needs: an object whose ``collect()`` gives these families."""

    def __init__(self, families: list):
        self.families = families

    def collect(self):
        return self.families


def _report_once(collector, problem: str, message: str, *args, exc_info=False) -> None:
    key = (id(collector), problem)
    if key in _reported:
        logger.debug(message, *args, exc_info=exc_info)
        return
    _reported.add(key)
    logger.warning(message, *args, exc_info=exc_info)


def _default_registry_collectors(registry) -> list:
    # prometheus_client has no public list of a registry's collectors; without the private table (a future
    # version), the whole registry is collected as one, which loses only the per-collector isolation
    table = getattr(registry, '_collector_to_names', None)
    lock = getattr(registry, '_lock', None)
    if not isinstance(table, dict) or lock is None:
        return [registry]
    with lock:
        return list(table)


def user_collectors_text(exclude: frozenset, registry=None) -> bytes:
    """The exposition text of the collectors user code registered in prometheus_client's default registry
    (from ``flowerconfig.py`` or an extension), leaving out prometheus_client's own process/platform/GC
    collectors and any family named like one of ``exclude`` (ours). A collector that raises, or whose
    samples cannot be written, is logged and left out; the scrape goes on."""
    registry = prometheus_client.REGISTRY if registry is None else registry
    parts = []
    for collector in _default_registry_collectors(registry):
        if any(collector is builtin for builtin in _BUILTIN_COLLECTORS):
            continue
        try:
            families = []
            for family in collector.collect():
                if family.name in exclude or f'{family.name}_total' in exclude:
                    _report_once(
                        collector,
                        family.name,
                        "Not exposing metric family '%s' from %r in /metrics: "
                        'the server writes a family of that name itself',
                        family.name,
                        collector,
                    )
                    continue
                families.append(family)
            if families:
                parts.append(generate_latest(_Collected(families)))
        except Exception as exc:
            _report_once(
                collector,
                'error',
                'Metrics collector %r failed, left out of /metrics: %s',
                collector,
                exc,
                exc_info=True,
            )
    return b''.join(parts)


_K = TypeVar('_K')
_V = TypeVar('_V')


def _forget_keys(table: dict[_K, _V], gone: set[str]) -> int:
    """Delete ``table``'s entries for the workers in ``gone`` (keyed by a worker, or by a tuple that starts with
    one); the number deleted."""
    doomed = [key for key in table if (key[0] if isinstance(key, tuple) else key) in gone]
    for key in doomed:
        del table[key]
    return len(doomed)


def _header(out: list[str], name: str, doc: str, kind: str) -> None:
    out.append(f'# HELP {name} {doc}\n# TYPE {name} {kind}\n')


def _created_section(out: list[str], name: str, doc: str, lines: list[str]) -> None:
    # prometheus_client writes the creation times as a gauge family after the metric, only when present
    if lines:
        _header(out, name, doc, 'gauge')
        out.extend(lines)
