"""Worker and task control over HTTP: ``/api/worker/*`` and ``/api/task/{revoke,timeout,rate-limit}``.

Handlers parse parameters (strictly: :meth:`flower.views.BaseHandler.get_typed_argument`) and shape JSON; the
commands, the pool limits (``--max_pool_step``, ``--max_pool_size``, read per request) and the reading of the
workers' replies are :mod:`flower.control`'s. Every handler here changes the cluster, so all are ``mutating`` (403 in
``--read_only`` mode, before anything else is looked at). :class:`ControlHandler` keeps Flower's public name
and its ``is_worker``/``error_reason`` helpers for code that subclasses it.

Runs on the IOLoop thread; the commands themselves (Celery's ``capp.control`` methods) run on the blocking runner.
"""

from __future__ import annotations

from flower import control
from flower.api import BaseApiHandler
from flower.utils.registered import registered_name


class OperationHandler(BaseApiHandler):
    """An API handler whose work may raise :class:`flower.control.ControlError` (turned into HTTP answers by
    :func:`flower.views.errors.describe`, like every other error)."""

    @property
    def reply_timeout(self) -> float:
        """Seconds to wait for a worker's reply: ``--inspect_timeout``, and never less than Celery's 1 s."""
        return max(self.application.options.inspect_timeout / 1000.0, 1.0)

    @property
    def pool_limits(self) -> control.PoolLimits:
        """``--max_pool_step`` and ``--max_pool_size``, read at request time."""
        options = self.application.options
        return control.PoolLimits(step=options.max_pool_step, cap=options.max_pool_size)

    @property
    def worker_control(self) -> control.WorkerControl:
        return control.WorkerControl(self.capp, self.runner, self.reply_timeout, self.pool_limits)

    def require_task_name(self, name: str) -> str:
        """The registered task ``name``; an entry copied from a worker's ``registered`` list is accepted without
        Celery's `` [rate_limit=...]`` decoration."""
        if name not in self.capp.tasks and registered_name(name) in self.capp.tasks:
            name = registered_name(name)
        if name not in self.capp.tasks:
            raise control.UnknownTask(name)
        return name


class ControlHandler(OperationHandler):
    """Base of the worker-control handlers (Flower's ``flower.api.control.ControlHandler``)."""

    mutating = True

    def is_worker(self, workername) -> bool:
        """Whether ``workername`` is a worker this server knows (Flower's meaning: it is among the inspected
        workers, ``self.application.workers``). Every command addressed to a worker consults it, so a subclass
        that overrides it decides which workers may be commanded."""
        return bool(workername) and workername in self.application.workers

    async def require_worker(self, workername: str) -> None:
        """:meth:`is_worker`, or :class:`~flower.control.UnknownWorker` (404). A worker it does not know yet is
        asked first (inspected on its own, within ``--inspect_timeout``): one that has just started, or that
        sends no events, is in no cache until it is asked."""
        if self.is_worker(workername):
            return
        await control.ask_worker(self.inspector, workername)
        if not self.is_worker(workername):
            raise control.UnknownWorker(workername)

    @staticmethod
    def error_reason(workername, response) -> str:
        """Why a command failed on ``workername``, from the broadcast replies."""
        return control.error_reason(workername, response)


class WorkerShutDown(ControlHandler):
    async def post(self, workername):
        await self.require_worker(workername)
        self.write_json({'message': await self.worker_control.shutdown(workername)})


class PoolHandler(ControlHandler):
    """A command that changes a worker's pool: one at a time, checked against the pool as last inspected
    (:class:`flower.control.PoolChanges`)."""

    async def change_pool(self, workername: str, operation, resize=None) -> None:
        await self.require_worker(workername)
        self.write_json({'message': await self.application.pool_changes.change(workername, operation, resize)})


class WorkerPoolRestart(PoolHandler):
    async def post(self, workername):
        await self.change_pool(workername, lambda info: self.worker_control.pool_restart(workername))


class WorkerPoolGrow(PoolHandler):
    async def post(self, workername):
        n = self.get_typed_argument('n', int, 1, minimum=1, maximum=self.pool_limits.step)
        worker_control = self.worker_control
        await self.change_pool(
            workername, lambda info: worker_control.pool_grow(workername, n, info), resize=lambda size: size + n
        )


class WorkerPoolShrink(PoolHandler):
    async def post(self, workername):
        n = self.get_typed_argument('n', int, 1, minimum=1, maximum=self.pool_limits.step)
        worker_control = self.worker_control
        await self.change_pool(
            workername,
            lambda info: worker_control.pool_shrink(workername, n, info),
            resize=lambda size: max(size - n, 0),
        )


class WorkerPoolAutoscale(PoolHandler):
    async def post(self, workername):
        limits = self.pool_limits
        bound = limits.largest_bound
        minimum = self.get_typed_argument('min', int, minimum=0, maximum=bound)
        maximum = self.get_typed_argument('max', int, minimum=0, maximum=bound)
        worker_control = self.worker_control
        await self.change_pool(workername, lambda info: worker_control.autoscale(workername, minimum, maximum, info))


class WorkerQueueAddConsumer(ControlHandler):
    async def post(self, workername):
        queue = control.short_name(self.get_typed_argument('queue', str), 'queue')
        await self.require_worker(workername)
        self.write_json({'message': await self.worker_control.add_consumer(workername, queue)})


class WorkerQueueCancelConsumer(ControlHandler):
    async def post(self, workername):
        queue = control.short_name(self.get_typed_argument('queue', str), 'queue')
        await self.require_worker(workername)
        self.write_json({'message': await self.worker_control.cancel_consumer(workername, queue)})


class TaskRevoke(ControlHandler):
    async def post(self, taskid):
        terminate = self.get_typed_argument('terminate', bool, False)
        signal = self.get_typed_argument('signal', str, 'SIGTERM')
        message = await self.worker_control.revoke(taskid, terminate=terminate, signal=signal)
        # back on the IOLoop: the state is ours to write (runtime rule 1)
        if self.state.mark_revoked_pending(taskid, terminate=terminate):
            self.application.live.on_events_applied(1)  # open pages show the badge on the next tick
        self.write_json({'message': message})


class TaskTimeout(ControlHandler):
    async def post(self, taskname):
        workername = self.get_typed_argument('workername', str)
        hard = control.time_limit_value(self.get_typed_argument('hard', float, None), 'hard')
        soft = control.time_limit_value(self.get_typed_argument('soft', float, None), 'soft')
        taskname = self.require_task_name(taskname)
        await self.require_worker(workername)
        self.write_json({'message': await self.worker_control.time_limit(workername, taskname, hard, soft)})


TaskTimout = TaskTimeout  # Flower's spelling, kept importable


class TaskRateLimit(ControlHandler):
    async def post(self, taskname):
        workername = self.get_typed_argument('workername', str)
        ratelimit = control.rate_limit_value(self.get_typed_argument('ratelimit', str))
        taskname = self.require_task_name(taskname)
        await self.require_worker(workername)
        self.write_json({'message': await self.worker_control.rate_limit(workername, taskname, ratelimit)})
