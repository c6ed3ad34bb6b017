"""Selecting, ordering and paging tasks from the events state, for ``/api/tasks`` and the tasks table.

One function, :func:`select_tasks`, answers every task listing: exact filters (worker, task name, state) are
answered from the store's indexes, the search query from :mod:`flower.search`, and the page is cut from the
store's update order (newest first) without sorting when no sort key is asked for. Bad parameters raise
:class:`BadQuery`, which the web layer turns into a 400.

Runs on the IOLoop thread (it reads the events state).
"""

from __future__ import annotations

import heapq
import sys
import time
from dataclasses import dataclass
from itertools import chain, islice
from typing import Callable, Iterable, Iterator

from flower.events.store import TaskStore, is_number
from flower.events.task import Task
from flower.search import find as find_matching
from flower.utils import strict
from flower.utils.values import sort_key

# /api/tasks accepts these (Flower's SORT_KEYS), with '-' for descending.
API_SORT_KEYS = ('name', 'state', 'received', 'started')

# The task fields select_tasks orders by (the tasks table's columns, flower.views.tasks.COLUMNS, are these).
SORTABLE_FIELDS = (
    'name',
    'uuid',
    'state',
    'args',
    'kwargs',
    'result',
    'received',
    'started',
    'runtime',
    'worker',
    'exchange',
    'routing_key',
    'retries',
    'revoked',
    'exception',
    'expires',
    'eta',
)

MAX_INDEX = sys.maxsize // 4


class BadQuery(ValueError):
    """A listing parameter that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class TaskFilter:
    workername: str | None = None
    taskname: str | None = None
    state: str | None = None
    received_start: float | None = None
    received_end: float | None = None
    search: str | None = None


@dataclass
class Page:
    tasks: list[Task]
    filtered: int
    total: int


def parse_received_bound(value: str | None, name: str) -> float | None:
    """``YYYY-MM-DD HH:MM`` in the server's local time (Flower's format) as a timestamp: exactly
    :data:`flower.utils.strict.MINUTE_PATTERN` (two-digit fields, a real date: ``2024-02-30`` is refused)."""
    if value is None or value == '':
        return None
    try:
        moment = strict.parse_time(value, name, strict.MINUTE_PATTERN, example='2024-01-31 13:45')
        return time.mktime(moment.timetuple())
    except (strict.InvalidValue, OverflowError, ValueError):
        raise BadQuery(f"Invalid {name} '{value}': expected a date like 2024-01-31 13:45") from None


def parse_sort(sort_by: str | None, allowed: Iterable[str] = API_SORT_KEYS) -> tuple[str | None, bool]:
    """``'-received'`` -> ``('received', True)``; unknown keys are a :class:`BadQuery` listing the valid ones."""
    if not sort_by:
        return None, False
    reverse = sort_by.startswith('-')
    key = sort_by[1:] if reverse else sort_by
    allowed = tuple(allowed)
    if key not in allowed:
        raise BadQuery(
            f"Invalid sort_by '{sort_by}': use one of {', '.join(allowed)}, with '-' in front for descending order"
        )
    return key, reverse


def task_value(task: Task, column: str):
    if column == 'worker':
        return task.worker.hostname if task.worker is not None else None
    return getattr(task, column, None)


def _sort_key(column: str) -> Callable[[Task], tuple]:
    # None sorts first (as in Flower); numbers and strings each compare among themselves
    def key(task: Task):
        value = task_value(task, column)
        if value is None:
            return (0, 0, '')
        if isinstance(value, (int, float)):
            return (1, value, '')
        return (2, 0, str(value))

    return key


def _matching_bucket_keys(index: dict, wanted: str) -> list:
    wanted = wanted.casefold()
    return [key for key in index if isinstance(key, str) and key.casefold() == wanted]


# the states the workers page counts (each links to the task list filtered by it); 'all' is every state
COUNTED_STATES = ('STARTED', 'SUCCESS', 'FAILURE', 'RETRY')


def listed_counts(store: TaskStore, workername: str | None = None) -> dict[str, int]:
    """How many rows the task list shows for ``worker=workername`` (every worker when None), in all (``'all'``)
    and with ``state=`` each of :data:`COUNTED_STATES`: the numbers :func:`select_tasks` reports as
    ``filtered`` for those filters (the same case-insensitive matching), from counts kept with the indexes, so
    the workers page can show them every second without scanning the tasks."""
    if workername is None:
        counts = {'all': len(store)}
        for state in COUNTED_STATES:
            counts[state] = sum(len(store.by_state[key]) for key in _matching_bucket_keys(store.by_state, state))
        return counts
    # a hostname an old database holds as a number is asked for as text, as the page's link asks for it
    workers = _matching_bucket_keys(store.by_worker, str(workername))
    counts = {'all': sum(len(store.by_worker[key]) for key in workers)}
    worker_states = store.worker_states
    for state in COUNTED_STATES:
        states = _matching_bucket_keys(store.by_state, state)
        counts[state] = sum(worker_states.get((worker, key), 0) for worker in workers for key in states)
    return counts


def _candidates(store: TaskStore, flt: TaskFilter, find):
    """The uuids allowed by the indexed filters and the search, or ``None`` for 'all tasks'."""
    sets: list = []
    for index, wanted in (
        (store.by_worker, flt.workername),
        (store.by_name, flt.taskname),
        (store.by_state, flt.state),
    ):
        if wanted is None:
            continue
        keys = _matching_bucket_keys(index, wanted)
        if len(keys) == 1:
            sets.append(index[keys[0]].keys())
        else:
            union: set[str] = set()
            for key in keys:
                union.update(index[key])
            sets.append(union)
    if flt.search:
        found = find(store, flt.search)
        if found is not None:
            sets.append(found)
    if not sets:
        return None
    if len(sets) == 1:
        return sets[0]  # read-only below: no need to copy a bucket of 100k ids
    sets.sort(key=len)
    result = set(sets[0])
    for other in sets[1:]:
        result.intersection_update(other)
        if not result:
            break
    return result


def select_tasks(
    store: TaskStore,
    flt: TaskFilter = TaskFilter(),
    sort_by: str | None = None,
    reverse: bool = False,
    offset: int = 0,
    limit: int | None = None,
    find: Callable | None = None,
) -> Page:
    """The page of tasks matching ``flt``: newest first, or ordered by ``sort_by`` (None values first,
    ``reverse`` for descending). ``find`` evaluates search queries (default: :func:`flower.search.find`)."""
    if find is None and flt.search:
        find = find_matching
    if limit is not None and limit < 0:
        raise BadQuery(f"Invalid limit '{limit}': must be 0 or more")
    # no page can be bigger than the store; capping keeps huge numbers from overflowing slices
    offset = min(max(offset or 0, 0), MAX_INDEX)
    limit = None if limit is None else min(limit, MAX_INDEX)
    candidates = _candidates(store, flt, find)
    start, end = flt.received_start, flt.received_end
    if start is not None or end is not None:

        def in_window(task: Task) -> bool:
            received = task.received
            return received is not None and (start is None or received >= start) and (end is None or received <= end)

        window_pool = store.data.values() if candidates is None else (store.data[u] for u in candidates)
        candidates = {task.uuid for task in window_pool if in_window(task)}

    total = len(store)
    if sort_by is None:
        if candidates is None:
            filtered = total
            ordered: Iterable[Task] = store.newest_first()
        else:
            filtered = len(candidates)
            ordered = (task for task in store.newest_first() if task.uuid in candidates)
        stop = None if limit is None else offset + limit
        return Page(list(islice(ordered, offset, stop)), filtered, total)

    stop = None if limit is None else offset + limit
    filtered = total if candidates is None else len(candidates)
    indexed = _indexed_order(store, sort_by, reverse)
    if indexed is not None:
        if candidates is not None:
            indexed = (task for task in indexed if task.uuid in candidates)
        return Page(list(islice(indexed, offset, stop)), filtered, total)

    # any other column: sort the matching tasks (ties newest first, as in the indexed orders)
    pool = (
        list(store.newest_first())
        if candidates is None
        else [task for task in store.newest_first() if task.uuid in candidates]
    )
    key = _sort_key(sort_by)
    if limit is not None and offset + limit < filtered // 4:
        # only the first pages are wanted: a partial selection beats sorting everything
        chooser = heapq.nlargest if reverse else heapq.nsmallest
        chosen = chooser(offset + limit, _stable(pool, reverse), key=lambda pair: (key(pair[1]), pair[0]))
        return Page([task for _, task in chosen][offset:], filtered, total)
    pool.sort(key=key, reverse=reverse)
    return Page(pool[offset:stop], filtered, total)


_BUCKETED = {'name': 'by_name', 'state': 'by_state', 'worker': 'by_worker'}


def _indexed_order(store: TaskStore, column: str, reverse: bool) -> Iterator[Task] | None:
    """Every task ordered by ``column`` straight from an index (no sorting per request), or None when the
    column has no index. Missing values come first in ascending order and last in descending order; equal
    values list the most recently updated (or re-bucketed) task first."""
    if column in store.sorted_fields:
        valued: Iterable[Task] = store.sorted_by(column, reverse)
        has_value = store.all_have(column)

        def is_missing(task):  # the sorted index leaves out missing and non-numeric values
            return not is_number(getattr(task, column))
    elif column in _BUCKETED:
        index = getattr(store, _BUCKETED[column])
        keys = sorted(index, key=sort_key, reverse=reverse)  # any key type: an old database may hold some
        valued = (task for key in keys for task in reversed(index[key].values()))
        has_value = sum(len(bucket) for bucket in index.values()) == len(store)

        def is_missing(task):
            return task_value(task, column) is None
    else:
        return None

    def missing() -> Iterator[Task]:
        if has_value:
            return
        for task in store.newest_first():
            if is_missing(task):
                yield task

    return chain(valued, missing()) if reverse else chain(missing(), valued)


def _stable(pool: list[Task], reverse: bool):
    # equal keys keep the pool's order, exactly as list.sort(reverse=...) does (it is stable both ways)
    return ((-i if reverse else i, task) for i, task in enumerate(pool))
