"""The live-update channel, ``/live``: a WebSocket the dashboards subscribe to (docs/live-updates.md).

Thin: the handshake is authenticated exactly as the pages are (:meth:`BaseHandler.prepare`; refused with 401/403,
never redirected to a login page), a cross-origin handshake is refused with 403 (a browser sends the user's
cookies and Basic credentials with a WebSocket to any site, so without this another site could read the
dashboards through the user's session), and every message is handed to the application's
:class:`~flower.live.LiveHub`, which decides what each page is sent and when.

:class:`LivePages` are the pages the hub serves (its :class:`~flower.live.Page` interface): each reads its watch
parameters, says which changes concern a view and renders it with the renderers the first page load uses. The
workers table, a worker's page and a task's page are pushed as HTML fragments (``{"fragments": {element id:
HTML}}``, from :mod:`flower.views.modules`), which the page swaps in; the tasks table, a client-side DataTable,
gets its rows as data from :func:`flower.views.tasks.task_row`, as ``/tasks/datatable`` answers them.

Runs on the IOLoop thread.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import tornado.web
import tornado.websocket

from flower.auth import is_cross_origin
from flower.cluster import is_alive, is_purged
from flower.live import (
    MAX_MESSAGE_BYTES,
    BadWatch,
    Changes,
    LiveHub,
    Rendered,
    decode_message,
    integer_field,
    text_field,
)
from flower.queries import BadQuery, TaskFilter, select_tasks
from flower.search import QuerySyntaxError
from flower.views import BaseHandler, apply_format_task
from flower.views.modules import Fragments
from flower.views.tasks import COLUMNS, MAX_PAGE_LENGTH, task_page, task_row
from flower.views.workers import worker_facts, workers_table

logger = logging.getLogger(__name__)

PING_INTERVAL = 25.0  # seconds: keeps proxies from closing a quiet channel and finds dead peers


class LiveChannel(tornado.websocket.WebSocketHandler, BaseHandler):
    """``/live``. The client sends ``{"type": "watch", "seq": n, "page": ...}`` (see :class:`LivePages`) whenever
    what it shows changes; the server sends ``{"type": "update", "seq": n, "t": ..., "view": ..., "data": ...}``
    for the latest ``seq`` at most every half second. A message that is not a valid watch closes
    the connection with 1008 and says why (binary, not JSON, not one flat object, nested, a bad field); one over
    16 KiB is closed by tornado with 1009 before it is read; a client that stops reading is closed with 1013."""

    @property
    def hub(self) -> LiveHub:
        return self.application.live

    @property
    def ping_interval(self) -> float | None:
        return self.settings.get('websocket_ping_interval', PING_INTERVAL)

    @property
    def ping_timeout(self) -> float | None:
        return self.settings.get('websocket_ping_timeout', self.ping_interval)

    @property
    def max_message_size(self) -> int:
        # tornado closes a longer message with 1009 before reading it
        return MAX_MESSAGE_BYTES

    def deny(self):
        # a script cannot follow a login redirect or answer a Basic challenge for a WebSocket: just refuse
        raise tornado.web.HTTPError(401 if self.identity.basic_enabled else 403, 'Access denied')

    def check_origin(self, origin: str) -> bool:
        # tornado asks only about handshakes that look cross-origin to it (Origin's host differs from Host). The
        # pages' own rule decides, which also knows the proxy's X-Forwarded-Host under --xheaders, so a proxy
        # that rewrites Host does not cut the dashboards off their live updates.
        headers = self.request.headers
        if not is_cross_origin(origin, headers.get('Sec-Fetch-Site'), self.own_hosts()):
            return True
        logger.info('Refused a live-update connection from another origin: %.200s', origin)
        return False

    def open(self):
        if self.hub.connect(self) is None:
            self.close(1013, 'Too many live-update clients; try again later')

    def on_message(self, message):
        try:
            self.hub.watch(self, decode_message(message))
        except BadWatch as exc:
            logger.debug('Closed a live-update connection: not a watch message: %s', exc)
            self.close(1008, _reason(f'Not a watch message: {exc}'))

    def on_close(self):
        self.hub.disconnect(self)

    # -- what the hub calls ---------------------------------------------------------------------------------
    def send(self, text: str):
        try:
            return self.write_message(text)
        except tornado.websocket.WebSocketClosedError:
            return None

    def drop(self, reason: str) -> None:
        self.close(1013, _reason(reason))


def _reason(text: str) -> str:
    # a close frame's reason is at most 123 bytes of UTF-8
    return text.encode('utf-8')[:123].decode('utf-8', 'ignore')


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
    task is not in memory (evicted): the page keeps what it shows."""

    refresh = False

    def __init__(self, application, fragments: Fragments):
        self.application = application
        self.fragments = fragments

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
                'task-fields': ('task_fields.html', {'fields': page['fields'], 'known_tasks': known}),
            }
        )
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
    search that cannot be parsed)."""

    refresh = False

    def __init__(self, application):
        self.application = application

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
        return Rendered(
            {
                'rows': [task_row(apply_format_task(hook, task)) for task in page.tasks],
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
            tasks=TasksPage(application),
        )
        self.fragments = fragments


PageShapes = LivePages  # the name the composition root knew the hub's pages by


def _purge_threshold(application) -> int | None:
    return getattr(application.options, 'purge_offline_workers', None)
