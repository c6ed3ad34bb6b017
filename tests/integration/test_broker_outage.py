"""The broker going away, or not being there at start, never takes the server down: it keeps answering,
says what is wrong in the log, and picks the events up again once the broker is back.

Uses a private redis-server on a free port (the machine's shared Redis is never stopped)."""

from __future__ import annotations

import signal
import socket

import pytest

from tests.conftest import celery_app_for, unavailable
from tests.support.processes import PrivateRedis, Server, free_port, start_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis]
ADD = 'tests.support.celeryapp.add'


def _task_arrives(server, app, x, timeout=60):
    """Send add(x, x) and wait until the server shows it succeeded."""
    result = app.send_task(ADD, args=(x, x))
    wait_for(lambda: server.get('/api/tasks').json().get(result.id, {}).get('state') == 'SUCCESS', timeout,
             interval=0.3, message=f'task {result.id} to arrive as SUCCESS')
    return result.id


def _private_redis_or_skip(port=None):
    try:
        return PrivateRedis(port)
    except (FileNotFoundError, AssertionError) as exc:
        unavailable(f'cannot start a private redis-server: {exc}')


def test_server_survives_broker_outage_and_resumes(processes):
    redis_server = _private_redis_or_skip()
    processes.append(redis_server)
    port = redis_server.port
    broker = redis_server.url
    worker = start_worker(broker, 'outage@%h', pool='solo', concurrency=1)
    processes.append(worker)
    server = Server(broker)
    processes.append(server)
    # a slow machine may take seconds to start the worker: send the first task once it is listening
    wait_for(lambda: any(server.get('/api/workers', params={'status': 1}).json().values()), 60, interval=0.3,
             message='the worker to show as online')
    app = celery_app_for(broker)
    _task_arrives(server, app, 1)

    redis_server.stop(signum=signal.SIGKILL)
    # the server keeps answering while the broker is gone, and says why events stopped
    wait_for(lambda: 'Failed to capture events' in server.output(), 30, message='the log to report the outage')
    assert 'Event stream interrupted' in server.output()
    for _ in range(5):
        assert server.get('/healthcheck').text == 'OK'
    assert server.get('/api/tasks').status_code == 200
    assert server.alive()

    restarted = PrivateRedis(port)
    processes.append(restarted)
    # the server must reconnect by itself (events sent while nobody subscribes are lost in Redis pub/sub, so
    # wait for it before sending), and a new task must arrive
    wait_for(lambda: 'Reconnected to the broker' in server.output(), 60, message='the server to reconnect')
    task_id = _task_arrives(server, app, 2, timeout=90)
    assert server.get(f'/api/task/info/{task_id}').json()['result'] == '4'


def test_server_starts_without_broker_and_catches_up(processes):
    port = free_port()
    broker = f'redis://127.0.0.1:{port}/0'
    server = Server(broker)
    processes.append(server)
    assert server.get('/healthcheck').text == 'OK'
    wait_for(lambda: 'Failed to capture events' in server.output(), 30, message='the log to report the failure')
    assert 'Connection refused' in server.output() or 'Error 111' in server.output()

    redis_server = _private_redis_or_skip(port)
    processes.append(redis_server)
    wait_for(lambda: 'Connected to the broker' in server.output(), 60, message='the server to connect')
    worker = start_worker(broker, 'late@%h', pool='solo', concurrency=1)
    processes.append(worker)
    _task_arrives(server, celery_app_for(broker), 3, timeout=90)
    hostname = f'late@{socket.gethostname()}'
    wait_for(lambda: server.get('/api/workers', params={'status': 1}).json().get(hostname), 30,
             message='the late worker to be seen online')
