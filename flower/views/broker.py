"""``/broker``: the broker's queues (those the workers consume, the configured and routed ones, those task
events named and, on RabbitMQ, every queue of the vhost) and how many messages wait in each, with where the
numbers were read (``source``: RabbitMQ's management API, or AMQP when the API is missing or refuses).

The numbers come from the app's :class:`flower.brokers.QueueLengths` (shared with the API and the gauge, cached
for a couple of seconds). A transport without an adapter is a 404 page that says so, as in Flower; a broker
that cannot be asked right now shows its error above an empty table (Flower shows an empty table and says
nothing). Neither is ever a 500. Runs on the IOLoop thread; the adapters do their own non-blocking I/O.
"""

from __future__ import annotations

import logging

from flower.brokers import BrokerError, UnsupportedBroker
from flower.views import BaseHandler

logger = logging.getLogger(__name__)

# RabbitMQ's management API has all of these; Redis only has messages (the others show as "—")
QUEUE_COLUMNS = (
    ('messages', 'Messages'),
    ('messages_unacknowledged', 'Unacked'),
    ('messages_ready', 'Ready'),
    ('consumers', 'Consumers'),
    ('idle_since', 'Idle since'),
)
# the API's ``source`` values, as the page says them
SOURCE_LABELS = {
    'management-api': 'the RabbitMQ management API',
    'amqp': 'AMQP (passive queue declare)',
    'redis': 'Redis',
    'filesystem': 'the filesystem broker folder',
}


class BrokerView(BaseHandler):
    async def get(self):
        queues: list[dict] = []
        error = source = source_note = None
        unsupported = False
        try:
            answer = await self.application.queues.answer()
            queues, source, source_note = list(answer.queues), answer.source, answer.source_note
        except UnsupportedBroker as exc:
            unsupported, error = True, str(exc)
        except BrokerError as exc:
            error = str(exc)  # written for the user by the adapters, never with a password
            logger.warning('Broker page: %s', error)
        if unsupported:
            self.set_status(404)
        self.render(
            'broker.html',
            active_tab='broker',
            queues=queues,
            columns=QUEUE_COLUMNS,
            error=error,
            unsupported=unsupported,
            source=source,
            source_note=source_note,
            source_labels=SOURCE_LABELS,
        )
