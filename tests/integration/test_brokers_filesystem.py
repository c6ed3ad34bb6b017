"""kombu's ``filesystem://`` transport, for real: a Celery app publishes into a temporary folder, the adapter
counts what waits per queue, and a kombu consumer taking messages makes the count go down. No service is
needed."""

from __future__ import annotations

import asyncio

from celery import Celery
from kombu import Connection

from flower.brokers import broker_for


def lengths(broker, names):
    return asyncio.run(broker.queues(names))


def test_counts_real_celery_messages_and_follows_consumption(tmp_path):
    data, control = tmp_path / 'data', tmp_path / 'control'
    data.mkdir()
    control.mkdir()
    # One folder for in and out, as in a single-machine setup: workers read what producers write.
    options = {'data_folder_in': str(data), 'data_folder_out': str(data), 'control_folder': str(control)}
    app = Celery('brokertests', broker='filesystem://', set_as_current=False)
    app.conf.broker_transport_options = options
    with app.producer_or_acquire() as producer:
        for i in range(3):
            app.send_task('brokertests.noop', args=(i,), queue='celery', producer=producer)
        for i in range(2):
            app.send_task('brokertests.noop', args=(i,), queue='reports.daily', producer=producer)
    app.close()

    broker = broker_for(app.connection_for_read().as_uri(include_password=True), transport_options=options)
    assert lengths(broker, ['celery', 'reports.daily', 'idle']) == [
        {'name': 'celery', 'messages': 3},
        {'name': 'reports.daily', 'messages': 2},
        {'name': 'idle', 'messages': 0},
    ]

    with Connection('filesystem://', transport_options=options) as conn:
        queue = conn.SimpleQueue('celery')
        queue.get(timeout=5).ack()
        queue.close()
    assert lengths(broker, ['celery', 'reports.daily']) == [
        {'name': 'celery', 'messages': 2},
        {'name': 'reports.daily', 'messages': 2},
    ]
