"""Worker and task control over HTTP: ``/api/worker/*`` and ``/api/task/{revoke,timeout,rate-limit}``.

Each handler declares its contract once (``endpoint``, a :class:`flower.api.spec.Endpoint`: path, parameters,
answers), parses its parameters from it (``self.arguments()``, strictly) and shapes JSON; the
commands, the pool limits (``--max_pool_step``, ``--max_pool_size``, read per request) and the reading of the
workers' replies are :mod:`flower.control`'s. Every handler here changes the cluster, so all are ``mutating`` (403 in
``--read_only`` mode, before anything else is looked at). :class:`ControlHandler` keeps Flower's public name
and its ``is_worker``/``error_reason`` helpers for code that subclasses it.

Runs on the IOLoop thread; the commands themselves (Celery's ``capp.control`` methods) run on the blocking runner.
"""

from __future__ import annotations

from flower import control
from flower.api import BaseApiHandler
from flower.api.spec import (
    BROKER_ERRORS,
    NAME,
    TASK_ID,
    TASK_NAME,
    WORKER,
    Endpoint,
    Param,
    json_response,
    ref,
    text_response,
)
from flower.utils.registered import registered_name


class OperationHandler(BaseApiHandler):
    """An API handler whose work may raise :class:`flower.control.ControlError` (turned into HTTP answers by
    :func:`flower.views.error_status.describe`, like every other error)."""

    @property
    def reply_timeout(self) -> float:
        """Seconds to wait for a worker's reply: ``--inspect_timeout``, and never less than Celery's 1 s."""
        return max(self.application.options.inspect_timeout / 1000.0, 1.0)

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


def worker_command(
    path: str,
    summary: str,
    operation_id: str,
    success: str,
    failure: str | None = None,
    params: tuple[Param, ...] = (),
    description: str | None = None,
    conflict: str | None = None,
) -> Endpoint:
    """The endpoint of a command sent to one worker: its answers are the worker's message, an unknown worker
    (404), the worker's refusal (403), a pool limit (409) and a bad parameter (400)."""
    responses = {
        '200': json_response(success, ref('Message')),
        '404': text_response("Unknown worker: `Unknown worker '<name>'`."),
    }
    if failure:
        responses['403'] = text_response(failure)
    if conflict:
        responses['409'] = text_response(conflict)
    if params:
        responses['400'] = text_response('A parameter is missing or invalid; the message names it.')
    return Endpoint(
        path,
        summary,
        operation_id,
        responses,
        params=(WORKER, *params),
        method='post',
        tag='workers',
        description=description,
        errors=BROKER_ERRORS,
    )


DIGITS = "ASCII digits only (no sign, spaces, `_` or other scripts' digits)."


def _pool_step(verb: str) -> Param:
    return Param(
        'n',
        lambda limits: f'How many processes to {verb}: 1 to `--max_pool_step` ({limits.step}), {DIGITS}',
        int,
        default=1,
        minimum=1,
        maximum=lambda limits: limits.step,
    )


def _pool_bound(name: str, description: str) -> Param:
    return Param(
        name, f'{description} {DIGITS}', int, required=True, minimum=0, maximum=lambda limits: limits.largest_bound
    )


QUEUE = Param(
    'queue', 'The queue name.', required=True, check=lambda name: control.short_name(name, 'queue'), schema=NAME
)
TASK_WORKER = Param('workername', 'The worker.', required=True, schema={'minLength': 1})


class WorkerShutDown(ControlHandler):
    endpoint = worker_command(
        '/api/worker/shutdown/{workername}',
        'Shut a worker down',
        'shutdownWorker',
        'The command was sent (no reply is awaited).',
    )

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
    endpoint = worker_command(
        '/api/worker/pool/restart/{workername}',
        "Restart a worker's pool",
        'restartWorkerPool',
        'The worker accepted.',
        "The worker refused: `Failed to restart the '<w>' pool: <reason>` (pool restarts need `worker_pool_restarts`).",
    )

    async def post(self, workername):
        await self.change_pool(workername, lambda info: self.worker_control.pool_restart(workername))


class WorkerPoolGrow(PoolHandler):
    endpoint = worker_command(
        '/api/worker/pool/grow/{workername}',
        "Add processes to a worker's pool",
        'growWorkerPool',
        'The worker accepted.',
        "The worker refused: `Failed to grow '<w>' worker's pool: <reason>`.",
        (_pool_step('add'),),
        conflict="With `--max_pool_size` set: the pool's size as last inspected plus `n` would exceed it, or "
        'the worker did not report its pool size; the message says which.',
    )

    async def post(self, workername):
        n = self.arguments().n
        worker_control = self.worker_control
        await self.change_pool(
            workername, lambda info: worker_control.pool_grow(workername, n, info), resize=lambda size: size + n
        )


class WorkerPoolShrink(PoolHandler):
    endpoint = worker_command(
        '/api/worker/pool/shrink/{workername}',
        "Remove processes from a worker's pool",
        'shrinkWorkerPool',
        'The worker accepted.',
        "The worker refused: `Failed to shrink '<w>' worker's pool: <reason>`.",
        (_pool_step('remove'),),
        conflict="The pool's size as last inspected minus `n` would leave it no process (a worker with an empty "
        'pool takes tasks and never runs them).',
    )

    async def post(self, workername):
        n = self.arguments().n
        worker_control = self.worker_control
        await self.change_pool(
            workername,
            lambda info: worker_control.pool_shrink(workername, n, info),
            resize=lambda size: max(size - n, 0),
        )


class WorkerPoolAutoscale(PoolHandler):
    endpoint = worker_command(
        '/api/worker/pool/autoscale/{workername}',
        "Change a worker's autoscale range",
        'autoscaleWorker',
        'The worker accepted.',
        "The worker refused: `Failed to autoscale '<w>' worker: <reason>` (the worker needs `--autoscale`).",
        (_pool_bound('min', 'Fewest processes.'), _pool_bound('max', 'Most processes.')),
        description='`min` and `max` are a range: given in either order, the smaller is the minimum (as '
        "Celery's `--autoscale=10,3`). Both are at most `--max_pool_size` when it is set. Without "
        "it, `max` may exceed the larger of the pool's size (as last inspected) and its current "
        'autoscale maximum by `--max_pool_step` at most; more is refused with 409.',
        conflict="Without `--max_pool_size`: `max` is more than `--max_pool_step` above the pool's size and "
        'its current autoscale maximum (a pool whose size the worker did not report counts as empty).',
    )

    async def post(self, workername):
        args = self.arguments()
        worker_control = self.worker_control
        await self.change_pool(workername, lambda info: worker_control.autoscale(workername, args.min, args.max, info))


class WorkerQueueAddConsumer(ControlHandler):
    endpoint = worker_command(
        '/api/worker/queue/add-consumer/{workername}',
        'Make a worker consume from a queue',
        'addConsumer',
        "The worker's answer (`add consumer <queue>`).",
        "The worker refused: `Failed to add '<q>' consumer to '<w>' worker: <reason>`.",
        (QUEUE,),
    )

    async def post(self, workername):
        queue = self.arguments().queue
        await self.require_worker(workername)
        self.write_json({'message': await self.worker_control.add_consumer(workername, queue)})


class WorkerQueueCancelConsumer(ControlHandler):
    endpoint = worker_command(
        '/api/worker/queue/cancel-consumer/{workername}',
        'Make a worker stop consuming from a queue',
        'cancelConsumer',
        "The worker's answer (`no longer consuming from <queue>`).",
        "The worker refused: `Failed to cancel '<q>' consumer from '<w>' worker: <reason>`.",
        (QUEUE,),
    )

    async def post(self, workername):
        queue = self.arguments().queue
        await self.require_worker(workername)
        self.write_json({'message': await self.worker_control.cancel_consumer(workername, queue)})


class TaskRevoke(ControlHandler):
    endpoint = Endpoint(
        '/api/task/revoke/{taskid}',
        'Revoke a task, optionally terminating it',
        'revokeTask',
        params=(
            TASK_ID,
            Param('terminate', 'Also kill the process running it.', bool, default=False),
            Param(
                'signal',
                'Signal for `terminate`: its upper-case name with or without `SIG`, or its number.',
                default='SIGTERM',
                # checked by WorkerControl.revoke (control.signal_name), after the other parameters
                schema={'enum': sorted(control.SIGNAL_SPELLINGS), 'example': 'SIGKILL'},
            ),
        ),
        method='post',
        errors=BROKER_ERRORS,
        description='A task that has not started (waiting for its ETA or countdown, or prefetched) stays RECEIVED '
        'until the worker reports `task-revoked`, which celery sends when the task comes due; until '
        'then the task carries `"revoked_pending": true` in `/api/task/info` and `/api/tasks`, and '
        'its page shows a *revoke pending* badge. Not marked: a finished or unknown task, and a '
        'started one unless `terminate` is set.',
        responses={
            '200': json_response("`Revoked '<id>'`.", ref('Message')),
            '400': text_response('`terminate` is not a boolean or `signal` is not a signal.'),
        },
    )

    async def post(self, taskid):
        args = self.arguments()
        message = await self.worker_control.revoke(taskid, terminate=args.terminate, signal=args.signal)
        # back on the IOLoop: the state is ours to write (runtime rule 1)
        if self.state.mark_revoked_pending(taskid, terminate=args.terminate):
            self.application.live.on_events_applied(1)  # open pages show the badge on the next tick
        self.write_json({'message': message})


class TaskTimeout(ControlHandler):
    endpoint = Endpoint(
        '/api/task/timeout/{taskname}',
        "Set a task's time limits on a worker",
        'setTaskTimeLimit',
        params=(
            TASK_NAME,
            TASK_WORKER,
            Param(
                'hard',
                'Hard time limit in seconds.',
                float,
                check=lambda value: control.time_limit_value(value, 'hard'),
                schema={'minimum': 0, 'maximum': control.MAX_DELAY},
            ),
            Param(
                'soft',
                'Soft time limit in seconds.',
                float,
                check=lambda value: control.time_limit_value(value, 'soft'),
                schema={'minimum': 0, 'maximum': control.MAX_DELAY},
            ),
        ),
        method='post',
        errors=BROKER_ERRORS,
        responses={
            '200': json_response("The worker's answer (`time limits set successfully`).", ref('Message')),
            '400': text_response('`Missing argument workername`, or a limit is not a number of seconds.'),
            '403': text_response("The worker refused: `Failed to set timeouts: '<reason>'`."),
            '404': text_response("Unknown task name or worker: `Unknown task '<name>'`, `Unknown worker '<name>'`."),
        },
    )

    async def post(self, taskname):
        args = self.arguments()
        taskname = self.require_task_name(taskname)
        await self.require_worker(args.workername)
        self.write_json(
            {'message': await self.worker_control.time_limit(args.workername, taskname, args.hard, args.soft)}
        )


TaskTimout = TaskTimeout  # Flower's spelling, kept importable

# Celery's rate limits: a number, optionally per s, m or h (what control.rate_limit_value accepts)
RATE_PATTERN = r'^(\d+(\.\d+)?(/[smh])?)?$'


class TaskRateLimit(ControlHandler):
    endpoint = Endpoint(
        '/api/task/rate-limit/{taskname}',
        "Set a task's rate limit on a worker",
        'setTaskRateLimit',
        params=(
            TASK_NAME,
            TASK_WORKER,
            Param(
                'ratelimit',
                'Tasks per second, or per `s`, `m`, `h` (`10/m`); `0` removes the limit.',
                required=True,
                check=control.rate_limit_value,
                schema={'pattern': RATE_PATTERN, 'example': '10/m'},
            ),
        ),
        method='post',
        errors=BROKER_ERRORS,
        responses={
            '200': json_response("The worker's answer (`new rate limit set successfully`).", ref('Message')),
            '400': text_response('`Missing argument workername`, or the rate limit is malformed.'),
            '403': text_response("The worker refused: `Failed to set rate limit: '<reason>'`."),
            '404': text_response("Unknown task name or worker: `Unknown task '<name>'`, `Unknown worker '<name>'`."),
        },
    )

    async def post(self, taskname):
        args = self.arguments()
        taskname = self.require_task_name(taskname)
        await self.require_worker(args.workername)
        self.write_json({'message': await self.worker_control.rate_limit(args.workername, taskname, args.ratelimit)})
