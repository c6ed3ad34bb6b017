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

Updated and rendered on the IOLoop thread only.
"""

from __future__ import annotations

import math
import time
from typing import Iterable

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, generate_latest

from flower.utils import values as readable

CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

_EVENTS = ('flower_events_total', 'Number of events', 'counter')
_RUNTIME = ('flower_task_runtime_seconds', 'Task runtime', 'histogram')
_PREFETCH_TIME = ('flower_task_prefetch_time_seconds',
                  'The time the task spent waiting at the celery worker to be executed.', 'gauge')
_PREFETCHED = ('flower_worker_prefetched_tasks', 'Number of tasks of given type prefetched at a worker', 'gauge')
_ONLINE = ('flower_worker_online', 'Worker online status', 'gauge')
_EXECUTING = ('flower_worker_number_of_currently_executing_tasks',
              'Number of tasks currently executing at a worker', 'gauge')

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
        mantissa = f'{text[0]}.{text[1:dot]}{text[dot + 1:]}'.rstrip('0.')
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
        self.text = None
        self.created_text = None


class EventMetrics:
    """The six metric families as dictionaries keyed by label values (worker first)."""

    def __init__(self, buckets: Iterable[float] | None = None, extra_collectors: Iterable = (),
                 max_task_names: int = 500):
        bounds = [float(b) for b in (buckets or ())]
        if not bounds or bounds[-1] != math.inf:
            bounds.append(math.inf)
        self.bounds = tuple(bounds)
        self.events: dict[tuple[str, str, str], list] = {}  # (worker, type, task) -> [count, created]
        self.runtime: dict[tuple[str, str], _Runtime] = {}
        self.prefetch_time: dict[tuple[str, str], float] = {}
        self.prefetched: dict[tuple[str, str], float] = {}
        self.online: dict[str, float] = {}
        self.executing: dict[str, float] = {}
        self._label_cache: dict[tuple, str] = {}
        self.max_task_names = max_task_names  # 0: no cap
        self._task_names: set[str] = set()  # the names with a label of their own
        self._folded: set[int] = set()  # hashes of the distinct names counted under OVERFLOW_TASK
        # families beyond Flower's, read at scrape time: name -> (type, help, value function)
        self._extra: dict[str, tuple[str, str, object]] = {}
        # a private registry: the process/platform/GC families Flower's default registry shows, without
        # sharing numbers between apps (or tests) in one process
        self.registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        for collector in extra_collectors:
            self.registry.register(collector)
        self.extra_gauge('flower_metrics_task_names_folded',
                         f'Distinct task names counted under task="{OVERFLOW_TASK}" because '
                         '--metrics_max_task_names other names were seen first', lambda: len(self._folded))

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
        if name in self._task_names:
            return name
        if not self.max_task_names or len(self._task_names) < self.max_task_names:
            self._task_names.add(name)
            return name
        if len(self._folded) < MAX_FOLDED_REMEMBERED:
            self._folded.add(hash(name))
        return OVERFLOW_TASK

    def count_event(self, worker: str, type_: str, task: str) -> None:
        key = (worker, type_, self.task_label(task))
        entry = self.events.get(key)
        if entry is None:
            # [count, created, cached sample line, cached created line]
            self.events[key] = [1, time.time(), None, None]
        else:
            entry[0] += 1
            entry[2] = None

    def observe_runtime(self, worker: str, task: str, seconds: float) -> None:
        key = (worker, self.task_label(task))
        hist = self.runtime.get(key)
        if hist is None:
            hist = self.runtime[key] = _Runtime(len(self.bounds), time.time())
        for i, bound in enumerate(self.bounds):
            if seconds <= bound:
                hist.buckets[i] += 1
                break
        hist.count += 1
        hist.sum += seconds
        hist.text = None

    def set_prefetch_time(self, worker: str, task: str, seconds: float) -> None:
        self.prefetch_time[(worker, self.task_label(task))] = seconds

    def add_prefetched(self, worker: str, task: str, delta: int) -> None:
        key = (worker, self.task_label(task))
        self.prefetched[key] = self.prefetched.get(key, 0.0) + delta

    def set_online(self, worker: str, online: bool) -> None:
        self.online[worker] = 1.0 if online else 0.0

    def set_executing(self, worker: str, active: float) -> None:
        self.executing[worker] = active

    def forget_workers(self, workers: Iterable[str]) -> int:
        """Remove every label set of these workers (for ``--purge_offline_workers`` and evicted workers)."""
        gone = set(workers)
        if not gone:
            return 0
        removed = 0
        for table in (self.events, self.runtime, self.prefetch_time, self.prefetched, self.online,
                      self.executing):
            doomed = [key for key in table if (key[0] if isinstance(key, tuple) else key) in gone]
            for key in doomed:
                del table[key]
            removed += len(doomed)
        return removed

    def workers(self) -> set[str]:
        names = {key[0] for key in self.events}
        names.update(key[0] for key in self.runtime)
        names.update(key[0] for key in self.prefetch_time)
        names.update(key[0] for key in self.prefetched)
        names.update(self.online)
        names.update(self.executing)
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
        for key, entry in self.events.items():
            line = entry[2]
            if line is None:
                text = labels(('worker', 'type', 'task'), key)
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
        for key, hist in self.runtime.items():
            if hist.text is None:
                text = labels(('worker', 'task'), key)
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
                (_PREFETCH_TIME, self.prefetch_time, ('worker', 'task')),
                (_PREFETCHED, self.prefetched, ('worker', 'task')),
                (_ONLINE, self.online, ('worker',)),
                (_EXECUTING, self.executing, ('worker',))):
            _header(out, name, doc, kind)
            for key, value in table.items():
                value = readable.number(value, f'a {name} sample')
                if value is None:
                    continue  # unknown: no sample, rather than no scrape
                text = labels(label_names, key if isinstance(key, tuple) else (key,))
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
        return ''.join(out).encode() + generate_latest(self.registry)


def _header(out: list[str], name: str, doc: str, kind: str) -> None:
    out.append(f'# HELP {name} {doc}\n# TYPE {name} {kind}\n')


def _created_section(out: list[str], name: str, doc: str, lines: list[str]) -> None:
    # prometheus_client writes the creation times as a gauge family after the metric, only when present
    if lines:
        _header(out, name, doc, 'gauge')
        out.extend(lines)
