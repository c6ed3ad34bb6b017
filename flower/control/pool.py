"""Pool limits and pool changes: keeping one call from forking a host out of memory.

:class:`PoolLimits` applies ``--max_pool_step`` and ``--max_pool_size``: what the request alone breaks is a 400,
what breaks only given the pool's current size (as last inspected, :func:`pool_size`) is a 409.
:class:`PoolChanges` runs pool changes one at a time and refreshes the worker's stats after each, so a cap
cannot be passed by two quick grows. The limits are pure checks; :class:`PoolChanges` lives on the application
and is used on the IOLoop thread only (its lock is an :class:`asyncio.Lock`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from flower.control.checks import whole
from flower.control.errors import PoolLimitReached

MAX_PROCESSES = 10000  # the largest autoscale bound
DEFAULT_MAX_POOL_STEP = 10  # --max_pool_step: processes one grow/shrink may add or remove


def pool_size(info: dict | None) -> int | None:
    """How many processes (or threads) a worker's pool had when it was last inspected: the length of
    ``stats.pool.processes`` (it follows grow/shrink and the autoscaler), else ``stats.pool.max-concurrency``
    (thread and solo pools report only that); ``None`` when the worker did not report either."""
    pool = ((info or {}).get('stats') or {}).get('pool')
    if not isinstance(pool, dict):
        return None
    processes = pool.get('processes')
    if isinstance(processes, list):
        return len(processes)
    concurrency = pool.get('max-concurrency')
    if isinstance(concurrency, int) and not isinstance(concurrency, bool):
        return concurrency
    return None


def autoscaler_max(info: dict | None) -> int | None:
    """The ``max`` of the worker's autoscaler when it runs one (``stats.autoscaler.max``)."""
    autoscaler = ((info or {}).get('stats') or {}).get('autoscaler')
    value = autoscaler.get('max') if isinstance(autoscaler, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class PoolLimits:
    """How far one API call may change a worker's pool (``--max_pool_step``, ``--max_pool_size``).

    * grow/shrink: ``n`` from 1 to ``step``; a grow is also refused when the pool's size as last inspected plus
      ``n`` would exceed ``cap`` (when a cap is set), and a shrink when it would leave the pool no process: a
      worker with an empty pool still takes tasks from its queues and holds them unrun, which looks like a hung
      worker (Celery's autoscaler, which may scale to zero, grows again when tasks wait; a bare shrink never
      does);
    * autoscale: both bounds from 0 to ``cap`` (or :data:`MAX_PROCESSES` without a cap), taken in either order
      as Celery's ``--autoscale=10,3`` takes them; without a cap, ``max`` may exceed the larger of the pool's
      size and its autoscaler's current ``max`` by at most ``step``, so one call never lets the autoscaler fork
      more than ``step`` new processes at once (a pool whose size is unknown counts as empty).

    What the request alone breaks is :class:`InvalidInput` (400); what breaks only because of the worker's
    current pool is :class:`PoolLimitReached` (409), as is a rule that needs a pool size the worker has not
    reported."""

    step: int = DEFAULT_MAX_POOL_STEP
    cap: int = 0  # 0: no cap

    @property
    def largest_bound(self) -> int:
        return self.cap or MAX_PROCESSES

    def step_size(self, n: int) -> int:
        return whole(n, 'n', 1, self.step)

    def grow(self, workername: str, n: int, info: dict | None) -> int:
        n = self.step_size(n)
        if self.cap:
            current = self._known_size(workername, info, 'grow its pool')
            if current + n > self.cap:
                raise PoolLimitReached(
                    f"Cannot grow '{workername}' worker's pool by {n}: it has {_processes(current)} and "
                    f'--max_pool_size is {self.cap}'
                )
        return n

    def shrink(self, workername: str, n: int, info: dict | None) -> int:
        n = self.step_size(n)
        current = pool_size(info)
        # an unknown size is let through: the worker refuses a shrink it cannot do ("All processes busy")
        if current is not None and current - n < 1:
            raise PoolLimitReached(
                f"Cannot shrink '{workername}' worker's pool by {n}: it has {_processes(current)}, and a pool "
                'needs one at least to run tasks (use autoscale with min=0 to let it scale to none when idle)'
            )
        return n

    def autoscale(self, workername: str, minimum: int, maximum: int, info: dict | None) -> tuple[int, int]:
        minimum = whole(minimum, 'min', 0, self.largest_bound)
        maximum = whole(maximum, 'max', 0, self.largest_bound)
        minimum, maximum = min(minimum, maximum), max(minimum, maximum)
        if not self.cap:
            # a pool of unknown size is taken as empty: max up to one step is allowed (as Flower allows any),
            # so one call still never lets the autoscaler fork more than --max_pool_step processes
            current = pool_size(info)
            if current is None and maximum > self.step:
                raise _unknown_size(
                    workername,
                    f"autoscale '{workername}' worker to max={maximum}, more than "
                    f'--max_pool_step ({self.step}) above an empty pool',
                )
            current = current or 0
            base = max(current, autoscaler_max(info) or 0)
            if maximum > base + self.step:
                raise PoolLimitReached(
                    f"Cannot autoscale '{workername}' worker to max={maximum}: its pool has {_processes(current)}"
                    f"{f' and autoscales up to {base}' if base > current else ''}, and one call may raise that "
                    f'by --max_pool_step ({self.step}) at most; set --max_pool_size to allow larger ranges'
                )
        return minimum, maximum

    @staticmethod
    def _known_size(workername: str, info: dict | None, action: str) -> int:
        current = pool_size(info)
        if current is None:
            raise _unknown_size(workername, action)
        return current


def _unknown_size(workername: str, action: str) -> PoolLimitReached:
    """The refusal of a change whose rule needs a pool size the worker has not reported."""
    return PoolLimitReached(
        f"Cannot {action}: the pool size of '{workername}' is unknown (its stats "
        'did not report one); refresh /api/workers and try again'
    )


def _processes(count: int) -> str:
    return f"{count} process{'' if count == 1 else 'es'}"


class PoolChanges:
    """Serialises the pool-changing commands (grow, shrink, autoscale, restart) and refreshes the worker's
    inspected stats after each, so the next limit check sees the size the last change left, not an older one.

    A worker answers a grow before its new processes exist, so when the change has a known outcome (grow and
    shrink: the size before plus or minus ``n``) the stats are asked again until they show it, for at most
    :attr:`settle_timeout` seconds more than one inspection can take. Only a grow needs this to be safe: stale
    stats after a shrink or an autoscale make the next check stricter, not looser. Lives on the application;
    used on the IOLoop thread only."""

    settle_timeout = 3.0
    settle_interval = 0.2

    def __init__(self, inspector):
        self.inspector = inspector
        self._lock = asyncio.Lock()

    async def change(
        self,
        workername: str,
        operation: Callable[[dict | None], Awaitable[str]],
        resize: Callable[[int], int] | None = None,
    ) -> str:
        """``await operation(info)`` with the worker's inspected data (it checks the limits against it and sends
        the command), then refresh that data; ``resize(size_before)`` is the size the change should leave."""
        async with self._lock:
            info = self.inspector.workers.get(workername)
            before = pool_size(info)
            answer = await operation(info)
            expected = resize(before) if resize is not None and before is not None else None
            # a refresh of every worker already under way is joined, and it may have asked before the command
            # and wait the whole inspect timeout: the bound allows for one of those
            deadline = time.monotonic() + self.settle_timeout + getattr(self.inspector, 'timeout', 0)
            while True:
                try:
                    await self.inspector.inspect(workername)
                except Exception:  # noqa: BLE001 - the inspector logs its own failures; the command succeeded
                    break
                if (
                    expected is None
                    or pool_size(self.inspector.workers.get(workername)) == expected
                    or time.monotonic() >= deadline
                ):
                    break
                await asyncio.sleep(self.settle_interval)
            return answer
