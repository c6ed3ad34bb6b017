"""A real worker and a real server on the machine's brokers: tasks that succeed, fail, retry and run long
show up in the API with the right fields, the worker's inspect data is served, and /metrics counts events."""

from __future__ import annotations

import re
import socket

import pytest

from tests.conftest import celery_app_for
from tests.support.processes import Server, start_worker, wait_for

pytestmark = pytest.mark.slow
TASKS = 'tests.support.celeryapp'


def _exercise_cluster(broker: str, processes, hostname: str):
    worker = start_worker(broker, hostname, pool='prefork', concurrency=2)
    processes.append(worker)
    server = Server(broker, args=['--inspect_timeout=3000'])
    processes.append(server)
    full_name = hostname.replace('%h', socket.gethostname())

    workers = wait_for(
        lambda: _worker_ready(server, full_name), 60, interval=0.5, message=f'{full_name} in /api/workers?refresh=1'
    )
    info = workers[full_name]
    assert info['stats']['pool']['max-concurrency'] == 2
    assert f'{TASKS}.add' in info['registered']
    assert [q['name'] for q in info['active_queues']] == ['celery']
    assert isinstance(info['timestamp'], float)

    app = celery_app_for(broker)
    ok = app.send_task(f'{TASKS}.add', args=(2, 2))
    bad = app.send_task(f'{TASKS}.fail', kwargs={'message': 'boom'})
    retried = app.send_task(f'{TASKS}.retry_once', args=(7,))
    slow = app.send_task(f'{TASKS}.sleep', args=(1.5,))

    def finished():
        tasks = server.get('/api/tasks').json()
        states = {tid: tasks.get(tid, {}).get('state') for tid in (ok.id, bad.id, retried.id, slow.id)}
        done = states == {ok.id: 'SUCCESS', bad.id: 'FAILURE', retried.id: 'SUCCESS', slow.id: 'SUCCESS'}
        return tasks if done else None

    tasks = wait_for(finished, 60, interval=0.3, message='all four tasks finished')

    assert tasks[ok.id]['name'] == f'{TASKS}.add'
    assert tasks[ok.id]['args'] == '(2, 2)'
    assert tasks[ok.id]['result'] == '4'
    assert tasks[ok.id]['worker'] == full_name
    assert tasks[ok.id]['received'] <= tasks[ok.id]['started'] <= tasks[ok.id]['succeeded']
    assert tasks[bad.id]['kwargs'] == "{'message': 'boom'}"
    assert tasks[bad.id]['exception'] == "ValueError('boom')"
    assert 'ValueError: boom' in tasks[bad.id]['traceback']
    assert tasks[retried.id]['result'] == '7'
    assert tasks[retried.id]['retries'] == 1
    assert tasks[slow.id]['runtime'] >= 1.5
    assert tasks[ok.id]['runtime'] < tasks[slow.id]['runtime']

    # the info endpoint agrees with the list
    assert server.get(f'/api/task/info/{bad.id}').json()['exception'] == "ValueError('boom')"
    types = server.get('/api/task/types').json()['task-types']
    assert {f'{TASKS}.add', f'{TASKS}.fail', f'{TASKS}.retry_once', f'{TASKS}.sleep'} <= set(types)

    # filters
    failed = server.get('/api/tasks', params={'state': 'failure'}).json()
    assert bad.id in failed and all(task['state'] == 'FAILURE' for task in failed.values())
    by_name = server.get('/api/tasks', params={'taskname': f'{TASKS}.ADD'}).json()
    assert ok.id in by_name and all(task['name'] == f'{TASKS}.add' for task in by_name.values())
    assert len(server.get('/api/tasks', params={'limit': 2}).json()) == 2

    metrics = server.get('/metrics').text

    def count(type_, task):
        pattern = (
            rf'^flower_events_total\{{task="{re.escape(TASKS)}\.{task}",type="{type_}",'
            rf'worker="{re.escape(full_name)}"\}} (\d+\.\d+)$'
        )
        found = re.search(pattern, metrics, re.M)
        return float(found.group(1)) if found else 0.0

    assert count('task-succeeded', 'add') == 1.0
    assert count('task-failed', 'fail') == 1.0
    assert count('task-retried', 'retry_once') == 1.0
    assert count('task-received', 'retry_once') == 2.0  # the retry is received again
    assert re.search(rf'^flower_worker_online\{{worker="{re.escape(full_name)}"\}} 1\.0$', metrics, re.M)
    assert re.search(
        rf'^flower_task_runtime_seconds_count\{{task="{TASKS}\.sleep",'
        rf'worker="{re.escape(full_name)}"\}} 1\.0$',
        metrics,
        re.M,
    )

    # the workers' online status from events
    status = server.get('/api/workers', params={'status': 1}).json()
    assert status[full_name] is True
    return server


def _worker_ready(server, full_name):
    workers = server.get('/api/workers', params={'refresh': 1}).json()
    info = workers.get(full_name)
    return workers if info and 'stats' in info and 'registered' in info and 'active_queues' in info else None


@pytest.mark.redis
def test_redis_cluster_end_to_end(redis_url, processes):
    _exercise_cluster(redis_url, processes, 'redis-smoke@%h')


@pytest.mark.rabbitmq
def test_rabbitmq_cluster_end_to_end(amqp_url, processes):
    _exercise_cluster(amqp_url, processes, 'amqp-smoke@%h')
