"""The task API: listing and reading tasks from the events state (``/api/tasks``, ``/api/task/info``,
``/api/task/types``), queue lengths, and running tasks (``/api/task/{apply,async-apply,send-task,result,abort,
retry}``).

Handlers parse parameters and shape JSON; selecting and ordering is :func:`flower.queries.select_tasks`,
publishing, waiting and retrying are :mod:`flower.control`'s. Runs on the IOLoop thread (the blocking helpers
``wait_results``/``read_result`` kept for Flower's subclasses run on the runner's threads, through
``run_blocking``).

Flower 2.2's names live here too, for code and tests written against Flower: ``BaseTaskHandler``'s helpers
(``get_task_args``, ``normalize_options``, ``safe_result``, ``update_response_result``, ``backend_configured``,
``backend_connection_errors``, ``result_state``, ``DATE_FORMAT``), ``TaskApply.wait_results``,
``TaskResult.read_result``, and the names tests patch: ``AsyncResult``, ``AbortableAsyncResult``,
``DisabledBackend`` and ``tasks`` (:mod:`flower.utils.tasks`). The handlers look these module names up when a
request comes, so ``mock.patch('flower.api.tasks.AsyncResult')`` or
``mock.patch('flower.api.tasks.tasks.get_task_by_id')`` changes what they do.
"""

from __future__ import annotations

from typing import Callable

from celery import states
from celery.backends.base import DisabledBackend
from celery.contrib.abortable import AbortableAsyncResult
from celery.events.state import Task
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import AsyncResult

from flower import control
from flower.api import BaseApiHandler  # noqa: F401 - a name of Flower's flower.api.tasks
from flower.api.control import OperationHandler
from flower.api.spec import (
    BROKER_ERRORS,
    JSON,
    TASK_ID,
    TASK_NAME,
    Endpoint,
    Param,
    json_response,
    nullable,
    path_param,
    ref,
    text_response,
)
from flower.control.apply import DEFAULT_APPLY_TIMEOUT, apply_body_schema
from flower.events.task import TRUNCATABLE_FIELDS, truncation
from flower.queries import API_SORT_KEYS, parse_sort
from flower.utils import tasks
from flower.utils.search import QuerySyntaxError  # noqa: F401 - a name of Flower's flower.api.tasks
from flower.utils.strict import MINUTE_OR_EMPTY_PATTERN
from flower.views.error_status import NotFound

__all__ = [
    'AbortableAsyncResult',
    'AsyncResult',
    'DisabledBackend',
    'tasks',
    'task_as_dict',
    'BaseTaskHandler',
    'TaskApply',
    'TaskAsyncApply',
    'TaskSend',
    'TaskResult',
    'TaskAbort',
    'TaskRetry',
    'TaskInfo',
    'ListTasks',
    'ListTaskTypes',
    'GetQueueLengths',
]


def task_as_dict(task) -> dict:
    """A task as Flower's API shows it: celery's fields, ``worker`` as the hostname (absent when unknown).

    A text that is not whole is given as it was kept (Flower's shape, no marker in it) and ``truncated`` says
    which were cut, how much was kept and by whom (``{'args': {'kept': 1024, 'by': 'celery', ...}}``); the
    field is absent when every text is whole. ``revoked_pending: true`` (not in Flower) while this server's
    revoke waits for the worker's task-revoked."""
    data = task.as_dict()
    worker = data.pop('worker', None)
    if worker is not None:
        data['worker'] = worker.hostname
    if getattr(task, 'revoked_pending', None) is not None:
        data['revoked_pending'] = True
    cuts = {}
    for key in TRUNCATABLE_FIELDS:
        data[key], cut = truncation(data.get(key))
        if cut is not None:
            cuts[key] = cut
    if cuts:
        data['truncated'] = cuts
    return data


# -- execution, results and retry (they change the cluster: all but GET are refused in --read_only) -----------
class BaseTaskHandler(OperationHandler):
    """Base of the task-running handlers, with Flower's helpers for subclasses written against Flower."""

    #: Flower's date format for ``eta``/``expires`` (ISO 8601 is accepted as well)
    DATE_FORMAT = '%Y-%m-%d %H:%M:%S.%f'

    #: set when the client hangs up, so a wait for a result stops early
    client_gone = False

    def async_result(self, task_id: str):
        """The result object of ``task_id``, built with this module's ``AsyncResult`` as it is now."""
        return AsyncResult(task_id, app=self.capp)

    @property
    def execution(self) -> control.TaskExecution:
        return control.TaskExecution(self.capp, self.runner, result_factory=self.async_result)

    def apply_request(self, wait_option: bool = False) -> control.ApplyRequest:
        return control.parse_apply_body(self.request.body, wait_option=wait_option)

    def on_connection_close(self):
        self.client_gone = True

    # -- Flower's helpers ----------------------------------------------------------------------------------------
    def get_task_args(self):
        """``(args, kwargs, options)`` of the JSON body; ``options`` are the other keys as sent (pass them to
        :meth:`normalize_options`). A body that is not a JSON object, or bad args/kwargs, is a 400."""
        return control.split_apply_body(self.request.body)

    def normalize_options(self, options: dict) -> None:
        """Check and convert ``options`` in place into ``apply_async``'s (dates, seconds written as text, ...);
        ``timeout`` is left for the caller. A bad value raises :class:`flower.control.InvalidOption`, a
        ``ValueError`` that is a 400 when not caught."""
        converted = control.apply_options(options, wait_option=True)
        timeout = options.get('timeout')
        options.clear()
        options.update(converted)
        if timeout is not None:
            options['timeout'] = timeout

    def safe_result(self, result):
        """``result`` if JSON can carry it, else its repr."""
        return control.json_safe(result)

    def update_response_result(self, response: dict, result) -> None:
        """Put a finished ``result``'s value (and its traceback when it failed) into ``response``."""
        response['result'] = self.safe_result(result.result)
        if result.state == states.FAILURE:
            response['traceback'] = result.traceback

    @staticmethod
    def backend_configured(result) -> bool:
        """Whether ``result`` has a result backend to read from (a backend that cannot be built has none)."""
        try:
            return not isinstance(result.backend, DisabledBackend)
        except Exception:  # noqa: BLE001 - e.g. an unknown backend URL: no backend to read, a 503 not a 500
            return False

    @staticmethod
    def backend_connection_errors(result) -> tuple:
        """The exceptions meaning ``result``'s backend is unreachable (for ``run_blocking``)."""
        try:
            return tuple(getattr(result.backend, 'connection_errors', ()) or ())
        except Exception:  # noqa: BLE001 - same as backend_configured
            return ()

    @staticmethod
    def result_state(result) -> str:
        return result.state

    def require_backend_of(self, result) -> None:
        if not self.backend_configured(result):
            raise control.NoResultBackend()


# -- reading tasks (subclasses of BaseTaskHandler, as in Flower) ----------------------------------------------
def api_sort(sort_by: str) -> str:
    """``sort_by`` as sent, when it is one of Flower's four keys (the API sorts by those only; the tasks table by
    any column); a :class:`~flower.queries.BadQuery` listing them otherwise."""
    parse_sort(sort_by, API_SORT_KEYS)
    return sort_by


class ListTasks(BaseTaskHandler):
    endpoint = Endpoint(
        '/api/tasks',
        'Tasks seen in events, newest first',
        'listTasks',
        description='A JSON object keyed by task id, in the order asked for.',
        params=(
            Param('limit', 'At most this many tasks (ASCII digits).', int, minimum=0),
            Param('offset', 'Skip this many (ASCII digits, `-` allowed: negative counts as 0).', int, default=0),
            Param('workername', 'Only tasks of this worker (case-insensitive).'),
            Param('taskname', 'Only tasks with this name (case-insensitive).'),
            Param('state', 'Only tasks in this state (`All` for any).'),
            Param(
                'received_start',
                'Received at or after (`YYYY-MM-DD HH:MM`, server local time; a real date: `2024-02-30` '
                'is refused; empty: no bound).',
                # checked by flower.queries when the tasks are selected
                schema={'pattern': MINUTE_OR_EMPTY_PATTERN, 'example': '2024-01-31 13:45'},
            ),
            Param(
                'received_end',
                'Received before (`YYYY-MM-DD HH:MM`, server local time; a real date; empty: no bound).',
                schema={'pattern': MINUTE_OR_EMPTY_PATTERN, 'example': '2024-01-31 14:45'},
            ),
            Param(
                'sort_by',
                'Order (empty: the default, newest first).',
                check=api_sort,
                schema={'enum': [*API_SORT_KEYS, *(f'-{key}' for key in API_SORT_KEYS), '']},
            ),
            Param(
                'search',
                'Search query: terms, `name:`, `state:`, `worker:`, `args:`, `kwargs:k=v`, `result:`, '
                '`exception:`, `traceback:`, `AND`, `OR`, parentheses, double quotes.',
            ),
        ),
        responses={
            '200': json_response('Tasks by id.', {'type': 'object', 'additionalProperties': ref('Task')}),
            '400': {
                'description': 'A parameter is invalid (text), or the search query is not valid (JSON '
                '`{"error": "<message>"}`).',
                'content': {
                    'text/plain': {'schema': {'type': 'string', 'minLength': 1}},
                    JSON: {'schema': ref('SearchError')},
                },
            },
        },
    )

    def get(self):
        args = self.arguments()
        # through the module name ``tasks`` (flower.utils.tasks), as Flower does, so a test may patch it
        listed = tasks.iter_tasks(
            self.application.events,
            limit=args.limit,
            offset=args.offset,  # negative counts as 0, as in Flower
            type=args.taskname,
            worker=args.workername,
            state=None if args.state == 'All' else args.state,
            sort_by=args.sort_by,
            received_start=args.received_start,
            received_end=args.received_end,
            search=args.search,
        )
        self.write_json({uuid: task_as_dict(task) for uuid, task in listed})


class ListTaskTypes(BaseTaskHandler):
    endpoint = Endpoint(
        '/api/task/types',
        'Task names seen in events',
        'listTaskTypes',
        responses={
            '200': json_response(
                'Sorted task names.',
                {
                    'type': 'object',
                    'required': ['task-types'],
                    'properties': {'task-types': {'type': 'array', 'items': {'type': 'string'}}},
                },
            )
        },
    )

    def get(self):
        self.write_json({'task-types': self.state.task_types()})


def backend_task_as_dict(snapshot: control.ResultSnapshot) -> dict:
    """A task only the result backend knows, in Flower's task shape: the fields events would have filled are
    null, and ``source: result_backend`` says where it came from."""
    data = Task(snapshot.task_id).as_dict()
    data.pop('worker', None)
    data['state'] = snapshot.state
    if snapshot.ready:
        key = 'exception' if snapshot.state in states.EXCEPTION_STATES else 'result'
        data[key] = repr(snapshot.result)
        data['traceback'] = snapshot.traceback
    data['source'] = 'result_backend'
    return data


class TaskInfo(BaseTaskHandler):
    endpoint = Endpoint(
        '/api/task/info/{taskid}',
        'One task as seen in events',
        'taskInfo',
        params=(TASK_ID,),
        description='A task no event showed but the result backend knows (any state but PENDING) is answered '
        'from the backend: `uuid`, `state`, `result` (or `exception`) and `traceback`, the other '
        'fields null, and `"source": "result_backend"` (not in Flower).',
        responses={
            '200': json_response('The task.', ref('Task')),
            '404': text_response("Unknown task: `Unknown task '<id>'` (unknown to the result backend too)."),
            '503': text_response(
                'The task is not in the events and the result backend cannot be reached; the message says why.'
            ),
        },
    )

    async def get(self, taskid):
        task = tasks.get_task_by_id(self.application.events, taskid)
        if task is not None:
            self.write_json(task_as_dict(task))
            return
        # not seen in events: the result backend may still know it (blocking read, through the runner)
        snapshot = await control.TaskExecution(self.capp, self.runner).known_to_backend(taskid)
        if snapshot is None:
            raise NotFound(f"Unknown task '{taskid}'")
        self.write_json(backend_task_as_dict(snapshot))


def apply_body(wait_option: bool = False) -> Callable[[], dict]:
    """The ``requestBody`` of apply/async-apply/send-task: the keys :func:`flower.control.parse_apply_body`
    accepts (``timeout`` too with ``wait_option``), from the same declarations."""

    def body() -> dict:
        return {
            'required': False,
            'description': 'Arguments and `apply_async` options. An empty body means no '
            'arguments; unknown keys are refused with 400; `null` for a key '
            'means it was not given.',
            'content': {
                JSON: {
                    'schema': apply_body_schema(wait_option),
                    'example': {'args': [2, 2], 'kwargs': {}, 'queue': 'celery'},
                }
            },
        }

    return body


BAD_BODY = text_response(
    'The body is not a JSON object, `args` is not an array, `kwargs` is not an object, or an '
    'option is unknown or malformed; the message says which.'
)
BAD_CALL = text_response(
    'The body is not a JSON object, `args` is not an array, `kwargs` is not an object, an option '
    "is unknown or malformed, or the arguments do not fit the task's signature (Celery's words: "
    "`Invalid arguments for '<name>': add() takes 2 positional arguments but 3 were given`); the "
    'message says which.'
)
UNKNOWN_TASK_NAME = text_response("The task is not registered here: `Unknown task '<name>'`.")


class TaskApply(BaseTaskHandler):
    """Publish and wait (at most the body's ``timeout``, default 30 s) for the result."""

    mutating = True
    endpoint = Endpoint(
        '/api/task/apply/{taskname}',
        'Run a task and wait for its result',
        'applyTask',
        params=(TASK_NAME,),
        body=apply_body(wait_option=True),
        method='post',
        errors=BROKER_ERRORS,
        description=f'Waits at most `timeout` seconds (default {DEFAULT_APPLY_TIMEOUT:g}); then answers 202 with '
        'the task id and its state so far.',
        responses={
            '200': json_response('The task finished.', ref('ApplyResult')),
            '202': json_response('The wait ran out; the task is still going.', ref('ApplyResult')),
            '400': BAD_CALL,
            '404': UNKNOWN_TASK_NAME,
        },
    )

    async def post(self, taskname):
        request = self.apply_request(wait_option=True)
        execution = self.execution
        execution.require_registered(taskname)
        execution.check_arguments(taskname, request)
        execution.require_backend()
        task_id = await execution.publish(taskname, request)
        snapshot = await execution.wait(task_id, request.timeout, stop=lambda: self.client_gone)
        answer = snapshot.as_dict(with_result=snapshot.ready)
        if not snapshot.ready:
            answer['result'] = None
            answer['timed-out'] = True
            answer['message'] = (
                f"Gave up waiting for the result of '{task_id}' after {request.timeout:g}s; "
                f'the task is {snapshot.state}'
            )
            self.set_status(202)
        self.write_json(answer)

    def wait_results(self, result, response: dict, timeout=None) -> dict:
        """Flower's blocking wait (run it with ``run_blocking``): ``response`` with the result once ready, or with
        only the state after ``timeout`` seconds. Our own ``post`` polls instead, so no thread is held."""
        try:
            result.get(propagate=False, timeout=timeout)
        except CeleryTimeoutError:
            response['state'] = result.state
            return response
        self.update_response_result(response, result)
        if self.backend_configured(result):
            response['state'] = result.state
        return response


class TaskAsyncApply(BaseTaskHandler):
    mutating = True
    endpoint = Endpoint(
        '/api/task/async-apply/{taskname}',
        'Send a registered task',
        'asyncApplyTask',
        params=(TASK_NAME,),
        body=apply_body(),
        method='post',
        errors=BROKER_ERRORS,
        responses={
            '200': json_response('The task was sent.', ref('TaskSent')),
            '400': BAD_CALL,
            '404': UNKNOWN_TASK_NAME,
        },
    )

    async def post(self, taskname):
        request = self.apply_request()
        execution = self.execution
        execution.require_registered(taskname)
        execution.check_arguments(taskname, request)
        task_id = await execution.publish(taskname, request)
        await self._answer(execution, task_id)

    async def _answer(self, execution, task_id):
        answer = {'task-id': task_id}
        if self.backend_configured(self.async_result(task_id)):
            answer['state'] = (await execution.snapshot(task_id)).state
        self.write_json(answer)


class TaskSend(TaskAsyncApply):
    endpoint = Endpoint(
        '/api/task/send-task/{taskname}',
        'Send a task by name (it need not be registered here)',
        'sendTask',
        params=(path_param('taskname', 'Any task name.', 'tasks.add'),),
        body=apply_body(),
        method='post',
        errors=BROKER_ERRORS,
        responses={'200': json_response('The task was sent.', ref('TaskSent')), '400': BAD_BODY},
    )

    async def post(self, taskname):
        request = self.apply_request()
        execution = self.execution
        task_id = await execution.publish(taskname, request, registered=False)
        await self._answer(execution, task_id)


class TaskResult(BaseTaskHandler):
    endpoint = Endpoint(
        '/api/task/result/{taskid}',
        "A task's result from the result backend",
        'taskResult',
        params=(
            TASK_ID,
            Param(
                'timeout',
                'Wait up to this many seconds for the result.',
                float,
                check=control.wait_seconds,
                schema={'minimum': 0, 'maximum': control.MAX_WAIT},
            ),
        ),
        errors=BROKER_ERRORS,
        responses={
            '200': json_response('The state, and the result once there is one.', ref('TaskResult')),
            '400': text_response('`timeout` is not a number of seconds in range.'),
        },
    )

    async def get(self, taskid):
        timeout = self.arguments().timeout
        execution = self.execution
        self.require_backend_of(self.async_result(taskid))
        if timeout is None:
            snapshot = await execution.snapshot(taskid)
        else:
            snapshot = await execution.wait(taskid, timeout, stop=lambda: self.client_gone)
        self.write_json(snapshot.as_dict(with_result=snapshot.ready))

    def read_result(self, result, timeout) -> dict:
        """Flower's blocking read (run it with ``run_blocking``): task id and state, and the result when it is
        ready (waiting up to ``timeout`` seconds when given)."""
        response = {'task-id': result.id, 'state': result.state}
        if timeout:
            try:
                result.get(timeout=timeout, propagate=False)
            except CeleryTimeoutError:
                return response
            self.update_response_result(response, result)
        elif result.ready():
            self.update_response_result(response, result)
        return response


class TaskAbort(BaseTaskHandler):
    mutating = True
    endpoint = Endpoint(
        '/api/task/abort/{taskid}',
        'Ask an abortable task to stop',
        'abortTask',
        params=(TASK_ID,),
        method='post',
        errors=BROKER_ERRORS,
        description='Marks the task ABORTED in the result backend; an `AbortableTask` sees it and stops.',
        responses={'200': json_response("`Aborted '<id>'`.", ref('Message'))},
    )

    async def post(self, taskid):
        result = AbortableAsyncResult(taskid, app=self.capp)
        self.require_backend_of(result)
        self.write_json({'message': await self.execution.abort(taskid, result)})


class TaskRetry(BaseTaskHandler):
    """Send a finished task again with the name, args, kwargs and routing its events reported."""

    mutating = True
    endpoint = Endpoint(
        '/api/task/retry/{taskid}',
        'Send a finished task again',
        'retryTask',
        params=(TASK_ID,),
        method='post',
        errors=BROKER_ERRORS,
        description="Re-sends the task with the name, args, kwargs and routing its events reported. The args are "
        "read from the events' text with a literal parser; when they cannot be recovered exactly "
        '(truncated, shortened by Celery, not literals) the answer is 409 with the reason.',
        responses={
            '200': json_response('The new task was sent.', ref('RetryResult')),
            '404': text_response("Unknown task: `Unknown task '<id>'`."),
            '409': text_response('The task is not finished, or its call cannot be recovered; the message says why.'),
        },
    )

    async def post(self, taskid):
        task = self.state.tasks.get(taskid)
        if task is None:
            raise control.UnknownTask(taskid)
        call = control.recover_call(task, serializer=self.capp.conf.task_serializer or 'json')
        new_id = await control.resend(self.capp, self.runner, call)
        self.application.retries.record(taskid, new_id)
        answer = {
            'task-id': new_id,
            'retry-of': taskid,
            'name': call.name,
            'message': f"Retried '{taskid}' as '{new_id}'",
        }
        self.write_json(answer)


class GetQueueLengths(BaseTaskHandler):
    endpoint = Endpoint(
        '/api/queues/length',
        "Messages waiting in the broker's queues",
        'queueLengths',
        tag='queues',
        description='`active_queues` lists the queues the workers consume, those in `task_queues`, '
        '`task_default_queue` and `task_routes`, those named by `task-sent` events and, on RabbitMQ, '
        "every other queue of the vhost (Celery's event and pidbox queues left out): a queue with "
        'messages and no consumer shows. Beyond Flower, `source` says where the numbers were read '
        '(`redis`, `management-api`, `amqp`, `filesystem`) and `source_note` why a fallback was used: '
        'RabbitMQ is read over AMQP (a passive queue declare: ready messages and consumers of the '
        'known queues only) when its management API is missing or refuses.',
        responses={
            '200': json_response(
                'Queue lengths.',
                {
                    'type': 'object',
                    'required': ['active_queues'],
                    'properties': {
                        'active_queues': {
                            'type': 'array',
                            'items': {
                                'type': 'object',
                                'properties': {'name': {'type': 'string'}, 'messages': {'type': 'integer'}},
                                'additionalProperties': True,
                            },
                        },
                        'source': {
                            'type': 'string',
                            'enum': ['redis', 'management-api', 'amqp', 'filesystem'],
                            'description': 'Where the numbers were read (not in Flower): `amqp` when the '
                            'RabbitMQ management API is missing or refuses; over AMQP only the '
                            'known queues are listed and `messages` counts ready messages.',
                        },
                        'source_note': nullable(
                            'string', description='Why a fallback source was used (not in Flower).'
                        ),
                    },
                },
            ),
            '501': text_response(
                "The broker's transport has no queue-length support: `'<transport>' broker is not "
                'supported` (Flower answers 404).'
            ),
            '503': text_response(
                'The broker (or its management API) cannot tell now; the message says why, for example '
                '`Redis at 127.0.0.1:6379/0 could not be reached: ...`.'
            ),
        },
        errors=BROKER_ERRORS,
    )

    async def get(self):
        answer = await self.application.queues.answer()
        # Flower's shape plus where the numbers were read (RabbitMQ: its management API, or AMQP when the API
        # is missing or refuses) and why a fallback was used
        self.write_json({'active_queues': answer.queues, 'source': answer.source, 'source_note': answer.source_note})
