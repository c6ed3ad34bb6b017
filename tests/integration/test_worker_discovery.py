"""A worker that starts after the server shows in /api/workers with what inspect says about it, without anyone
asking for a refresh (Flower shows it only after a manual refresh)."""

from __future__ import annotations

import pytest

from tests.support.processes import PrivateRedis, Server, start_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def test_a_worker_started_later_is_inspected_on_its_own(processes):
    redis_server = PrivateRedis()
    processes.append(redis_server)
    server = Server(redis_server.url)
    processes.append(server)
    wait_for(lambda: 'receiving events' in server.output(), 20, message='the event subscription')
    assert server.get('/api/workers').json() == {}

    worker = start_worker(redis_server.url, 'late@%h', pool='solo', concurrency=1, queues='celery,reports')
    processes.append(worker)

    def inspected():
        workers = server.get('/api/workers').json()  # no refresh=1
        return next((info for name, info in workers.items() if name.startswith('late@') and 'stats' in info), None)

    info = wait_for(inspected, 60, interval=0.3, message='the new worker in /api/workers without a refresh')
    assert {queue['name'] for queue in info['active_queues']} == {'celery', 'reports'}
    assert 'tests.support.celeryapp.add' in info['registered']
    assert info['stats']['pid'] == worker.pid
