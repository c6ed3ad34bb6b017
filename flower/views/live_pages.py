"""The pages the live channel serves (:class:`LivePages`, what :class:`~flower.live.LiveHub` is given): for each
kind of page, how a watch names a view of it, which changes concern the view and how it is rendered now, with the
renderers the first page load uses. The workers table, a worker's page and a task's page are pushed as HTML
fragments (``{"fragments": {element id: HTML}}``, :mod:`flower.views.modules`), which the page swaps in; the
tasks table, a client-side DataTable, gets its rows as data with the text its cells show
(:func:`flower.views.tasks.task_row`, as ``/tasks/datatable`` answers them). Page names, the table's columns and
DataTables' ``-1`` are known here, not in the hub.

Runs on the IOLoop thread (the hub calls it on its ticks).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from flower.cluster import is_alive, is_purged
from flower.live import BadWatch, Changes, Rendered, integer_field, text_field
from flower.queries import BadQuery, TaskFilter, select_tasks
from flower.search import QuerySyntaxError
from flower.views import apply_format_task
from flower.views.modules import Fragments, render_task_fields
from flower.views.tasks import COLUMNS, MAX_PAGE_LENGTH, task_page, task_row
from flower.views.workers import worker_facts, workers_table


# -- the pages the hub serves ------------------------------------------------------------------------------------
class WorkersPage:
    """``{"page": "workers"}``: the workers table, its cards and totals, and the "why is this empty?" panel."""

    refresh = True  # a worker goes offline by not sending heartbeats

    def __init__(self, application, fragments: Fragments):
        self.application = application
        self.fragments = fragments

    def key(self, message: dict) -> None:
        return None

    def affected_by(self, key, related: tuple, changes: Changes) -> bool:
        return bool(changes.workers or changes.removed_workers)

    def render(self, key) -> Rendered:
        application = self.application
        view = workers_table(application.events.state, _purge_threshold(application), application.diagnosis())
        rows_html = self.fragments.render_list('worker_row.html', view.rows)
        return Rendered(
            {
                'fragments': self.fragments.render_many(
                    {
                        'diagnosis': ('diagnosis.html', {'diagnosis': view.diagnosis}),
                        'workers-summary': ('workers_summary.html', {'summary': view.summary}),
                        'workers-rows': ('workers_rows.html', {'rows_html': rows_html}),
                        'workers-totals': ('workers_totals.html', {'summary': view.summary}),
                        'workers-empty': ('workers_empty.html', {'rows': view.rows, 'diagnosis': view.diagnosis}),
                    }
                )
            }
        )


class WorkerPage:
    """``{"page": "worker", "name": ...}``: a worker's status badge and what its heartbeats say. (What the
    worker reports when inspected is fetched by the page itself when the status changes: inspecting is a
    broker round trip, not something to run on every tick.)"""

    refresh = True

    def __init__(self, application, fragments: Fragments):
        self.application = application
        self.fragments = fragments

    def key(self, message: dict) -> str | None:
        return text_field(message, 'name', required=True)

    def affected_by(self, name, related: tuple, changes: Changes) -> bool:
        return name in changes.workers or name in changes.removed_workers

    def render(self, name) -> Rendered:
        worker = self.application.events.state.workers.get(name)
        if worker is None or is_purged(worker, _purge_threshold(self.application), time.time()):
            return Rendered({'fragments': {'worker-status': self.fragments.render('worker_status.html', online=False)}})
        fragments = self.fragments.render_many(
            {
                'worker-status': ('worker_status.html', {'online': is_alive(worker)}),
                'worker-heartbeat': ('worker_heartbeat.html', {'record': worker_facts(worker)}),
            }
        )
        return Rendered({'fragments': fragments})


class TaskPage:
    """``{"page": "task", "id": ...}``: a task's heading, state, actions and fields. ``{"gone": true}`` once the
    task is not in memory (evicted): the page keeps what it shows. With natural times it is also recomputed every
    ``refresh_interval`` seconds (see :class:`TasksPage`); its unchanged field rows are not rendered again."""

    def __init__(self, application, fragments: Fragments):
        self.application = application
        self.fragments = fragments

    @property
    def refresh(self) -> bool:
        return self.fragments.time_type().startswith('natural')

    def key(self, message: dict) -> str | None:
        return text_field(message, 'id', required=True)

    def affected_by(self, uuid, related: tuple, changes: Changes) -> bool:
        tasks, removed = changes.tasks, changes.removed
        if uuid in tasks or uuid in removed:
            return True
        if any(other in tasks or other in removed for other in related):
            return True
        return bool(tasks) and uuid in changes.parents()  # a new child: listed on its parent's page

    def render(self, uuid) -> Rendered:
        known = self.application.events.state.tasks
        task = known.get(uuid)
        if task is None:
            return Rendered({'gone': True})
        related = tuple(
            other for other in (task.parent_id, task.root_id, *(task.children or ())) if other and other != uuid
        )
        shown = apply_format_task(self.application.options.format_task, task)
        serializer = self.application.capp.conf.task_serializer or 'json'
        page = task_page(task, shown, getattr(self.application, 'retries', None), serializer, known)
        actions = page['actions']
        fragments = self.fragments.render_many(
            {
                'task-name': ('task_name.html', {'task': shown}),
                'task-badges': ('task_state.html', {'task': shown, 'revoked_pending': page['revoked_pending']}),
                'task-actions': ('task_actions.html', {'actions': actions}),
                'retry-refusal': ('task_retry_refusal.html', {'actions': actions}),
            }
        )
        fragments['task-fields'] = render_task_fields(self.fragments, page['fields'], known)
        return Rendered({'fragments': fragments, 'state': shown.state}, related)


@dataclass(frozen=True)
class TasksQuery:
    """One page of the tasks table, as its DataTables request names it."""

    state: str | None = None
    worker: str | None = None
    name: str | None = None
    search: str | None = None
    sort_by: str | None = None
    reverse: bool = False
    start: int = 0
    length: int = 15


class TasksPage:
    """``{"page": "tasks", ...}``: one page of the tasks table, read as ``/tasks/datatable`` reads it (``state``,
    ``worker``, ``name``, ``search``, ``sort`` (a column), ``dir`` (``asc``/``desc``), ``start``, ``length``),
    pushed as ``{"rows": [...], "recordsTotal": n, "recordsFiltered": n}`` (or ``{"error": ...}`` once for a
    search that cannot be parsed). Each row carries the text its cells show (``display``), in the pages' time
    format; with natural times ("5 minutes ago") the view is also recomputed every ``refresh_interval`` seconds,
    so the text does not go stale on a quiet page (the hub sends it only when it changed)."""

    def __init__(self, application, fragments: Fragments):
        self.application = application
        self.fragments = fragments

    @property
    def refresh(self) -> bool:
        return self.fragments.time_type().startswith('natural')

    def key(self, message: dict) -> TasksQuery:
        sort_by = text_field(message, 'sort')
        if sort_by is not None and sort_by not in COLUMNS:
            raise BadWatch(f"unknown sort column {sort_by[:50]!r}")
        direction = message.get('dir') or 'asc'
        if direction not in ('asc', 'desc'):
            raise BadWatch("'dir' must be asc or desc")
        start = integer_field(message, 'start', 0)
        if start < 0:
            raise BadWatch("'start' must be 0 or more")
        length = integer_field(message, 'length', 15)
        if length < 0 or length > MAX_PAGE_LENGTH:
            length = MAX_PAGE_LENGTH  # DataTables asks for -1 to mean "all"; a page is what is served
        state = text_field(message, 'state')
        return TasksQuery(
            state=None if state is None or state.lower() == 'all' else state,
            worker=text_field(message, 'worker'),
            name=text_field(message, 'name'),
            search=(text_field(message, 'search') or '').strip() or None,
            sort_by=sort_by,
            reverse=direction == 'desc',
            start=start,
            length=length,
        )

    def affected_by(self, query, related: tuple, changes: Changes) -> bool:
        # any change can move a task into, out of or within any page
        return bool(changes.tasks or changes.removed)

    def render(self, query: TasksQuery) -> Rendered:
        flt = TaskFilter(state=query.state, workername=query.worker, taskname=query.name, search=query.search)
        try:
            page = select_tasks(
                self.application.events.state.tasks,
                flt,
                sort_by=query.sort_by,
                reverse=query.reverse,
                offset=query.start,
                limit=query.length,
            )
        except (QuerySyntaxError, BadQuery) as exc:
            return Rendered({'error': str(exc)}, settled=True)  # wrong whatever the tasks do: said once
        hook = self.application.options.format_task
        shown_as = self.fragments.time_type()
        return Rendered(
            {
                'rows': [task_row(apply_format_task(hook, task), shown_as) for task in page.tasks],
                'recordsTotal': page.total,
                'recordsFiltered': page.filtered,
            }
        )


class LivePages(dict):
    """The pages the live channel serves, by name (what :class:`~flower.live.LiveHub` takes): ``workers``,
    ``worker``, ``task`` and ``tasks``. ``time_type`` says how the pages show times now (the option may change)."""

    def __init__(self, application, time_type: Callable[[], str] | None = None):
        fragments = Fragments(application, time_type)
        super().__init__(
            workers=WorkersPage(application, fragments),
            worker=WorkerPage(application, fragments),
            task=TaskPage(application, fragments),
            tasks=TasksPage(application, fragments),
        )
        self.fragments = fragments


def _purge_threshold(application) -> int | None:
    return getattr(application.options, 'purge_offline_workers', None)
