"""The live-update hub (flower.live) without a server: a fake IOLoop whose clock the test moves, fake connections
that record what they were sent (and can refuse to drain), and a real events state fed with real event dicts.

What is pinned: work is shared (one change log, one computation per view per tick), the throttle (at most one
message per client per interval, the latest state), relevance (no message when the page did not change; a
worker going offline by silence is noticed), slow clients (skipped, then dropped), expensive views (recomputed
less often, a budget per tick), and the watch protocol's validation. The hub is driven through the renderer
interface it is given: the server's own pages (flower.views.live_pages.LivePages, which push the dashboards as HTML
fragments and the tasks table as rows), and a page written here, which shows the hub needs nothing else."""

from __future__ import annotations

import ast
import json
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import flower
from flower.events.state import EventsState
from flower.diagnosis import diagnose
from flower.live import BadWatch, LiveHub, Rendered, decode_message, parse_watch, text_field
from flower.queries import TaskFilter, select_tasks
from flower.views.live_pages import LivePages, TasksQuery
from flower.views.tasks import task_row
from tests.support.events import event, heartbeat, task_events, worker_online
from tests.support.processes import wait_for


class FakeLoop:
    """IOLoop's timer API on a clock the test moves."""

    def __init__(self, now: float = 1000.0):
        self.now = now
        self.timers: list[list] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when, callback):
        handle = [when, callback, True]
        self.timers.append(handle)
        return handle

    def remove_timeout(self, handle):
        handle[2] = False

    def pending(self) -> list[float]:
        return sorted(handle[0] for handle in self.timers if handle[2])

    def advance(self, seconds: float) -> None:
        """Move the clock on, running every timer that falls due on the way, in order."""
        target = self.now + seconds
        while True:
            due = [handle for handle in self.timers if handle[2] and handle[0] <= target]
            if not due:
                break
            handle = min(due, key=lambda h: h[0])
            handle[2] = False
            self.now = max(self.now, handle[0])
            handle[1]()
        self.timers = [handle for handle in self.timers if handle[2]]
        self.now = target


class Write:
    def __init__(self, done: bool):
        self._done = done

    def done(self) -> bool:
        return self._done


class FakeConnection:
    def __init__(self, loop: FakeLoop, drains: bool = True):
        self.loop = loop
        self.drains = drains
        self.writes: list[Write] = []
        self.received: list[tuple[float, dict]] = []
        self.dropped: str | None = None

    def send(self, text):
        self.received.append((self.loop.now, json.loads(text)))
        write = Write(self.drains)
        self.writes.append(write)
        return write

    def drop(self, reason):
        self.dropped = reason

    def drain(self):
        for write in self.writes:
            write._done = True

    @property
    def last(self) -> dict:
        return self.received[-1][1]


def pages(state, format_task=None) -> LivePages:
    """The server's pages over ``state``, for an application that has only what they read."""
    app = SimpleNamespace(
        options=SimpleNamespace(format_task=format_task, purge_offline_workers=None, url_prefix=''),
        capp=SimpleNamespace(conf=SimpleNamespace(task_serializer='json', timezone=None)),
        events=SimpleNamespace(state=state),
        diagnosis=lambda: diagnose(state, None),
    )
    return LivePages(app, lambda: 'time')


@pytest.fixture
def setup():
    loop = FakeLoop()
    state = EventsState(max_tasks_in_memory=1000)
    hub = LiveHub(state, pages(state), loop=loop)
    return loop, state, hub


def fragment(conn, element_id: str) -> str:
    """The HTML the last update pushed for an element of the page."""
    return conn.last['data']['fragments'][element_id]


def offered(conn) -> dict[str, bool]:
    """Which of the task page's buttons the last update shows (the others carry ``d-none``)."""
    html = fragment(conn, 'task-actions')
    return {
        action: 'd-none' not in re.search(rf'<button class="([^"]*)"[^>]*id="task-{action}"', html).group(1)
        for action in ('retry', 'revoke', 'terminate')
    }


def connect(hub, loop, watch: dict | None, seq: int = 1, drains: bool = True) -> FakeConnection:
    conn = FakeConnection(loop, drains)
    assert hub.connect(conn) is not None
    if watch is not None:
        hub.watch(conn, {'type': 'watch', 'seq': seq, **watch})
    return conn


def feed(state, hub, events) -> None:
    """As the receiver does: apply a batch on the loop, then tell the listeners how many."""
    for one in events:
        state.event(one)
    hub.on_events_applied(len(events))


TASKS_PAGE = {'page': 'tasks', 'sort': 'received', 'dir': 'desc', 'start': 0, 'length': 15}


# -- shared work ------------------------------------------------------------------------------------------------
def test_clients_watching_one_page_share_one_change_log_and_one_computation(setup):
    loop, state, hub = setup
    feed(state, hub, task_events(uuid='t1'))
    conns = [connect(hub, loop, TASKS_PAGE) for _ in range(5)]
    assert len(state.change_logs) == 1
    loop.advance(0.6)
    assert hub.views_computed == 1
    bodies = {json.dumps(conn.last['data'], sort_keys=True) for conn in conns}
    assert len(bodies) == 1
    assert [row['uuid'] for row in conns[0].last['data']['rows']] == ['t1']

    feed(state, hub, task_events(uuid='t2', start=time.time() + 1))
    loop.advance(0.6)
    assert hub.views_computed == 2
    assert all([row['uuid'] for row in conn.last['data']['rows']] == ['t2', 't1'] for conn in conns)
    assert all(len(conn.received) == 2 for conn in conns)

    for conn in conns:
        hub.disconnect(conn)
    assert state.change_logs == []  # nobody watching: the state keeps no log for us
    assert loop.pending() == []


def test_the_rows_are_the_tables_rows_for_that_search_sort_and_page(setup):
    loop, state, hub = setup
    base = time.time()
    for i in range(30):
        feed(
            state,
            hub,
            task_events(
                name='tasks.alpha' if i % 3 else 'tasks.beta', uuid=f'id-{i:02d}', start=base + i, runtime=i / 10
            ),
        )
    watch = {'page': 'tasks', 'search': 'name:alpha', 'sort': 'runtime', 'dir': 'desc', 'start': 5, 'length': 7}
    conn = connect(hub, loop, watch)
    loop.advance(0.6)
    expected = select_tasks(
        state.tasks, TaskFilter(search='name:alpha'), sort_by='runtime', reverse=True, offset=5, limit=7
    )
    data = conn.last['data']
    assert data['rows'] == json.loads(json.dumps([task_row(task) for task in expected.tasks], default=str))
    assert [row['uuid'] for row in data['rows']] == [f'id-{i:02d}' for i in (22, 20, 19, 17, 16, 14, 13)]
    assert data['recordsFiltered'] == 20 and data['recordsTotal'] == 30
    assert conn.last['view'] == 'tasks' and conn.last['seq'] == 1


def test_format_task_applies_to_pushed_rows_and_task_pages():
    loop = FakeLoop()
    state = EventsState()

    def hide(task):
        task.kwargs = '(hidden)'
        return task

    hub = LiveHub(state, pages(state, hide), loop=loop)
    feed(state, hub, task_events(uuid='secret', kwargs="{'password': 'x'}"))
    rows = connect(hub, loop, TASKS_PAGE)
    page = connect(hub, loop, {'page': 'task', 'id': 'secret'})
    loop.advance(0.6)
    assert rows.last['data']['rows'][0]['kwargs'] == '(hidden)'
    fields = fragment(page, 'task-fields')
    assert '<pre class="code-value" id="value-kwargs">(hidden)</pre>' in fields and 'password' not in fields
    assert state.tasks.get('secret').kwargs == "{'password': 'x'}"  # the hook got a copy


# -- throttle ---------------------------------------------------------------------------------------------------
def test_a_burst_reaches_each_client_at_most_once_per_interval_and_the_last_message_is_the_latest_state(setup):
    loop, state, hub = setup
    conns = [
        connect(hub, loop, TASKS_PAGE),
        connect(hub, loop, {'page': 'workers'}),
        connect(hub, loop, {'page': 'worker', 'name': 'worker1@host'}),
    ]
    base = time.time()
    # 10,000 events/s for 3 seconds: a batch of 100 events every 10 ms
    for step in range(300):
        batch = []
        for i in range(33):
            batch += task_events(uuid=f'b-{step}-{i}', start=base + step / 100)
        batch.append(heartbeat(active=step, loadavg=[step, 0.5, 0.25]))
        feed(state, hub, batch)
        loop.advance(0.01)
    loop.advance(1.0)
    for conn in conns:
        times = [at for at, _ in conn.received]
        gaps = [later - earlier for earlier, later in zip(times, times[1:])]
        assert min(gaps) >= hub.interval - 1e-9, gaps
        assert len(times) <= 4.0 / hub.interval + 1
        assert all(message['type'] == 'update' and message['seq'] == 1 for _, message in conn.received)
    tasks_page = conns[0].last['data']
    assert tasks_page['recordsTotal'] == len(state.tasks) == 1000  # every event counted before the last message
    assert tasks_page['rows'][0]['uuid'].startswith('b-299-')
    assert '<td data-live="loadavg">299.00  0.50  0.25</td>' in fragment(conns[2], 'worker-heartbeat')


def test_no_message_when_the_watched_page_did_not_change(setup):
    loop, state, hub = setup
    feed(state, hub, task_events(name='tasks.alpha', uuid='a1') + task_events(name='tasks.other', uuid='other'))
    conn = connect(hub, loop, {**TASKS_PAGE, 'search': 'name:alpha'})
    loop.advance(0.6)
    assert len(conn.received) == 1
    computed = hub.views_computed
    for i in range(5):  # another task changes (a new task would change the page's "of N tasks in memory")
        feed(state, hub, task_events(name='tasks.other', uuid='other', start=time.time() + i))
        loop.advance(0.6)
    assert hub.views_computed == computed + 5  # recomputed: a change might have been on this page
    assert len(conn.received) == 1  # but nothing differed, so nothing was sent
    feed(state, hub, task_events(name='tasks.alpha', uuid='a2', start=time.time() + 1))
    loop.advance(0.6)
    assert [row['uuid'] for row in conn.last['data']['rows']] == ['a2', 'a1']


def test_events_bring_an_idle_tick_forward(setup):
    loop, state, hub = setup
    conn = connect(hub, loop, TASKS_PAGE)
    loop.advance(5)
    assert len(conn.received) == 1
    assert loop.now < loop.pending()[0] <= loop.now + hub.idle_interval  # quiet: a tick a second at most
    feed(state, hub, task_events(uuid='now'))
    assert loop.pending()[0] == pytest.approx(loop.now)  # not a second later: the last tick was long ago
    loop.advance(0)
    assert conn.last['data']['rows'][0]['uuid'] == 'now'


def test_changes_made_without_the_listener_are_seen_by_the_idle_tick(setup):
    loop, state, hub = setup
    conn = connect(hub, loop, TASKS_PAGE)
    loop.advance(0.6)
    for one in task_events(uuid='direct'):
        state.event(one)  # Events.on_event and tools apply events without telling the listeners
    loop.advance(hub.idle_interval + 0.01)
    assert conn.last['data']['rows'][0]['uuid'] == 'direct'


def test_watching_another_view_answers_with_it_under_the_new_seq(setup):
    loop, state, hub = setup
    feed(state, hub, task_events(uuid='t1') + [worker_online()])
    conn = connect(hub, loop, TASKS_PAGE)
    loop.advance(0.6)
    hub.watch(conn, {'type': 'watch', 'seq': 2, 'page': 'task', 'id': 't1'})
    loop.advance(0.6)
    assert conn.last['seq'] == 2 and conn.last['view'] == 'task'
    assert conn.last['data']['state'] == 'SUCCESS'
    assert hub.views == 1  # the tasks view went with its last client
    hub.watch(conn, {'type': 'watch', 'seq': 3, 'page': None})
    loop.advance(0.6)
    assert len(conn.received) == 2 and hub.views == 0


# -- relevance --------------------------------------------------------------------------------------------------
def test_a_worker_going_silent_turns_offline_without_any_event(setup):
    loop, state, hub = setup
    feed(
        state,
        hub,
        [
            event('worker-online', 'worker1@host', freq=0.2),
            event('worker-heartbeat', 'worker1@host', freq=0.2, active=0, processed=0),
        ],
    )
    table = connect(hub, loop, {'page': 'workers'})
    page = connect(hub, loop, {'page': 'worker', 'name': 'worker1@host'})
    loop.advance(0.6)
    assert '<span class="badge text-bg-success">Online</span>' in fragment(table, 'workers-rows')
    assert '<span data-stat="offline">0</span>' in fragment(table, 'workers-summary')
    assert 'data-online="true"' in fragment(page, 'worker-status')
    wait_for(lambda: not state.workers.get('worker1@host').alive, 5, interval=0.05, message='the heartbeat to expire')
    loop.advance(hub.refresh_interval + 0.1)
    assert '<span class="badge text-bg-secondary">Offline</span>' in fragment(table, 'workers-rows')
    assert '<span data-stat="offline">1</span>' in fragment(table, 'workers-summary')
    assert 'data-online="false"' in fragment(page, 'worker-status')


def test_a_task_page_follows_its_task_and_its_children(setup):
    loop, state, hub = setup
    parent = task_events(uuid='parent', outcome='none')
    feed(state, hub, parent)
    conn = connect(hub, loop, {'page': 'task', 'id': 'parent'})
    loop.advance(0.6)
    assert conn.last['data']['state'] == 'STARTED'
    assert offered(conn) == {'revoke': True, 'terminate': True, 'retry': False}

    child = task_events(uuid='child', outcome='none')
    child[0]['parent_id'] = 'parent'
    feed(state, hub, child)
    loop.advance(0.6)
    children = re.search(r'<tr data-field="children">.*?</tr>', fragment(conn, 'task-fields'), re.S).group(0)
    assert 'href="/task/child">child</a>' in children and 'tasks.add · STARTED' in children
    feed(state, hub, task_events(uuid='child')[2:])  # only the child succeeds
    loop.advance(0.6)
    children = re.search(r'<tr data-field="children">.*?</tr>', fragment(conn, 'task-fields'), re.S).group(0)
    assert 'tasks.add · SUCCESS' in children

    feed(state, hub, task_events(uuid='parent')[2:])
    loop.advance(0.6)
    assert conn.last['data']['state'] == 'SUCCESS'
    assert '<pre class="code-value" id="value-result">4</pre>' in fragment(conn, 'task-fields')
    assert 'data-state="SUCCESS">SUCCESS</span>' in fragment(conn, 'task-badges')
    assert offered(conn) == {'revoke': False, 'terminate': False, 'retry': False}


def test_an_evicted_task_is_reported_gone():
    loop = FakeLoop()
    state = EventsState(max_tasks_in_memory=2)
    hub = LiveHub(state, pages(state), loop=loop)
    feed(state, hub, task_events(uuid='old'))
    conn = connect(hub, loop, {'page': 'task', 'id': 'old'})
    loop.advance(0.6)
    assert conn.last['data']['state'] == 'SUCCESS'
    feed(state, hub, task_events(uuid='new1') + task_events(uuid='new2'))
    loop.advance(0.6)
    assert conn.last['data'] == {'gone': True}


def test_a_search_that_cannot_be_parsed_is_reported_once(setup):
    loop, state, hub = setup
    conn = connect(hub, loop, {**TASKS_PAGE, 'search': 'ab'})
    loop.advance(0.6)
    assert 'at least 3 characters' in conn.last['data']['error']
    computed = hub.views_computed
    feed(state, hub, task_events())
    loop.advance(2)
    assert hub.views_computed == computed and len(conn.received) == 1


# -- slow clients -----------------------------------------------------------------------------------------------
def test_a_client_that_stops_draining_is_skipped_then_dropped(setup):
    loop, state, hub = setup
    hub.slow_after = 3.0
    stuck = connect(hub, loop, TASKS_PAGE, drains=False)
    healthy = connect(hub, loop, TASKS_PAGE)
    for second in range(5):
        feed(state, hub, task_events(uuid=f's{second}', start=time.time() + second))
        loop.advance(1.0)
    assert len(stuck.received) == 1  # one message in flight at most: nothing queued behind it
    assert len(healthy.received) == 5
    assert stuck.dropped and 'unwritten for 3 s' in stuck.dropped
    assert hub.clients == 1 and hub.clients_dropped == 1
    assert healthy.dropped is None


def test_a_client_that_drains_late_gets_the_latest_state_once(setup):
    loop, state, hub = setup
    slow = connect(hub, loop, TASKS_PAGE, drains=False)
    loop.advance(0.6)
    for second in range(4):
        feed(state, hub, task_events(uuid=f'late{second}', start=time.time() + second))
        loop.advance(0.5)
    assert len(slow.received) == 1
    slow.drain()
    loop.advance(0.6)
    assert len(slow.received) == 2
    assert slow.last['data']['rows'][0]['uuid'] == 'late3'
    assert slow.dropped is None


def test_a_connection_that_fails_to_write_is_dropped_and_the_others_carry_on(setup):
    loop, state, hub = setup

    class Broken(FakeConnection):
        def send(self, text):
            raise OSError('connection reset')

    broken = Broken(loop)
    hub.connect(broken)
    hub.watch(broken, {'type': 'watch', 'seq': 1, **TASKS_PAGE})
    healthy = connect(hub, loop, TASKS_PAGE)
    feed(state, hub, task_events(uuid='still-sent'))
    loop.advance(0.6)
    assert broken.dropped == 'the connection failed' and hub.clients == 1
    assert healthy.last['data']['rows'][0]['uuid'] == 'still-sent'


# -- expensive views ---------------------------------------------------------------------------------------------
class CostClock:
    """perf_counter for the hub: every view computation costs ``cost`` seconds."""

    def __init__(self, cost):
        self.cost = cost
        self.value = 0.0
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.calls % 2 == 0:
            self.value += self.cost
        return self.value


def test_an_expensive_view_is_recomputed_less_often():
    loop = FakeLoop()
    state = EventsState()
    hub = LiveHub(state, pages(state), loop=loop, cost_clock=CostClock(0.2))  # 0.2 s x cost_factor 10 = 2 s
    conn = connect(hub, loop, TASKS_PAGE)
    for step in range(20):
        feed(state, hub, task_events(uuid=f'e{step}', start=time.time() + step))
        loop.advance(0.5)
    assert 4 <= hub.views_computed <= 6  # every 2 s over 10 s, not every 0.5 s
    assert len(conn.received) == hub.views_computed


def test_one_tick_computes_views_up_to_its_budget_longest_waiting_first():
    loop = FakeLoop()
    state = EventsState()
    hub = LiveHub(state, pages(state), loop=loop, cost_clock=CostClock(0.03), tick_budget=0.05, cost_factor=1)
    conns = [connect(hub, loop, {'page': 'task', 'id': f'task-{i}'}) for i in range(6)]
    loop.advance(0)
    assert hub.views_computed == 2
    assert sum(bool(conn.received) for conn in conns) == 2
    loop.advance(0.5)
    loop.advance(0.5)
    assert all(conn.received for conn in conns)


def test_max_clients_are_refused_beyond_the_limit(setup):
    loop, _, hub = setup
    hub.max_clients = 2
    connect(hub, loop, None)
    connect(hub, loop, None)
    assert hub.connect(FakeConnection(loop)) is None


def test_stop_forgets_clients_and_timers(setup):
    loop, state, hub = setup
    connect(hub, loop, TASKS_PAGE)
    hub.stop()
    assert hub.clients == 0 and state.change_logs == [] and loop.pending() == []


PAGES = pages(EventsState())


# -- the watch protocol -----------------------------------------------------------------------------------------
def test_parse_watch_reads_a_tasks_page_like_the_datatable_does():
    seq, key = parse_watch(
        {
            'type': 'watch',
            'seq': 7,
            'page': 'tasks',
            'state': 'all',
            'worker': 'w@h',
            'name': '',
            'search': '  state:FAILURE ',
            'sort': 'runtime',
            'dir': 'desc',
            'start': 30,
            'length': -1,
        },
        PAGES,
    )
    assert seq == 7
    assert key == (
        'tasks',
        TasksQuery(
            state=None,
            worker='w@h',
            name=None,
            search='state:FAILURE',
            sort_by='runtime',
            reverse=True,
            start=30,
            length=1000,
        ),
    )
    assert parse_watch({'type': 'watch', 'page': None}, PAGES) == (0, None)
    assert parse_watch({'type': 'watch', 'seq': 1, 'page': 'worker', 'name': 'a@b'}, PAGES) == (1, ('worker', 'a@b'))
    assert parse_watch({'type': 'watch', 'seq': 1, 'page': 'workers'}, PAGES) == (1, ('workers', None))


@pytest.mark.parametrize(
    'message, complaint',
    [
        ([], 'expected a message like'),
        ({'type': 'subscribe'}, 'expected a message like'),
        ({'type': 'watch', 'page': 'admin'}, 'unknown page'),
        ({'type': 'watch', 'page': 'task'}, "'id' is required"),
        ({'type': 'watch', 'page': 'worker', 'name': 5}, "'name' must be text"),
        ({'type': 'watch', 'page': 'tasks', 'sort': 'password'}, 'unknown sort column'),
        ({'type': 'watch', 'page': 'tasks', 'dir': 'sideways'}, "'dir' must be asc or desc"),
        ({'type': 'watch', 'page': 'tasks', 'start': -1}, "'start' must be 0 or more"),
        ({'type': 'watch', 'page': 'tasks', 'length': '15'}, "'length' must be a whole number"),
        ({'type': 'watch', 'seq': True, 'page': 'workers'}, "'seq' must be a whole number"),
        ({'type': 'watch', 'page': 'tasks', 'search': 'x' * 5000}, 'longer than'),
    ],
)
def test_parse_watch_refuses_what_is_not_a_watch(message, complaint):
    with pytest.raises(BadWatch, match=complaint):
        parse_watch(message, PAGES)


@pytest.mark.parametrize(
    'raw, complaint',
    [
        ('[' * 16000, 'nested too deeply'),  # json raises RecursionError, not ValueError, for this
        ('{"page": ' + '[' * 2000 + ']' * 2000 + '}', 'nested too deeply'),
        ('{"type": "watch", "page": ["tasks"]}', "'page' must be text, a number, true/false or null"),
        ('{"type": "watch", "page": "task", "id": {"$ne": 1}}', "'id' must be text"),
        ('{"seq": 1' + '0' * 5000 + '}', 'not JSON'),  # more digits than int() takes
        ('{"type": "watch"', 'not JSON'),
        ('null', 'expected a JSON object'),
        ('"watch"', 'expected a JSON object'),
        (b'{"type": "watch"}', 'not a binary one'),
        ('{"page": "' + 'é' * 9000 + '"}', 'longer than 16384 bytes'),  # 9000 characters, 18000 bytes
    ],
)
def test_decode_message_refuses_anything_but_one_small_flat_json_object(raw, complaint):
    with pytest.raises(BadWatch, match=re.escape(complaint)):
        decode_message(raw)


def test_decode_message_passes_a_watch_through():
    raw = json.dumps({'type': 'watch', 'seq': 3, 'page': 'tasks', 'length': -1, 'search': None, 'x': 1.5})
    assert parse_watch(decode_message(raw), PAGES)[0] == 3


def test_the_hub_is_domain_code_without_the_web_layer():
    tree = ast.parse((Path(flower.__file__).parent / 'live.py').read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not {
        name
        for name in imported
        if name.startswith(('tornado.web', 'tornado.websocket', 'flower.views', 'flower.api', 'flower.app'))
    }
    # nor anything page-shaped: what pages exist, what they show and how a table asks for rows are the pages'
    assert not {name for name in imported if name.startswith(('flower.queries', 'flower.cluster', 'flower.search'))}
    source = (Path(flower.__file__).parent / 'live.py').read_text()
    assert not re.search(r"[=!]= '(workers|worker|task|tasks)'|'(sort|length|start)'", source)


# -- the renderer interface ----------------------------------------------------------------------------------------
class Clock:
    """A page written for this test: ``{"page": "clock", "worker": name}`` shows how many times that worker
    changed; it keeps the hub honest about needing nothing but the :class:`flower.live.Page` interface."""

    refresh = False

    def __init__(self):
        self.changes: dict[str, int] = {}
        self.rendered: list = []

    def key(self, message):
        return text_field(message, 'worker', required=True)

    def affected_by(self, key, related, changes):
        if key in changes.workers:
            self.changes[key] = self.changes.get(key, 0) + 1
            return True
        return False

    def render(self, key):
        self.rendered.append(key)
        count = self.changes.get(key, 0)
        return Rendered({'html': f'<b id="clock">{count}</b>'}, settled=count >= 2)


def test_the_hub_serves_any_page_through_the_renderer_interface():
    loop = FakeLoop()
    state = EventsState()
    clock = Clock()
    hub = LiveHub(state, {'clock': clock}, loop=loop)
    first = connect(hub, loop, {'page': 'clock', 'worker': 'w1@host'})
    second = connect(hub, loop, {'page': 'clock', 'worker': 'w1@host'})
    other = connect(hub, loop, {'page': 'clock', 'worker': 'w2@host'})
    loop.advance(0.6)
    assert clock.rendered == ['w1@host', 'w2@host'] or sorted(clock.rendered) == ['w1@host', 'w2@host']
    assert first.last['view'] == 'clock' and first.last['data'] == {'html': '<b id="clock">0</b>'}
    assert second.last['data'] == first.last['data'] and len(other.received) == 1

    feed(state, hub, [worker_online('w1@host')])
    loop.advance(0.6)
    assert clock.rendered[2:] == ['w1@host']  # once for both clients, and not the view nothing changed for
    assert first.last['data'] == second.last['data'] == {'html': '<b id="clock">1</b>'}
    assert len(other.received) == 1

    for _ in range(3):
        feed(state, hub, [heartbeat('w1@host')])
        loop.advance(0.6)
    assert first.last['data'] == {'html': '<b id="clock">2</b>'}
    assert clock.rendered.count('w1@host') == 3  # settled at 2: not asked again

    with pytest.raises(BadWatch, match="unknown page 'tasks': use one of clock"):
        hub.watch(first, {'type': 'watch', 'seq': 2, 'page': 'tasks'})
