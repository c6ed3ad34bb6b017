"""The server's one source of queue lengths: the broker page, ``/api/queues/length`` and the
``flower_queue_length{queue}`` gauge all read through it.

:class:`QueueLengths` picks the adapter for the broker once, wraps it in a :class:`QueueLengthMonitor` (so a
refresh storm costs one broker call per TTL and concurrent askers share a fetch), and refreshes in the
background for the gauge, which therefore never waits on the broker during a scrape. A transport without an
adapter (or a configuration the adapter refuses) is remembered and raised to every asker, with its message.

Used on the IOLoop thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flower.brokers.errors import BrokerError
from flower.brokers.factory import broker_for
from flower.brokers.monitor import QueueAnswer, QueueLengthMonitor

logger = logging.getLogger(__name__)


class QueueLengths:
    def __init__(
        self,
        broker_url: str,
        names: Callable[[], Iterable[str]],
        *,
        broker_api: str | None = None,
        transport_options: Mapping[str, Any] | None = None,
        broker_use_ssl: Any = None,
        ttl: float = 2.0,
    ):
        self.names = names
        self.monitor: QueueLengthMonitor | None = None
        self.error: BrokerError | None = None  # why there is no monitor (an unsupported transport...)
        try:
            adapter = broker_for(
                broker_url,
                broker_api=broker_api,
                transport_options=transport_options or {},
                broker_use_ssl=broker_use_ssl,
            )
        except BrokerError as exc:
            self.error = exc
        else:
            self.monitor = QueueLengthMonitor(adapter, lambda: sorted(self.names()), ttl=ttl)

    @property
    def location(self) -> str | None:
        return self.monitor.broker.location if self.monitor is not None else None

    async def lengths(self) -> list[dict]:
        """The queues and their lengths, in the adapter's shape; raises :class:`BrokerError` (its subclass
        ``UnsupportedBroker`` for a transport without an adapter) with a message for the user."""
        return (await self.answer()).queues

    async def answer(self) -> QueueAnswer:
        """:meth:`lengths` with where they were read (``source``) and why a fallback was used."""
        if self.monitor is None:
            assert self.error is not None, '__init__ sets the monitor or the error'
            raise self.error
        return await self.monitor.answer(sorted(self.names()))

    def start(self, interval: float) -> None:
        """Refresh every ``interval`` seconds in the background (nothing to do without an adapter)."""
        if self.monitor is not None and interval > 0:
            self.monitor.start(interval)

    async def close(self) -> None:
        if self.monitor is not None:
            await self.monitor.close()

    def cancel(self) -> None:
        if self.monitor is not None:
            self.monitor.cancel()

    def gauge(self) -> dict[str, float]:
        """``{queue: messages}`` from the latest background refresh; never does I/O."""
        if self.monitor is None:
            return {}
        return {
            queue['name']: float(queue.get('messages') or 0)
            for queue in self.monitor.last_lengths().queues
            if isinstance(queue, dict) and queue.get('name') is not None
        }
