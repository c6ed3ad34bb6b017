"""Queue lengths through a real server: the broker page, /api/queues/length and the flower_queue_length gauge
agree with what waits in the real Redis and RabbitMQ, the gauge follows messages as they are queued and
drained, and a broker API that refuses us is reported, not shown as an empty table."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import celery_app_for
from tests.support.processes import REPO, Server, start_worker, wait_for

pytestmark = pytest.mark.slow
ADD = 'tests.support.celeryapp.add'


def gauge(server, queue):
    found = re.search(rf'^flower_queue_length\{{queue="{re.escape(queue)}"\}} (\S+)$', server.get('/metrics').text,
                      re.M)
    return float(found.group(1)) if found else None


def api_lengths(server):
    response = server.get('/api/queues/length')
    assert response.status_code == 200, response.text
    return {queue['name']: queue for queue in response.json()['active_queues']}


@pytest.mark.redis
def test_redis_page_api_and_gauge_follow_the_queue(redis_url, processes):
    server = Server(redis_url, args=['--queue_length_interval=0.3'])
    processes.append(server)
    app = celery_app_for(redis_url)
    before = app.connection().default_channel.client.llen('celery')  # earlier tests of the session may leave some
    for i in range(3):
        app.send_task(ADD, args=(i, i))
    app.send_task(ADD, args=(0, 0), queue='other')  # a queue nobody consumes or configured: not asked about
    waiting = before + 3

    # answers are cached for a couple of seconds (a refresh storm must not hammer the broker)
    wait_for(lambda: api_lengths(server)['celery']['messages'] == waiting, 10, message=f'{waiting} in the API')
    assert 'other' not in api_lengths(server)
    assert re.search(rf'>celery<.*?>{waiting}<', server.get('/broker').text, re.S)
    wait_for(lambda: gauge(server, 'celery') == waiting, 15, message='the gauge to show the waiting messages')

    worker = start_worker(redis_url, 'drain@%h', pool='solo', concurrency=1)
    processes.append(worker)
    wait_for(lambda: gauge(server, 'celery') == 0.0, 60, message='the gauge to drop to 0 once drained')
    assert api_lengths(server)['celery']['messages'] == 0


@pytest.mark.rabbitmq
def test_rabbitmq_queue_without_consumer_and_a_refusing_api(amqp_url, rabbitmq_vhost, rabbitmq_management,
                                                             processes):
    api = rabbitmq_management.replace('http://', 'http://guest:guest@')
    server = Server(amqp_url, args=[f'--broker_api={api}', '--queue_length_interval=0.5'])
    processes.append(server)
    app = celery_app_for(amqp_url)
    for i in range(2):
        app.send_task(ADD, args=(i, i))
    try:
        _check_rabbitmq_lengths(amqp_url, server, processes)
    finally:
        app.control.purge()  # later tests of the session share the vhost: leave its queue empty


def _check_rabbitmq_lengths(amqp_url, server, processes):
    def counted():
        queue = api_lengths(server).get('celery')
        # the management API fills in its statistics fields a few seconds after a queue appears
        return queue if queue and queue.get('messages') == 2 and 'consumers' in queue else None
    queue = wait_for(counted, 60, interval=1, message='RabbitMQ to report 2 messages in celery')
    assert queue['consumers'] == 0 and queue['messages_ready'] == 2
    assert re.search(r'>celery<.*?>2<', server.get('/broker').text, re.S)
    wait_for(lambda: gauge(server, 'celery') == 2.0, 30, message='the gauge to show 2')

    refused = Server(amqp_url, args=['--broker_api=http://guest:wrong@127.0.0.1:15672/api/'])
    processes.append(refused)
    response = refused.get('/api/queues/length')
    assert response.status_code == 503
    assert "refused the credentials of user 'guest' (401)" in response.text and 'wrong' not in response.text
    page = refused.get('/broker')
    assert page.status_code == 200
    assert "refused the credentials of user &#x27;guest&#x27; (401)" in page.text


def test_malformed_broker_api_stops_start_up(tmp_path):
    done = subprocess.run([sys.executable, '-m', 'flower', '--broker=amqp://guest:guest@127.0.0.1//',
                           '--broker_api=ftp://nowhere'], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={'PATH': '/usr/bin:/bin', 'PYTHONPATH': str(REPO)})
    assert done.returncode == 1
    assert "Invalid '--broker-api' option: ftp://nowhere must be an http:// or https:// URL" in done.stderr
