"""Choosing the queue-length adapter for a broker URL (by its scheme), and nothing else.

Pure construction: no I/O happens until ``queues`` is awaited, so the CLI can call :func:`broker_for` (and
:func:`~flower.brokers.rabbitmq.validate_broker_api`) at start-up to fail fast on a bad configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flower.brokers.base import QueueBroker
from flower.brokers.errors import BrokerConfigError, UnsupportedBroker
from flower.brokers.filesystem import FilesystemQueueBroker
from flower.brokers.rabbitmq import AMQP_SCHEMES, RabbitMQQueueBroker
from flower.brokers.redis_broker import REDIS_SCHEMES, RedisQueueBroker


def transport_of(broker_url: str) -> str:
    """The transport name of a kombu URL as users know it: ``sqs``, ``memory``, ``sqla`` (for
    ``sqla+postgresql://``), ``redis+socket``."""
    scheme = broker_url.partition('://')[0].strip().lower()
    if scheme in REDIS_SCHEMES:
        return scheme
    return scheme.split('+', 1)[0]


def broker_for(
    broker_url: str,
    *,
    broker_api: str | None = None,
    transport_options: Mapping[str, Any] | None = None,
    broker_use_ssl: Any = None,
) -> QueueBroker:
    """The adapter for ``broker_url`` (kombu's password-bearing URI, ``conn.as_uri(include_password=True)``).

    ``broker_api`` is used for RabbitMQ only; ``transport_options`` is Celery's ``broker_transport_options``
    and ``broker_use_ssl`` its ``broker_use_ssl``. Raises :class:`UnsupportedBroker` (``'sqs' broker is not
    supported``) or :class:`BrokerConfigError`."""
    if '://' not in (broker_url or ''):
        raise BrokerConfigError('Invalid broker URL: it must look like <transport>://[user:password@]host[:port]/...')
    transport = transport_of(broker_url)
    if transport in AMQP_SCHEMES:
        return RabbitMQQueueBroker(broker_url, broker_api, broker_use_ssl=broker_use_ssl)
    if transport in REDIS_SCHEMES:
        return RedisQueueBroker(broker_url, transport_options, broker_use_ssl)
    if transport == 'filesystem':
        return FilesystemQueueBroker(transport_options)
    raise UnsupportedBroker(transport)
