"""--max_tasks holds with a real worker: 300 tasks through a server limited to 100 leave the newest 100."""

from __future__ import annotations

import re

import pytest

from tests.conftest import celery_app_for
from tests.support.processes import Server, start_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def test_max_tasks_keeps_the_newest(redis_url, processes):
    worker = start_worker(redis_url, 'limits@%h', pool='solo', concurrency=1)
    processes.append(worker)
    server = Server(redis_url, args=['--max_tasks=100'])
    processes.append(server)
    app = celery_app_for(redis_url)
    wait_for(
        lambda: any(server.get('/api/workers', params={'status': 1}).json().values()),
        30,
        message='the worker to be online',
    )
    ids = [app.send_task('tests.support.celeryapp.add', args=(i, i)).id for i in range(300)]

    def succeeded():
        text = server.get('/metrics').text
        total = sum(
            float(v) for v in re.findall(r'^flower_events_total\{[^}]*type="task-succeeded"[^}]*\} (\S+)$', text, re.M)
        )
        return total >= 300

    wait_for(succeeded, 90, interval=0.5, message='300 task-succeeded events')
    tasks = server.get('/api/tasks').json()
    assert len(tasks) == 100
    assert set(tasks) == set(ids[200:])
    assert all(task['state'] == 'SUCCESS' for task in tasks.values())
    assert list(tasks)[0] == ids[-1]  # newest first
