"""Queue lengths through a real server: the broker page, /api/queues/length and the flower_queue_length gauge
agree with what waits in the real Redis and RabbitMQ, the gauge follows messages as they are queued and
drained, a queue with messages and no consumer shows (Redis: named by task-sent events; RabbitMQ: listed by
the management API), and a management API that refuses us or is not there makes the server read the
lengths over AMQP and say so."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid

import pytest

from kombu import Connection, Exchange, Queue

from tests.conftest import celery_app_for
from tests.support.processes import REPO, Server, free_port, start_worker, wait_for

pytestmark = pytest.mark.slow
ADD = 'tests.support.celeryapp.add'


def gauge(server, queue):
    found = re.search(
        rf'^flower_queue_length\{{queue="{re.escape(queue)}"\}} (\S+)$', server.get('/metrics').text, re.M
    )
    return float(found.group(1)) if found else None


def api_lengths(server):
    response = server.get('/api/queues/length')
    assert response.status_code == 200, response.text
    return {queue['name']: queue for queue in response.json()['active_queues']}


@pytest.mark.redis
def test_redis_page_api_and_gauge_follow_the_queue(redis_url, processes):
    server = Server(redis_url, args=['--queue_length_interval=0.3'])
    processes.append(server)
    # the queue without a consumer is known from its task-sent events: they must not be sent before the server
    # listens
    wait_for(lambda: 'receiving events' in server.output(), 20, message='the server to subscribe')
    app = celery_app_for(redis_url)
    before = app.connection().default_channel.client.llen('celery')  # earlier tests of the session may leave some
    for i in range(3):
        app.send_task(ADD, args=(i, i))
    orphan = f'orphan-{uuid.uuid4().hex[:8]}'
    for i in range(2):  # a queue nobody consumes or configured: its task-sent events name it
        app.send_task(ADD, args=(i, i), queue=orphan)
    waiting = before + 3

    # answers are cached for a couple of seconds (a refresh storm must not hammer the broker)
    wait_for(lambda: api_lengths(server)['celery']['messages'] == waiting, 10, message=f'{waiting} in the API')
    assert re.search(rf'>celery<.*?>{waiting}<', server.get('/broker').text, re.S)
    wait_for(lambda: gauge(server, 'celery') == waiting, 15, message='the gauge to show the waiting messages')
    wait_for(
        lambda: api_lengths(server).get(orphan, {}).get('messages') == 2,
        15,
        message='the queue without a consumer in the API',
    )
    assert server.get('/api/queues/length').json()['source'] == 'redis'
    page = server.get('/broker').text
    assert re.search(rf'>{orphan}<.*?>2<', page, re.S) and 'Read from <strong>Redis</strong>' in page
    wait_for(lambda: gauge(server, orphan) == 2.0, 15, message='the gauge to show the queue without a consumer')

    worker = start_worker(redis_url, 'drain@%h', pool='solo', concurrency=1)
    processes.append(worker)
    wait_for(lambda: gauge(server, 'celery') == 0.0, 60, message='the gauge to drop to 0 once drained')
    assert api_lengths(server)['celery']['messages'] == 0
    assert api_lengths(server)[orphan]['messages'] == 2  # still nobody consumes it


@pytest.mark.rabbitmq
def test_rabbitmq_queue_without_consumer_and_a_refusing_api(amqp_url, rabbitmq_vhost, rabbitmq_management, processes):
    api = rabbitmq_management.replace('http://', 'http://guest:guest@')
    server = Server(amqp_url, args=[f'--broker_api={api}', '--queue_length_interval=0.5'])
    processes.append(server)
    app = celery_app_for(amqp_url)
    for i in range(2):
        app.send_task(ADD, args=(i, i))
    orphan = f'orphan-{uuid.uuid4().hex[:8]}'
    _publish_to_a_queue_nobody_consumes(amqp_url, orphan, 3)
    try:
        _check_rabbitmq_lengths(amqp_url, server, processes)
        _check_queue_without_consumer(server, orphan)
        _check_amqp_fallback(amqp_url, processes, orphan)
    finally:
        app.control.purge()  # later tests of the session share the vhost: leave its queue empty
        _delete_queue(amqp_url, orphan)


def _publish_to_a_queue_nobody_consumes(amqp_url, name, count):
    """Declared and filled with plain kombu: no Celery app names it, no worker consumes it, no event tells of
    it; only the broker knows it."""
    exchange = Exchange(name, type='direct')
    queue = Queue(name, exchange=exchange, routing_key=name)
    with Connection(amqp_url) as conn, conn.Producer() as producer:
        for i in range(count):
            producer.publish({'n': i}, exchange=exchange, routing_key=name, declare=[queue], retry=True)


def _delete_queue(amqp_url, name):
    with Connection(amqp_url) as conn:
        conn.default_channel.queue_delete(name)


def _check_queue_without_consumer(server, orphan):
    def listed():
        queue = api_lengths(server).get(orphan)
        return queue if queue and queue.get('messages') == 3 and 'consumers' in queue else None

    queue = wait_for(listed, 60, interval=1, message='the management API to list the queue nobody consumes')
    assert queue['consumers'] == 0
    answer = server.get('/api/queues/length').json()
    assert (answer['source'], answer['source_note']) == ('management-api', None)
    assert not any(
        q['name'].startswith('celeryev.') or q['name'].endswith('.pidbox') for q in answer['active_queues']
    )  # Celery's plumbing is left out
    page = server.get('/broker').text
    assert re.search(rf'>{orphan}<.*?>3<', page, re.S)
    assert 'Read from <strong>the RabbitMQ management API</strong>' in page
    wait_for(lambda: gauge(server, orphan) == 3.0, 30, message='the gauge to show the queue nobody consumes')


def _check_amqp_fallback(amqp_url, processes, orphan):
    port = free_port()  # nothing listens here: a RabbitMQ without the management plugin
    server = Server(amqp_url, args=[f'--broker_api=http://guest:guest@127.0.0.1:{port}/api/'])
    processes.append(server)
    response = server.get('/api/queues/length')
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer['source'] == 'amqp'
    assert answer['source_note'].startswith(
        f'RabbitMQ management API at http://127.0.0.1:{port}/api/ could not be reached'
    )
    assert answer['source_note'].endswith('Read over AMQP instead (ready messages only).')
    queues = {q['name']: q for q in answer['active_queues']}
    assert queues['celery'] == {'name': 'celery', 'messages': 2, 'messages_ready': 2, 'consumers': 0}
    assert orphan not in queues  # AMQP can't list a vhost: only the queues known to the server are asked
    page = server.get('/broker').text
    assert 'Read from <strong>AMQP (passive queue declare)</strong>' in page
    assert re.search(r'>celery<.*?>2<', page, re.S)


def _check_rabbitmq_lengths(amqp_url, server, processes):
    def counted():
        queue = api_lengths(server).get('celery')
        # the management API fills in its statistics fields a few seconds after a queue appears
        return queue if queue and queue.get('messages') == 2 and 'consumers' in queue else None

    queue = wait_for(counted, 60, interval=1, message='RabbitMQ to report 2 messages in celery')
    assert queue['consumers'] == 0 and queue['messages_ready'] == 2
    assert re.search(r'>celery<.*?>2<', server.get('/broker').text, re.S)
    wait_for(lambda: gauge(server, 'celery') == 2.0, 30, message='the gauge to show 2')

    # an API that refuses its credentials: the numbers come over AMQP (with the broker's own credentials),
    # and the answer says why
    refused = Server(amqp_url, args=['--broker_api=http://guest:wrong@127.0.0.1:15672/api/'])
    processes.append(refused)
    response = refused.get('/api/queues/length')
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer['source'] == 'amqp' and 'wrong' not in response.text
    assert "refused the credentials of user 'guest' (401)" in answer['source_note']
    assert {q['name']: q['messages'] for q in answer['active_queues']}['celery'] == 2
    page = refused.get('/broker')
    assert page.status_code == 200
    assert "refused the credentials of user &#x27;guest&#x27; (401)" in page.text


def test_malformed_broker_api_stops_start_up(tmp_path):
    done = subprocess.run(
        [sys.executable, '-m', 'flower', '--broker=amqp://guest:guest@127.0.0.1//', '--broker_api=ftp://nowhere'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={'PATH': '/usr/bin:/bin', 'PYTHONPATH': str(REPO)},
    )
    assert done.returncode == 1
    assert "Invalid '--broker-api' option: ftp://nowhere must be an http:// or https:// URL" in done.stderr
