"""Live updates for the dashboards: what each connected page watches, what changed for it, and when to tell it.

:class:`LiveHub` owns the state of the live-update channel (``/live``, :mod:`flower.views.live`): the connected
clients, the *views* they watch (the workers table, one worker, one task, one page of the tasks table with its
filters, search, sort and paging) and the one :class:`~flower.events.state.ChangeLog` the whole channel reads
from the events state. The web layer only parses socket messages and hands them here; the rules live here:

* **Shared work.** Clients watching the same view share it: a view is rendered once per tick by its page (a
  tasks page by re-running the query for exactly that page), serialised once, and the same text is written to
  each of its clients.
* **Relevance.** A view is recomputed only when the change log says something it shows may have changed (its
  page decides, :meth:`Page.affected_by`: any task for a tasks page, the task, its parent, root or children, or
  a new child, for a task's page, any worker for the workers table, that worker for a worker's page), and the
  views of pages with ``refresh`` set also every ``refresh_interval`` seconds, because what they show changes
  with nothing happening (a worker goes offline by *not* sending heartbeats; "5 minutes ago" ages). A client is written to only when its view's text differs from what it was last sent.
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

What a page shows is not known here: the hub is given the pages (:class:`Page`, by name; the server's are in
:mod:`flower.views.live`), which parse a watch's parameters, say which changes concern a view and render it
(the dashboards' pages as HTML fragments, the tasks table as rows of data). The hub only knows views, clients,
change logs and time.

Threads: everything here runs on the IOLoop thread. The events thread never calls it (the receiver's listeners
run on the IOLoop, after a batch was applied), and the web layer calls it from its handlers' callbacks. Plain
Python with no web framework, unit-tested with a fake loop and fake connections.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Mapping, Protocol

from flower.events.state import ChangeLog, EventsState

logger = logging.getLogger(__name__)

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


class Changes:
    """What changed since the last tick (from the change log), as a page's :meth:`Page.affected_by` reads it."""

    __slots__ = ('tasks', 'workers', 'removed', 'removed_workers', '_state', '_parents')

    def __init__(self, state: EventsState, tasks: set, workers: set, removed: set, removed_workers: set):
        self.tasks = tasks
        self.workers = workers
        self.removed = removed
        self.removed_workers = removed_workers
        self._state = state
        self._parents: set | None = None

    def parents(self) -> set:
        """The parents of the changed tasks (a new child changes nothing on its parent's own record); looked up
        once per tick, and only when a page asks."""
        if self._parents is None:
            get = self._state.tasks.get
            self._parents = {
                task.parent_id for uuid in self.tasks if (task := get(uuid)) is not None and task.parent_id
            }
        return self._parents


@dataclass(frozen=True)
class Rendered:
    """A view as its page renders it: ``data`` (anything JSON can write) for the update message; ``related``, what
    else the view shows (ids its page's :meth:`Page.affected_by` is given back); ``settled`` when nothing can
    change it any more (a query that cannot be parsed: the page is told once)."""

    data: Any
    related: tuple = ()
    settled: bool = False


class Page(Protocol):
    """One kind of page the clients can watch (``{"page": <name>, ...}``)."""

    #: recompute its views every ``refresh_interval`` seconds even without changes (a worker goes offline by
    #: silence; natural times age)
    refresh: bool

    def key(self, message: dict) -> Hashable:
        """The view's parameters from a watch message (``text_field``/``integer_field`` read them); raises
        :class:`BadWatch`. Clients whose keys are equal share one view."""

    def affected_by(self, key: Any, related: tuple, changes: Changes) -> bool:
        """Whether ``changes`` may change the view ``key`` (``related``: what its last rendering showed)."""

    def render(self, key: Any) -> Rendered:
        """The view now."""


def text_field(message: dict, key: str, required: bool = False) -> str | None:
    """``message[key]`` as text of at most :data:`MAX_TEXT` characters; None when missing or empty."""
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


def integer_field(message: dict, key: str, default: int) -> int:
    """``message[key]`` as a whole number (not a boolean), ``default`` when missing."""
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


def parse_watch(message: Any, pages: Mapping[str, Page]) -> tuple[int, tuple | None]:
    """A client's ``{"type": "watch", "seq": n, "page": ...}`` message as ``(seq, view key)``: the key is
    ``(page name, the page's key)``, None for ``"page": null`` (watch nothing). Raises :class:`BadWatch`."""
    if not isinstance(message, dict) or message.get('type') != 'watch':
        raise BadWatch('expected a message like {"type": "watch", "seq": 1, "page": "tasks"}')
    seq = integer_field(message, 'seq', 0)
    if not 0 <= seq < 2**53:
        raise BadWatch("'seq' must be 0 or more")
    name = message.get('page')
    if name is None:
        return seq, None
    page = pages.get(name) if isinstance(name, str) else None
    if page is None:
        raise BadWatch(f"unknown page {str(name)[:50]!r}: use one of {', '.join(pages)}")
    return seq, (name, page.key(message))


class View:
    """Something clients watch, computed once for all of them: its current text and a version that changes with it."""

    __slots__ = (
        'key',
        'kind',
        'page',
        'clients',
        'body',
        'version',
        'dirty',
        'settled',
        'computed_at',
        'next_compute',
        'related',
    )

    def __init__(self, key: tuple, page: Page):
        self.key = key
        self.kind = key[0]
        self.page = page
        self.clients: set[Client] = set()
        self.body: str | None = None  # '{"view":...,"data":...}', the part of a message all clients share
        self.version = 0
        self.dirty = True
        self.settled = False  # nothing can change it (a search that cannot be parsed)
        self.computed_at = float('-inf')
        self.next_compute = float('-inf')
        self.related: tuple = ()  # what else it shows (a task page: its parent, root and children)


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

    ``pages`` maps each page name a client may watch to its :class:`Page` (the server's are
    :class:`flower.views.live_pages.LivePages`). ``loop`` is the IOLoop (``time()``, ``call_at()``,
    ``remove_timeout()``); by default the current one, taken when the first client connects. ``cost_clock`` (what
    computing a view costs) is there for tests. ``purge_offline_workers`` and ``diagnose`` are accepted from a
    composition root written when the hub rendered the pages itself, and ignored: the pages read them now.
    """

    def __init__(
        self,
        state: EventsState,
        pages: Mapping[str, Page],
        *,
        interval: float = 0.5,
        idle_interval: float = 1.0,
        refresh_interval: float = 2.0,
        slow_after: float = 10.0,
        tick_budget: float = 0.05,
        cost_factor: float = 10.0,
        max_clients: int = 1000,
        loop=None,
        cost_clock: Callable[[], float] = time.perf_counter,
        purge_offline_workers: Any = None,
        diagnose: Any = None,
    ):
        self.state = state
        self.pages = pages
        self.interval = interval
        self.idle_interval = idle_interval
        self.refresh_interval = refresh_interval
        self.slow_after = slow_after
        self.tick_budget = tick_budget
        self.cost_factor = cost_factor
        self.max_clients = max_clients
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
        seq, key = parse_watch(message, self.pages)
        if client.view is None or client.view.key != key:
            self._leave(client)
            if key is not None:
                view = self._views.get(key)
                if view is None:
                    view = self._views[key] = View(key, self.pages[key[0]])
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
        changes = Changes(self.state, tasks, workers, removed, removed_workers)
        for view in self._views.values():
            if not view.dirty and not view.settled and view.page.affected_by(view.key[1], view.related, changes):
                view.dirty = True

    def _due(self, view: View, now: float) -> bool:
        if now < view.next_compute - EPSILON:
            return False
        if view.dirty:
            return True
        return view.page.refresh and now - view.computed_at >= self.refresh_interval - EPSILON

    def _compute(self, now: float) -> None:
        due = [view for view in self._views.values() if self._due(view, now)]
        if not due:
            return
        due.sort(key=lambda view: view.computed_at)  # the ones waiting longest first
        spent = 0.0
        for view in due:
            if spent >= self.tick_budget:
                break  # the rest stay due: next tick
            started = self.cost_clock()
            body: str | None
            try:
                rendered = view.page.render(view.key[1])
                view.related = rendered.related
                view.settled = rendered.settled
                body = json.dumps({'view': view.kind, 'data': rendered.data}, default=str, separators=(',', ':'))
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
