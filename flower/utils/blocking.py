"""Flower's ``flower.utils.blocking`` names, over our bounded runner (:class:`flower.runner.BlockingRunner`).

* :class:`BlockingOperationRunner` - ``await runner.run(operation, target, func, *args,
  connection_errors=(), **kwargs)`` calls ``func(*args, **kwargs)`` on a thread pool, at most
  ``max_concurrency`` at a time, and returns its result. A connection failure (one of
  :data:`CONNECTION_ERRORS`, of the result backend's own connection errors, of the extra
  ``connection_errors`` given, or a call that did not finish in time) raises
  :class:`~flower.runner.BrokerUnavailable`; anything else :class:`~flower.runner.OperationFailed`. Every
  handler turns those into Flower's answers: 503 ``Broker or result backend unavailable`` and 500. (Flower
  raises ``tornado.web.HTTPError`` itself; this module stays below the web layer, so it raises the domain
  errors the web layer maps, with the same statuses and messages.)
* ``Flower.blocking_runner`` is one of these sharing the app's runner (its threads and its bound), and
  ``BaseApiHandler.run_blocking(...)`` calls it.

``run`` is awaited on the IOLoop thread; ``func`` runs on a pool thread and must not touch the events state.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any, Callable

from celery.exceptions import BackendError
from kombu.exceptions import ConnectionError as KombuConnectionError
from kombu.exceptions import OperationalError

from flower.runner import UNAVAILABLE_MESSAGE, BlockingRunner, BrokerUnavailable, OperationFailed

__all__ = [
    'CONNECTION_ERRORS',
    'BlockingOperationRunner',
    'BrokerUnavailable',
    'OperationFailed',
    'UNAVAILABLE_MESSAGE',
]

#: what Flower counts as "the broker or result backend is unreachable" (ours counts more: see flower.runner)
CONNECTION_ERRORS = (BackendError, ConnectionError, KombuConnectionError, OperationalError, TimeoutError)


class _ExtraConnectionError(ConnectionError):
    """Carries one of the caller's own ``connection_errors`` to the runner as a connection failure."""


class BlockingOperationRunner:
    """Flower's runner. ``BlockingOperationRunner(executor=None, max_concurrency=None)`` makes one of its own
    (at most ``max_blocking_operations`` calls at a time unless told otherwise);
    :meth:`sharing` wraps an existing :class:`~flower.runner.BlockingRunner`."""

    max_blocking_operations = 5

    def __init__(self, executor: Executor | None = None, max_concurrency: int | None = None):
        self.runner = BlockingRunner(executor, max_concurrency or self.max_blocking_operations)

    @classmethod
    def sharing(cls, runner: BlockingRunner) -> 'BlockingOperationRunner':
        adapter = cls.__new__(cls)
        adapter.runner = runner
        return adapter

    @property
    def executor(self) -> Executor:
        return self.runner.executor

    @property
    def semaphore(self):
        return self.runner.semaphore

    @property
    def max_concurrency(self) -> int:
        return self.runner.max_concurrency

    async def run(
        self, operation: str, target: str, func: Callable[..., Any], *args, connection_errors=(), **kwargs
    ) -> Any:
        """``func(*args, **kwargs)`` off the IOLoop; ``operation`` and ``target`` name it in the logs."""
        extra = tuple(connection_errors or ())

        # every keyword goes to ``func`` (``timeout=`` included, which our runner would otherwise take)
        def call():
            if not extra:
                return func(*args, **kwargs)
            try:
                return func(*args, **kwargs)
            except extra as exc:
                raise _ExtraConnectionError(str(exc)) from exc

        return await self.runner.run(operation, target, call)
