"""Nothing an event carries can break ingestion or reads (runtime rule 8), through a real server and Redis.

Each case publishes one malformed message and then 63 good ``task-received`` events in the same burst (one
pipelined write, so they arrive in the same chunk and are applied in the same batch), and checks that all 63
are applied within 2 s of the write, that the bad one is counted under the right reason, and that every page,
API answer and the scrape still answer with meaningful bodies. One server serves every case.
"""

from __future__ import annotations

import base64
import json
import pickle
import re
import socket
import time

import pytest

from tests.support.events import event, heartbeat
from tests.support.processes import Server, wait_for
from tests.support.publish import envelope

pytestmark = [pytest.mark.redis]

GOOD_COUNT = 63
DEADLINE = 2.0


def _raw_publish(db: int, body: bytes, routing_key: str = 'task.received') -> bytes:
    channel = f'/{db}.celeryev/{routing_key}'.encode()
    return b'*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n' % (len(channel), channel, len(body), body)


def _envelope_with(body: bytes, content_type: str) -> bytes:
    return json.dumps(
        {
            'body': base64.b64encode(body).decode(),
            'content-encoding': 'utf-8',
            'content-type': content_type,
            'headers': {},
            'properties': {'body_encoding': 'base64'},
        }
    ).encode()


def _received(uuid: str, **fields) -> dict:
    values = dict(uuid=uuid, name='hostile.ok', args='()', kwargs='{}', retries=0, root_id=uuid)
    values.update(fields)
    return event('task-received', 'good@hostile', **values)


# (case id, what to publish: an event dict or raw envelope bytes, the counter and reason it must be counted under)
REJECTED = 'flower_events_rejected_total'
REPAIRED = 'flower_events_repaired_total'
CASES = [
    ('heartbeat-freq-text', heartbeat('bad@freq-text', freq='fast'), REPAIRED, 'field_dropped'),
    ('heartbeat-freq-null', heartbeat('bad@freq-null', freq=None), REPAIRED, 'field_dropped'),
    ('heartbeat-counts-text', heartbeat('bad@counts', active='3', processed='7'), REPAIRED, 'field_dropped'),
    ('heartbeat-loadavg-text', heartbeat('bad@load-text', loadavg=['a', 'b', 'c']), REPAIRED, 'field_dropped'),
    ('heartbeat-loadavg-number', heartbeat('bad@load-number', loadavg=1.5), REPAIRED, 'field_dropped'),
    ('heartbeat-overwrites-record', heartbeat('bad@record', event=1, heartbeats='x'), REPAIRED, 'field_dropped'),
    ('heartbeat-integer-hostname', heartbeat(12345), REJECTED, 'bad_hostname'),
    ('heartbeat-no-hostname', heartbeat(None), REJECTED, 'bad_hostname'),
    ('received-integer-name', _received('bad-name-int', name=42), REJECTED, 'bad_name'),
    ('received-dict-name', _received('bad-name-dict', name={'a': 1}), REJECTED, 'bad_name'),
    ('type-not-text', {'type': 7, 'hostname': 'bad@type', 'uuid': 'bad-type'}, REJECTED, 'bad_type'),
    ('type-missing', {'hostname': 'bad@type', 'uuid': 'no-type'}, REJECTED, 'bad_type'),
    ('uuid-list', _received(['a', 'b']), REJECTED, 'bad_uuid'),
    ('uuid-dict', _received({'a': 1}), REJECTED, 'bad_uuid'),
    ('hostname-dict', event('task-received', {'h': 1}, uuid='bad-host', name='x'), REJECTED, 'bad_hostname'),
    ('hostname-huge', event('task-received', 'h' * 10_000, uuid='bad-host2', name='x'), REJECTED, 'bad_hostname'),
    ('timestamp-text', _received('ts-text', timestamp='yesterday'), REPAIRED, 'timestamp_replaced'),
    ('timestamp-negative', _received('ts-negative', timestamp=-5.0), REPAIRED, 'timestamp_replaced'),
    (
        'timestamp-far-future',
        _received('ts-future', timestamp=time.time() + 10 * 365 * 86400),
        REPAIRED,
        'timestamp_replaced',
    ),
    ('timestamp-far-past', _received('ts-past', timestamp=1000.0), REPAIRED, 'timestamp_replaced'),
    ('timestamp-milliseconds', _received('ts-ms', timestamp=time.time() * 1000), REPAIRED, 'timestamp_milliseconds'),
    ('clock-backwards', _received('clock-back', clock=-1, timestamp=time.time() - 3600), REPAIRED, 'field_dropped'),
    ('args-list', _received('args-list', args=[1, 2, 3]), REPAIRED, 'text_converted'),
    (
        'runtime-text',
        event('task-succeeded', 'good@hostile', uuid='rt-text', runtime='slow'),
        REPAIRED,
        'field_dropped',
    ),
    ('body-not-an-object', b'json:[1, 2, 3]', REJECTED, 'not_an_event'),
    ('garbage-bytes', b'raw:\x00\xff\xfe garbage', REJECTED, 'undecodable'),
    (
        'bad-base64',
        b'raw:'
        + json.dumps(
            {'body': '!!!not base64', 'content-type': 'application/json', 'properties': {'body_encoding': 'base64'}}
        ).encode(),
        REJECTED,
        'undecodable',
    ),
    ('not-json', b'raw:' + _envelope_with(b'{"type": "task-received", ', 'application/json'), REJECTED, 'undecodable'),
    (
        'deeply-nested',
        b'raw:' + _envelope_with(b'[' * 100_000 + b']' * 100_000, 'application/json'),
        REJECTED,
        'undecodable',
    ),
    (
        'pickle-body',
        b'raw:'
        + _envelope_with(pickle.dumps({'type': 'task-received', 'uuid': 'pickled'}), 'application/x-python-serialize'),
        REJECTED,
        'undecodable',
    ),
    (
        'yaml-body',
        b'raw:' + _envelope_with(b'type: task-received\nuuid: yaml\n', 'application/x-yaml'),
        REJECTED,
        'undecodable',
    ),
    ('args-20mb', _received('args-huge', args='x' * (20 * 1024 * 1024)), None, None),
]


@pytest.fixture(scope='module')
def server(redis_url, redis_db):
    srv = Server(redis_url, app=None, args=['--enable_events=false', '--max_tasks=100000'])
    try:
        wait_for(lambda: 'receiving events' in srv.output(), 20, message='the subscription')
        yield srv
    finally:
        srv.stop()


def _metric(server, name: str, reason: str) -> float:
    match = re.search(rf'^{name}\{{reason="{reason}"\}} (\S+)$', server.get('/metrics').text, re.M)
    assert match, f'{name}{{reason="{reason}"}} is not exported'
    return float(match.group(1))


def _message_bytes(db: int, message) -> bytes:
    if isinstance(message, dict):
        if isinstance(message.get('type'), str):
            return _raw_publish(db, envelope(message), message['type'].replace('-', '.'))
        return _raw_publish(db, _envelope_with(json.dumps(message).encode(), 'application/json'))
    kind, _, payload = message.partition(b':')
    if kind == b'json':
        return _raw_publish(db, _envelope_with(payload, 'application/json'))
    return _raw_publish(db, payload)


def _publish(port: int, payloads: list[bytes]) -> None:
    with socket.create_connection(('127.0.0.1', port)) as sock:
        sock.sendall(b''.join(payloads))
        replies = b''
        while replies.count(b'\r\n') < len(payloads):
            chunk = sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError('redis closed the connection')
            replies += chunk


@pytest.mark.parametrize('case, message, counter, reason', CASES, ids=[case[0] for case in CASES])
def test_a_bad_message_costs_no_good_event_and_breaks_no_page(server, redis_db, case, message, counter, reason):
    before = _metric(server, counter, reason) if counter else None
    good = [_received(f'{case}-good-{i}') for i in range(GOOD_COUNT)]
    payloads = [_message_bytes(redis_db, message)] + [_message_bytes(redis_db, ev) for ev in good]
    _publish(6379, payloads)
    written = time.monotonic()

    def all_applied():
        tasks = server.get('/api/tasks', params={'search': case}).json()
        return sum(f'{case}-good-' in uuid for uuid in tasks) == GOOD_COUNT

    deadline = DEADLINE if case != 'args-20mb' else 30.0
    wait_for(
        all_applied,
        deadline - (time.monotonic() - written),
        interval=0.05,
        message=f'{GOOD_COUNT} good events after a {case} message',
    )

    if counter:
        wait_for(lambda: _metric(server, counter, reason) > before, 5, message=f'{counter}{{reason="{reason}"}}')

    pages = {
        '/': 'good@hostile',
        '/workers': 'good@hostile',
        '/tasks': 'tasks/datatable',
        '/api/workers': '',  # what workers answered to inspect: none here, so an empty object '/api/workers?status=1': 'good@hostile', '/api/task/types': 'hostile.ok',
        '/tasks/datatable?draw=1&start=0&length=1000&order[0][column]=0&columns[0][data]=name'
        f'&search[value]={case}': f'{case}-good-0',
        '/workers?json=1': 'good@hostile',
        f'/api/tasks?sort_by=name&search={case}': f'{case}-good-0',
        '/metrics': 'flower_events_total{',
    }
    for path, expected in pages.items():
        answer = server.get(path, timeout=30)
        assert answer.status_code == 200, (path, answer.text[:500])
        assert expected in answer.text, (path, answer.text[:500])
    assert isinstance(server.get('/api/workers').json(), dict)


def test_pages_and_answers_survive_bad_values_already_in_memory(monkeypatch):
    """Records as an older version could have saved them with ``--persistent`` (events were not checked then):
    every page, API answer and the scrape answers 200, with the bad values shown as unknown."""
    from celery.events.state import Worker

    from tests.support.events import task_events
    from tests.support.inprocess import InProcessServer

    monkeypatch.setenv('FLOWER_UNAUTHENTICATED_API', 'true')
    server = InProcessServer()
    try:
        server.apply([heartbeat('good@h')] + task_events(hostname='good@h', uuid='good-task', name='ok'))

        def poison():
            state = server.app.events.state
            for hostname, worker in (
                (
                    12345,
                    Worker(
                        12345,
                        freq='fast',
                        heartbeats=[time.time()],
                        active='3',
                        processed='7',
                        loadavg=['a', 'b'],
                        sw_ident=5,
                    ),
                ),
                ('nulls@h', Worker('nulls@h', freq=None, heartbeats=['x', time.time()], loadavg=1.5)),
            ):
                state.workers[hostname] = worker
                state.counter[hostname]['worker-heartbeat'] = 1
            task = state.tasks['good-task']
            state.tasks['bad-task'] = type(task)(
                'bad-task',
                state,
                name=42,
                received='never',
                runtime='slow',
                state='SUCCESS',
                worker=state.workers[12345],
            )
            state.note_task_types([42])
            state.metrics.set_executing('old@h', 'abc')

        server.on_loop(poison)

        pages = {
            '/': 'good@h',
            '/workers': '12345',
            '/tasks': 'tasks/datatable',
            '/api/workers?status=1': '"12345"',
            '/api/task/types': 'ok',
            '/workers?json=1': 'nulls@h',
            '/api/tasks?sort_by=name': 'bad-task',
            '/tasks/datatable?draw=1&start=0&length=10&order[0][column]=0&columns[0][data]=name': 'bad-task',
            '/tasks/datatable?draw=1&start=0&length=10&order[0][column]=0&columns[0][data]=worker': 'bad-task',
            '/task/bad-task': 'unknown',
            '/worker/nulls@h': 'nulls@h',
            '/metrics': 'flower_worker_online{',
        }
        for path, expected in pages.items():
            answer = server.get(path)
            assert answer.status_code == 200, (path, answer.text[:500])
            assert expected in answer.text, (path, answer.text[:500])
        assert server.get('/api/workers?status=1').json() == {'good@h': True, '12345': True, 'nulls@h': True}
        assert 'old@h' not in server.get('/metrics').text
    finally:
        server.stop()
