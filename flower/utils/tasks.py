"""Flower's ``flower.utils.tasks`` names, over our task listing (:func:`flower.queries.select_tasks`).

Code written for Flower (extensions, custom pages, scripts) lists tasks with these:

* :func:`iter_tasks` - ``(uuid, task)`` pairs of the events state, newest first or by ``sort_by``
  (``'-received'`` for descending), filtered and paged as ``/api/tasks`` does;
* :func:`search_tasks` - the same selection as a :class:`~flower.utils.search.SearchPage` (task ids and the
  matched/total counts), with ``descending`` as a flag;
* :func:`get_task_by_id`, :func:`as_dict`, ``SORT_KEYS``.

``events`` is the app's :class:`~flower.events.Events` (``self.application.events``) or its state. Filters on
task type, worker and state are exact but case-insensitive and answered from the store's indexes; ``search``
is our query language (:mod:`flower.search`); ``received_*``/``started_*`` bounds are ``YYYY-MM-DD HH:MM`` in
local time and leave out tasks without that time. A bad sort key, date or query raises ``ValueError``
(:class:`~flower.queries.BadQuery` or :class:`~flower.search.QuerySyntaxError`).

Reads the live events state, so it runs on the IOLoop thread.
"""

from __future__ import annotations

from itertools import islice

from flower.queries import SORTABLE_FIELDS, TaskFilter, parse_received_bound, parse_sort, select_tasks
from flower.utils.search import SearchPage

__all__ = ['SORT_KEYS', 'iter_tasks', 'search_tasks', 'get_task_by_id', 'as_dict']

#: the sort keys Flower's ``/api/tasks`` documents (any task table column is accepted here)
SORT_KEYS = frozenset({'name', 'state', 'received', 'started'})


def _state(events):
    """The events state of an ``Events`` thread, or the state itself."""
    return getattr(events, 'state', events)


def _filter(type, worker, state, received_start, received_end, search) -> TaskFilter:
    return TaskFilter(
        workername=worker or None,
        taskname=type or None,
        state=state or None,
        received_start=parse_received_bound(received_start, 'received_start'),
        received_end=parse_received_bound(received_end, 'received_end'),
        search=search or None,
    )


def iter_tasks(
    events,
    limit=None,
    offset=0,
    type=None,
    worker=None,
    state=None,
    sort_by=None,
    received_start=None,
    received_end=None,
    search=None,
    started_start=None,
    started_end=None,
):
    """Yield ``(uuid, task)`` for the tasks matching every given filter, skipping ``offset`` and stopping
    after ``limit``. (``started_start``/``started_end`` are Flower 2.0's, kept for old callers.)"""
    column, reverse = parse_sort(sort_by, SORTABLE_FIELDS)
    flt = _filter(type, worker, state, received_start, received_end, search)
    store = _state(events).tasks
    offset = max(offset or 0, 0)
    low = parse_received_bound(started_start, 'started_start')
    high = parse_received_bound(started_end, 'started_end')
    if low is None and high is None:
        tasks = select_tasks(store, flt, column, reverse, offset, limit).tasks
    else:
        if limit is not None and limit < 0:
            select_tasks(store, flt, limit=limit)  # the same error as without started bounds
        started = (
            task
            for task in select_tasks(store, flt, column, reverse).tasks
            if task.started is not None
            and (low is None or task.started >= low)
            and (high is None or task.started <= high)
        )
        tasks = islice(started, offset, None if limit is None else offset + limit)
    for task in tasks:
        yield task.uuid, task


def search_tasks(
    events,
    limit=None,
    offset=0,
    type=None,
    worker=None,
    state=None,
    sort_by=None,
    descending=False,
    received_start=None,
    received_end=None,
    search=None,
) -> SearchPage:
    """The page :func:`iter_tasks` would list, as ids with ``filtered_count`` (all matches) and
    ``total_count`` (tasks in memory). ``sort_by`` is a bare key here; ``descending`` reverses it."""
    column, minus = parse_sort(sort_by, SORTABLE_FIELDS)
    flt = _filter(type, worker, state, received_start, received_end, search)
    page = select_tasks(_state(events).tasks, flt, column, bool(descending) or minus, max(offset or 0, 0), limit)
    return SearchPage([task.uuid for task in page.tasks], page.filtered, page.total)


def get_task_by_id(events, task_id):
    """The task with this uuid, or ``None``."""
    return _state(events).tasks.get(task_id)


def as_dict(task) -> dict:
    """Every field of a task record as a plain dict (what ``/api/task/info`` answers)."""
    return task.as_dict()
