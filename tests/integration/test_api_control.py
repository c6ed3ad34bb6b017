"""The control and execution API against a real prefork worker, with Redis as broker and result backend: every
endpoint changes the worker (or the tasks) the way it says, and what the worker answered comes back.

One worker and one server serve the module (starting them is most of the cost); the tests that need a worker of
their own (shutdown) or a server of their own (read-only) start them.
"""

from __future__ import annotations

import html as htmllib
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
import redis
import requests
from celery.utils.saferepr import saferepr

from tests.support.processes import Server, start_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis]

TASKS = 'tests.support.celeryapp'


def full_name(hostname: str) -> str:
    return hostname.replace('%h', socket.gethostname())


class Cluster:
    def __init__(self, broker: str, db: int):
        self.broker = broker
        self.db = db
        self.hostname = full_name('apictl@%h')
        self.worker = start_worker(broker, 'apictl@%h', backend=broker, pool='prefork', concurrency=2)
        self.server = Server(broker, backend=broker, args=['--inspect_timeout=3000', '--task_args_max_length=64'])
        wait_for(lambda: self.info().get('stats'), 60, interval=0.5, message='the worker in /api/workers')

    def info(self, refresh: bool = True) -> dict:
        params = {'workername': self.hostname, 'refresh': 1} if refresh else {'workername': self.hostname}
        response = self.server.get('/api/workers', params=params)
        return response.json()[self.hostname] if response.status_code == 200 else {}

    def pool_size(self) -> int:
        return len(self.info()['stats']['pool']['processes'])

    def queues(self) -> set[str]:
        return {queue['name'] for queue in self.info()['active_queues']}

    def task(self, task_id: str) -> dict:
        return self.server.get('/api/tasks').json().get(task_id, {})

    def wait_state(self, task_id: str, state: str, timeout: float = 30) -> dict:
        return wait_for(
            lambda: self.task(task_id) if self.task(task_id).get('state') == state else None,
            timeout,
            interval=0.2,
            message=f'task {task_id} to be {state}',
        )

    def async_apply(self, name: str, body: dict | None = None) -> str:
        response = self.server.post(f'/api/task/async-apply/{TASKS}.{name}', json=body or {})
        assert response.status_code == 200, response.text
        return response.json()['task-id']

    def stop(self):
        self.server.stop()
        self.worker.stop()


@pytest.fixture(scope='module')
def cluster(redis_url, redis_db):
    cluster = Cluster(redis_url, redis_db)
    try:
        yield cluster
    finally:
        cluster.stop()


# -- worker control ---------------------------------------------------------------------------------------------
def test_pool_grow_and_shrink_change_the_pool_size(cluster):
    server, name = cluster.server, cluster.hostname
    before = cluster.pool_size()
    assert before == 2

    response = server.post(f'/api/worker/pool/grow/{name}', params={'n': 1})
    assert response.status_code == 200
    assert response.json() == {'message': f"Growing '{name}' worker's pool by 1"}
    wait_for(lambda: cluster.pool_size() == 3, 30, interval=0.3, message='the pool to have 3 processes')

    response = server.post(f'/api/worker/pool/shrink/{name}', data={'n': '1'})  # a form body works as well
    assert response.status_code == 200
    assert response.json() == {'message': f"Shrinking '{name}' worker's pool by 1"}
    wait_for(lambda: cluster.pool_size() == 2, 30, interval=0.3, message='the pool to be back to 2 processes')


def test_refused_commands_carry_the_workers_reason(cluster):
    server, name = cluster.server, cluster.hostname
    # the worker runs without --autoscale and without worker_pool_restarts: it answers with an error
    response = server.post(f'/api/worker/pool/autoscale/{name}', params={'min': 1, 'max': 3})
    assert response.status_code == 403
    assert response.text.startswith(f"Failed to autoscale '{name}' worker: ")
    assert 'Autoscale not enabled' in response.text

    response = server.post(f'/api/worker/pool/restart/{name}')
    assert response.status_code == 403
    assert response.text.startswith(f"Failed to restart the '{name}' pool: ")
    assert 'Pool restarts not enabled' in response.text


def test_autoscale_and_pool_restart_change_a_worker_that_allows_them(cluster, processes):
    worker = start_worker(
        cluster.broker,
        'apiscale@%h',
        backend=cluster.broker,
        pool='prefork',
        concurrency=2,
        queues='scaleq',
        extra=['--autoscale=3,1'],
        env={'FLOWER_TEST_POOL_RESTARTS': '1'},
    )
    processes.append(worker)
    name, server = full_name('apiscale@%h'), cluster.server

    def stats():
        info = server.get('/api/workers', params={'workername': name, 'refresh': 1}).json().get(name, {})
        return info.get('stats')

    before = wait_for(stats, 60, interval=0.5, message='the autoscaling worker in /api/workers')
    assert (before['autoscaler']['min'], before['autoscaler']['max']) == (1, 3)

    response = server.post(f'/api/worker/pool/autoscale/{name}', params={'min': 2, 'max': 4})
    assert response.status_code == 200, response.text
    assert name in response.json()['message']
    after = stats()['autoscaler']
    assert (after['min'], after['max']) == (2, 4)

    old = set(stats()['pool']['processes'])
    response = server.post(f'/api/worker/pool/restart/{name}')
    assert response.status_code == 200, response.text
    # the pool's processes are replaced by new ones
    wait_for(
        lambda: (pids := set(stats()['pool']['processes'])) and not pids & old,
        60,
        interval=0.5,
        message='new pool processes after the restart',
    )


def test_add_consumer_makes_the_worker_consume_a_queue_and_cancel_stops_it(cluster):
    server, name = cluster.server, cluster.hostname
    response = server.post(f'/api/worker/queue/add-consumer/{name}', params={'queue': 'extra'})
    assert response.status_code == 200
    assert response.json() == {'message': 'add consumer extra'}
    wait_for(lambda: 'extra' in cluster.queues(), 30, interval=0.3, message='the worker to consume extra')

    task_id = cluster.async_apply('add', {'args': [20, 22], 'queue': 'extra'})
    result = server.get(f'/api/task/result/{task_id}', params={'timeout': 20}).json()
    assert result == {'task-id': task_id, 'state': 'SUCCESS', 'result': 42}
    assert cluster.wait_state(task_id, 'SUCCESS')['routing_key'] == 'extra'
    # a retry goes where the original went
    again = server.post(f'/api/task/retry/{task_id}').json()['task-id']
    assert server.get(f'/api/task/result/{again}', params={'timeout': 20}).json()['result'] == 42
    assert cluster.wait_state(again, 'SUCCESS')['routing_key'] == 'extra'

    response = server.post(f'/api/worker/queue/cancel-consumer/{name}', params={'queue': 'extra'})
    assert response.status_code == 200
    assert response.json() == {'message': 'no longer consuming from extra'}
    wait_for(lambda: 'extra' not in cluster.queues(), 30, interval=0.3, message='the worker to leave extra')

    waiting = cluster.async_apply('add', {'args': [1, 1], 'queue': 'extra'})
    broker = redis.Redis(host='127.0.0.1', port=6379, db=cluster.db)
    wait_for(lambda: broker.llen('extra') == 1, 10, message='the task to wait in the extra queue')
    assert server.get(f'/api/task/result/{waiting}', params={'timeout': 1}).json() == {
        'task-id': waiting,
        'state': 'PENDING',
    }
    broker.delete('extra')


def test_a_registered_entry_with_celerys_decoration_names_its_task(cluster):
    """Workers list a rate-limited task as ``'<name> [rate_limit=100/m]'``; a client that posts that entry as
    it read it from /api/workers changes the task's limit instead of getting 404 "Unknown task"."""
    server, name, worker = cluster.server, cluster.hostname, cluster.worker
    entry = f'{TASKS}.limited [rate_limit=100/m]'
    assert entry in server.get('/api/workers', params={'workername': name, 'refresh': 1}).json()[name]['registered']
    response = server.post(
        f'/api/task/rate-limit/{quote(entry, safe="")}', params={'workername': name, 'ratelimit': '100/m'}
    )
    assert response.json() == {'message': 'new rate limit set successfully'}
    wait_for(
        lambda: f'New rate limit for tasks of type {TASKS}.limited: 100/m.' in worker.output(),
        10,
        message='the worker to log the new rate limit',
    )
    response = server.post(
        f'/api/task/rate-limit/{quote(TASKS + ".nope [rate_limit=1/s]", safe="")}',
        params={'workername': name, 'ratelimit': '1/s'},
    )
    assert response.status_code == 404
    assert f"Unknown task '{TASKS}.nope [rate_limit=1/s]'" in response.text


def test_rate_limit_and_time_limit_are_acknowledged_by_the_worker(cluster):
    server, name, worker = cluster.server, cluster.hostname, cluster.worker
    response = server.post(f'/api/task/rate-limit/{TASKS}.add', params={'workername': name, 'ratelimit': '100/m'})
    assert response.status_code == 200
    assert response.json() == {'message': 'new rate limit set successfully'}
    wait_for(
        lambda: f'New rate limit for tasks of type {TASKS}.add: 100/m.' in worker.output(),
        10,
        message='the worker to log the new rate limit',
    )
    response = server.post(f'/api/task/rate-limit/{TASKS}.add', params={'workername': name, 'ratelimit': '0'})
    assert response.status_code == 200  # 0 lifts the limit again

    response = server.post(f'/api/task/timeout/{TASKS}.sleep', params={'workername': name, 'soft': 0.5, 'hard': 20})
    assert response.status_code == 200
    assert response.json() == {'message': 'time limits set successfully'}
    wait_for(
        lambda: f'New time limits for tasks of type {TASKS}.sleep: soft=0.5 hard=20.0' in worker.output(),
        10,
        message='the worker to log the new time limits',
    )
    response = server.post(f'/api/task/timeout/{TASKS}.sleep', params={'workername': name})
    assert response.json() == {'message': 'time limits set successfully'}  # limits cleared again


def test_revoke_with_terminate_kills_a_running_task(cluster):
    server = cluster.server
    task_id = cluster.async_apply('sleep', {'args': [60]})
    cluster.wait_state(task_id, 'STARTED')
    response = server.post(f'/api/task/revoke/{task_id}', params={'terminate': 'true', 'signal': 'KILL'})
    assert response.status_code == 200
    assert response.json() == {'message': f"Revoked '{task_id}'"}
    revoked = cluster.wait_state(task_id, 'REVOKED', timeout=20)
    assert revoked['succeeded'] is None
    assert server.get(f'/api/task/result/{task_id}').json()['state'] == 'REVOKED'


# -- task execution -----------------------------------------------------------------------------------------------
def test_apply_returns_the_result(cluster):
    server = cluster.server
    response = server.post(f'/api/task/apply/{TASKS}.add', json={'args': [2, 3]})
    assert response.status_code == 200
    body = response.json()
    assert body == {'task-id': body['task-id'], 'state': 'SUCCESS', 'result': 5}
    assert cluster.wait_state(body['task-id'], 'SUCCESS')['args'] == '[2, 3]'

    response = server.post(f'/api/task/apply/{TASKS}.fail', json={'kwargs': {'message': 'no luck'}})
    body = response.json()
    assert response.status_code == 200
    assert body['state'] == 'FAILURE'
    assert body['result'] == "ValueError('no luck')"
    assert 'ValueError: no luck' in body['traceback']


def test_apply_gives_up_after_its_timeout_and_says_so(cluster):
    response = cluster.server.post(f'/api/task/apply/{TASKS}.sleep', json={'args': [5], 'timeout': 0.5})
    assert response.status_code == 202
    body = response.json()
    assert body['timed-out'] is True
    assert body['result'] is None
    assert body['state'] in ('PENDING', 'STARTED')
    assert body['message'] == (
        f"Gave up waiting for the result of '{body['task-id']}' after 0.5s; the task is {body['state']}"
    )
    cluster.server.post(f"/api/task/revoke/{body['task-id']}", params={'terminate': 1})


def test_async_apply_then_result_with_timeout(cluster):
    server = cluster.server
    response = server.post(
        f'/api/task/async-apply/{TASKS}.echo', json={'args': [1, 'two'], 'kwargs': {'three': 3}, 'countdown': 0.2}
    )
    assert response.status_code == 200
    sent = response.json()
    assert sent['state'] == 'PENDING'
    result = server.get(f"/api/task/result/{sent['task-id']}", params={'timeout': 20}).json()
    assert result == {
        'task-id': sent['task-id'],
        'state': 'SUCCESS',
        'result': {'args': [1, 'two'], 'kwargs': {'three': 3}},
    }


def test_send_task_accepts_an_unregistered_name(cluster):
    response = cluster.server.post('/api/task/send-task/no.such.task', json={'args': [1]})
    assert response.status_code == 200
    body = response.json()
    assert len(body['task-id']) == 36
    assert body['state'] in ('PENDING', 'FAILURE')  # the worker may already have refused it
    # it reached the worker, which does not know it either
    result = cluster.server.get(f"/api/task/result/{body['task-id']}", params={'timeout': 20}).json()
    assert result['state'] == 'FAILURE'
    assert result['result'] == "Task of kind 'no.such.task' never registered, please make sure it's imported."
    # the registered-only endpoints refuse the same name
    response = cluster.server.post('/api/task/async-apply/no.such.task', json={})
    assert (response.status_code, response.text) == (404, "Unknown task 'no.such.task'")


def test_abort_stops_an_abortable_task(cluster):
    server = cluster.server
    task_id = cluster.async_apply('abortable_loop', {'args': [30]})
    cluster.wait_state(task_id, 'STARTED')
    response = server.post(f'/api/task/abort/{task_id}')
    assert response.status_code == 200
    assert response.json() == {'message': f"Aborted '{task_id}'"}
    assert server.get(f'/api/task/result/{task_id}').json()['state'] in ('ABORTED', 'SUCCESS')
    result = server.get(f'/api/task/result/{task_id}', params={'timeout': 20}).json()
    assert result == {'task-id': task_id, 'state': 'SUCCESS', 'result': 'aborted'}


# -- retry ----------------------------------------------------------------------------------------------------------
def test_retry_re_runs_a_failed_task_as_a_new_task(cluster):
    server = cluster.server
    task_id = cluster.async_apply('fail', {'kwargs': {'message': 'again'}})
    original = cluster.wait_state(task_id, 'FAILURE')

    response = server.post(f'/api/task/retry/{task_id}')
    assert response.status_code == 200, response.text
    body = response.json()
    new_id = body['task-id']
    assert new_id != task_id
    assert body == {
        'task-id': new_id,
        'retry-of': task_id,
        'name': f'{TASKS}.fail',
        'message': f"Retried '{task_id}' as '{new_id}'",
    }
    retried = cluster.wait_state(new_id, 'FAILURE')
    assert retried['name'] == original['name']
    assert retried['kwargs'] == "{'message': 'again'}"
    assert retried['exception'] == "ValueError('again')"
    assert retried['routing_key'] == original['routing_key'] == 'celery'


def test_retry_refuses_what_it_cannot_recover(cluster):
    server = cluster.server
    running = cluster.async_apply('sleep', {'args': [30]})
    cluster.wait_state(running, 'STARTED')
    response = server.post(f'/api/task/retry/{running}')
    assert (response.status_code, response.text) == (409, 'The task cannot be retried: it is STARTED, not finished')
    server.post(f'/api/task/revoke/{running}', params={'terminate': 1, 'signal': 'SIGKILL'})

    # longer than --task_args_max_length=64: the stored text is cut
    long_args = cluster.async_apply('echo', {'args': ['y' * 100]})
    cluster.wait_state(long_args, 'SUCCESS')
    response = server.post(f'/api/task/retry/{long_args}')
    assert response.status_code == 409
    assert response.text.startswith('The task cannot be retried: its args were truncated when stored')

    # deeper than Celery's repr goes: the event shows '...'
    deep = cluster.async_apply('echo', {'args': [[[[['deep']]]]]})
    assert '...' in cluster.wait_state(deep, 'SUCCESS')['args']
    response = server.post(f'/api/task/retry/{deep}')
    assert response.status_code == 409
    assert 'shortened by Celery' in response.text

    response = server.post('/api/task/retry/no-such-task')
    assert (response.status_code, response.text) == (404, "Unknown task 'no-such-task'")


def _text_of(html: str, element_id: str) -> str:
    """The text of the element with ``element_id`` in a page (tags dropped, entities decoded, spaces squeezed)."""
    match = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, f'#{element_id} is not on the page'
    return ' '.join(htmllib.unescape(re.sub(r'<[^>]+>', ' ', match.group(2))).split())


def test_the_task_page_withholds_retry_with_the_apis_reason_and_says_who_cut_the_arguments(cluster):
    server = cluster.server
    # Celery's argsrepr limit cuts the 50,000 characters to about 1,030; --task_args_max_length=64 keeps 64
    task_id = cluster.async_apply('fail', {'args': ['x' * 50000]})
    cluster.wait_state(task_id, 'FAILURE')
    info = server.get(f'/api/task/info/{task_id}').json()
    assert len(info['args']) == 64 and info['args'][2:] == 'x' * 62  # the kept start, no marker in the value
    celery_repr = saferepr(['x' * 50000], 1024)  # what Celery put in the event (args came as a JSON list)
    assert info['truncated']['args'] == {'kept': 64, 'by': 'celery', 'received': len(celery_repr)}
    refused = server.post(f'/api/task/retry/{task_id}')
    assert refused.status_code == 409 and 'shortened by Celery' in refused.text

    html = server.get(f'/task/{task_id}').text
    assert re.search(r'<button class="btn btn-primary d-none"[^>]*id="task-retry"', html)  # not offered
    assert _text_of(html, 'retry-refusal-reason') == refused.text  # the API's own reason, word for word
    notes = [
        ' '.join(htmllib.unescape(note).split())
        for note in re.findall(r'class="truncated-note"[^>]*>(.*?)</p>', html, re.S)
    ]
    assert notes[0] == (
        f'64 characters kept. Celery shortened this value to {len(celery_repr):,} characters when '
        'the task was sent (its argsrepr limit), and --task_args_max_length cut it further when it '
        'was stored.'
    )
    assert 'characters in all' not in html

    whole = cluster.async_apply('fail', {'args': ['short']})
    cluster.wait_state(whole, 'FAILURE')
    html = server.get(f'/task/{whole}').text
    assert re.search(r'<button class="btn btn-primary"[^>]*id="task-retry"', html)
    assert re.search(r'class="alert alert-secondary d-none" id="retry-refusal"', html)  # no reason to give


def test_a_retried_task_and_its_original_link_to_each_other(cluster):
    server = cluster.server
    original = cluster.async_apply('fail', {'args': ['link me']})
    cluster.wait_state(original, 'FAILURE')
    new_id = server.post(f'/api/task/retry/{original}').json()['task-id']
    cluster.wait_state(new_id, 'FAILURE')
    page = server.get(f'/task/{original}').text
    row = re.search(r'<tr data-field="retried_as">(.*?)</tr>', page, re.S).group(1)
    assert 'Retried as' in row and f'href="/task/{new_id}"' in row
    page = server.get(f'/task/{new_id}').text
    row = re.search(r'<tr data-field="retry_of">(.*?)</tr>', page, re.S).group(1)
    assert 'Retry of' in row and f'href="/task/{original}"' in row and 'tests.support.celeryapp.fail' in row


def test_the_worker_page_shows_times_and_usage_as_people_read_them(cluster):
    server = cluster.server
    eta = server.post(f'/api/task/async-apply/{TASKS}.add', json={'args': [1, 2], 'countdown': 300}).json()['task-id']
    try:
        wait_for(
            lambda: any(entry['request']['id'] == eta for entry in cluster.info().get('scheduled') or ()),
            30,
            interval=0.5,
            message='the countdown task among the scheduled ones',
        )
        html = server.get(f'/worker/{quote(cluster.hostname)}').text
        scheduled = re.search(r'<table[^>]*id="scheduled-table".*?</table>', html, re.S).group(0)
        cell = re.search(r'<td class="text-nowrap"><time title="([^"]+)">([^<]+)</time></td>', scheduled)
        assert cell, scheduled
        exact, shown = cell.groups()
        assert 'T' in exact and re.fullmatch(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} UTC', shown), (exact, shown)

        utime = re.search(r'<td data-key="utime" title="([^"]+)">([^<]+)</td>', html)
        assert utime and re.fullmatch(r'[\d.]+ s', utime.group(1)), html[html.find('system-table') :][:600]
        assert re.fullmatch(r'\d+(\.\d+)? (ms|s)|\d+ min \d+ s', utime.group(2)) and len(utime.group(2)) < 12
        uptime = re.search(r'<td data-key="uptime" title="(\d+) s">([^<]+)</td>', html)
        assert uptime and (uptime.group(2).endswith(' s') or uptime.group(2).endswith(' min'))
    finally:
        server.post(f'/api/task/revoke/{eta}')


# -- errors -----------------------------------------------------------------------------------------------------------
WORKER_ROUTES = [
    ('/api/worker/shutdown/{w}', {}),
    ('/api/worker/pool/restart/{w}', {}),
    ('/api/worker/pool/grow/{w}', {'n': 1}),
    ('/api/worker/pool/shrink/{w}', {'n': 1}),
    ('/api/worker/pool/autoscale/{w}', {'min': 1, 'max': 2}),
    ('/api/worker/queue/add-consumer/{w}', {'queue': 'q'}),
    ('/api/worker/queue/cancel-consumer/{w}', {'queue': 'q'}),
]


@pytest.fixture(scope='module')
def short_inspect_server(cluster):
    """A second server on the module's broker with a short inspect timeout: asking about a worker nobody runs
    waits the whole timeout for an answer that never comes (3 s on the module's server)."""
    server = Server(cluster.broker, backend=cluster.broker, args=['--inspect_timeout=300'])
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize('route,params', WORKER_ROUTES)
def test_unknown_worker_is_404_with_its_name(short_inspect_server, route, params):
    response = short_inspect_server.post(route.format(w='nobody@nowhere'), params=params)
    assert (response.status_code, response.text) == (404, "Unknown worker 'nobody@nowhere'")


def test_bad_input_is_400_or_404_with_a_message(cluster):
    server, name = cluster.server, cluster.hostname
    add = f'{TASKS}.add'
    cases = [
        # (method, path, kwargs, status, body or body prefix)
        ('post', f'/api/task/apply/{add}', {'data': b'{not json'}, 400, 'Invalid JSON body: '),
        ('post', f'/api/task/apply/{add}', {'json': [1, 2]}, 400, 'Invalid options: the body must be a JSON object'),
        ('post', f'/api/task/async-apply/{add}', {'json': {'args': 5}}, 400, 'Invalid args: args must be an array'),
        (
            'post',
            f'/api/task/send-task/{add}',
            {'json': {'kwargs': [1]}},
            400,
            'Invalid kwargs: kwargs must be an object',
        ),
        ('post', f'/api/task/async-apply/{add}', {'json': {'eta': '2020-13-45'}}, 400, "Invalid option 'eta'"),
        ('post', f'/api/task/async-apply/{add}', {'json': {'expires': 'soon'}}, 400, "Invalid option 'expires'"),
        ('post', f'/api/task/async-apply/{add}', {'json': {'countdown': 'x'}}, 400, "Invalid option 'countdown'"),
        ('post', f'/api/task/async-apply/{add}', {'json': {'link': 'x'}}, 400, "Unknown option 'link'"),
        ('post', f'/api/task/apply/{add}', {'json': {'timeout': 'x'}}, 400, "Invalid timeout 'x'"),
        ('post', f'/api/task/apply/{add}', {'json': {'timeout': -1}}, 400, "Invalid timeout '-1'"),
        ('post', '/api/task/apply/no.such.task', {'json': {}}, 404, "Unknown task 'no.such.task'"),
        ('get', '/api/task/result/x', {'params': {'timeout': 'soon'}}, 400, "Invalid argument 'soon' of type 'float'"),
        ('get', '/api/task/result/x', {'params': {'timeout': 'nan'}}, 400, "Invalid argument 'nan' of type 'float'"),
        (
            'post',
            f'/api/worker/pool/grow/{name}',
            {'params': {'n': 'two'}},
            400,
            "Invalid argument 'two' of type 'int'",
        ),
        ('post', f'/api/worker/pool/shrink/{name}', {'params': {'n': 0}}, 400, "Invalid n '0'"),
        ('post', f'/api/worker/pool/autoscale/{name}', {'params': {'min': 1}}, 400, 'Missing argument max'),
        (
            'post',
            f'/api/worker/pool/autoscale/{name}',
            {'params': {'min': 'a', 'max': 2}},
            400,
            "Invalid argument 'a' of type 'int'",
        ),
        (
            'post',
            f'/api/worker/pool/autoscale/{name}',
            {'params': {'min': 1, 'max': 10001}},
            400,
            "Invalid max '10001': expected a whole number from 0 to 10000",
        ),
        ('post', f'/api/worker/queue/add-consumer/{name}', {}, 400, 'Missing argument queue'),
        ('post', f'/api/task/timeout/{add}', {'params': {'hard': 1}}, 400, 'Missing argument workername'),
        ('post', f'/api/task/rate-limit/{add}', {'params': {'ratelimit': 1}}, 400, 'Missing argument workername'),
        (
            'post',
            f'/api/task/timeout/{add}',
            {'params': {'workername': name, 'hard': 'x'}},
            400,
            "Invalid argument 'x' of type 'float'",
        ),
        ('post', f'/api/task/timeout/{add}', {'params': {'workername': name, 'soft': -1}}, 400, "Invalid soft '-1'"),
        (
            'post',
            f'/api/task/rate-limit/{add}',
            {'params': {'workername': name, 'ratelimit': 'fast'}},
            400,
            "Invalid rate limit 'fast'",
        ),
        (
            'post',
            '/api/task/timeout/no.such.task',
            {'params': {'workername': name}},
            404,
            "Unknown task 'no.such.task'",
        ),
        (
            'post',
            f'/api/task/rate-limit/{add}',
            {'params': {'workername': 'nobody', 'ratelimit': '1/s'}},
            404,
            "Unknown worker 'nobody'",
        ),
        (
            'post',
            '/api/task/revoke/x',
            {'params': {'terminate': 'maybe'}},
            400,
            "Invalid argument 'maybe' of type 'bool'",
        ),
        ('post', '/api/task/revoke/x', {'params': {'signal': 'SIGNOPE'}}, 400, "Invalid signal 'SIGNOPE'"),
        ('get', '/api/tasks', {'params': {'limit': 'x'}}, 400, "Invalid argument 'x' of type 'int'"),
        ('get', '/api/task/info/nope', {}, 404, "Unknown task 'nope'"),
    ]
    failures = []
    for method, path, kwargs, status, expected in cases:
        response = getattr(server, method)(path, **kwargs)
        if (
            response.status_code != status
            or not response.text.startswith(expected)
            or not response.headers['Content-Type'].startswith('text/plain')
        ):
            failures.append((method, path, kwargs, response.status_code, response.text))
    assert failures == []
    # numbers too large to slice with are just "everything" (found by schemathesis)
    huge = server.get('/api/tasks', params={'limit': 10**30, 'offset': 10**30})
    assert (huge.status_code, huge.json()) == (200, {})
    listed = cluster.async_apply('add', {'args': [0, 0]})
    cluster.wait_state(listed, 'SUCCESS')
    assert listed in server.get('/api/tasks', params={'limit': 10**30}).json()
    assert 'Traceback' not in server.output()


def test_integers_are_strict_and_a_refused_grow_forks_nothing(cluster):
    server, name = cluster.server, cluster.hostname
    assert cluster.pool_size() == 2
    grow = f'/api/worker/pool/grow/{name}'
    for sent, expected in [
        ('1000', "Invalid n '1000': expected a whole number from 1 to 10"),
        ('11', "Invalid n '11': expected a whole number from 1 to 10"),
        ('1_000', "Invalid argument '1_000' of type 'int'"),
        (' 1000 ', "Invalid argument ' 1000 ' of type 'int'"),
        ('1 ', "Invalid argument '1 ' of type 'int'"),
        ('\u0661\u0660\u0660\u0660', "Invalid argument '\u0661\u0660\u0660\u0660' of type 'int'"),  # Arabic-Indic 1000
        ('\uff11', "Invalid argument '\uff11' of type 'int'"),  # a full-width 1
        ('+1', "Invalid argument '+1' of type 'int'"),
        ('-1', "Invalid n '-1': expected a whole number from 1 to 10"),
        ('1.0', "Invalid argument '1.0' of type 'int'"),
        ('', "Invalid argument '' of type 'int'"),
    ]:
        for how in ('params', 'data'):  # the query string and a form body are read alike
            response = server.post(grow, **{how: {'n': sent}})
            assert (sent, how, response.status_code, response.text) == (sent, how, 400, expected)
            assert response.headers['Content-Type'].startswith('text/plain')
    response = server.post(f'/api/worker/pool/shrink/{name}', params={'n': 11})
    assert (response.status_code, response.text) == (400, "Invalid n '11': expected a whole number from 1 to 10")
    assert server.get('/api/tasks', params={'limit': '\u0661'}).status_code == 400
    assert server.get('/api/tasks', params={'offset': '-5', 'limit': '1'}).status_code == 200  # negatives mean 0
    assert cluster.pool_size() == 2  # nothing was forked


def test_autoscale_past_one_step_above_the_pool_is_a_conflict(cluster):
    server, name = cluster.server, cluster.hostname
    # 2 processes and --max_pool_step 10: max 12 goes to the worker (which refuses: it does not autoscale)
    response = server.post(f'/api/worker/pool/autoscale/{name}', params={'min': 1, 'max': 12})
    assert response.status_code == 403 and 'Autoscale not enabled' in response.text
    response = server.post(f'/api/worker/pool/autoscale/{name}', params={'min': 13, 'max': 1})  # either order
    assert (response.status_code, response.text) == (
        409,
        (
            f"Cannot autoscale '{name}' worker to max=13: its pool has 2 processes, and one call may raise that by "
            '--max_pool_step (10) at most; set --max_pool_size to allow larger ranges'
        ),
    )


def test_the_pool_size_cap_refuses_grows_past_it_counting_what_earlier_grows_added(cluster):
    name = cluster.hostname
    server = Server(
        cluster.broker,
        backend=cluster.broker,
        args=['--inspect_timeout=3000', '--max_pool_size=3', '--max_pool_step=2'],
    )
    try:
        wait_for(
            lambda: server.get('/api/workers', params={'workername': name, 'refresh': 1}).status_code == 200,
            30,
            interval=0.3,
            message='the worker in the capped server',
        )
        assert cluster.pool_size() == 2
        response = server.post(f'/api/worker/pool/grow/{name}', params={'n': 2})
        assert (response.status_code, response.text) == (
            409,
            f"Cannot grow '{name}' worker's pool by 2: it has 2 processes and --max_pool_size is 3",
        )
        response = server.post(f'/api/worker/pool/grow/{name}', params={'n': 3})
        assert (response.status_code, response.text) == (400, "Invalid n '3': expected a whole number from 1 to 2")
        response = server.post(f'/api/worker/pool/autoscale/{name}', params={'min': 1, 'max': 4})
        assert (response.status_code, response.text) == (400, "Invalid max '4': expected a whole number from 0 to 3")
        assert cluster.pool_size() == 2

        response = server.post(f'/api/worker/pool/grow/{name}', params={'n': 1})
        assert (response.status_code, response.json()) == (200, {'message': f"Growing '{name}' worker's pool by 1"})
        wait_for(lambda: cluster.pool_size() == 3, 30, interval=0.3, message='the pool to have 3 processes')
        # the grow refreshed what the server knows of the pool: the next one is measured from 3
        response = server.post(f'/api/worker/pool/grow/{name}', params={'n': 1})
        assert (response.status_code, response.text) == (
            409,
            f"Cannot grow '{name}' worker's pool by 1: it has 3 processes and --max_pool_size is 3",
        )
        # the document tells clients the same limits
        grow = server.get('/api/openapi.json').json()['paths']['/api/worker/pool/grow/{workername}']['post']
        assert next(p for p in grow['parameters'] if p['name'] == 'n')['schema']['maximum'] == 2
        assert '409' in grow['responses']
    finally:
        server.stop()
        cluster.server.post(f'/api/worker/pool/shrink/{name}', params={'n': 1})
    wait_for(lambda: cluster.pool_size() == 2, 30, interval=0.3, message='the pool to be back to 2 processes')


def test_apply_with_arguments_the_task_does_not_take_is_400_with_celerys_words(cluster):
    server = cluster.server
    before = set(server.get('/api/tasks').json())
    response = server.post(f'/api/task/apply/{TASKS}.add', json={'args': [1, 2, 3]})
    assert (response.status_code, response.text) == (
        400,
        f"Invalid arguments for '{TASKS}.add': add() takes 2 positional arguments but 3 were given",
    )
    response = server.post(f'/api/task/async-apply/{TASKS}.add', json={'args': [1], 'kwargs': {'z': 2}})
    assert (response.status_code, response.text) == (
        400,
        f"Invalid arguments for '{TASKS}.add': add() got an unexpected keyword argument 'z'",
    )
    response = server.post(f'/api/task/async-apply/{TASKS}.add', json={'args': [1]})
    assert response.status_code == 400 and "missing 1 required positional argument: 'y'" in response.text
    # nothing was sent: a task that is sent now is the only new one
    sent = cluster.async_apply('add', {'args': [1, 2]})
    cluster.wait_state(sent, 'SUCCESS')
    assert set(server.get('/api/tasks').json()) - before == {sent}
    assert 'Traceback' not in server.output()


def test_dates_queue_names_and_signals_are_checked_as_the_document_says(cluster):
    server, name = cluster.server, cluster.hostname
    for value in ('2024-02-30 00:00', '2023-02-29 12:00', '2024-1-5 10:00', ' 2024-01-05 10:00', '2024-01-05 24:00'):
        response = server.get('/api/tasks', params={'received_start': value})
        assert (value, response.status_code, response.text) == (
            value,
            400,
            f"Invalid received_start '{value}': expected a date like 2024-01-31 13:45",
        )
    assert server.get('/api/tasks', params={'received_end': '2024-02-29 23:59'}).status_code == 200
    response = server.post(f'/api/task/async-apply/{TASKS}.add', json={'args': [1, 2], 'eta': '2030-02-30 10:00'})
    assert (response.status_code, response.text.split(':')[0]) == (400, "Invalid option 'eta'")
    for queue in ('bell\x07', 'tab\tqueue', ' lead', 'q' * 256):
        response = server.post(f'/api/worker/queue/add-consumer/{name}', params={'queue': queue})
        assert (response.status_code, response.text.split(':')[0]) == (400, 'Invalid queue'), queue
    assert 'bell\x07' not in {q.replace(' ', '') for q in cluster.queues()}
    for signal in ('kill', 'SIGKILL ', '', '99'):
        response = server.post('/api/task/revoke/some-id', params={'terminate': 1, 'signal': signal})
        assert (response.status_code, response.text) == (
            400,
            f"Invalid signal '{signal}': expected a signal name such as SIGTERM or SIGKILL",
        )


def test_method_not_allowed_lists_the_allowed_methods(cluster):
    server, name = cluster.server, cluster.hostname
    for method, path, allowed in [
        ('put', '/api/workers', 'GET, OPTIONS'),
        ('get', f'/api/worker/pool/grow/{name}', 'POST, OPTIONS'),
        ('delete', '/api/task/info/x', 'GET, OPTIONS'),
        ('patch', '/workers', 'GET, OPTIONS'),
        ('put', '/metrics', 'GET, OPTIONS'),
    ]:
        response = getattr(requests, method)(server.url + path, timeout=10)
        assert (path, response.status_code, response.headers.get('Allow')) == (path, 405, allowed)
    response = requests.request('TRACE', server.url + '/api/tasks', timeout=10)
    assert (response.status_code, response.headers.get('Allow'), response.text) == (
        405,
        'GET, OPTIONS',
        'Method Not Allowed',
    )


def test_queue_lengths_of_the_queues_the_workers_consume(cluster):
    response = cluster.server.get('/api/queues/length')
    assert response.status_code == 200
    queues = response.json()['active_queues']
    # the queues of every worker the server knows (other tests start workers of their own) and the default one
    known = cluster.server.get('/api/workers').json()
    consumed = {queue['name'] for info in known.values() for queue in info.get('active_queues') or []}
    assert cluster.queues() <= consumed
    names = [queue['name'] for queue in queues]
    # and the queues other tests sent tasks to (named by task-sent events), which may have no consumer
    assert consumed | {'celery'} <= set(names) and names == sorted(names)
    assert response.json()['source'] == 'redis'
    assert all(isinstance(queue['messages'], int) for queue in queues)


# -- read-only and shutdown (their own processes) ---------------------------------------------------------------------
MUTATING = [
    ('/api/worker/shutdown/{w}', {}),
    ('/api/worker/pool/restart/{w}', {}),
    ('/api/worker/pool/grow/{w}', {'n': 1}),
    ('/api/worker/pool/shrink/{w}', {'n': 1}),
    ('/api/worker/pool/autoscale/{w}', {'min': 1, 'max': 2}),
    ('/api/worker/queue/add-consumer/{w}', {'queue': 'readonly'}),
    ('/api/worker/queue/cancel-consumer/{w}', {'queue': 'celery'}),
    (f'/api/task/timeout/{TASKS}.add', {'workername': '{w}', 'hard': 1}),
    (f'/api/task/rate-limit/{TASKS}.add', {'workername': '{w}', 'ratelimit': '1/h'}),
    ('/api/task/revoke/{t}', {'terminate': 1}),
    (f'/api/task/apply/{TASKS}.add', {}),
    (f'/api/task/async-apply/{TASKS}.add', {}),
    (f'/api/task/send-task/{TASKS}.add', {}),
    ('/api/task/abort/{t}', {}),
    ('/api/task/retry/{t}', {}),
]


def test_read_only_refuses_every_mutating_route_and_the_worker_is_unchanged(cluster):
    name = cluster.hostname
    sleeper = cluster.async_apply('sleep', {'args': [4]})
    cluster.wait_state(sleeper, 'STARTED')
    pool, queues = cluster.pool_size(), cluster.queues()
    server = Server(cluster.broker, backend=cluster.broker, args=['--read_only'])
    try:
        for route, params in MUTATING:
            path = route.format(w=name, t=sleeper)
            params = {key: str(value).format(w=name) for key, value in params.items()}
            response = server.post(path, params=params, json={'args': [1, 1]})
            assert (path, response.status_code, response.text) == (path, 403, 'Read only mode is enabled')
        # reading still works
        assert server.get(f'/api/task/result/{sleeper}').status_code == 200
    finally:
        server.stop()
    assert cluster.worker.alive()
    assert cluster.pool_size() == pool
    assert cluster.queues() == queues
    done = cluster.wait_state(sleeper, 'SUCCESS', timeout=20)  # neither revoked nor aborted
    assert done['result'] == '4'


def test_shutdown_stops_the_worker_and_its_queue_fills_up(cluster, processes):
    worker = start_worker(
        cluster.broker, 'apidown@%h', backend=cluster.broker, pool='solo', concurrency=1, queues='downq'
    )
    processes.append(worker)
    name = full_name('apidown@%h')
    server = cluster.server
    wait_for(
        lambda: server.get('/api/workers', params={'status': 1}).json().get(name),
        30,
        interval=0.3,
        message='the worker to be seen in events',
    )
    # a worker known from events is commanded even before an inspection has answered for it (the server
    # inspects a new worker by itself within a second or two; until then it asks the worker first)
    response = server.post(f'/api/worker/shutdown/{name}')
    assert response.status_code == 200
    assert response.json() == {'message': 'Shutting down!'}
    wait_for(lambda: not worker.alive(), 30, interval=0.2, message='the worker process to exit')
    assert worker.popen.returncode == 0

    # the worker is gone but still cached: a command waits for its reply off the IOLoop, and gives up
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(server.post, f'/api/worker/pool/grow/{name}')
        answered = 0
        while not pending.done():
            started = time.monotonic()
            assert server.get('/healthcheck').text == 'OK'
            assert time.monotonic() - started < 1.0
            answered += 1
        response = pending.result()
    assert answered >= 3  # the health check kept answering during the whole wait
    assert (response.status_code, response.text) == (
        403,
        f"Failed to grow '{name}' worker's pool: no reply from '{name}' within 3s",
    )

    # its queue has no consumer now: what is sent there waits, and the queue lengths show it
    cluster.async_apply('add', {'args': [1, 2], 'queue': 'downq'})
    cluster.async_apply('add', {'args': [3, 4], 'queue': 'downq'})
    # the answer may be a few seconds old (a background refresh may have read the queue just before the sends)
    wait_for(
        lambda: {'name': 'downq', 'messages': 2} in server.get('/api/queues/length').json()['active_queues'],
        30,
        interval=0.5,
        message='downq to show 2 waiting messages',
    )
    redis.Redis(host='127.0.0.1', port=6379, db=cluster.db).delete('downq')


def test_without_a_result_backend_results_are_503_with_a_message(cluster):
    server = Server(cluster.broker, backend=None)
    try:
        for method, path in (
            ('get', '/api/task/result/some-id'),
            ('post', '/api/task/abort/some-id'),
            ('post', f'/api/task/apply/{TASKS}.add'),
        ):
            response = getattr(server, method)(path, json={'args': [1, 2]})
            assert (path, response.status_code, response.text) == (path, 503, 'No result backend is configured')
        # publishing without waiting works, and says nothing about the state
        response = server.post(f'/api/task/async-apply/{TASKS}.add', json={'args': [1, 2]})
        assert response.status_code == 200
        assert list(response.json()) == ['task-id']
        assert 'Traceback' not in server.output()
    finally:
        server.stop()
