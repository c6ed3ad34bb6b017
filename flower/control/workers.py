"""Worker control: sending control commands (pool, consumers, limits, revoke, shutdown) to the workers.

:class:`WorkerControl` calls ``capp.control`` exactly as Flower 2.2 does and reads the addressed worker's reply
(:func:`~flower.control.replies.reply_from`); a refusal or a missing answer is
:class:`~flower.control.errors.CommandFailed` with Flower's message. :func:`ask_worker` inspects a worker the
caches do not know yet. The coroutines are awaited on the IOLoop thread; every blocking Celery call goes through
:class:`flower.runner.BlockingRunner`, whose threads run only the plain function handed to it and touch no
events state.
"""

from __future__ import annotations

from typing import Callable

from flower.control.checks import rate_limit_value, short_name, signal_name, time_limit_value
from flower.control.errors import CommandFailed
from flower.control.pool import PoolLimits
from flower.control.replies import reply_from
from flower.runner import BlockingRunner

CELERY_REPLY_TIMEOUT = 1.0  # Celery's default for a control command's replies


async def ask_worker(inspector, workername: str | None) -> bool:
    """Inspect ``workername`` now, on its own, and say whether the inspector knows it afterwards.

    Used before calling a worker unknown: a worker that has just started (or sends no events) is in no cache
    yet, and answers when asked. A worker that does not answer within the inspect timeout is unknown. Failures
    are the inspector's to log."""
    if not workername:
        return False
    try:
        await inspector.inspect(workername)
    except Exception:  # noqa: BLE001 - the inspector logs its own failures; unknown is the answer
        return False
    return workername in inspector.workers


class WorkerControl:
    """Control commands for one worker (or, for revoke, the whole cluster); each returns the text for the
    client or raises :class:`CommandFailed` with Flower's message.

    Each command is called on ``capp.control`` exactly as Flower 2.2 calls it: ``pool_grow``, ``pool_shrink``,
    ``time_limit``, ``rate_limit`` and ``revoke`` through Celery's method of that name, the others through
    ``broadcast`` with Flower's arguments. The method is looked up when the command is sent, so code that wraps
    or patches one (a test's ``MagicMock`` and its ``assert_called_once_with`` written for Flower) sees Flower's
    call. Every command but revoke is addressed to the one worker."""

    def __init__(
        self,
        capp,
        runner: BlockingRunner,
        reply_timeout: float = CELERY_REPLY_TIMEOUT,
        limits: PoolLimits = PoolLimits(),
    ):
        self.capp = capp
        self.runner = runner
        self.reply_timeout = reply_timeout
        self.limits = limits

    async def _send(self, workername: str, operation: str, method: str, *args, **kwargs):
        """``capp.control.<method>(*args, **kwargs)`` on the runner; the replies. Celery's own reply timeout
        is left implicit, so the call is Flower's; a longer ``--inspect_timeout`` is passed as ``timeout``."""
        if self.reply_timeout != CELERY_REPLY_TIMEOUT:
            kwargs['timeout'] = self.reply_timeout

        def call():
            return getattr(self.capp.control, method)(*args, **kwargs)

        return await self.runner.run(operation, workername, call, timeout=self.reply_timeout + 10.0)

    async def _command(
        self, workername: str, operation: str, failure: Callable[[str], str], method: str, *args, **kwargs
    ) -> str:
        """Send ``operation`` and read the worker's answer: its words, or :class:`CommandFailed` with
        ``failure(reason)``, Flower's message for it."""
        replies = await self._send(workername, operation, method, *args, **kwargs)
        answer = reply_from(workername, replies, self.reply_timeout)
        if not answer.ok:
            raise CommandFailed(failure(answer.text))
        return answer.text

    async def _broadcast(self, workername: str, command: str, failure: Callable[[str], str], arguments: dict) -> str:
        return await self._command(
            workername,
            command,
            failure,
            'broadcast',
            command,
            reply=True,
            destination=[workername],
            arguments=arguments,
        )

    async def shutdown(self, workername: str) -> str:
        await self._send(workername, 'shutdown', 'broadcast', 'shutdown', destination=[workername])
        return 'Shutting down!'

    async def pool_restart(self, workername: str) -> str:
        await self._broadcast(
            workername,
            'pool_restart',
            lambda why: f"Failed to restart the '{workername}' pool: {why}",
            {'reload': False},
        )
        return f"Restarting '{workername}' worker's pool"

    async def pool_grow(self, workername: str, n: int, info: dict | None = None) -> str:
        """Grow by ``n`` within :attr:`limits`; ``info`` is what the worker last reported to inspect."""
        n = self.limits.grow(workername, n, info)
        await self._command(
            workername,
            'pool_grow',
            lambda why: f"Failed to grow '{workername}' worker's pool: {why}",
            'pool_grow',
            n=n,
            reply=True,
            destination=[workername],
        )
        return f"Growing '{workername}' worker's pool by {n}"

    async def pool_shrink(self, workername: str, n: int, info: dict | None = None) -> str:
        """Shrink by ``n`` within :attr:`limits`, never to no process at all."""
        n = self.limits.shrink(workername, n, info)
        await self._command(
            workername,
            'pool_shrink',
            lambda why: f"Failed to shrink '{workername}' worker's pool: {why}",
            'pool_shrink',
            n=n,
            reply=True,
            destination=[workername],
        )
        return f"Shrinking '{workername}' worker's pool by {n}"

    async def autoscale(self, workername: str, minimum: int, maximum: int, info: dict | None = None) -> str:
        minimum, maximum = self.limits.autoscale(workername, minimum, maximum, info)
        await self._broadcast(
            workername,
            'autoscale',
            lambda why: f"Failed to autoscale '{workername}' worker: {why}",
            {'min': minimum, 'max': maximum},
        )
        return f"Autoscaling '{workername}' worker (min={minimum}, max={maximum})"

    async def add_consumer(self, workername: str, queue: str) -> str:
        queue = short_name(queue, 'queue')
        return await self._broadcast(
            workername,
            'add_consumer',
            lambda why: f"Failed to add '{queue}' consumer to '{workername}' worker: {why}",
            {'queue': queue},
        )

    async def cancel_consumer(self, workername: str, queue: str) -> str:
        queue = short_name(queue, 'queue')
        return await self._broadcast(
            workername,
            'cancel_consumer',
            lambda why: f"Failed to cancel '{queue}' consumer from '{workername}' worker: {why}",
            {'queue': queue},
        )

    async def time_limit(self, workername: str, task_name: str, hard: float | None, soft: float | None) -> str:
        hard = time_limit_value(hard, 'hard')
        soft = time_limit_value(soft, 'soft')
        return await self._command(
            workername,
            'time_limit',
            lambda why: f"Failed to set timeouts: '{why}'",
            'time_limit',
            task_name,
            hard=hard,
            soft=soft,
            destination=[workername],
            reply=True,
        )

    async def rate_limit(self, workername: str, task_name: str, ratelimit: str) -> str:
        ratelimit = rate_limit_value(ratelimit)
        return await self._command(
            workername,
            'rate_limit',
            lambda why: f"Failed to set rate limit: '{why}'",
            'rate_limit',
            task_name,
            ratelimit,
            destination=[workername],
            reply=True,
        )

    async def revoke(self, task_id: str, terminate: bool = False, signal: str | None = None) -> str:
        signame = signal_name(signal)

        def call():
            return self.capp.control.revoke(task_id, terminate=terminate, signal=signame)

        await self.runner.run('revoke', task_id, call)
        return f"Revoked '{task_id}'"
