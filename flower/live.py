"""Live updates for the dashboards: what each connected page watches, what changed for it, and when to tell it.

:class:`LiveHub` owns the state of the live-update channel (``/live``, :mod:`flower.views.live`): the connected
clients, the *views* they watch (the workers table, one worker, one task, one page of the tasks table with its
filters, search, sort and paging) and the one :class:`~flower.events.state.ChangeLog` the whole channel reads
from the events state. The web layer only parses socket messages and hands them here; the rules live here:

* **Shared work.** Clients watching the same view share it: a view is computed once per tick (a tasks page by
  re-running :func:`flower.queries.select_tasks` for exactly that page), serialised once, and the same text is
  written to each of its clients.
* **Relevance.** A view is recomputed only when the change log says something it shows may have changed (any
  task for a tasks page, since a change can move a task into, out of or within any page; the task, its parent,
  root or children, or a new child, for a task's page; any worker for the workers table; that worker for a
  worker's page), and worker views also every ``refresh_interval`` seconds, because a worker goes offline by
  *not* sending heartbeats. A client is written to only when its view's text differs from what it was last sent.
* **Throttle.** The hub works in ticks at least ``interval`` seconds apart (0.5 s) and writes each client at most
  once per tick, the latest state: changes between ticks coalesce, so a client gets at most ``1 / interval``
  messages a second however many events arrive. A view is recomputed at most every ``interval`` seconds and at
  most once per ``cost_factor`` times what its last computation cost, and one tick spends at most
  ``tick_budget`` seconds computing views (the ones waiting longest first), so an expensive search or sort
  cannot take the IOLoop away from the event stream.
* **Slow clients.** A client has at most one message being written at a time. While it is unwritten (the
  socket is not draining) the client is skipped, and it gets the latest state once it drains, never a queue of
  old ones; a client whose message stays unwritten for ``slow_after`` seconds is dropped. So a client costs
  the server one message of memory at most, whatever it does.
* **Idle.** With no client connected the hub holds no change log (the events state does no bookkeeping for it)
  and schedules nothing. While clients are connected it ticks at least every ``idle_interval`` seconds, and the
  events receiver's listener (:meth:`LiveHub.on_events_applied`) brings the next tick forward when events arrive.

Threads: everything here runs on the IOLoop thread. The events thread never calls it (the receiver's listeners
run on the IOLoop, after a batch was applied), and the web layer calls it from its handlers' callbacks. Plain
Python with no web framework, unit-tested with a fake loop and fake connections.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from flower.cluster import is_alive, is_purged, worker_fields, worker_rows
from flower.events.state import ChangeLog, EventsState
from flower.queries import COLUMNS, BadQuery, TaskFilter, listed_counts, select_tasks
from flower.search import QuerySyntaxError

logger = logging.getLogger(__name__)

PAGES = ('workers', 'worker', 'task', 'tasks')
MAX_ROWS = 1000  # rows of a tasks page, whatever the client asks for (as /tasks/datatable)
MAX_TEXT = 2000  # characters of a watched name, id, filter or search
MAX_MESSAGE_BYTES = 16 * 1024  # a client's message; a watch is a few hundred bytes
SCALARS = (str, int, float, bool, type(None))
EPSILON = 0.001  # timers may fire this early; a view due then is due


class BadWatch(ValueError):
    """A client message that is not a valid ``watch``; the message says what is wrong."""


class Connection(Protocol):
    """What the hub needs of a client's socket (:class:`flower.views.live.LiveChannel` in the server)."""

    def send(self, text: str) -> Any:
        """Start writing ``text``; returns something with ``done()`` that is done once it has been written to
        the socket, or None when the connection is already closed."""

    def drop(self, reason: str) -> None:
        """Close the connection (the hub has given up on it)."""


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


def _text(message: dict, key: str, required: bool = False) -> str | None:
    value = message.get(key)
    if value is None or value == '':
        if required:
            raise BadWatch(f"'{key}' is required")
        return None
    if not isinstance(value, str):
        raise BadWatch(f"'{key}' must be text")
    if len(value) > MAX_TEXT:
        raise BadWatch(f"'{key}' is longer than {MAX_TEXT} characters")
    return value


def _integer(message: dict, key: str, default: int) -> int:
    value = message.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadWatch(f"'{key}' must be a whole number")
    return value


def decode_message(raw: Any) -> dict:
    """A client's raw socket message as the JSON object it must be, or :class:`BadWatch` saying why not: a
    binary frame, more than :data:`MAX_MESSAGE_BYTES`, text that is not JSON, or anything but one flat object
    (a watch holds only text, numbers, true/false and null). Nesting is refused before it can cost anything:
    json gives up on deep nesting with a RecursionError, which is not a ValueError, and a nested value would
    be walked again wherever it is compared or shown."""
    if not isinstance(raw, str):
        raise BadWatch('expected a text message holding a JSON object, not a binary one')
    if len(raw) > MAX_MESSAGE_BYTES or len(raw.encode('utf-8', 'replace')) > MAX_MESSAGE_BYTES:
        raise BadWatch(f'longer than {MAX_MESSAGE_BYTES} bytes')
    try:
        message = json.loads(raw)
    except RecursionError:
        raise BadWatch('nested too deeply; expected one flat JSON object') from None
    except ValueError as exc:  # JSONDecodeError, and int() refusing a number of thousands of digits
        raise BadWatch(f'not JSON ({str(exc)[:60]})') from None
    if not isinstance(message, dict):
        raise BadWatch('expected a JSON object like {"type": "watch", "seq": 1, "page": "tasks"}')
    for key, value in message.items():
        if not isinstance(value, SCALARS):
            raise BadWatch(f"{key[:40]!r} must be text, a number, true/false or null")
    return message


def parse_watch(message: Any) -> tuple[int, tuple | None]:
    """A client's ``{"type": "watch", "seq": n, "page": ...}`` message as ``(seq, view key)``; the key is None for
    ``"page": null`` (watch nothing). Raises :class:`BadWatch`.

    Pages: ``workers``; ``worker`` with ``name``; ``task`` with ``id``; ``tasks`` with the table's ``state``,
    ``worker``, ``name`` filters, ``search``, ``sort`` (a column) and ``dir`` (``asc``/``desc``), ``start`` and
    ``length``, read as ``/tasks/datatable`` reads them.
    """
    if not isinstance(message, dict) or message.get('type') != 'watch':
        raise BadWatch('expected a message like {"type": "watch", "seq": 1, "page": "tasks"}')
    seq = _integer(message, 'seq', 0)
    if not 0 <= seq < 2**53:
        raise BadWatch("'seq' must be 0 or more")
    page = message.get('page')
    if page is None:
        return seq, None
    if page not in PAGES:
        raise BadWatch(f"unknown page {str(page)[:50]!r}: use one of {', '.join(PAGES)}")
    if page == 'workers':
        return seq, ('workers',)
    if page == 'worker':
        return seq, ('worker', _text(message, 'name', required=True))
    if page == 'task':
        return seq, ('task', _text(message, 'id', required=True))
    sort_by = _text(message, 'sort')
    if sort_by is not None and sort_by not in COLUMNS:
        raise BadWatch(f"unknown sort column {sort_by[:50]!r}")
    direction = message.get('dir') or 'asc'
    if direction not in ('asc', 'desc'):
        raise BadWatch("'dir' must be asc or desc")
    start = _integer(message, 'start', 0)
    if start < 0:
        raise BadWatch("'start' must be 0 or more")
    length = _integer(message, 'length', 15)
    if length < 0 or length > MAX_ROWS:
        length = MAX_ROWS  # DataTables asks for -1 to mean "all"; a page is what is served, as /tasks/datatable
    state = _text(message, 'state')
    search = (_text(message, 'search') or '').strip() or None
    query = TasksQuery(
        state=None if state is None or state.lower() == 'all' else state,
        worker=_text(message, 'worker'),
        name=_text(message, 'name'),
        search=search,
        sort_by=sort_by,
        reverse=direction == 'desc',
        start=start,
        length=length,
    )
    return seq, ('tasks', query)


class View:
    """Something clients watch, computed once for all of them: its current text and a version that changes with it."""

    __slots__ = (
        'key',
        'kind',
        'clients',
        'body',
        'version',
        'dirty',
        'settled',
        'computed_at',
        'next_compute',
        'related',
    )

    def __init__(self, key: tuple):
        self.key = key
        self.kind = key[0]
        self.clients: set[Client] = set()
        self.body: str | None = None  # '{"view":...,"data":...}', the part of a message all clients share
        self.version = 0
        self.dirty = True
        self.settled = False  # nothing can change it (a search that cannot be parsed)
        self.computed_at = float('-inf')
        self.next_compute = float('-inf')
        self.related: tuple = ()  # a task page also shows its parent, root and children

    def affected_by(self, tasks: set, workers: set, removed: set, removed_workers: set) -> bool:
        kind = self.kind
        if kind == 'tasks':
            return bool(tasks or removed)
        if kind == 'workers':
            return bool(workers or removed_workers)
        if kind == 'worker':
            return self.key[1] in workers or self.key[1] in removed_workers
        uuid = self.key[1]
        if uuid in tasks or uuid in removed:
            return True
        return any(other in tasks or other in removed for other in self.related)


class Client:
    """One connected page: its connection, what it watches and what it was last sent."""

    __slots__ = ('conn', 'view', 'seq', 'sent_version', 'writing', 'writing_since')

    def __init__(self, conn: Connection):
        self.conn = conn
        self.view: View | None = None
        self.seq = 0
        self.sent_version = -1
        self.writing = None  # the write in progress (done() once the socket took it), or None
        self.writing_since = 0.0


class LiveHub:
    """The live-update channel's state and rules (see the module docstring).

    ``shapes`` turns tasks into what the pages show (:class:`flower.views.live.PageShapes`: ``task_row(task)``
    for a tasks-table row, ``task_page(task, tasks)`` for a task's page), so a pushed row is what
    ``/tasks/datatable`` would answer. ``loop`` is the IOLoop (``time()``, ``call_at()``, ``remove_timeout()``);
    by default the current one, taken when the first client connects. ``wall_clock`` (worker liveness) and
    ``cost_clock`` (what computing a view costs) are there for tests.
    """

    @property
    def purge_offline_workers(self) -> int | None:
        return self._purge_offline_workers()

    @purge_offline_workers.setter
    def purge_offline_workers(self, value: int | None | Callable[[], int | None]) -> None:
        self._purge_offline_workers = value if callable(value) else (lambda: value)

    def __init__(
        self,
        state: EventsState,
        shapes,
        *,
        purge_offline_workers: int | None | Callable[[], int | None] = None,
        interval: float = 0.5,
        idle_interval: float = 1.0,
        refresh_interval: float = 2.0,
        slow_after: float = 10.0,
        tick_budget: float = 0.05,
        cost_factor: float = 10.0,
        max_clients: int = 1000,
        loop=None,
        wall_clock: Callable[[], float] = time.time,
        cost_clock: Callable[[], float] = time.perf_counter,
        diagnose: Callable[[], dict] | None = None,
    ):
        self.state = state
        self.shapes = shapes
        # the workers page's "why is this empty?" findings, pushed with its rows (so the page never polls)
        self.diagnose = diagnose
        self.purge_offline_workers = purge_offline_workers  # a value, or a function that reads the option now
        self.interval = interval
        self.idle_interval = idle_interval
        self.refresh_interval = refresh_interval
        self.slow_after = slow_after
        self.tick_budget = tick_budget
        self.cost_factor = cost_factor
        self.max_clients = max_clients
        self.wall_clock = wall_clock
        self.cost_clock = cost_clock
        self._loop = loop
        self._clients: dict[Connection, Client] = {}
        self._views: dict[tuple, View] = {}
        self._log: ChangeLog | None = None
        self._timer = None
        self._timer_when = float('inf')
        self._last_tick = float('-inf')
        # counters, for /metrics and the bench
        self.messages_sent = 0
        self.clients_dropped = 0
        self.views_computed = 0
        metrics = getattr(state, 'metrics', None)
        if metrics is not None:
            metrics.extra_gauge(
                'flower_live_clients', 'Pages connected to the live-update channel', lambda: len(self._clients)
            )
            metrics.extra_counter(
                'flower_live_messages', 'Updates written to live-update clients', lambda: self.messages_sent
            )
            metrics.extra_counter(
                'flower_live_dropped_clients',
                'Live-update clients dropped because their connection stopped draining',
                lambda: self.clients_dropped,
            )

    # -- clients (web layer) --------------------------------------------------------------------------------
    @property
    def clients(self) -> int:
        return len(self._clients)

    @property
    def views(self) -> int:
        return len(self._views)

    def connect(self, conn: Connection) -> Client | None:
        """A new client; None when ``max_clients`` are already connected (the caller closes it)."""
        if len(self._clients) >= self.max_clients:
            return None
        if self._loop is None:
            from tornado.ioloop import IOLoop  # not tornado.web: the hub only needs the loop's timers

            self._loop = IOLoop.current()
        if not self._clients:
            self._log = self.state.subscribe_changes()
        client = Client(conn)
        self._clients[conn] = client
        self._schedule(self._loop.time() + self.idle_interval)
        return client

    def disconnect(self, conn: Connection) -> None:
        client = self._clients.pop(conn, None)
        if client is None:
            return
        self._leave(client)
        if not self._clients:
            self._idle()

    def watch(self, conn: Connection, message: Any) -> None:
        """Apply a client's ``watch`` message (raises :class:`BadWatch`); its view's current state is sent at the
        next tick, so a client that just loaded its data over HTTP misses nothing that changed since."""
        client = self._clients.get(conn)
        if client is None:
            return
        seq, key = parse_watch(message)
        if client.view is None or client.view.key != key:
            self._leave(client)
            if key is not None:
                view = self._views.get(key)
                if view is None:
                    view = self._views[key] = View(key)
                view.clients.add(client)
                client.view = view
        client.seq = seq
        client.sent_version = -1
        if key is not None:
            self._wake()

    def _leave(self, client: Client) -> None:
        view = client.view
        client.view = None
        if view is not None:
            view.clients.discard(client)
            if not view.clients:
                del self._views[view.key]

    # -- the events (IOLoop thread, once per applied batch) ---------------------------------------------------
    def on_events_applied(self, count: int) -> None:
        """The receiver's listener: events were applied, so bring the next tick forward. O(1): a burst calls it
        once per batch of messages."""
        if count and self._clients:
            self._wake()

    def stop(self) -> None:
        """Forget every client and stop ticking (the app is shutting down)."""
        for conn in list(self._clients):
            self.disconnect(conn)
        self._idle()

    # -- ticks ---------------------------------------------------------------------------------------------------
    def _wake(self) -> None:
        self._schedule(self._last_tick + self.interval)

    def _schedule(self, when: float) -> None:
        """Have a tick run at ``when`` (never sooner than ``interval`` after the last one), unless one is already
        due by then."""
        if self._loop is None or not self._clients:
            return
        when = max(when, self._last_tick + self.interval, self._loop.time())
        if self._timer is not None:
            if self._timer_when <= when + EPSILON:
                return
            self._loop.remove_timeout(self._timer)
        self._timer_when = when
        self._timer = self._loop.call_at(when, self._tick)

    def _idle(self) -> None:
        if self._timer is not None and self._loop is not None:
            self._loop.remove_timeout(self._timer)
        self._timer = None
        self._timer_when = float('inf')
        if self._log is not None:
            self.state.unsubscribe_changes(self._log)
            self._log = None

    def _tick(self) -> None:
        self._timer = None
        self._timer_when = float('inf')
        if not self._clients:
            return
        now = self._loop.time()
        self._last_tick = now
        try:
            self._mark_changed()
            self._compute(now)
            self._send(now)
        finally:
            self._schedule(now + (self.interval if self._pending(now) else self.idle_interval))

    def _mark_changed(self) -> None:
        log = self._log
        if log is None:
            return
        tasks, workers, removed = log.take()
        removed_workers = log.take_removed_workers()
        if not (tasks or workers or removed or removed_workers):
            return
        pages = None
        for view in self._views.values():
            if view.kind == 'task':
                pages = pages or {}
                pages[view.key[1]] = view
            if not view.dirty and not view.settled and view.affected_by(tasks, workers, removed, removed_workers):
                view.dirty = True
        if pages and tasks:
            # a task's page lists its children, and a new child changes nothing on its parent's own record
            get = self.state.tasks.get
            for uuid in tasks:
                task = get(uuid)
                parent = pages.get(task.parent_id) if task is not None and task.parent_id else None
                if parent is not None:
                    parent.dirty = True

    def _due(self, view: View, now: float) -> bool:
        if now < view.next_compute - EPSILON:
            return False
        if view.dirty:
            return True
        return view.kind in ('workers', 'worker') and now - view.computed_at >= self.refresh_interval - EPSILON

    def _compute(self, now: float) -> None:
        due = [view for view in self._views.values() if self._due(view, now)]
        if not due:
            return
        due.sort(key=lambda view: view.computed_at)  # the ones waiting longest first
        wall = self.wall_clock()
        spent = 0.0
        for view in due:
            if spent >= self.tick_budget:
                break  # the rest stay due: next tick
            started = self.cost_clock()
            body: str | None
            try:
                data = self._render(view, wall)
                body = json.dumps({'view': view.kind, 'data': data}, default=str, separators=(',', ':'))
            except Exception:  # a broken format_task hook or a bug must not stop the other views
                logger.exception('Computing the live view %r failed', view.key[0])
                body = view.body
            cost = self.cost_clock() - started
            spent += cost
            self.views_computed += 1
            view.dirty = False
            view.computed_at = now
            view.next_compute = now + max(self.interval, cost * self.cost_factor)
            if body != view.body:
                view.body = body
                view.version += 1

    def _send(self, now: float) -> None:
        for client in list(self._clients.values()):
            writing = client.writing
            if writing is not None:
                if not writing.done():
                    if now - client.writing_since >= self.slow_after:
                        self._drop(client, f'not reading: an update was unwritten for {self.slow_after:g} s')
                    continue
                client.writing = None
            view = client.view
            if view is None or view.body is None or client.sent_version == view.version:
                continue
            text = '{"type":"update","seq":%d,"t":%.3f,%s' % (client.seq, now, view.body[1:])
            try:
                future = client.conn.send(text)
            except Exception:  # one broken connection must not keep the others from their updates
                logger.exception('Writing a live update failed')
                self._drop(client, 'the connection failed')
                continue
            if future is None:  # closed under us; on_close will disconnect it
                continue
            client.writing = future
            client.writing_since = now
            client.sent_version = view.version
            self.messages_sent += 1

    def _drop(self, client: Client, reason: str) -> None:
        self.clients_dropped += 1
        logger.info('Dropping a live-update client: %s', reason)
        conn = client.conn
        self.disconnect(conn)
        try:
            conn.drop(reason)
        except Exception:  # already gone
            logger.debug('Closing a dropped live-update client failed', exc_info=True)

    def _pending(self, now: float) -> bool:
        """Work that the next tick can do: a view waiting, a client not yet sent its view, a write to watch."""
        if self._log is not None and (
            self._log.tasks or self._log.workers or self._log.removed or self._log.removed_workers
        ):
            return True
        if any(view.dirty and not view.settled for view in self._views.values()):
            return True
        return any(
            client.writing is not None or (client.view is not None and client.sent_version != client.view.version)
            for client in self._clients.values()
        )

    # -- what each view shows -------------------------------------------------------------------------------
    def _render(self, view: View, wall: float) -> dict:
        kind = view.kind
        if kind == 'tasks':
            return self._tasks_page(view, view.key[1])
        if kind == 'task':
            return self._task(view, view.key[1])
        if kind == 'worker':
            return {'worker': self._worker(view.key[1], wall)}
        rows = worker_rows(self.state, self.purge_offline_workers, wall)
        for row in rows:
            row.pop('heartbeats', None)  # the table does not show them, and they change with every heartbeat
        data = {'workers': rows, 'listed': listed_counts(self.state.tasks)}
        if self.diagnose is not None:
            data['diagnosis'] = self.diagnose()
        return data

    def _tasks_page(self, view: View, query: TasksQuery) -> dict:
        flt = TaskFilter(state=query.state, workername=query.worker, taskname=query.name, search=query.search)
        try:
            page = select_tasks(
                self.state.tasks,
                flt,
                sort_by=query.sort_by,
                reverse=query.reverse,
                offset=query.start,
                limit=query.length,
            )
        except (QuerySyntaxError, BadQuery) as exc:
            view.settled = True  # the query is wrong whatever the tasks do: tell the page once
            return {'error': str(exc)}
        task_row = self.shapes.task_row
        return {
            'rows': [task_row(task) for task in page.tasks],
            'recordsTotal': page.total,
            'recordsFiltered': page.filtered,
        }

    def _task(self, view: View, uuid: str) -> dict:
        task = self.state.tasks.get(uuid)
        if task is None:
            view.related = ()
            return {'task': None}
        view.related = tuple(
            other for other in (task.parent_id, task.root_id, *(task.children or ())) if other and other != uuid
        )
        return {'task': self.shapes.task_page(task, self.state.tasks)}

    def _worker(self, hostname: str, wall: float) -> dict | None:
        """A worker's page: what the workers table says about it (fields, status, event counters)."""
        worker = self.state.workers.get(hostname)
        if worker is None or is_purged(worker, self.purge_offline_workers, wall):
            return None
        row = dict(self.state.counter.get(hostname) or {})
        row.update(worker_fields(worker))
        del row['heartbeats']
        row['status'] = is_alive(worker)
        return row
