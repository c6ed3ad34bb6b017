"""A Django-style app (tests/support/importsapp: ``-A`` defines no task; they come from ``imports=`` and
``autodiscover_tasks``) served by a real server, with real workers that send no events at all (no ``-E``, no
heartbeats) and start after the server, so no cache knows them until someone asks:

* the server imports the app's task modules as a worker does, so apply, async-apply, send-task, timeout and
  rate-limit know the tasks (they answered 404 "Unknown task"), and a module that cannot be imported is a
  warning that names it, not a failed start;
* ``countdown``/``expires`` written as text (``"1"``, ``"60"``) are taken as Flower takes them;
* a control command to a worker that is online but was never inspected asks it before any 404, and so does its
  page ``/worker/<name>``."""

from __future__ import annotations

import socket
import sys
from urllib.parse import quote

import pytest
from celery import Celery

from tests.support.processes import Process, Server, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis]

MULTIPLY = 'importsapp.multiply'  # from imports=
TOTAL = 'importsapp.shop.total'  # from autodiscover_tasks, as in a Django project


def start_silent_worker(broker: str, name: str) -> Process:
    """A worker of the imports app that sends no event: no -E, no heartbeats (so no worker-online)."""
    return Process(
        [
            sys.executable,
            '-m',
            'celery',
            '-A',
            'tests.support.importsapp',
            'worker',
            '-l',
            'info',
            '-P',
            'solo',
            '-n',
            name,
            '--without-gossip',
            '--without-mingle',
            '--without-heartbeat',
        ],
        env={'FLOWER_TEST_BROKER': broker, 'FLOWER_TEST_BACKEND': broker},
        name=f'worker-{name}',
    )


def wait_online(broker: str, hostname: str) -> None:
    """Until the worker answers a ping sent from here (not through the server, which must not learn of it)."""
    app = Celery('pinger', broker=broker, set_as_current=False)
    try:
        wait_for(
            lambda: app.control.ping(destination=[hostname], timeout=0.5),
            60,
            interval=0.2,
            message=f'{hostname} to answer a ping',
        )
    finally:
        app.close()


@pytest.fixture(scope='module')
def setup(redis_url):
    started = []
    try:
        server = Server(
            redis_url,
            app='tests.support.importsapp',
            backend=redis_url,
            args=['--inspect_timeout=2000'],
            env={'FLOWER_TEST_BROKEN_MODULE': '1'},
        )
        started.append(server)
        host = socket.gethostname()
        names = {'control': f'silentctl@{host}', 'page': f'silentpage@{host}'}
        for name in names.values():
            started.append(start_silent_worker(redis_url, name))
        for name in names.values():
            wait_online(redis_url, name)
        yield server, names, started[1]
    finally:
        for process in reversed(started):
            process.stop()


def _unknown_to_the_server(server, name: str) -> bool:
    rows = server.get('/workers', params={'json': 1}).json()['data']
    return name not in server.get('/api/workers').json() and all(row['hostname'] != name for row in rows)


def test_a_broken_task_module_is_a_warning_that_names_it(setup):
    server, _, _ = setup
    assert server.alive()
    log = server.output()
    assert (
        "the task module 'tests.support.importsapp.broken' cannot be imported (ModuleNotFoundError: No module "
        "named 'flower_tests_package_that_is_not_installed'). Its tasks are unknown to this server"
    ) in log
    assert 'Traceback' not in log


def test_tasks_from_imports_and_autodiscovery_can_be_applied(setup):
    server, _, _ = setup
    response = server.post(f'/api/task/apply/{MULTIPLY}', json={'args': [6, 7], 'timeout': 20})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {'task-id': body['task-id'], 'state': 'SUCCESS', 'result': 42}

    # countdown and expires written as text, as Flower takes them
    response = server.post(
        f'/api/task/async-apply/{TOTAL}', json={'args': [1, 2, 3], 'countdown': '1', 'expires': '60'}
    )
    assert response.status_code == 200, response.text
    result = server.get(f"/api/task/result/{response.json()['task-id']}", params={'timeout': 20}).json()
    assert (result['state'], result['result']) == ('SUCCESS', 6)

    response = server.post(f'/api/task/send-task/{MULTIPLY}', json={'args': [2, 5], 'countdown': '0.5'})
    assert response.status_code == 200, response.text
    result = server.get(f"/api/task/result/{response.json()['task-id']}", params={'timeout': 20}).json()
    assert (result['state'], result['result']) == ('SUCCESS', 10)

    response = server.post(f'/api/task/async-apply/{TOTAL}', json={'countdown': 'soon'})
    assert response.status_code == 400
    assert response.text.startswith("Invalid option 'countdown': expected a number of seconds")
    response = server.post('/api/task/apply/importsapp.nothere', json={})
    assert (response.status_code, response.text) == (404, "Unknown task 'importsapp.nothere'")


def test_a_worker_never_inspected_is_asked_before_a_command_is_refused(setup):
    server, names, _ = setup
    name = names['control']
    assert _unknown_to_the_server(server, name)
    response = server.post(f'/api/task/rate-limit/{MULTIPLY}', params={'workername': name, 'ratelimit': '10/m'})
    assert (response.status_code, response.json()) == (200, {'message': 'new rate limit set successfully'})
    assert name in server.get('/api/workers').json()  # asked, and now in the cache
    response = server.post(f'/api/task/timeout/{TOTAL}', params={'workername': name, 'soft': 5, 'hard': 10})
    assert (response.status_code, response.json()) == (200, {'message': 'time limits set successfully'})
    response = server.post(
        f'/api/task/rate-limit/{MULTIPLY}', params={'workername': f'nobody@{socket.gethostname()}', 'ratelimit': '10/m'}
    )
    assert (response.status_code, response.text) == (404, f"Unknown worker 'nobody@{socket.gethostname()}'")


def test_the_page_of_a_worker_never_inspected_asks_it_first(setup):
    server, names, _ = setup
    name = names['page']
    assert _unknown_to_the_server(server, name)
    page = server.get('/worker/' + quote(name, safe=''))
    assert page.status_code == 200, page.text[:500]
    assert name in page.text and MULTIPLY in page.text and TOTAL in page.text  # its registered tasks
    missing = server.get('/worker/' + quote(f'nobody@{socket.gethostname()}', safe=''))
    assert missing.status_code == 404 and 'Unknown worker' in missing.text
