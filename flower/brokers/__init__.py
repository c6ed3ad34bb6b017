"""How many messages wait in the broker's queues: one small adapter interface (:class:`QueueBroker`), one
adapter per transport family (Redis, RabbitMQ, filesystem), the factory that picks one from the broker URL,
the queue names to ask about, and the monitor that caches and refreshes the answers.

Layer L1 (domain): plain asyncio, no ``tornado.web``; everything here runs on the IOLoop thread (the
filesystem adapter lists its folder on a worker thread). ``flower.utils.broker`` keeps Flower's public
names (``Broker``, ``RabbitMQ``, ``Redis``...) as thin classes over these.
"""

from flower.brokers.base import QueueBroker
from flower.brokers.errors import BrokerConfigError, BrokerError, BrokerUnreachable, UnsupportedBroker
from flower.brokers.factory import broker_for, transport_of
from flower.brokers.filesystem import FilesystemQueueBroker
from flower.brokers.monitor import QueueLengthMonitor, QueueSnapshot
from flower.brokers.names import queue_names
from flower.brokers.rabbitmq import AMQP_SCHEMES, RabbitMQQueueBroker, validate_broker_api
from flower.brokers.redis_broker import REDIS_SCHEMES, RedisQueueBroker, redis_connection_spec
from flower.brokers.redis_broker import PRIORITY_STEPS, SEP, SOCKET_CONNECT_TIMEOUT, SOCKET_TIMEOUT
from flower.brokers.service import QueueLengths
from flower.brokers.urls import BrokerURL, parse_broker_url

__all__ = [
    'QueueBroker',
    'BrokerError',
    'BrokerUnreachable',
    'BrokerConfigError',
    'UnsupportedBroker',
    'broker_for',
    'transport_of',
    'queue_names',
    'validate_broker_api',
    'QueueLengthMonitor',
    'QueueSnapshot',
    'QueueLengths',
    'RedisQueueBroker',
    'RabbitMQQueueBroker',
    'FilesystemQueueBroker',
    'redis_connection_spec',
    'AMQP_SCHEMES',
    'REDIS_SCHEMES',
    'BrokerURL',
    'parse_broker_url',
    'PRIORITY_STEPS',
    'SEP',
    'SOCKET_CONNECT_TIMEOUT',
    'SOCKET_TIMEOUT',
]
