"""Runtime rules 1 and 6 against real servers and a real Redis.

Rule 1 (the state is written only on the IOLoop thread): a real server, with the thread guard on (the tests'
``FLOWER_THREAD_GUARD=1`` reaches it through the environment), works off a burst published to a real Redis,
evicts (``--max_tasks``), saves (``--persistent``) and expires (``--max_task_age``) tasks, and logs no guard
violation. Rule 6: :meth:`flower.events.Events.stop` ends the events thread within its timeout while the
broker is unreachable and while it is connected, on both the raw Redis reader and the kombu path.
"""

from __future__ import annotations

import threading
import time

import pytest
from celery import Celery

from flower.events import Events
from tests.support.events import event
from tests.support.processes import PrivateRedis, Server, free_port, wait_for
from tests.support.publish import publish_burst

pytestmark = [pytest.mark.redis]


def _events_total(server) -> float:
    text = server.get('/metrics').text
    return sum(float(line.rsplit(' ', 1)[1]) for line in text.splitlines() if line.startswith('flower_events_total{'))


@pytest.mark.slow
def test_a_burst_is_applied_on_the_ioloop_thread_only(processes, tmp_path):
    redis_server = PrivateRedis()
    processes.append(redis_server)
    server = Server(
        redis_server.url,
        app=None,
        args=[
            '--enable_events=false',
            '--max_tasks=4000',
            '--persistent=true',
            f'--db={tmp_path / "state.db"}',
            '--state_save_interval=200',
            '--max_task_age=4',
        ],
    )
    processes.append(server)
    wait_for(lambda: 'receiving events' in server.output(), 20, message='the subscription')
    assert (
        "Thread guard on: the events state and the inspector cache written only on thread 'MainThread'"
        in server.output()
    )
    t0 = time.time()
    events = []
    for i in range(10_000):  # 30,000 events: 6,000 tasks evicted by --max_tasks on the way
        uuid = f'guarded-{i}'
        host = f'w{i % 4}@guard'
        events.append(event('task-received', host, t0, uuid=uuid, name='guard.task', args='()', kwargs='{}'))
        events.append(event('task-started', host, t0, uuid=uuid))
        events.append(event('task-succeeded', host, t0, uuid=uuid, result='None', runtime=0.001))
    assert publish_burst(redis_server.port, events) == 1
    wait_for(lambda: _events_total(server) >= 30_000, 120, interval=0.5, message='30,000 events to be applied')
    assert _events_total(server) == 30_000
    assert len(server.get('/api/tasks', params={'state': 'SUCCESS'}, timeout=30).json()) == 4000
    # --max_task_age=4: retention (on the IOLoop, through the store's pop) forgets every task
    wait_for(lambda: server.get('/api/tasks', timeout=30).json() == {}, 30, interval=0.5, message='the tasks to expire')
    output = server.output()
    assert 'Thread guard:' not in output, output[-3000:]
    assert 'Traceback' not in output, output[-3000:]


class _NoLoop:
    """Stands in for the IOLoop: these tests look at the thread only."""

    def add_callback(self, *args, **kwargs):
        pass


def _stop_within(events: Events, timeout: float) -> float:
    started = time.monotonic()
    events.stop(timeout=timeout)
    took = time.monotonic() - started
    assert not events.is_alive(), f'the events thread is still running {took:.2f} s after stop()'
    return took


@pytest.mark.parametrize('raw_redis', [True, False], ids=['raw-reader', 'kombu'])
def test_stop_ends_the_thread_while_the_broker_is_unreachable(raw_redis):
    events = Events(
        Celery('unreachable', broker=f'redis://127.0.0.1:{free_port()}/0'), enable_events=False, raw_redis=raw_redis
    )
    events.io_loop = _NoLoop()
    threading.Thread.start(events)  # only the thread: no timers, no IOLoop
    wait_for(lambda: events.failures >= 2, 10, interval=0.02, message='failed connection attempts')
    assert events.last_error.startswith('connection refused'), events.last_error
    assert _stop_within(events, timeout=5.0) < 1.5


@pytest.mark.parametrize('raw_redis', [True, False], ids=['raw-reader', 'kombu'])
def test_stop_ends_the_thread_while_connected(redis_url, raw_redis):
    events = Events(Celery('connected', broker=redis_url), enable_events=False, raw_redis=raw_redis)
    events.io_loop = _NoLoop()
    threading.Thread.start(events)
    wait_for(lambda: events.health.is_connected, 20, interval=0.02, message='the subscription')
    assert _stop_within(events, timeout=5.0) < 1.5
    assert events.connect_count == 1 and events.failures == 0
