"""Task execution: publishing tasks, waiting a bounded time for their results, reading results and aborting.

:class:`TaskExecution` runs Celery's own argument check before publishing
(:meth:`TaskExecution.check_arguments`), so its ``TypeError`` (and only that one) is a 400 with Celery's words.
A wait polls the backend instead of blocking on it. :class:`ResultSnapshot` is a result as the backend has it
now. The coroutines are awaited on the IOLoop thread; every publish and backend read goes through
:class:`flower.runner.BlockingRunner`, whose threads run only the plain function handed to it and touch no
events state.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any, Callable

from celery import states

from flower.control.apply import ApplyRequest
from flower.control.errors import InvalidInput, NoResultBackend, UnknownTask
from flower.runner import BlockingRunner


def json_safe(value):
    """``value`` if it can be written as JSON, else its repr (a result object, an exception)."""
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError, OverflowError, RecursionError):
        return repr(value)


def has_result_backend(capp) -> bool:
    from celery.backends.base import DisabledBackend

    try:
        return not isinstance(capp.backend, DisabledBackend)
    except Exception:  # noqa: BLE001 - a backend that cannot even be built is no backend
        return False


@dataclass(frozen=True)
class ResultSnapshot:
    """A task's result as the backend has it now."""

    task_id: str
    state: str
    ready: bool
    result: Any = None
    traceback: str | None = None
    date_done: Any = None

    def as_dict(self, with_result: bool) -> dict:
        data: dict[str, Any] = {'task-id': self.task_id, 'state': self.state}
        if with_result:
            data['result'] = json_safe(self.result)
            if self.state == states.FAILURE:
                data['traceback'] = self.traceback
        return data


class TaskExecution:
    """Publishing tasks and reading their results through the runner."""

    #: how often a wait asks the backend again (the first polls are quick, then every half second)
    poll_intervals = (0.05, 0.1, 0.2, 0.3, 0.5)

    def __init__(self, capp, runner: BlockingRunner, result_factory: Callable[[str], Any] | None = None):
        self.capp = capp
        self.runner = runner
        # how a task id becomes a result object (Celery's AsyncResult of the app by default); the API passes
        # one that looks up ``flower.api.tasks.AsyncResult`` when called, so a test patching that name is obeyed
        self.result_factory = result_factory or capp.AsyncResult

    @property
    def has_backend(self) -> bool:
        return has_result_backend(self.capp)

    def require_registered(self, name: str) -> None:
        if name not in self.capp.tasks:
            raise UnknownTask(name)

    def check_arguments(self, name: str, request: ApplyRequest) -> None:
        """Celery's own argument check of a registered task (what ``apply_async`` runs first), made before
        publishing so that its ``TypeError`` (``add() takes 2 positional arguments but 3 were given``) is a
        400 with Celery's words, and only that one: a ``TypeError`` from anywhere else stays a server error."""
        task = self.capp.tasks[name]
        check = getattr(task, '__header__', None) if getattr(task, 'typing', False) else None
        if check is None:
            return
        try:
            check(*request.args, **request.kwargs)
        except TypeError as exc:
            raise InvalidInput(f"Invalid arguments for '{name}': {exc}") from None

    def require_backend(self) -> None:
        if not self.has_backend:
            raise NoResultBackend()

    async def publish(self, name: str, request: ApplyRequest, registered: bool = True) -> str:
        """Send ``name`` with the request's arguments and options; returns the task id. ``registered`` uses the
        task's own ``apply_async`` (its routing and defaults); otherwise ``send_task`` by name."""

        def call():
            if registered:
                task = self.capp.tasks[name]
                result = task.apply_async(args=request.args, kwargs=request.kwargs, **request.options)
            else:
                result = self.capp.send_task(name, args=request.args, kwargs=request.kwargs, **request.options)
            return result.id

        return await self.runner.run('publish task', name, call)

    def _snapshot(self, task_id: str) -> ResultSnapshot:
        result = self.result_factory(task_id)
        state = result.state
        if state in states.READY_STATES:
            return ResultSnapshot(task_id, state, True, result.result, result.traceback, result.date_done)
        return ResultSnapshot(task_id, state, False)

    async def snapshot(self, task_id: str) -> ResultSnapshot:
        return await self.runner.run('read result', task_id, self._snapshot, task_id)

    async def known_to_backend(self, task_id: str) -> ResultSnapshot | None:
        """What the result backend has for a task the events never showed, or None when there is no backend or
        it does not know the id (backends answer PENDING for ids they never stored). An unreachable backend
        raises the runner's 503 error."""
        if not self.has_backend:
            return None
        snapshot = await self.snapshot(task_id)
        return None if snapshot.state == states.PENDING else snapshot

    async def wait(self, task_id: str, timeout: float, stop: Callable[[], bool] = lambda: False) -> ResultSnapshot:
        """The result once ready, or the snapshot when ``timeout`` seconds have passed (or ``stop()`` says the
        client went away). Polls the backend instead of blocking on it, so a long wait does not hold one of
        the runner's few slots."""
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            snapshot = await self.snapshot(task_id)
            remaining = deadline - time.monotonic()
            if snapshot.ready or remaining <= 0 or stop():
                return snapshot
            interval = self.poll_intervals[min(attempt, len(self.poll_intervals) - 1)]
            attempt += 1
            await asyncio.sleep(min(interval, remaining))

    async def abort(self, task_id: str, result=None) -> str:
        """Ask the task to stop (Celery's ``AbortableAsyncResult.abort``); ``result`` is the abortable result
        to use, built here when not given."""
        from celery.contrib.abortable import AbortableAsyncResult

        if result is None:
            result = AbortableAsyncResult(task_id, app=self.capp)

        def call():
            result.abort()

        await self.runner.run('abort', task_id, call)
        return f"Aborted '{task_id}'"
