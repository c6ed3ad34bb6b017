"""Shared fixtures: a Redis db number and a RabbitMQ vhost of this session's own, real workers, servers.

Services are shared with other sessions on the machine: this session claims a Redis db with a lock key (and
gives it back), creates its own RabbitMQ vhost (and deletes it), flushes only its own db, and stops only the
processes it started. When a service or a program is missing the tests that need it skip at once with a
one-line reason, except under CI=true, where they fail with the same reason (tests.support.needs).
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.support.needs import in_ci, require_management_api, require_tool, skip_or_fail
from tests.support.processes import Server, start_worker, wait_for

REDIS_HOST = '127.0.0.1'
REDIS_PORT = 6379
IN_CI = in_ci()
# Runtime rule 1 checked in every test: state written off the IOLoop thread raises and logs "Thread guard: ..."
# (flower.utils.thread_guard). Set here, at import, so every object the tests build, and every server process
# they start (tests.support.processes passes os.environ on), has the guard on.
os.environ['FLOWER_THREAD_GUARD'] = '1'


# the names test modules import from here (tests.support.needs holds the rule)
unavailable = skip_or_fail
require_executable = require_tool


def _redis_client(db=0):
    import redis

    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db, socket_timeout=2, socket_connect_timeout=2)


@pytest.fixture(scope='session')
def redis_db():
    """A Redis db number (1..15) claimed for this session; flushed before and after use."""
    try:
        lock = _redis_client(0)
        lock.ping()
    except Exception as exc:
        skip_or_fail(f'Redis on {REDIS_HOST}:{REDIS_PORT} is not reachable: {exc}')
    token = f'{os.getpid()}-{uuid.uuid4().hex[:8]}'
    claimed = None
    for db in range(1, 16):
        if lock.set(f'flower-tests:db:{db}', token, nx=True, ex=3 * 3600):
            claimed = db
            break
    if claimed is None:
        skip_or_fail('no free Redis db number (1..15) for this test session')
    _redis_client(claimed).flushdb()
    yield claimed
    _redis_client(claimed).flushdb()
    if lock.get(f'flower-tests:db:{claimed}') == token.encode():
        lock.delete(f'flower-tests:db:{claimed}')


@pytest.fixture(scope='session')
def redis_url(redis_db):
    return f'redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}'


@pytest.fixture(scope='session')
def rabbitmq_vhost():
    """A RabbitMQ vhost of this session's own (created through rabbitmqctl, deleted afterwards)."""
    import socket
    import subprocess

    try:
        socket.create_connection(('127.0.0.1', 5672), timeout=2).close()
    except OSError as exc:
        skip_or_fail(f'RabbitMQ on 127.0.0.1:5672 is not reachable: {exc}')
    ctl = require_tool('rabbitmqctl', 'apt-get install rabbitmq-server')
    vhost = f'flowertest-{uuid.uuid4().hex[:10]}'
    try:
        subprocess.run([ctl, 'add_vhost', vhost], check=True, capture_output=True, timeout=60)
        subprocess.run(
            [ctl, 'set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*'],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except subprocess.CalledProcessError as exc:  # e.g. not allowed to talk to the node (its Erlang cookie)
        skip_or_fail(f'rabbitmqctl could not create a vhost: {(exc.stderr or b"").decode(errors="replace").strip()}')
    yield vhost
    subprocess.run([ctl, 'delete_vhost', vhost], capture_output=True, timeout=60)


@pytest.fixture(scope='session')
def amqp_url(rabbitmq_vhost):
    return f'amqp://guest:guest@127.0.0.1:5672/{rabbitmq_vhost}'


RABBITMQ_MANAGEMENT_API = 'http://127.0.0.1:15672/api/'


@pytest.fixture(scope='session')
def rabbitmq_management():
    """The RabbitMQ management API's URL (queue lengths on the broker page need its plugin); checked once, so
    a test does not wait a minute for statistics that never come."""
    return require_management_api(RABBITMQ_MANAGEMENT_API)


@pytest.fixture
def processes():
    """Collects processes a test starts and stops them all at the end, even when the test fails."""
    started = []
    yield started
    for proc in reversed(started):
        proc.stop()


def celery_app_for(broker: str, backend: str | None = None):
    """The tests' Celery app pointed at ``broker`` (a fresh instance per call, so sessions don't mix)."""
    from celery import Celery

    app = Celery('flowertests', broker=broker, backend=backend or None)
    app.conf.update(task_send_sent_event=True, broker_connection_retry_on_startup=True)
    return app


__all__ = [
    'Server',
    'start_worker',
    'wait_for',
    'celery_app_for',
    'unavailable',
    'require_executable',
    'require_management_api',
]


# -- a run that finishes must also exit -------------------------------------------------------------------------

_exit_status = {'code': 0}


def pytest_sessionfinish(session, exitstatus):
    _exit_status['code'] = int(exitstatus)


def pytest_unconfigure(config):
    """Python waits for every non-daemon thread before it exits, so one a test left running (a reader blocked on
    a broker, a thread pool mid-call) keeps the process alive after the summary is printed, until CI's time
    limit. Such threads are named here and the process exits anyway, with a failing status."""
    import sys
    import threading

    def leftovers():
        return [t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive() and not t.daemon]

    if not leftovers():
        return
    # idle thread-pool workers only stop when the interpreter's exit hook tells them to: run that hook now, on
    # a daemon thread, so a worker stuck in a call cannot block this check as well
    from concurrent.futures import thread as pool_threads

    waker = threading.Thread(target=pool_threads._python_exit, daemon=True)
    waker.start()
    waker.join(10)
    stuck = leftovers()
    if not stuck:
        return
    names = ', '.join(sorted(t.name for t in stuck))
    sys.stderr.write(f'\nERROR: tests left {len(stuck)} non-daemon thread(s) running: {names}\n')
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(_exit_status['code'] or 1)
