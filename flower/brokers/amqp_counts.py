"""Queue lengths over AMQP itself, for a RabbitMQ without a usable management API.

A passive ``queue.declare`` creates nothing: it answers with the queue's ready message count and consumer
count, or closes the channel with 404 NOT_FOUND when the queue does not exist. AMQP cannot list a vhost's
queues, so only named queues are asked about, and the count is of *ready* messages (messages delivered to a
consumer and not yet acknowledged are not included; the management API counts them in ``messages``).

The calls are blocking (py-amqp through kombu): :func:`amqp_queue_counts` runs on a worker thread
(``asyncio.to_thread`` in :class:`~flower.brokers.rabbitmq.RabbitMQQueueBroker`), never on the IOLoop, and
opens and closes its own connection each time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flower.brokers.errors import BrokerError, BrokerUnreachable

CONNECT_TIMEOUT = 2.0


def amqp_queue_counts(
    broker_url: str,
    names: Sequence[str],
    *,
    ssl: Any = None,
    timeout: float = CONNECT_TIMEOUT,
    location: str = 'the broker',
) -> list[dict]:
    """``[{'name', 'messages', 'messages_ready', 'consumers'}]`` for each of ``names`` that exists, in order.
    Raises :class:`BrokerUnreachable` when the broker can't be reached, :class:`BrokerError` when it refuses
    the login or the vhost."""
    from amqp.exceptions import AMQPError, NotFound
    from kombu import Connection
    from kombu.exceptions import KombuError

    connection = Connection(broker_url, connect_timeout=timeout, ssl=ssl or False)
    dropped = (OSError, *connection.connection_errors)
    try:
        try:
            connection.ensure_connection(max_retries=0)  # one attempt: the caller asks again in a moment
        except (OSError, KombuError, AMQPError) as exc:
            raise _connect_error(exc, location) from None
        answer = []
        channel = connection.channel()
        for name in names:
            try:
                _, messages, consumers = channel.queue_declare(queue=name, passive=True)
            except NotFound:
                channel = connection.channel()  # the broker closed the channel that asked
                continue
            except dropped as exc:
                raise BrokerUnreachable(f'RabbitMQ at {location} dropped the connection: {exc}') from None
            answer.append({'name': name, 'messages': messages, 'messages_ready': messages, 'consumers': consumers})
        return answer
    finally:
        connection.release()


def _connect_error(exc: BaseException, location: str) -> BrokerError:
    text = str(exc) or type(exc).__name__
    if 'ACCESS_REFUSED' in text or 'NOT_ALLOWED' in text or 'access to vhost' in text:
        return BrokerError(f'RabbitMQ at {location} refused the login or the vhost over AMQP: {text}')
    return BrokerUnreachable(f'RabbitMQ at {location} could not be reached over AMQP: {text}')
