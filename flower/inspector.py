"""What the workers say about themselves when asked: Celery's ``inspect`` replies, cached per worker.

:class:`Inspector` runs the inspect calls through the :class:`~flower.runner.BlockingRunner` (never on the
IOLoop), all methods of one refresh in parallel, and merges the replies into ``workers[hostname][method]``
with a ``timestamp``. Concurrent refreshes are coalesced: a refresh already running for the same worker, or
for all workers, is shared instead of starting another round of broadcasts.

As in Flower 2.2, a cluster-wide refresh asks only for ``stats``, ``active_queues``, ``registered`` and
``conf``; the per-task lists (``scheduled``, ``active``, ``reserved``, ``revoked``) are fetched when one worker
is inspected on its own (its page, or ``/api/workers?workername=X&refresh=1``).

The cache is bounded by ``--max_workers`` (the least recently refreshed worker goes first), so workers that
come and go do not pile up.

Runtime rule 1: ``workers`` is written only on the IOLoop thread (merges happen after the awaited calls).
With ``FLOWER_THREAD_GUARD=1`` (the tests) the merge and :meth:`Inspector.forget` check it (see
:mod:`flower.utils.thread_guard`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict
from typing import Any

from flower.runner import BlockingRunner, BrokerUnavailable, OperationFailed
from flower.utils.thread_guard import new_guard

logger = logging.getLogger(__name__)


class Inspector:
    """``Inspector(io_loop, capp, timeout, max_concurrency=None)`` as in Flower (``timeout`` in seconds; the
    calls get a runner of their own, at most ``max_concurrency`` at a time), or, as the app builds it,
    ``Inspector(io_loop, capp, timeout, runner=<the app's BlockingRunner>, max_workers=N)``. The older
    ``Inspector(capp, runner, timeout=...)`` order is still accepted: a ``BlockingRunner`` in second place
    cannot be a Celery app, so the two orders never mix up."""

    inspect_methods = ('stats', 'active_queues', 'registered', 'scheduled', 'active', 'reserved', 'revoked', 'conf')
    methods = inspect_methods  # Flower 2.1's name
    # the per-task lists can be huge: fetched only when one worker is inspected on its own (Flower 2.2)
    task_inspect_methods = ('scheduled', 'active', 'reserved', 'revoked')
    cluster_methods = ('stats', 'active_queues', 'registered', 'conf')
    max_concurrency = len(inspect_methods)

    def __init__(
        self,
        io_loop=None,
        capp=None,
        timeout: float = 1.0,
        max_concurrency: int | None = None,
        *,
        runner: BlockingRunner | None = None,
        max_workers: int = 5000,
    ):
        if isinstance(capp, BlockingRunner):  # the older (capp, runner, timeout) order
            io_loop, capp, runner = None, io_loop, capp
        self.io_loop = io_loop
        self.capp = capp
        self.runner = (
            runner if runner is not None else BlockingRunner(max_concurrency=max_concurrency or self.max_concurrency)
        )
        self.timeout = timeout  # seconds
        self.max_workers = max_workers
        self.workers: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._inflight: dict[str | None, asyncio.Task] = {}
        self.last_error: str | None = None
        self.thread_guard = new_guard('the inspector cache')  # None unless FLOWER_THREAD_GUARD=1

    def methods_to_inspect(self, workername: str | None) -> tuple[str, ...]:
        """Every method for one worker; for all workers, those without the per-task lists."""
        return self.inspect_methods if workername else self.cluster_methods

    def inspect(self, workername: str | None = None) -> asyncio.Task:
        """Start (or join) a refresh of one worker or, with ``None``, of all; returns an awaitable task whose
        result is the list of hostnames that answered."""
        running = self._inflight.get(None)
        if running is not None and not running.done():
            return running
        running = self._inflight.get(workername)
        if running is not None and not running.done():
            return running
        task = asyncio.ensure_future(self._refresh(workername))
        self._inflight[workername] = task
        task.add_done_callback(functools.partial(self._finished, workername))
        return task

    def _finished(self, key, task: asyncio.Task) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled() and task.exception() is not None:
            logger.error('Worker inspection failed: %s', task.exception())

    async def _refresh(self, workername: str | None) -> list[str]:
        methods = self.methods_to_inspect(workername)
        results = await asyncio.gather(*(self._call(method, workername) for method in methods))
        if self.thread_guard is not None:
            self.thread_guard.check('Inspector refresh')
        answered: set[str] = set()
        now = time.time()
        for method, replies in zip(methods, results):
            if not replies:
                continue
            for hostname, reply in replies.items():
                if reply is None:
                    continue
                if method == 'stats' and isinstance(reply, dict):
                    reply = _without_broker_alternates(reply)
                info = self.workers.get(hostname)
                if info is None:
                    info = self.workers[hostname] = {}
                info[method] = reply
                info['timestamp'] = now
                self.workers.move_to_end(hostname)
                answered.add(hostname)
        while len(self.workers) > self.max_workers:
            self.workers.popitem(last=False)
        return sorted(answered)

    async def _call(self, method: str, workername: str | None) -> dict | None:
        destination = [workername] if workername else None
        timeout = self.timeout

        def call():
            inspect = self.capp.control.inspect(timeout=timeout, destination=destination)
            fn = getattr(inspect, method)
            return fn(safe=True) if method == 'active' else fn()

        try:
            # the broadcast itself waits `timeout` for replies; allow time for connecting on top of it
            reply = await self.runner.run(
                f'inspect {method}', workername or 'all workers', call, timeout=timeout + 10.0
            )
        except (BrokerUnavailable, OperationFailed) as exc:
            self.last_error = exc.detail if isinstance(exc, BrokerUnavailable) and exc.detail else str(exc)
            logger.warning('Inspect method %s failed: %s', method, self.last_error)
            return None
        if reply is None:
            logger.debug('Inspect method %s: no worker answered', method)
            return None
        if isinstance(reply, dict):
            errors = [h for h, r in reply.items() if isinstance(r, dict) and 'error' in r and len(r) == 1]
            for hostname in errors:
                logger.warning('Inspect method %s failed on %s: %s', method, hostname, reply[hostname]['error'])
                reply = {h: r for h, r in reply.items() if h not in errors}
        return reply

    def forget(self, hostname: str) -> None:
        if self.thread_guard is not None:
            self.thread_guard.check('Inspector.forget')
        self.workers.pop(hostname, None)


def _without_broker_alternates(stats: dict) -> dict:
    """Broker URLs of fail-over hosts carry passwords; Flower drops them from what it shows."""

    def clean(broker):
        return {key: value for key, value in broker.items() if key != 'alternates'}

    stats = dict(stats)
    if isinstance(stats.get('broker'), dict):
        stats['broker'] = clean(stats['broker'])
    consumer = stats.get('consumer')
    if isinstance(consumer, dict) and isinstance(consumer.get('broker'), dict):
        stats['consumer'] = dict(consumer, broker=clean(consumer['broker']))
    return stats
