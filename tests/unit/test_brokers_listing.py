"""Which queues are reported and where their numbers come from, without a network: queue names from
``task_routes`` and task-sent events, RabbitMQ's vhost listing (with Celery's plumbing left out), the AMQP
fallback when the management API can't answer, and the source carried through the monitor's cache."""

from __future__ import annotations

import asyncio

import pytest
from celery import Celery
from kombu import Queue

from flower.brokers import (
    BrokerConfigError,
    BrokerError,
    BrokerUnreachable,
    QueueLengthMonitor,
    RabbitMQQueueBroker,
    queue_names,
)
from flower.brokers import rabbitmq
from flower.brokers.names import routed_queues
from flower.events.state import MAX_QUEUES_SEEN, EventsState
from tests.support.events import event as task_event


def test_routes_and_seen_queues_join_the_names():
    app = Celery('t', set_as_current=False)
    app.conf.task_routes = {'app.slow': {'queue': 'slow'}, 'app.fast': 'fast', 'app.*': {'exchange': 'x'}}
    assert queue_names(app, {}, seen={'from-events', ''}) == ['celery', 'fast', 'from-events', 'slow']


@pytest.mark.parametrize(
    'routes, expected',
    [
        ([{'a': {'queue': 'one'}}, {'b': {'queue': Queue('two')}}], {'one', 'two'}),
        ((lambda name, args, kwargs, options, task=None, **kw: {'queue': 'never'},), set()),  # a router function
        ('app.routers.Router', set()),
        (None, set()),
    ],
)
def test_routed_queues_reads_dicts_and_skips_routers(routes, expected):
    assert routed_queues(routes) == expected


def test_task_sent_events_name_queues_bounded():
    state = EventsState()
    state.event(task_event('task-sent', uuid='a', name='t', queue='reports', routing_key='reports'))
    state.event(task_event('task-sent', uuid='b', name='t', routing_key='by-key'))
    state.event(task_event('task-received', uuid='c', name='t', routing_key='ignored', hostname='w@h'))
    assert state.queues_seen == {'reports', 'by-key'}
    for i in range(MAX_QUEUES_SEEN + 10):
        state.event(task_event('task-sent', uuid=f"x{i}", name="t", queue=f"q{i}"))
    assert len(state.queues_seen) == MAX_QUEUES_SEEN


VHOST = [
    {'name': 'celery', 'messages': 1, 'consumers': 1},
    {'name': 'orphan', 'messages': 7, 'consumers': 0},
    {'name': 'another', 'messages': 0, 'consumers': 0},
    {'name': 'celeryev.1234', 'messages': 0, 'exclusive': False},
    {'name': 'w1@h.celery.pidbox', 'messages': 0},
    {'name': 'amq.gen-abc', 'messages': 0},
    {'name': 'rpc-client', 'messages': 0, 'exclusive': True},
]


def rabbit(monkeypatch, listing=None, api_error=None, amqp=None):
    broker = RabbitMQQueueBroker('amqp://guest:guest@127.0.0.1:5672/v', 'http://127.0.0.1:1/api/')

    async def fetch():
        if api_error is not None:
            raise api_error
        return listing

    asked = []

    def counts(url, names, **kwargs):
        asked.append((url, list(names), kwargs['location']))
        if isinstance(amqp, Exception):
            raise amqp
        return [
            {'name': name, 'messages': amqp[name], 'messages_ready': amqp[name], 'consumers': 0}
            for name in names
            if name in amqp
        ]

    monkeypatch.setattr(broker, '_fetch_vhost_queues', fetch)
    monkeypatch.setattr(rabbitmq, 'amqp_queue_counts', counts)
    return broker, asked


def test_management_api_lists_the_vhosts_other_queues_after_the_asked_ones(monkeypatch):
    broker, asked = rabbit(monkeypatch, listing=VHOST)
    answer = asyncio.run(broker.queues(['celery', 'missing']))
    assert [q['name'] for q in answer] == ['celery', 'another', 'orphan']
    assert answer[2] == {'name': 'orphan', 'messages': 7, 'consumers': 0}
    assert (broker.source, broker.source_note, asked) == ('management-api', None, [])


def test_other_queues_are_capped(monkeypatch):
    listing = [{'name': f'q{i:05}', 'messages': 0} for i in range(rabbitmq.MAX_OTHER_QUEUES + 5)]
    broker, _ = rabbit(monkeypatch, listing=listing)
    assert len(asyncio.run(broker.queues(['celery']))) == rabbitmq.MAX_OTHER_QUEUES


def test_a_refusing_api_falls_back_to_amqp_and_says_why(monkeypatch):
    refusal = BrokerError(
        "RabbitMQ management API at http://127.0.0.1:1/api/ refused the credentials of user 'guest' (401)"
    )
    broker, asked = rabbit(monkeypatch, api_error=refusal, amqp={'celery': 3})
    answer = asyncio.run(broker.queues(['celery', 'gone']))
    assert answer == [{'name': 'celery', 'messages': 3, 'messages_ready': 3, 'consumers': 0}]
    assert asked == [('amqp://guest:guest@127.0.0.1:5672/v', ['celery', 'gone'], '127.0.0.1:5672/v')]
    assert broker.source == 'amqp'
    assert broker.source_note == f'{refusal}. Read over AMQP instead (ready messages only).'


def test_when_amqp_fails_too_both_reasons_are_given(monkeypatch):
    broker, _ = rabbit(
        monkeypatch,
        api_error=BrokerUnreachable('API down'),
        amqp=BrokerUnreachable('RabbitMQ at 127.0.0.1:5672/v could not be reached over AMQP: x'),
    )
    with pytest.raises(BrokerUnreachable) as info:
        asyncio.run(broker.queues(['celery']))
    assert str(info.value) == (
        'API down. Reading over AMQP failed too: RabbitMQ at 127.0.0.1:5672/v could not be reached over AMQP: x'
    )


def test_a_configuration_error_is_not_hidden_by_the_fallback(monkeypatch):
    broker, asked = rabbit(monkeypatch, api_error=BrokerConfigError('bad'), amqp={})
    with pytest.raises(BrokerConfigError):
        asyncio.run(broker.queues(['celery']))
    assert asked == []


def test_the_monitor_carries_the_source_of_each_answer(monkeypatch):
    broker, _ = rabbit(monkeypatch, api_error=BrokerUnreachable('API down'), amqp={'celery': 2})
    monitor = QueueLengthMonitor(broker, lambda: ['celery'])
    answer = asyncio.run(monitor.answer())
    assert (answer.queues, answer.source) == (
        [{'name': 'celery', 'messages': 2, 'messages_ready': 2, 'consumers': 0}],
        'amqp',
    )
    assert answer.source_note.startswith('API down. Read over AMQP instead')


def test_flowers_rabbitmq_class_answers_the_named_queues_only(monkeypatch):
    from flower.utils import broker as compat

    rabbit = compat.Broker('amqp://guest:guest@localhost:5672//', 'http://127.0.0.1:1/api/')

    async def fetch():
        return VHOST

    monkeypatch.setattr(rabbit.adapter, '_fetch_vhost_queues', fetch)
    assert [q['name'] for q in asyncio.run(rabbit.queues(['orphan', 'celery']))] == ['orphan', 'celery']
    assert rabbit.source == 'management-api'


@pytest.mark.parametrize(
    'error, kind, text',
    [
        (ConnectionRefusedError(111, 'Connection refused'), BrokerUnreachable, 'could not be reached over AMQP'),
        (
            Exception('(0, 0): (403) ACCESS_REFUSED - Login was refused'),
            BrokerError,
            'refused the login or the vhost over AMQP',
        ),
        (
            Exception("(0, 0): (530) NOT_ALLOWED - vhost nope not found"),
            BrokerError,
            'refused the login or the vhost over AMQP',
        ),
    ],
)
def test_amqp_connect_errors_say_what_went_wrong(error, kind, text):
    from flower.brokers.amqp_counts import _connect_error

    mapped = _connect_error(error, '127.0.0.1:5672/v')
    assert type(mapped) is kind and str(mapped).startswith(f'RabbitMQ at 127.0.0.1:5672/v {text}: ')
