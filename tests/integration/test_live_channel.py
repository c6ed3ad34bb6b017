"""The live-update channel over real WebSockets against a real server: what a page is pushed (the rows
/tasks/datatable answers for the same page, a worker, a task), who may connect (authentication in the handshake
with --basic_auth and with a signed session cookie under --auth; never from another origin), --url_prefix, bad
messages, and a client that stops reading being dropped rather than buffered.

The servers are in-process (tests/support/inprocess.py); events are applied directly, which the hub notices on
its idle tick, so nothing here depends on a broker."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import re
import socket
import threading
import time
import uuid as uuidlib

import pytest
import tornado.web
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from tests.support.events import heartbeat, task_events, worker_online
from tests.support.inprocess import InProcessServer
from tests.support.processes import wait_for

COLUMNS = ('name', 'uuid', 'state', 'received', 'runtime', 'worker')
COOKIE_SECRET = 'live-channel-tests-cookie-secret-' * 2


class LiveClient:
    """A /live client on its own thread and event loop; messages land in ``messages`` as they arrive, with the
    time they did."""

    def __init__(self, url: str, headers: dict | None = None):
        self.messages: list[tuple[float, dict]] = []
        self.close_code = None
        self.close_reason = None
        self.closed = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        try:
            self.ws = self._call(lambda: websocket_connect(HTTPRequest(url, headers=headers or {}, request_timeout=10)))
        except BaseException:
            self._stop_loop()
            raise
        asyncio.run_coroutine_threadsafe(self._read(), self._loop)

    def _call(self, make_awaitable, timeout: float = 15):
        """Await ``make_awaitable()`` on the client's loop (tornado objects belong to the loop that made them)."""

        async def run():
            return await make_awaitable()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    async def _read(self):
        while True:
            message = await self.ws.read_message()
            if message is None:
                self.close_code, self.close_reason = self.ws.close_code, self.ws.close_reason
                self.closed.set()
                return
            self.messages.append((time.monotonic(), json.loads(message)))

    def send(self, text: str) -> None:
        self._call(lambda: self.ws.write_message(text))

    def watch(self, seq: int = 1, **spec) -> None:
        self.send(json.dumps({'type': 'watch', 'seq': seq, **spec}))

    def next(self, predicate=lambda message: True, after: int = 0, timeout: float = 10) -> dict:
        """The first message from index ``after`` on that satisfies ``predicate``, waiting for it."""

        def found():
            for _, message in self.messages[after:]:
                if predicate(message):
                    return message
            return None

        return wait_for(found, timeout, interval=0.02, message='a live update')

    def close(self) -> None:
        if not self.closed.is_set():
            self._loop.call_soon_threadsafe(self.ws.close)
            self.closed.wait(5)
        self._stop_loop()

    def _stop_loop(self):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.fixture
def servers():
    started = []

    def start(options=None):
        server = InProcessServer(options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def clients():
    opened = []

    def open_client(url, headers=None):
        client = LiveClient(url, headers)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


def ws_url(server, path='/live') -> str:
    return server.url.replace('http://', 'ws://') + path


def basic(user: str, password: str) -> dict:
    return {'Authorization': 'Basic ' + base64.b64encode(f'{user}:{password}'.encode()).decode()}


def refused(url: str, headers: dict | None = None) -> int:
    with pytest.raises(HTTPClientError) as caught:
        LiveClient(url, headers).close()
    return caught.value.code


def datatable(server, search='', order=3, direction='desc', start=0, length=15, **filters):
    params = {
        'draw': 1,
        'start': start,
        'length': length,
        'search[value]': search,
        'order[0][column]': order,
        'order[0][dir]': direction,
        **filters,
    }
    params.update({f'columns[{i}][data]': column for i, column in enumerate(COLUMNS)})
    answer = server.get('/tasks/datatable', params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


# -- what pages are pushed ----------------------------------------------------------------------------------------
def test_a_tasks_page_is_pushed_the_rows_the_datatable_answers_and_then_what_changes(servers, clients):
    server = servers()
    base = time.time() - 60
    events = [worker_online('alpha@host'), worker_online('beta@host')]
    for i in range(40):
        events += task_events(
            name='tasks.report' if i % 2 else 'tasks.import',
            uuid=f'task-{i:02d}',
            hostname='alpha@host' if i % 4 else 'beta@host',
            start=base + i,
            outcome='failed' if i % 5 == 0 else 'succeeded',
            runtime=i / 7,
        )
    server.apply(events)
    client = clients(ws_url(server))
    # page 2 of the report tasks on alpha, by runtime, longest first: as the table asks for it
    client.watch(page='tasks', search='name:report', worker='alpha@host', sort='runtime', dir='desc', start=5, length=5)
    pushed = client.next()
    expected = datatable(server, search='name:report', worker='alpha@host', order=4, start=5, length=5)
    assert pushed['type'] == 'update' and pushed['seq'] == 1 and pushed['view'] == 'tasks'
    assert pushed['data']['rows'] == expected['data']
    assert len(expected['data']) == 5
    assert (pushed['data']['recordsTotal'], pushed['data']['recordsFiltered']) == (40, 20)

    # a new long-running report task on alpha lands at the top of the runtime order, so page 2 shifts
    seen = len(client.messages)
    server.apply(
        task_events(name='tasks.report', uuid='slowest', hostname='alpha@host', start=base + 50, runtime=1000.0)
    )
    update = client.next(after=seen)
    assert (
        update['data']['rows']
        == datatable(server, search='name:report', worker='alpha@host', order=4, start=5, length=5)['data']
    )
    assert update['data']['recordsFiltered'] == 21
    assert update['data']['rows'] != pushed['data']['rows']


def test_a_change_elsewhere_sends_nothing_to_a_page_it_does_not_change(servers, clients):
    server = servers()
    server.apply(task_events(name='tasks.mine', uuid='mine') + task_events(name='tasks.theirs', uuid='theirs'))
    client = clients(ws_url(server))
    client.watch(page='tasks', search='name:mine', sort='received', dir='desc')
    client.next()
    hub = server.app.live
    computed = server.on_loop(lambda: hub.views_computed)
    server.apply(task_events(name='tasks.theirs', uuid='theirs', start=time.time() + 5))
    wait_for(lambda: server.on_loop(lambda: hub.views_computed) > computed, 10, message='the view recomputed')
    # the recomputation sent nothing: the next message is the one a change to this page causes
    server.apply(task_events(name='tasks.mine', uuid='mine2', start=time.time() + 10))
    assert [row['uuid'] for row in client.next(after=1)['data']['rows']] == ['mine2', 'mine']
    assert len(client.messages) == 2


def test_worker_and_task_pages_follow_their_worker_and_task(servers, clients):
    server = servers()
    task_id = str(uuidlib.uuid4())
    lifecycle = task_events(uuid=task_id, hostname='w1@host', result="{'rows': 3}")
    server.apply([worker_online('w1@host'), heartbeat('w1@host', active=1)] + lifecycle[:2])
    worker_page = clients(ws_url(server))
    worker_page.watch(page='worker', name='w1@host')
    task_page = clients(ws_url(server))
    task_page.watch(page='task', id=task_id)
    # the worker's and the task's page are pushed as the fragments the pages render (flower.views.modules)
    worker = worker_page.next()['data']['fragments']
    assert 'id="worker-status" data-online="true">Online</span>' in worker['worker-status']
    assert '<td data-live="loadavg">0.10  0.20  0.30</td>' in worker['worker-heartbeat']
    task = task_page.next()['data']
    assert task['state'] == 'STARTED'
    assert '<h1 class="page-title text-break" id="task-name">tasks.add</h1>' in task['fragments']['task-name']
    assert offered(task) == {'retry': False, 'revoke': True, 'terminate': True}

    server.apply(lifecycle[2:] + [heartbeat('w1@host', active=0, loadavg=[1.5, 0.75, 0.5])])
    task = task_page.next(lambda m: m['data']['state'] == 'SUCCESS', after=1)['data']
    fields = task['fragments']['task-fields']
    assert '<pre class="code-value" id="value-result">{&#x27;rows&#x27;: 3}</pre>' in fields
    assert '<span title="0.25 s">250.0 ms</span>' in fields
    assert '<a class="worker-link" href="/worker/w1%40host">w1@host</a>' in fields
    assert re.search(
        r'<tr data-field="succeeded">\s*<th scope="row">Succeeded</th>\s*<td>\s*<time [^>]*>[^<]* UTC</time>', fields
    )
    assert re.findall(r'data-field="(\w+)"', fields)[:3] == ['state', 'args', 'kwargs']  # the page's order
    assert offered(task) == {'retry': False, 'revoke': False, 'terminate': False}
    worker = worker_page.next(lambda m: '1.50  0.75  0.50' in m['data']['fragments']['worker-heartbeat'], after=1)
    assert 'data-online="true"' in worker['data']['fragments']['worker-status']

    unknown = clients(ws_url(server))
    unknown.watch(page='worker', name='nobody@host')
    assert unknown.next()['data'] == {
        'fragments': {'worker-status': server_fragment(server, 'worker_status.html', online=False)}
    }


def offered(data: dict) -> dict[str, bool]:
    """Which of the task page's buttons a pushed update shows (the others carry ``d-none``)."""
    html = data['fragments']['task-actions']
    return {
        action: 'd-none' not in re.search(rf'<button class="([^"]*)"[^>]*id="task-{action}"', html).group(1)
        for action in ('retry', 'revoke', 'terminate')
    }


def server_fragment(server, name: str, **values) -> str:
    return server.on_loop(lambda: server.app.live.pages.fragments.render(name, **values))


def test_a_message_that_is_not_a_watch_closes_the_connection(servers, clients):
    server = servers()
    for bad in ('not json', json.dumps({'type': 'watch', 'page': 'tasks', 'sort': 'password'}), 'x' * 20000):
        client = clients(ws_url(server))
        client.send(bad)
        assert client.closed.wait(10)
        assert client.close_code in (1008, 1009)  # 1009: bigger than a watch message can be
    assert server.on_loop(lambda: server.app.live.clients) == 0


HOSTILE_MESSAGES = [
    # (what the client sends, binary frame?, close code, words of the close reason)
    ('[' * 10000, False, 1008, 'nested too deeply'),  # 10 kB, under the size limit: json's RecursionError
    ('{"type": "watch", "page": ' + '[' * 3000 + ']' * 3000 + '}', False, 1008, 'nested too deeply'),
    ('{"type": "watch", "seq": 1, "page": [[["tasks"]]]}', False, 1008, "'page' must be text, a number"),
    ('{"type": "watch", "seq": 1, "page": "task", "id": {"$gt": ""}}', False, 1008, "'id' must be text"),
    ('{"type": "watch", "seq": 1' + '0' * 5000 + '}', False, 1008, 'not JSON'),
    ('[1, 2, 3]', False, 1008, 'expected a JSON object'),
    ('{"type": "watch", "page": "tasks"', False, 1008, 'not JSON'),
    (b'{"type": "watch", "seq": 1, "page": "tasks"}', True, 1008, 'not a binary one'),
    ('{"type": "watch", "page": "' + 'x' * 20000 + '"}', False, 1009, 'message too big'),
]


def test_hostile_messages_get_a_close_code_that_says_why_and_no_traceback(servers, clients, caplog):
    server = servers()
    server.apply(task_events(uuid='still-served'))
    caplog.set_level(logging.DEBUG)
    for text, binary, code, words in HOSTILE_MESSAGES:
        client = clients(ws_url(server))
        client._call(lambda: client.ws.write_message(text, binary=binary))
        assert client.closed.wait(10), text[:60]
        assert (client.close_code, words in (client.close_reason or '')) == (code, True), (
            text[:60],
            client.close_code,
            client.close_reason,
        )
    assert [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith(('tornado', 'flower', 'asyncio')) and (r.levelno >= logging.WARNING or r.exc_info)
    ] == []
    assert 'not a watch message: nested too deeply' in caplog.text  # said in the debug log, in one line
    wait_for(lambda: server.on_loop(lambda: server.app.live.clients) == 0, 10, 0.05, message='all closed')
    healthy = clients(ws_url(server))  # the channel still serves everyone else
    healthy.watch(page='task', id='still-served')
    assert healthy.next()['data']['state'] == 'SUCCESS'


def test_the_channel_is_under_the_url_prefix(servers, clients):
    server = servers({'url_prefix': 'flower'})
    server.apply(task_events(uuid='prefixed'))
    client = clients(ws_url(server, '/flower/live'))
    client.watch(page='tasks')
    assert client.next()['data']['rows'][0]['uuid'] == 'prefixed'
    assert refused(ws_url(server, '/live')) == 404


# -- who may connect ------------------------------------------------------------------------------------------------
def test_basic_auth_is_required_in_the_handshake_and_other_origins_are_refused(servers, clients):
    server = servers({'basic_auth': ['alice:secret']})
    server.apply(task_events(uuid='guarded'))
    url = ws_url(server)
    assert refused(url) == 401
    assert refused(url, basic('alice', 'wrong')) == 401
    # the user's browser on another site would send the cached credentials: the origin gives it away
    assert refused(url, {**basic('alice', 'secret'), 'Origin': 'http://evil.example'}) == 403
    assert (
        refused(url, {**basic('alice', 'secret'), 'Origin': 'http://evil.example', 'Sec-Fetch-Site': 'cross-site'})
        == 403
    )
    for same_origin in ({'Origin': server.url}, {'Origin': 'http://evil.example', 'Sec-Fetch-Site': 'same-origin'}, {}):
        client = clients(url, {**basic('alice', 'secret'), **same_origin})
        client.watch(page='tasks')
        assert client.next()['data']['rows'][0]['uuid'] == 'guarded'


def test_a_signed_session_cookie_is_required_under_auth_and_other_origins_are_refused(servers, clients):
    server = servers({'auth': '.*@example.com', 'cookie_secret': COOKIE_SECRET})
    server.apply(task_events(uuid='session-guarded'))
    url = ws_url(server)

    def cookie(email, secret=COOKIE_SECRET):
        return {'Cookie': 'user=' + tornado.web.create_signed_value(secret, 'user', email).decode()}

    assert refused(url) == 403  # no session: refused, not redirected
    assert refused(url, cookie('mallory@attacker.com')) == 403  # signed, but --auth does not allow it
    assert refused(url, cookie('alice@example.com', 'not-the-secret' * 4)) == 403  # forged
    assert refused(url, {**cookie('alice@example.com'), 'Origin': 'http://evil.example'}) == 403
    client = clients(url, {**cookie('alice@example.com'), 'Origin': server.url})
    client.watch(page='task', id='session-guarded')
    assert client.next()['data']['state'] == 'SUCCESS'


def test_behind_a_trusted_proxy_the_forwarded_host_is_the_pages_origin(servers, clients):
    """A proxy that passes the public host in X-Forwarded-Host (and its own in Host): with --xheaders the
    dashboards' own origin is accepted, as it is for their POSTs; without it, it looks like another site."""
    proxied = {'X-Forwarded-Host': 'flower.example.com', 'Origin': 'https://flower.example.com'}
    trusting = servers({'xheaders': True})
    trusting.apply(task_events(uuid='proxied'))
    client = clients(ws_url(trusting), proxied)
    client.watch(page='tasks')
    assert client.next()['data']['rows'][0]['uuid'] == 'proxied'
    assert refused(ws_url(trusting), {**proxied, 'Origin': 'https://evil.example'}) == 403
    assert refused(ws_url(servers()), proxied) == 403


def test_other_origins_are_refused_without_auth_too(servers):
    server = servers()
    assert refused(ws_url(server), {'Origin': 'http://evil.example'}) == 403


# -- slow clients -------------------------------------------------------------------------------------------------
def _raw_handshake(server, receive_buffer: int) -> socket.socket:
    """A WebSocket client that completes the handshake, asks for a big page and then never reads again."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)  # before connect: a small window
    sock.connect(('127.0.0.1', server.port))
    key = base64.b64encode(b'live-slow-client').decode()
    sock.sendall(
        (
            f'GET /live HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n'
            f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n'
        ).encode()
    )
    answer = b''
    while b'\r\n\r\n' not in answer:
        answer += sock.recv(1)
    assert answer.startswith(b'HTTP/1.1 101'), answer
    payload = json.dumps({'type': 'watch', 'seq': 1, 'page': 'tasks', 'length': 1000}).encode()
    mask = b'\x01\x02\x03\x04'
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, 'big') + mask + masked)
    return sock


def test_a_client_that_stops_reading_is_dropped_not_buffered(servers, clients):
    server = servers()
    hub = server.app.live
    server.on_loop(lambda: setattr(hub, 'slow_after', 1.0))
    big = repr('x' * 300)  # cut to 200 characters per cell: ~700 bytes of text per row
    server.apply(
        [event for i in range(1000) for event in task_events(uuid=f'big-{i}', args=big, kwargs=big, result=big)]
    )
    healthy = clients(ws_url(server))
    healthy.watch(page='tasks', length=15)
    healthy.next()
    stuck = _raw_handshake(server, receive_buffer=4096)
    steps = itertools.count()

    def dropped():
        # keep the big page changing, so there is always a newer update for the stuck client
        server.apply(task_events(uuid=f'big-{next(steps) % 1000}', args=big, start=time.time()))
        return server.on_loop(lambda: hub.clients_dropped)

    try:
        wait_for(dropped, 60, interval=0.2, message='the client that does not read to be dropped')
        assert server.on_loop(lambda: hub.clients) == 1  # the healthy one stays
        seen = len(healthy.messages)
        server.apply(task_events(uuid='after-the-drop', start=time.time() + 100))
        assert healthy.next(lambda m: m['data']['rows'][0]['uuid'] == 'after-the-drop', after=seen)
    finally:
        stuck.close()
