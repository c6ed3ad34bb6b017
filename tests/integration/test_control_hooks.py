"""The control API's extension points on a real (in-process) server, as code written for Flower uses them:
``ControlHandler.is_worker`` decides which workers may be commanded (a subclass or a patch is honoured), the
commands are Flower's own calls on ``capp.control`` (a MagicMock put in place of the method Flower calls sees
Flower's call), and a worker nobody knows yet is asked before the 404. No broker: the inspector is a stand-in
where a worker has to answer."""

from __future__ import annotations

import asyncio
from unittest import mock
from unittest.mock import MagicMock

import pytest
from celery import Celery

from flower.api.control import ControlHandler
from tests.support.inprocess import InProcessServer


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv('FLOWER_UNAUTHENTICATED_API', 'true')
    capp = Celery('hooks', broker='memory://', set_as_current=False)

    @capp.task(name='hooks.add')
    def add(x, y):
        return x + y

    # nothing may go on the wire unless a test put a control method in place
    capp.control.broadcast = MagicMock(side_effect=AssertionError('broadcast called: the method was bypassed'))
    server = InProcessServer(capp=capp)
    yield server
    server.stop()


def fake_inspections(server, answering=()):
    """Make the server's inspector answer for ``answering`` only (recording who was asked)."""
    inspector = server.app.inspector
    asked = []

    def inspect(workername=None):
        asked.append(workername)

        async def refresh():
            if workername in answering:
                inspector.workers[workername] = {'stats': {'pool': {'max-concurrency': 4}}, 'timestamp': 1.0}
            return [workername] if workername in answering else []

        return asyncio.ensure_future(refresh())

    server.on_loop(setattr, inspector, 'inspect', inspect)
    return asked


def test_a_patched_is_worker_lets_commands_through_to_patched_control_methods(server):
    control = server.capp.control
    control.pool_grow = MagicMock(return_value=[{'w1': 'ok'}])  # Flower's tests answer so
    control.time_limit = MagicMock(return_value=[{'w1': {'ok': 'time limits set successfully'}}])
    control.broadcast = MagicMock(return_value=[{'w1': {'ok': 'add consumer q1'}}])  # Flower broadcasts this one
    fake_inspections(server)
    with mock.patch.object(ControlHandler, 'is_worker', return_value=True) as is_worker:
        response = server.post('/api/worker/pool/grow/w1', params={'n': 2})
        assert (response.status_code, response.json()) == (200, {'message': "Growing 'w1' worker's pool by 2"})
        response = server.post('/api/task/timeout/hooks.add', params={'workername': 'w1', 'hard': 10})
        assert (response.status_code, response.json()) == (200, {'message': 'time limits set successfully'})
        response = server.post('/api/worker/queue/add-consumer/w1', params={'queue': 'q1'})
        assert (response.status_code, response.json()) == (200, {'message': 'add consumer q1'})
    assert [c.args[0] for c in is_worker.call_args_list] == ['w1', 'w1', 'w1']
    control.pool_grow.assert_called_once_with(n=2, destination=['w1'], reply=True)
    control.time_limit.assert_called_once_with('hooks.add', hard=10.0, soft=None, destination=['w1'], reply=True)
    control.broadcast.assert_called_once_with('add_consumer', destination=['w1'], reply=True, arguments={'queue': 'q1'})


def test_a_subclass_that_refuses_a_worker_is_honoured_even_for_an_inspected_one(server):
    server.capp.control.broadcast = MagicMock()
    server.on_loop(server.app.inspector.workers.__setitem__, 'w1', {'stats': {}})
    asked = fake_inspections(server, answering=['w1'])
    with mock.patch.object(ControlHandler, 'is_worker', lambda self, name: name != 'w1'):
        response = server.post('/api/worker/shutdown/w1')
    assert (response.status_code, response.text) == (404, "Unknown worker 'w1'")
    assert asked == ['w1']  # asked once more before the 404
    server.capp.control.broadcast.assert_not_called()


def test_a_worker_no_cache_knows_is_asked_before_the_404(server):
    server.capp.control.rate_limit = MagicMock(return_value=[{'fresh@h': {'ok': 'new rate limit set successfully'}}])
    asked = fake_inspections(server, answering=['fresh@h'])
    response = server.post('/api/task/rate-limit/hooks.add', params={'workername': 'fresh@h', 'ratelimit': '5/s'})
    assert (response.status_code, response.json()) == (200, {'message': 'new rate limit set successfully'})
    server.capp.control.rate_limit.assert_called_once_with('hooks.add', '5/s', destination=['fresh@h'], reply=True)
    response = server.post('/api/task/rate-limit/hooks.add', params={'workername': 'gone@h', 'ratelimit': '5/s'})
    assert (response.status_code, response.text) == (404, "Unknown worker 'gone@h'")
    assert asked == ['fresh@h', 'gone@h']
    assert server.capp.control.rate_limit.call_count == 1


def test_revoke_is_celerys_revoke(server):
    server.capp.control.revoke = MagicMock()
    response = server.post('/api/task/revoke/abc', params={'terminate': 'true', 'signal': 'KILL'})
    assert (response.status_code, response.json()) == (200, {'message': "Revoked 'abc'"})
    server.capp.control.revoke.assert_called_once_with('abc', terminate=True, signal='SIGKILL')
