"""The one small interface every queue-length adapter implements.

Adapters are plain asyncio objects: ``queues`` and ``close`` are awaited on the IOLoop thread (the only
thread that touches an adapter), and an adapter never blocks that loop (network I/O is asynchronous; the
filesystem adapter lists its folder on a worker thread).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence


class QueueBroker(abc.ABC):
    """Reads how many messages wait in named queues.

    ``queues(names)`` returns one dict per queue known to the broker, in the order of ``names``, each with at
    least ``name`` and ``messages`` (Flower's shape: Redis-like brokers give exactly these two keys, RabbitMQ
    gives its management API's queue object). An adapter that can list the broker's queues (RabbitMQ's
    management API) adds the broker's other queues after them, so a queue nobody consumes shows too. It raises a :class:`~flower.brokers.errors.BrokerError` when
    the broker cannot tell; it never silently answers ``[]`` for a broker it could not reach.
    """

    #: Transport family, for messages and metrics labels: 'redis', 'amqp', 'filesystem'.
    transport: str = ''
    #: Where the latest answer came from ('redis', 'filesystem', 'management-api', 'amqp'), and why a
    #: fallback source was used (``None`` when the usual source answered). Set before ``queues`` returns,
    #: so a caller reads them right after its await, with no other coroutine in between.
    source: str = ''
    source_note: str | None = None

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the numbers come from, for messages and logs; never contains a password."""

    @abc.abstractmethod
    async def queues(self, names: Sequence[str]) -> list[dict]: ...

    async def close(self) -> None:
        """Release connections held between calls. Idempotent; the adapter may be used again afterwards."""

    def __repr__(self) -> str:
        return f'<{type(self).__name__} {self.location}>'
