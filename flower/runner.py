"""The one way blocking Celery, kombu, redis and result-backend calls are made: off the IOLoop, bounded.

Runtime rule: no blocking broker or backend call runs on the IOLoop thread. :class:`BlockingRunner` runs
them on a thread pool, at most ``max_concurrency`` at a time (a hung broker can tie up that many threads, not
the whole pool and never the IOLoop), and turns failures into two domain errors that the web layer maps to
HTTP answers in one place:

* :class:`BrokerUnavailable` (HTTP 503 ``Broker or result backend unavailable``) for connection failures
  (also when a library wraps one in another exception) and for calls that did not finish within their time
  limit;
* :class:`OperationFailed` (HTTP 500 with the error text) for anything else.

``run`` is awaited on the IOLoop thread; the callables it is given run on pool threads and must not touch the
events state.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, Callable

import kombu.exceptions
from celery.exceptions import BackendError
from celery.exceptions import TimeoutError as CeleryTimeoutError

logger = logging.getLogger(__name__)

UNAVAILABLE_MESSAGE = 'Broker or result backend unavailable'


@functools.lru_cache(maxsize=1)
def connection_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "could not reach the broker or backend" (redis-py and py-amqp are imported on
    first use: neither is needed to start serving)."""
    errors: list[type[BaseException]] = [
        BackendError,
        ConnectionError,
        kombu.exceptions.ConnectionError,
        kombu.exceptions.OperationalError,
        TimeoutError,
        socket.timeout,
        OSError,
    ]
    try:
        import redis.exceptions

        errors += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, redis.exceptions.BusyLoadingError]
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    try:
        import amqp.exceptions

        errors += [amqp.exceptions.RecoverableConnectionError]
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def _connection_cause(exc: BaseException, errors: tuple[type[BaseException], ...]) -> BaseException | None:
    """The connection error behind ``exc``, if one is in its chain of causes (libraries wrap them: celery's
    Redis backend raises ``RuntimeError('Retry limit exceeded ...')`` from a ``ConnectionRefusedError``)."""
    seen = set()
    current = exc.__cause__ or exc.__context__
    while current is not None and id(current) not in seen:
        if isinstance(current, errors):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class BrokerUnavailable(Exception):
    """The broker or result backend could not be reached (or did not answer in time)."""

    def __init__(self, message: str = UNAVAILABLE_MESSAGE, detail: str | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail


class OperationFailed(Exception):
    """A blocking operation failed for a reason other than connectivity."""

    def __init__(self, message: str, cause: BaseException | None = None):
        super().__init__(message)
        self.message = message
        self.cause = cause


class BlockingRunner:
    """Runs blocking callables on ``executor`` with at most ``max_concurrency`` in flight."""

    def __init__(
        self,
        executor: Executor | None = None,
        max_concurrency: int = 5,
        timeout: float | None = 30.0,
        extra_connection_errors: tuple | Callable[[], tuple] = (),
    ):
        self.executor = executor or ThreadPoolExecutor(
            max_workers=max_concurrency + 4, thread_name_prefix='flower-blocking'
        )
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        # a callable is asked once, when a call fails (the result backend's errors need the backend loaded)
        self._extra_connection_errors = extra_connection_errors
        self._semaphore: asyncio.Semaphore | None = None
        self.in_flight = 0

    @property
    def connection_errors(self) -> tuple[type[BaseException], ...]:
        extra = self._extra_connection_errors
        if callable(extra):
            extra = self._extra_connection_errors = tuple(extra())
        return connection_errors() + tuple(extra)

    @property
    def semaphore(self) -> asyncio.Semaphore:
        # created lazily so it belongs to the running loop
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
        return self._semaphore

    async def run(
        self, operation: str, target: str, fn: Callable[..., Any], *args, timeout: float | None = None, **kwargs
    ) -> Any:
        """Run ``fn(*args, **kwargs)`` off the IOLoop and return its result, or raise
        :class:`BrokerUnavailable` / :class:`OperationFailed`. ``operation``/``target`` name it in logs."""
        limit = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        try:
            async with self.semaphore:
                self.in_flight += 1
                try:
                    future = loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))
                    if limit:
                        return await asyncio.wait_for(future, limit)
                    return await future
                finally:
                    self.in_flight -= 1
        except asyncio.TimeoutError as exc:
            elapsed = time.monotonic() - started
            logger.warning("Blocking operation '%s' for '%s' timed out after %.3fs", operation, target, elapsed)
            raise BrokerUnavailable(detail=f'{operation} timed out after {elapsed:.1f}s') from exc
        except CeleryTimeoutError:
            raise  # a result wait that expired is an answer, not a failure; callers handle it
        except self.connection_errors as exc:
            elapsed = time.monotonic() - started
            logger.warning("Blocking operation '%s' for '%s' failed after %.3fs: %s", operation, target, elapsed, exc)
            raise BrokerUnavailable(detail=str(exc)) from exc
        except Exception as exc:
            elapsed = time.monotonic() - started
            cause = _connection_cause(exc, self.connection_errors)
            if cause is not None:  # e.g. celery's "Retry limit exceeded" over a refused result backend
                logger.warning(
                    "Blocking operation '%s' for '%s' failed after %.3fs: %s (%s)",
                    operation,
                    target,
                    elapsed,
                    exc,
                    cause,
                )
                raise BrokerUnavailable(detail=f'{exc} ({cause})') from exc
            logger.error(
                "Blocking operation '%s' for '%s' failed after %.3fs: %s",
                operation,
                target,
                elapsed,
                exc,
                exc_info=True,
            )
            raise OperationFailed(f'{operation} failed: {exc}', exc) from exc

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
