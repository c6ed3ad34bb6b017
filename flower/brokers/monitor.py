"""Queue lengths for everyone who asks, without letting them hammer the broker: caching, request sharing and
the background refresh that feeds the ``flower_queue_length{queue}`` gauge.

* :meth:`QueueLengthMonitor.lengths` answers from a cache for ``ttl`` seconds (default 2), so a refresh
  storm on the broker page costs one broker call per TTL. Concurrent callers asking for the same names while
  a fetch is running await that fetch instead of starting their own. Failures are cached for the TTL too: a
  broker that is down is not asked again by every waiting page.
* :meth:`start` refreshes in the background every ``interval`` seconds; :meth:`last_lengths` returns the
  latest numbers and when they were taken, so a metrics scrape reads memory and never waits on the broker.

Runtime rule: the monitor is used on the IOLoop thread only (its cache and snapshot are plain attributes,
written by coroutines on that loop). It depends on no app object: it is given a broker adapter and a
callable that says which queue names to watch.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from flower.brokers.base import QueueBroker
from flower.brokers.errors import BrokerError

logger = logging.getLogger(__name__)

NamesProvider = Callable[[], Iterable[str] | Awaitable[Iterable[str]]]

#: How many distinct name lists are cached (the page, the API and the gauge normally ask for the same one).
CACHED_NAME_LISTS = 8


@dataclass(frozen=True)
class QueueSnapshot:
    """The latest background refresh: ``queues`` and ``taken_at`` (epoch seconds) come from the last
    successful one (``[]`` and ``None`` before any); ``error`` is set when the most recent attempt failed."""

    queues: list[dict] = field(default_factory=list)
    taken_at: float | None = None
    error: BaseException | None = None


@dataclass
class _Entry:
    expires: float  # monotonic
    taken_at: float  # epoch
    queues: list[dict] | None = None
    error: BrokerError | None = None
    source: str = ''
    source_note: str | None = None


@dataclass(frozen=True)
class QueueAnswer:
    """What :meth:`QueueLengthMonitor.answer` returns: the queues, where they were read (the adapter's
    ``source``, e.g. ``'management-api'`` or ``'amqp'``) and why a fallback source was used."""

    queues: list[dict]
    source: str
    source_note: str | None = None


class QueueLengthMonitor:
    def __init__(
        self,
        broker: QueueBroker,
        names: NamesProvider,
        *,
        ttl: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.broker = broker
        self.ttl = ttl
        self._names = names
        self._clock = clock
        self._cache: OrderedDict[tuple[str, ...], _Entry] = OrderedDict()
        self._inflight: dict[tuple[str, ...], asyncio.Future[_Entry]] = {}
        self._snapshot = QueueSnapshot()
        self._refresher: asyncio.Task | None = None

    # -- on demand -----------------------------------------------------------------------------------------

    async def lengths(self, names: Sequence[str] | None = None) -> list[dict]:
        """The broker's answer for ``names`` (default: the names provider's), at most ``ttl`` seconds old.
        Raises the cached or fresh :class:`BrokerError`."""
        return (await self._lengths_with_time(names))[0]

    async def answer(self, names: Sequence[str] | None = None) -> QueueAnswer:
        """:meth:`lengths` with the source the numbers came from."""
        queues, _taken_at, entry = await self._lengths_entry(names)
        return QueueAnswer(queues, entry.source, entry.source_note)

    async def _lengths_with_time(self, names: Sequence[str] | None) -> tuple[list[dict], float]:
        queues, taken_at, _entry = await self._lengths_entry(names)
        return queues, taken_at

    async def _lengths_entry(self, names: Sequence[str] | None) -> tuple[list[dict], float, _Entry]:
        key = tuple(await self._current_names() if names is None else names)
        entry = self._cache.get(key)
        if entry is None or entry.expires <= self._clock():
            fetch = self._inflight.get(key)
            if fetch is None:
                fetch = asyncio.ensure_future(self._fetch(key))
                # Mark a failure as seen even if every caller gave up waiting, so asyncio does not log it.
                fetch.add_done_callback(lambda done: done.cancelled() or done.exception())
                self._inflight[key] = fetch
            # shield: a caller that gives up (a closed page) must not cancel the fetch others are awaiting
            entry = await asyncio.shield(fetch)
        if entry.error is not None:
            # The cached error is raised to every caller within the TTL: drop the previous raise's traceback
            # so it does not grow with each one.
            raise entry.error.with_traceback(None)
        assert entry.queues is not None, '_fetch gives an entry its queues or its error'
        # Copies, so one caller decorating its answer cannot change what the next caller is given.
        return [dict(queue) for queue in entry.queues], entry.taken_at, entry

    async def _fetch(self, key: tuple[str, ...]) -> _Entry:
        try:
            try:
                queues = await self.broker.queues(list(key))
                # read right after the await: no other coroutine ran in between to change them
                entry = _Entry(
                    0.0, time.time(), queues=queues, source=self.broker.source, source_note=self.broker.source_note
                )
            except BrokerError as exc:
                entry = _Entry(0.0, time.time(), error=exc)
            entry.expires = self._clock() + self.ttl
            self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > CACHED_NAME_LISTS:
                self._cache.popitem(last=False)
            return entry
        finally:
            self._inflight.pop(key, None)

    async def _current_names(self) -> list[str]:
        names = self._names()
        if inspect.isawaitable(names):
            names = await names
        return list(names)

    # -- in the background ---------------------------------------------------------------------------------

    def last_lengths(self) -> QueueSnapshot:
        """The latest background numbers; reading them does no I/O."""
        return self._snapshot

    @property
    def last_error(self) -> BaseException | None:
        """The error of the most recent refresh, ``None`` once a refresh succeeds again."""
        return self._snapshot.error

    @property
    def running(self) -> bool:
        return self._refresher is not None and not self._refresher.done()

    async def refresh(self) -> QueueSnapshot:
        """One refresh of the snapshot (through the cache, so it shares a fetch the page just made)."""
        previous = self._snapshot
        try:
            queues, taken_at = await self._lengths_with_time(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a refresher that dies on one bad answer would freeze the gauge for good
            if previous.error is None or str(previous.error) != str(exc):
                logger.warning(
                    'Queue lengths could not be refreshed: %s', exc, exc_info=not isinstance(exc, BrokerError)
                )
            self._snapshot = QueueSnapshot(previous.queues, previous.taken_at, exc)
        else:
            if previous.error is not None:
                logger.info('Queue lengths are readable again from %s', self.broker.location)
            self._snapshot = QueueSnapshot(queues, taken_at, None)
        return self._snapshot

    def start(self, interval: float) -> None:
        """Refresh now and then every ``interval`` seconds until :meth:`stop`. Call it on the running IOLoop.
        Starting a running monitor does nothing."""
        if interval <= 0:
            raise ValueError(f'queue-length refresh interval must be positive, not {interval}')
        if self.running:
            return
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_every(interval))

    async def _refresh_every(self, interval: float) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(interval)  # a period, not synchronisation: stop() cancels it

    def cancel(self) -> None:
        """Stop the background refresh without waiting (for a shutdown that is about to stop the loop)."""
        refresher, self._refresher = self._refresher, None
        if refresher is not None and not refresher.done():
            refresher.cancel()

    async def stop(self) -> None:
        """Stop the background refresh (the snapshot stays readable)."""
        refresher, self._refresher = self._refresher, None
        if refresher is not None and not refresher.done():
            refresher.cancel()
            try:
                await refresher
            except asyncio.CancelledError:
                pass

    async def close(self) -> None:
        """Stop, and release the broker adapter's connections."""
        await self.stop()
        await self.broker.close()
