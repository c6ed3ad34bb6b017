"""Revoking a scheduled task (issue 15 point 7) with a real worker: a task with a countdown waits in the
worker as RECEIVED; revoked through the API, the task page, /api/task/info and the tasks table show it as
revoke-pending at once, and it becomes REVOKED when the worker reports task-revoked.

What celery 5 does (celery.worker.control._revoke, Request.revoked): the revoke adds the id to the worker's
revoked set and sends nothing for a task that has not started; the task-revoked event comes when the task
comes due and the worker skips it. So the test waits for the ETA, and asserts the event's time is not before
it."""

from __future__ import annotations

import re
import socket
import time
from datetime import datetime

import pytest

from tests.conftest import celery_app_for
from tests.support.processes import Server, start_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis]
ADD = 'tests.support.celeryapp.add'
# long enough for the server to show the revoke before the task comes due (the task is sent once the worker is
# online, so none of it is spent starting the worker), short enough not to wait a minute for the ETA
COUNTDOWN = 12

DATATABLE = {
    'draw': 1,
    'start': 0,
    'length': 10,
    'order[0][column]': 0,
    'columns[0][data]': 'name',
    'order[0][dir]': 'asc',
    'search[value]': '',
}


def test_revoking_a_countdown_task_shows_at_once_and_revoked_when_due(redis_url, processes):
    server = Server(redis_url)
    processes.append(server)
    wait_for(lambda: 'receiving events' in server.output(), 20, message='the server to subscribe')
    worker = start_worker(redis_url, 'eta@%h', pool='solo', concurrency=1)
    processes.append(worker)
    hostname = 'eta@' + socket.gethostname()
    wait_for(
        lambda: server.get('/api/workers', params={'status': 1}).json().get(hostname),
        60,
        interval=0.3,
        message='the worker to show as online',
    )
    app = celery_app_for(redis_url)
    task_id = app.send_task(ADD, args=(1, 2), countdown=COUNTDOWN).id

    def info():
        response = server.get(f'/api/task/info/{task_id}')
        return response.json() if response.status_code == 200 else {}

    received = wait_for(
        lambda: info() if info().get('state') == 'RECEIVED' else None,
        COUNTDOWN,
        message='the worker to receive the scheduled task',
    )
    assert 'revoked_pending' not in received
    eta = datetime.fromisoformat(received['eta']).timestamp()

    response = server.post(f'/api/task/revoke/{task_id}')
    assert response.status_code == 200 and response.json() == {'message': f"Revoked '{task_id}'"}

    # at once: no event has come yet, the server marked what it did
    now = info()
    assert now['state'] == 'RECEIVED' and now['revoked_pending'] is True
    page = server.get(f'/task/{task_id}').text
    badge = re.search(r'<span class="badge revoked-pending-badge" id="revoked-pending"[^>]*>', page).group(0)
    assert ' hidden' not in badge
    rows = server.post('/tasks/datatable', data=DATATABLE).json()['data']
    assert [row.get('revoked_pending') for row in rows if row['uuid'] == task_id] == [True]

    # later: the worker skips it when it comes due and reports task-revoked
    revoked = wait_for(
        lambda: info() if info().get('state') == 'REVOKED' else None,
        COUNTDOWN + 60,
        interval=0.5,
        message='the worker to report task-revoked when the task comes due',
    )
    assert 'revoked_pending' not in revoked
    assert revoked['revoked'] >= eta - 1  # not at the revoke: when the ETA came (1 s for clock rounding)
    assert revoked['succeeded'] is None and revoked['result'] is None
    page = server.get(f'/task/{task_id}').text
    assert re.search(r'id="revoked-pending"[^>]* hidden', page)
    assert time.time() >= eta - 1
