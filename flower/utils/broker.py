"""Flower's public broker names, kept importable for code written against Flower: ``Broker`` (the factory),
``BrokerBase``, ``RabbitMQ``, ``RedisBase``, ``Redis``, ``RedisSentinel``, ``RedisSocket``, ``RedisSsl``.

They are thin shells over the adapters in :mod:`flower.brokers` (new code should use
:func:`flower.brokers.broker_for` and :class:`flower.brokers.QueueLengthMonitor`). As in Flower, an object
opens its connection for each ``await obj.queues(names)`` and closes it afterwards, and the URL's parts are
available as ``host``, ``port``, ``vhost``, ``username`` and ``password``. Unlike Flower, a RabbitMQ
management API that cannot be reached is replaced by AMQP (passive declares; ``source`` says which was
used), both failing raises :class:`~flower.brokers.BrokerError` instead of answering ``[]``, and
``filesystem://`` is supported.

Used on the IOLoop thread, like the adapters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# The one import of a higher layer from flower.utils: this module only keeps Flower's import path alive.
from flower.brokers import (
    AMQP_SCHEMES,
    BrokerConfigError,
    BrokerError,
    FilesystemQueueBroker,
    QueueBroker,
    RabbitMQQueueBroker,
    RedisQueueBroker,
    UnsupportedBroker,
    parse_broker_url,
    transport_of,
)
from flower.brokers import PRIORITY_STEPS, SEP, SOCKET_CONNECT_TIMEOUT, SOCKET_TIMEOUT
from flower.brokers import validate_broker_api as _check_broker_api

__all__ = [
    'Broker',
    'BrokerBase',
    'RabbitMQ',
    'RedisBase',
    'Redis',
    'RedisSentinel',
    'RedisSocket',
    'RedisSsl',
    'Filesystem',
    'BrokerError',
    'UnsupportedBroker',
    'validate_broker_api',
]


def validate_broker_api(http_api: str) -> None:
    """Flower's check of a ``--broker_api`` URL: a ``ValueError`` that says why unless it is an http(s) URL
    with a host (and a numeric port, if any)."""
    if not http_api:
        raise ValueError("Invalid '--broker-api' option: it is empty, expected an http or https URL")
    _check_broker_api(http_api)  # BrokerConfigError is a ValueError


class BrokerBase(QueueBroker):
    """A broker URL split into Flower's attributes, answering ``queues`` through an adapter."""

    def __init__(self, broker_url: str, *args: Any, **kwargs: Any):
        url = parse_broker_url(broker_url.split(';')[0])
        self.host = url.host
        self.port = url.port
        self.vhost = url.vhost
        self.username = url.username
        self.password = url.password
        self.adapter: QueueBroker = self._adapter(broker_url, *args, **kwargs)

    def _adapter(self, broker_url: str, *args: Any, **kwargs: Any) -> QueueBroker:
        raise NotImplementedError

    @property
    def location(self) -> str:
        return self.adapter.location

    async def queues(self, names: Sequence[str]) -> list[dict]:
        answer = await self.adapter.queues(names)
        self.source, self.source_note = self.adapter.source, self.adapter.source_note
        return answer

    async def close(self) -> None:
        await self.adapter.close()


class RabbitMQ(BrokerBase):
    """``RabbitMQ(broker_url, http_api=None, io_loop=None, **kwargs)``: queue objects from the management
    API at ``http_api`` (default ``http://<host>:15672/api/``)."""

    transport = 'amqp'

    def _adapter(self, broker_url: str, http_api: str | None = None, io_loop: Any = None, **kwargs: Any):
        self.http_api = http_api
        return RabbitMQQueueBroker(broker_url, http_api)

    async def queues(self, names: Sequence[str]) -> list[dict]:
        # Flower's RabbitMQ.queues answers the named queues only; the adapter adds the vhost's others
        asked = set(names)
        return [queue for queue in await super().queues(names) if queue.get('name') in asked]


class RedisBase(BrokerBase):
    """The Redis family: ``broker_options`` is Celery's ``broker_transport_options``."""

    transport = 'redis'
    # Flower's defaults: the priority key separator and steps (Celery's), the socket timeouts in seconds;
    # broker_transport_options override them
    DEFAULT_SEP = SEP
    DEFAULT_PRIORITY_STEPS = PRIORITY_STEPS
    DEFAULT_SOCKET_CONNECT_TIMEOUT = SOCKET_CONNECT_TIMEOUT
    DEFAULT_SOCKET_TIMEOUT = SOCKET_TIMEOUT

    def _adapter(
        self,
        broker_url: str,
        *args: Any,
        broker_options: Mapping[str, Any] | None = None,
        broker_use_ssl: Any = None,
        **kwargs: Any,
    ):
        adapter = RedisQueueBroker(broker_url, broker_options, broker_use_ssl)
        self.priority_steps = list(adapter.keys.priority_steps)
        self.sep = adapter.keys.sep
        self.broker_prefix = adapter.keys.prefix
        self.db = adapter.spec.client_kwargs.get('db', 0)
        return adapter


class Redis(RedisBase):
    pass


class RedisSsl(Redis):  # a Redis broker, as in Flower (isinstance(broker, Redis) holds)
    def _adapter(self, broker_url: str, *args: Any, broker_use_ssl: Any = None, **kwargs: Any):
        if not broker_use_ssl and transport_of(broker_url) != 'rediss':
            raise BrokerConfigError('Redis SSL broker requires broker_use_ssl')
        return super()._adapter(broker_url, *args, broker_use_ssl=broker_use_ssl, **kwargs)


class RedisSocket(RedisBase):
    pass


class RedisSentinel(RedisBase):
    pass


class Filesystem(BrokerBase):
    transport = 'filesystem'

    def _adapter(self, broker_url: str, *args: Any, broker_options: Mapping[str, Any] | None = None, **kwargs: Any):
        return FilesystemQueueBroker(broker_options)


class Broker:
    """``Broker(broker_url, http_api=None, broker_options=None, broker_use_ssl=None)``: the
    :class:`BrokerBase` subclass for the URL's transport. Raises :class:`UnsupportedBroker` (a
    NotImplementedError, as in Flower) for transports without queue lengths."""

    def __new__(cls, broker_url: str, *args: Any, **kwargs: Any) -> BrokerBase:  # type: ignore[misc]
        transport = transport_of(broker_url)
        if transport in AMQP_SCHEMES:
            return RabbitMQ(broker_url, *args, **kwargs)
        redis_classes = {
            'redis': RedisSsl if kwargs.get('broker_use_ssl') else Redis,
            'rediss': RedisSsl,
            'redis+socket': RedisSocket,
            'sentinel': RedisSentinel,
        }
        if transport in redis_classes:
            return redis_classes[transport](broker_url, *args, **kwargs)
        if transport == 'filesystem':
            return Filesystem(broker_url, *args, **kwargs)
        raise UnsupportedBroker(transport)
