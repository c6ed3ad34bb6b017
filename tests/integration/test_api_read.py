"""The read API on a real server with replayed events: Flower's shapes and keys, the API gate, and bad
input answered with 400/404 and a message (Flower answers 500 for several of these)."""

from __future__ import annotations

import time

import pytest
from celery.events.state import Task as CeleryTask

from tests.support.events import event, heartbeat, task_events, worker_online
from tests.support.inprocess import InProcessServer


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv('FLOWER_UNAUTHENTICATED_API', 'true')
    server = InProcessServer()
    t = time.time()
    server.apply(
        [worker_online('w1@h'), heartbeat('w1@h', active=1)]
        + task_events(uuid='t-ok', name='app.add', hostname='w1@h', start=t)
        + task_events(uuid='t-bad', name='app.fail', hostname='w1@h', start=t + 1, outcome='failed')
        + [event('task-sent', 'client@h', t + 2, uuid='t-sent', name='app.later', args='()', kwargs='{}')]
    )
    yield server
    server.stop()


def test_task_dicts_have_flowers_keys(server):
    tasks = server.get('/api/tasks').json()
    assert list(tasks) == ['t-sent', 't-bad', 't-ok']
    expected = [k for k in CeleryTask._fields if k != 'worker'] + ['worker']
    assert list(tasks['t-ok']) == expected
    assert tasks['t-ok']['worker'] == 'w1@h'
    assert 'worker' not in tasks['t-sent']  # no worker yet: Flower leaves the key out
    assert server.get('/api/task/info/t-bad').json()['exception'] == "ValueError('boom')"
    assert server.get('/api/task/types').json() == {'task-types': ['app.add', 'app.fail', 'app.later']}


def test_listing_parameters(server):
    get = lambda **params: list(server.get('/api/tasks', params=params).json())  # noqa: E731
    assert get(state='SUCCESS') == ['t-ok']
    assert get(state='All', limit=1) == ['t-sent']
    assert get(offset=1, limit=1) == ['t-bad']
    assert get(sort_by='name') == ['t-ok', 't-bad', 't-sent']
    assert get(sort_by='-name') == ['t-sent', 't-bad', 't-ok']
    assert get(workername='W1@H') == ['t-bad', 't-ok']
    assert get(search='state:failure') == ['t-bad']
    assert get(received_start='2000-01-01 00:00', received_end='2999-01-01 00:00') == ['t-bad', 't-ok']


@pytest.mark.parametrize(
    'path, status, body',
    [
        ('/api/tasks?limit=x', 400, "Invalid argument 'x' of type 'int'"),
        ('/api/tasks?offset=abc', 400, "Invalid argument 'abc' of type 'int'"),
        ('/api/tasks?sort_by=foo', 400, "Invalid sort_by 'foo'"),
        ('/api/tasks?received_start=yesterday', 400, "Invalid received_start 'yesterday'"),
        ('/api/tasks?limit=-5', 400, "Invalid limit '-5'"),
        (
            '/api/tasks?search=ab',
            400,
            '{"error": "Substring search terms must contain at least 3 characters at position 0."}',
        ),
        ('/api/task/info/nope', 404, "Unknown task 'nope'"),
        ('/api/task/info/', 404, "Unknown task ''"),
        ('/api/workers?workername=nope', 404, "Unknown worker 'nope'"),
        ('/api/workers?refresh=notbool', 400, "Invalid argument 'notbool' of type 'bool'"),
    ],
)
def test_bad_input_is_a_client_error_with_a_message(server, path, status, body):
    response = server.get(path)
    assert response.status_code == status
    assert body in response.text


def test_worker_status_and_options(server):
    assert server.get('/api/workers', params={'status': 'true'}).json() == {'w1@h': True}
    assert server.get('/api/workers').json() == {}
    response = __import__('requests').options(server.url + '/api/workers', timeout=5)
    assert response.status_code == 204


def test_api_gate_without_authentication(monkeypatch):
    monkeypatch.delenv('FLOWER_UNAUTHENTICATED_API', raising=False)
    server = InProcessServer()
    try:
        response = server.get('/api/tasks')
        assert response.status_code == 401
        assert response.text == (
            'FLOWER_UNAUTHENTICATED_API environment variable is required to enable API without authentication'
        )
        assert server.get('/healthcheck').text == 'OK'
        assert server.get('/metrics').status_code == 200
    finally:
        server.stop()


def test_basic_auth_protects_the_api(monkeypatch):
    monkeypatch.delenv('FLOWER_UNAUTHENTICATED_API', raising=False)
    server = InProcessServer({'basic_auth': ['alice:secret']})
    try:
        assert server.get('/api/tasks').status_code == 401
        assert server.get('/api/tasks', auth=('alice', 'wrong')).status_code == 401
        assert server.get('/api/tasks', auth=('alice', 'secret')).json() == {}
        assert server.get('/metrics').status_code == 200  # public, as in Flower
    finally:
        server.stop()


def test_purge_offline_workers_drops_their_metrics(monkeypatch):
    server = InProcessServer({'purge_offline_workers': 10})
    try:
        long_ago = time.time() - 3600
        old = (
            [worker_online('old@h', timestamp=long_ago)]
            + task_events(hostname='old@h', start=long_ago)
            + [event('worker-offline', 'old@h', long_ago)]
        )
        for ev in old:  # received an hour ago, too
            ev['local_received'] = long_ago
        server.apply(old + [heartbeat('live@h')] + task_events(hostname='live@h'))
        text = server.get('/metrics').text
        assert 'worker="live@h"' in text
        assert 'old@h' not in text
    finally:
        server.stop()
