"""RabbitMQ queue lengths against the real RabbitMQ on 127.0.0.1 (AMQP 5672, management API 15672), in a
vhost of this module's own (created through the management API, deleted afterwards): messages published to
queues nobody consumes are reported with RabbitMQ's fields (the vhost's other queues after the asked ones),
the lengths are read over AMQP when the management API refuses or is not there, and a wrong password, an API
that is not there (with no AMQP either) or an unknown vhost give a clear error instead of an empty table.

The management API refreshes its message counts every few seconds (collect_statistics_interval), so counts
are polled until they settle, with a deadline.

When RabbitMQ or its management API is down the tests skip with a one-line reason, except under CI=true,
where they fail (.ci/run enables the rabbitmq_management plugin).
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from urllib.parse import quote

import pytest
import requests
from celery import Celery
from kombu import Connection, Exchange, Queue

from flower.brokers import BrokerError, BrokerUnreachable, broker_for
from tests.support.needs import skip_or_fail
from tests.support.processes import free_port, wait_for

pytestmark = pytest.mark.rabbitmq

API = 'http://127.0.0.1:15672/api'
AUTH = ('guest', 'guest')


@pytest.fixture(scope='module')
def vhost():
    try:
        socket.create_connection(('127.0.0.1', 5672), timeout=2).close()
    except OSError as exc:
        skip_or_fail(f'RabbitMQ on 127.0.0.1:5672 is not reachable: {exc}')
    try:
        requests.get(f'{API}/overview', auth=AUTH, timeout=5).raise_for_status()
    except requests.RequestException as exc:
        skip_or_fail(
            f'RabbitMQ management API on 127.0.0.1:15672 is not reachable ({exc.__class__.__name__}); '
            'enable it with `rabbitmq-plugins enable rabbitmq_management`'
        )
    name = f'flowertest-brokers-{uuid.uuid4().hex[:10]}'
    path = quote(name, safe='')
    requests.put(f'{API}/vhosts/{path}', auth=AUTH, timeout=10).raise_for_status()
    requests.put(
        f'{API}/permissions/{path}/guest', auth=AUTH, timeout=10, json={'configure': '.*', 'write': '.*', 'read': '.*'}
    ).raise_for_status()
    yield name
    requests.delete(f'{API}/vhosts/{path}', auth=AUTH, timeout=30)


@pytest.fixture
def amqp_url(vhost):
    return f'amqp://guest:guest@127.0.0.1:5672/{vhost}'


def publish(url: str, queue: str, count: int) -> None:
    """Declare ``queue`` (durable, no consumer) and publish ``count`` messages to it with kombu."""
    exchange = Exchange(queue, type='direct')
    with Connection(url) as conn:
        declared = Queue(queue, exchange=exchange, routing_key=queue)
        with conn.Producer() as producer:
            for i in range(count):
                producer.publish({'n': i}, exchange=exchange, routing_key=queue, declare=[declared], retry=True)


def lengths(broker, names) -> list[dict]:
    async def ask():
        try:
            return await broker.queues(names)
        finally:
            await broker.close()

    return asyncio.run(ask())


def settled(broker, names, expected: dict[str, int], timeout: float = 30.0) -> list[dict]:
    """Poll until the API reports ``expected`` messages per queue; return the last answer."""

    def matches():
        answer = lengths(broker, names)
        asked = [q for q in answer if q['name'] in names]  # the vhost's other queues follow them
        # the statistics fields (consumers, ...) may come a little after the message counts
        settled_fields = all('consumers' in q for q in asked)
        return answer if settled_fields and {q['name']: q.get('messages') for q in asked} == expected else None

    return wait_for(matches, timeout, interval=0.5, message=f'the management API to report {expected}')


def test_messages_published_to_queues_without_consumers(amqp_url):
    publish(amqp_url, 'jobs', 5)
    publish(amqp_url, 'reports', 2)
    broker = broker_for(amqp_url)  # no --broker_api: http://127.0.0.1:15672/api/ with the broker's credentials
    assert broker.api_url == 'http://127.0.0.1:15672/api/'
    answer = settled(broker, ['reports', 'jobs', 'absent'], {'reports': 2, 'jobs': 5})
    names = [q['name'] for q in answer]
    assert names[:2] == ['reports', 'jobs'] and 'absent' not in names  # request order; unknown ones left out
    assert names[2:] == sorted(names[2:])  # then the vhost's other queues, by name
    jobs = answer[1]
    assert (jobs['messages'], jobs['messages_ready'], jobs['messages_unacknowledged'], jobs['consumers']) == (
        5,
        5,
        0,
        0,
    )
    # RabbitMQ adds idle_since only once the queue has been idle for a while: not something to wait for here
    assert jobs['vhost'] == amqp_url.rsplit('/', 1)[1]


def test_real_celery_messages_with_an_explicit_broker_api(amqp_url, vhost):
    app = Celery('brokertests', broker=amqp_url, set_as_current=False)
    app.conf.broker_connection_retry_on_startup = False
    with app.producer_or_acquire() as producer:
        for i in range(3):
            app.send_task('brokertests.noop', args=(i,), queue='celery-jobs', producer=producer)
    app.close()
    broker = broker_for(amqp_url, broker_api='http://guest:guest@127.0.0.1:15672/api/')
    answer = settled(broker, ['celery-jobs'], {'celery-jobs': 3})
    assert answer[0]['messages_ready'] == 3 and answer[0]['consumers'] == 0


def test_unacknowledged_messages_and_consumers_are_reported(amqp_url):
    from kombu import Consumer

    publish(amqp_url, 'inflight', 4)
    with Connection(amqp_url) as conn:
        channel = conn.channel()
        channel.basic_qos(0, 2, False)  # the consumer holds at most 2 unacknowledged messages
        held = []
        queue = Queue('inflight', exchange=Exchange('inflight', type='direct'), routing_key='inflight')
        with Consumer(channel, [queue], callbacks=[lambda body, message: held.append(message)]):
            while len(held) < 2:
                conn.drain_events(timeout=5)
            broker = broker_for(amqp_url)

            def two_unacked():
                q = lengths(broker, ['inflight'])[0]  # the vhost's other queues follow
                return (
                    q if q.get('messages_unacknowledged') == 2 and q.get('messages') == 4 and 'consumers' in q else None
                )

            q = wait_for(two_unacked, 30, interval=0.5, message='2 unacknowledged of 4')
            assert q['messages_ready'] == 2 and q['consumers'] == 1
            for message in held:
                message.ack()


def test_wrong_password_in_broker_api_falls_back_to_amqp_and_says_why(amqp_url):
    publish(amqp_url, 'refused-jobs', 2)
    broker = broker_for(amqp_url, broker_api='http://guest:not-the-password@127.0.0.1:15672/api/')
    assert lengths(broker, ['refused-jobs', 'absent']) == [
        {'name': 'refused-jobs', 'messages': 2, 'messages_ready': 2, 'consumers': 0}
    ]
    assert broker.source == 'amqp'
    assert broker.source_note == (
        "RabbitMQ management API at http://127.0.0.1:15672/api/ refused the credentials "
        "of user 'guest' (401). Read over AMQP instead (ready messages only)."
    )


def test_wrong_password_everywhere_is_a_clear_error_not_an_empty_list(vhost):
    url = f'amqp://guest:not-the-password@127.0.0.1:5672/{vhost}'
    broker = broker_for(url, broker_api='http://guest:not-the-password@127.0.0.1:15672/api/')
    with pytest.raises(BrokerError) as info:
        lengths(broker, ['jobs'])
    message = str(info.value)
    assert message.startswith(
        "RabbitMQ management API at http://127.0.0.1:15672/api/ refused the credentials of "
        "user 'guest' (401). Reading over AMQP failed too: RabbitMQ at 127.0.0.1:5672/"
    )
    assert 'ACCESS_REFUSED' in message and 'not-the-password' not in message


def test_unknown_vhost_is_named_in_the_error(vhost):
    broker = broker_for(f'amqp://guest:guest@127.0.0.1:5672/{vhost}-missing')
    with pytest.raises(BrokerError, match=f"knows no vhost '{vhost}-missing' \\(404\\)"):
        lengths(broker, ['jobs'])


def test_api_that_is_not_there_fails_fast_with_a_hint(vhost):
    port = free_port()  # nothing listens here
    amqp_port = free_port()  # nor here: both sources fail
    broker = broker_for(
        f'amqp://guest:secret-pw@127.0.0.1:{amqp_port}/{vhost}',
        broker_api=f'http://guest:secret-pw@127.0.0.1:{port}/api/',
    )
    started = time.monotonic()
    with pytest.raises(BrokerUnreachable) as info:
        lengths(broker, ['jobs'])
    assert time.monotonic() - started < 6
    message = str(info.value)
    assert message.startswith(f'RabbitMQ management API at http://127.0.0.1:{port}/api/ could not be reached: ')
    assert 'Enable it with `rabbitmq-plugins enable rabbitmq_management` or pass --broker_api. ' in message
    assert f'Reading over AMQP failed too: RabbitMQ at 127.0.0.1:{amqp_port}/{vhost} could not be reached' in message
    assert 'secret-pw' not in message


def test_without_the_management_api_lengths_come_over_amqp(amqp_url):
    publish(amqp_url, 'plain-amqp', 4)
    broker = broker_for(amqp_url, broker_api=f'http://127.0.0.1:{free_port()}/api/')
    assert lengths(broker, ['plain-amqp']) == [
        {'name': 'plain-amqp', 'messages': 4, 'messages_ready': 4, 'consumers': 0}
    ]
    assert broker.source == 'amqp' and 'could not be reached' in broker.source_note


def test_an_api_that_never_answers_times_out(amqp_url):
    with socket.socket() as silent:  # accepts TCP connections (kernel backlog), never answers
        silent.bind(('127.0.0.1', 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        broker = broker_for(amqp_url, broker_api=f'http://127.0.0.1:{port}/api/')
        started = time.monotonic()
        lengths(broker, ['jobs'])  # answered over AMQP after the API's timeout
        assert time.monotonic() - started < 6
        assert broker.source == 'amqp' and 'could not be reached: Timeout' in broker.source_note
