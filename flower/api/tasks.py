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

from celery import states
from celery.backends.base import DisabledBackend
from celery.contrib.abortable import AbortableAsyncResult
from celery.events.state import Task
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import AsyncResult

from flower import control
from flower.api import BaseApiHandler  # noqa: F401 - a name of Flower's flower.api.tasks
from flower.api.control import OperationHandler
from flower.events.task import TRUNCATABLE_FIELDS, truncation
from flower.queries import API_SORT_KEYS, parse_sort
from flower.utils import tasks
from flower.utils.search import QuerySyntaxError  # noqa: F401 - a name of Flower's flower.api.tasks
from flower.views.errors import NotFound

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
class ListTasks(BaseTaskHandler):
    def get(self):
        limit = self.get_typed_argument('limit', int, None, minimum=0)
        offset = self.get_typed_argument('offset', int, 0)  # negative counts as 0, as in Flower
        state = self.get_typed_argument('state', str, None)
        sort_by = self.get_typed_argument('sort_by', str, None)
        parse_sort(sort_by, API_SORT_KEYS)  # the API sorts by Flower's four keys only (the table by any column)
        # through the module name ``tasks`` (flower.utils.tasks), as Flower does, so a test may patch it
        listed = tasks.iter_tasks(
            self.application.events,
            limit=limit,
            offset=offset,
            type=self.get_typed_argument('taskname', str, None),
            worker=self.get_typed_argument('workername', str, None),
            state=None if state == 'All' else state,
            sort_by=sort_by,
            received_start=self.get_typed_argument('received_start', str, None),
            received_end=self.get_typed_argument('received_end', str, None),
            search=self.get_typed_argument('search', str, None),
        )
        self.write_json({uuid: task_as_dict(task) for uuid, task in listed})


class ListTaskTypes(BaseTaskHandler):
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


class TaskApply(BaseTaskHandler):
    """Publish and wait (at most the body's ``timeout``, default 30 s) for the result."""

    mutating = True

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
    async def post(self, taskname):
        request = self.apply_request()
        execution = self.execution
        task_id = await execution.publish(taskname, request, registered=False)
        await self._answer(execution, task_id)


class TaskResult(BaseTaskHandler):
    async def get(self, taskid):
        timeout = control.wait_seconds(self.get_typed_argument('timeout', float, None))
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

    async def post(self, taskid):
        result = AbortableAsyncResult(taskid, app=self.capp)
        self.require_backend_of(result)
        self.write_json({'message': await self.execution.abort(taskid, result)})


class TaskRetry(BaseTaskHandler):
    """Send a finished task again with the name, args, kwargs and routing its events reported."""

    mutating = True

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
    async def get(self):
        answer = await self.application.queues.answer()
        # Flower's shape plus where the numbers were read (RabbitMQ: its management API, or AMQP when the API
        # is missing or refuses) and why a fallback was used
        self.write_json({'active_queues': answer.queues, 'source': answer.source, 'source_note': answer.source_note})
