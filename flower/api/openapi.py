"""``GET /api/openapi.json``: an OpenAPI 3 description of the whole HTTP API.

The document is built here, next to the handlers it describes, and a test keeps it true: every ``/api/`` route
in :data:`flower.urls.handlers` (and ``/metrics``, ``/healthcheck``) is described with the methods its handler
implements, and every described path is a route. Bodies of errors are the plain-text messages of
:class:`flower.api.BaseApiHandler` (never empty); the only JSON error is a search syntax error on
``/api/tasks``.

The document is as strict as the server: the patterns of dates and names are the very ones
:mod:`flower.utils.strict` parses with, the signal enum is what revoke accepts, and the pool limits
(``maximum`` of ``n``, ``min``, ``max``) are the running server's options, so the served document is built per
request. Every status an operation can answer is listed (500/503 where the broker or backend is called).

Runs on the IOLoop thread.
"""

from __future__ import annotations

from typing import Any

from flower import __version__
from flower.api import BaseApiHandler
from flower.diagnosis import FINDING_CODES
from flower.views.monitor import READY_VALUES
from flower.control import (
    DEFAULT_APPLY_TIMEOUT,
    MAX_DELAY,
    MAX_PRIORITY,
    MAX_WAIT,
    SECONDS_TEXT_PATTERN,
    SIGNAL_SPELLINGS,
    PoolLimits,
    installed_codecs,
)
from flower.utils.strict import MINUTE_OR_EMPTY_PATTERN, NAME_PATTERN, TIME_PATTERN

JSON = 'application/json'
# a name AMQP can carry and a log line can show: the server checks exactly this pattern
NAME = {
    'type': 'string',
    'minLength': 1,
    'maxLength': 255,
    'pattern': NAME_PATTERN,
    'description': 'No control characters and no leading space; at most 255 ASCII characters, or 63 when it '
    'has others (AMQP names are at most 255 bytes).',
}
RATE_PATTERN = r'^(\d+(\.\d+)?(/[smh])?)?$'

# -- building blocks -------------------------------------------------------------------------------------------


def _text(description: str) -> dict:
    return {'description': description, 'content': {'text/plain': {'schema': {'type': 'string', 'minLength': 1}}}}


def _json(description: str, schema: dict) -> dict:
    return {'description': description, 'content': {JSON: {'schema': schema}}}


def _ref(name: str) -> dict:
    return {'$ref': f'#/components/schemas/{name}'}


def _nullable(type_: str, **extra) -> dict:
    return {'type': type_, 'nullable': True, **extra}


def _path(name: str, description: str, example: str) -> dict:
    return {
        'name': name,
        'in': 'path',
        'required': True,
        'description': description,
        'schema': {'type': 'string', 'minLength': 1},
        'example': example,
    }


def _query(name: str, schema: dict, description: str, required: bool = False) -> dict:
    return {'name': name, 'in': 'query', 'required': required, 'description': description, 'schema': schema}


WORKER = _path(
    'workername', 'The worker\'s hostname as it reports itself (for example `celery@host`).', 'celery@worker1'
)
TASK_ID = _path('taskid', 'A task id.', '0b4ac0c2-5f0c-4d38-9d6f-0ad1c4c2e6d1')
TASK_NAME = _path('taskname', 'A registered task name.', 'tasks.add')
# Celery's strings: a task's name, then ` [key=value ...]` for its own rate limit, exchange or routing key
REGISTERED = {
    'type': 'array',
    'items': {'type': 'string'},
    'example': ['tasks.add', 'tasks.limited [rate_limit=100/m]'],
    'description': "The worker's tasks as Celery reports them: the name, then ` [key=value ...]` when "
    "the task has its own rate limit, exchange or routing key. Only the name (before "
    "` [`) is a task name; the control endpoints accept either.",
}

ERRORS = {
    '401': _text(
        'The API is not enabled: configure authentication or set FLOWER_UNAUTHENTICATED_API, or the '
        'credentials are wrong.'
    ),
    '500': _text(
        'The call to the broker or the result backend failed in an unexpected way; the message says which call and why.'
    ),
    '503': _text(
        'The broker or the result backend is unavailable (`Broker or result backend unavailable`), '
        'or the operation needs a result backend and none is configured.'
    ),
}
# operations that call the broker or the result backend (through the server's blocking runner)
BROKER_ERRORS = ('401', '500', '503')


def _operation(
    summary: str,
    responses: dict,
    parameters: list | None = None,
    tag: str = 'tasks',
    description: str | None = None,
    body: dict | None = None,
    mutating: bool = False,
    errors: tuple[str, ...] = ('401',),
    operation_id: str | None = None,
) -> dict:
    op: dict[str, Any] = {'tags': [tag], 'summary': summary, 'operationId': operation_id, 'responses': dict(responses)}
    if description:
        op['description'] = description
    if parameters:
        op['parameters'] = parameters
    if body:
        op['requestBody'] = body
    for code in errors:
        op['responses'].setdefault(code, ERRORS[code])
    if mutating:
        existing = op['responses'].get('403')
        reason = 'Read only mode is enabled (`--read_only`)'
        if existing:
            existing['description'] = f"{existing['description']} Also: {reason}."
        else:
            op['responses']['403'] = _text(f'{reason}.')
    if operation_id is None:
        del op['operationId']
    return op


def _control(
    summary: str,
    operation_id: str,
    success: str,
    failure: str | None = None,
    parameters: list | None = None,
    description: str | None = None,
    bad_input: bool = False,
    conflict: str | None = None,
) -> dict:
    responses = {'200': _json(success, _ref('Message')), '404': _text("Unknown worker: `Unknown worker '<name>'`.")}
    if failure:
        responses['403'] = _text(failure)
    if conflict:
        responses['409'] = _text(conflict)
    if bad_input or parameters:
        responses['400'] = _text('A parameter is missing or invalid; the message names it.')
    return _operation(
        summary,
        responses,
        [WORKER, *(parameters or [])],
        tag='workers',
        description=description,
        mutating=True,
        errors=BROKER_ERRORS,
        operation_id=operation_id,
    )


def _apply_body(wait: bool) -> dict:
    seconds = {'type': 'number', 'minimum': -MAX_DELAY, 'maximum': MAX_DELAY}
    seconds_text = {'type': 'string', 'pattern': SECONDS_TEXT_PATTERN}  # Flower takes "3" as 3
    properties: dict[str, Any] = {
        'args': {'type': 'array', 'items': {}, 'description': 'Positional arguments.'},
        'kwargs': {'type': 'object', 'additionalProperties': True, 'description': 'Keyword arguments.'},
        'countdown': {
            'oneOf': [seconds, seconds_text],
            'description': 'Seconds to wait before running (a number, or its digits as text: `"3"`).',
        },
        'eta': {
            'type': 'string',
            'pattern': TIME_PATTERN,
            'description': 'When to run: `YYYY-MM-DD HH:MM:SS.ffffff` or ISO 8601.',
            'example': '2030-01-31 13:45:00.000000',
        },
        'expires': {
            'oneOf': [seconds, seconds_text, {'type': 'string', 'pattern': TIME_PATTERN}],
            'description': 'Seconds from now (a number, or its digits as text: `"60"`), or a time in the '
            '`eta` formats.',
        },
        'task_id': NAME,
        'queue': NAME,
        'exchange': NAME,
        'routing_key': NAME,
        'priority': {'type': 'integer', 'minimum': 0, 'maximum': MAX_PRIORITY},
        'serializer': {'type': 'string', 'enum': installed_codecs('serializer')},
        'compression': {'type': 'string', 'enum': installed_codecs('compression')},
        'headers': {
            'type': 'object',
            'additionalProperties': True,
            'description': "Custom message headers (not Celery's own, such as `id` or `task`).",
        },
        'shadow': NAME,
        'time_limit': {'type': 'number', 'exclusiveMinimum': True, 'minimum': 0, 'maximum': MAX_DELAY},
        'soft_time_limit': {'type': 'number', 'exclusiveMinimum': True, 'minimum': 0, 'maximum': MAX_DELAY},
        'ignore_result': {'type': 'boolean'},
        'retry': {'type': 'boolean', 'description': 'Retry publishing when the broker connection fails.'},
    }
    if wait:
        properties['timeout'] = {
            'type': 'number',
            'minimum': 0,
            'maximum': MAX_WAIT,
            'description': f'Seconds to wait for the result (default {DEFAULT_APPLY_TIMEOUT:g}).',
        }
    # null is accepted for every key and means "not given" (no arguments, the task's default option)
    properties = {
        name: {**schema, 'nullable': True, **({'enum': [*schema['enum'], None]} if 'enum' in schema else {})}
        for name, schema in properties.items()
    }
    schema = {'type': 'object', 'properties': properties, 'additionalProperties': False}
    return {
        'required': False,
        'description': 'Arguments and `apply_async` options. An empty body means no '
        'arguments; unknown keys are refused with 400; `null` for a key '
        'means it was not given.',
        'content': {JSON: {'schema': schema, 'example': {'args': [2, 2], 'kwargs': {}, 'queue': 'celery'}}},
    }


BAD_BODY = _text(
    'The body is not a JSON object, `args` is not an array, `kwargs` is not an object, or an '
    'option is unknown or malformed; the message says which.'
)
BAD_CALL = _text(
    'The body is not a JSON object, `args` is not an array, `kwargs` is not an object, an option '
    "is unknown or malformed, or the arguments do not fit the task's signature (Celery's words: "
    "`Invalid arguments for '<name>': add() takes 2 positional arguments but 3 were given`); the "
    'message says which.'
)


def _paths(limits: PoolLimits) -> dict:
    p: dict[str, dict] = {}
    p['/api/workers'] = {
        'get': _operation(
            'Workers and what they reported to inspect',
            tag='workers',
            operation_id='listWorkers',
            parameters=[
                _query('refresh', {'type': 'boolean', 'default': False}, 'Ask the workers again before answering.'),
                _query(
                    'status',
                    {'type': 'boolean', 'default': False},
                    'Answer `{"<worker>": <online>}` for every worker seen in events instead.',
                ),
                _query('workername', {'type': 'string'}, 'Only this worker.'),
            ],
            responses={
                '200': _json(
                    'Inspect data by worker (or online status by worker with `status`).',
                    {'type': 'object', 'additionalProperties': {'anyOf': [_ref('WorkerInfo'), {'type': 'boolean'}]}},
                ),
                '400': _text('A parameter is invalid.'),
                '404': _text("Unknown worker: `Unknown worker '<name>'`."),
                '503': _text('The workers could not be asked (`Failed to update workers: ...`).'),
            },
        )
    }
    p['/api/worker/shutdown/{workername}'] = {
        'post': _control('Shut a worker down', 'shutdownWorker', 'The command was sent (no reply is awaited).')
    }
    p['/api/worker/pool/restart/{workername}'] = {
        'post': _control(
            "Restart a worker's pool",
            'restartWorkerPool',
            'The worker accepted.',
            "The worker refused: `Failed to restart the '<w>' pool: <reason>` (pool restarts need "
            '`worker_pool_restarts`).',
        )
    }
    step = {'type': 'integer', 'minimum': 1, 'maximum': limits.step, 'default': 1}
    digits = 'ASCII digits only (no sign, spaces, `_` or other scripts\' digits).'
    p['/api/worker/pool/grow/{workername}'] = {
        'post': _control(
            "Add processes to a worker's pool",
            'growWorkerPool',
            'The worker accepted.',
            "The worker refused: `Failed to grow '<w>' worker's pool: <reason>`.",
            [_query('n', step, f'How many processes to add: 1 to `--max_pool_step` ({limits.step}), {digits}')],
            conflict="With `--max_pool_size` set: the pool's size as last inspected plus `n` would exceed it, or "
            'the worker did not report its pool size; the message says which.',
        )
    }
    p['/api/worker/pool/shrink/{workername}'] = {
        'post': _control(
            "Remove processes from a worker's pool",
            'shrinkWorkerPool',
            'The worker accepted.',
            "The worker refused: `Failed to shrink '<w>' worker's pool: <reason>`.",
            [_query('n', step, f'How many processes to remove: 1 to `--max_pool_step` ({limits.step}), {digits}')],
            conflict="The pool's size as last inspected minus `n` would leave it no process (a worker with an empty "
            'pool takes tasks and never runs them).',
        )
    }
    bound = {'type': 'integer', 'minimum': 0, 'maximum': limits.largest_bound}
    p['/api/worker/pool/autoscale/{workername}'] = {
        'post': _control(
            "Change a worker's autoscale range",
            'autoscaleWorker',
            'The worker accepted.',
            "The worker refused: `Failed to autoscale '<w>' worker: <reason>` (the worker needs `--autoscale`).",
            [
                _query('min', bound, f'Fewest processes. {digits}', required=True),
                _query('max', bound, f'Most processes. {digits}', required=True),
            ],
            description='`min` and `max` are a range: given in either order, the smaller is the minimum (as '
            "Celery's `--autoscale=10,3`). Both are at most `--max_pool_size` when it is set. Without "
            "it, `max` may exceed the larger of the pool's size (as last inspected) and its current "
            'autoscale maximum by `--max_pool_step` at most; more is refused with 409.',
            conflict='Without `--max_pool_size`: `max` is more than `--max_pool_step` above the pool\'s size and '
            'its current autoscale maximum (a pool whose size the worker did not report counts as empty).',
        )
    }
    queue = _query('queue', NAME, 'The queue name.', required=True)
    p['/api/worker/queue/add-consumer/{workername}'] = {
        'post': _control(
            'Make a worker consume from a queue',
            'addConsumer',
            "The worker's answer (`add consumer <queue>`).",
            "The worker refused: `Failed to add '<q>' consumer to '<w>' worker: <reason>`.",
            [queue],
        )
    }
    p['/api/worker/queue/cancel-consumer/{workername}'] = {
        'post': _control(
            'Make a worker stop consuming from a queue',
            'cancelConsumer',
            "The worker's answer (`no longer consuming from <queue>`).",
            "The worker refused: `Failed to cancel '<q>' consumer from '<w>' worker: <reason>`.",
            [queue],
        )
    }

    p['/api/tasks'] = {
        'get': _operation(
            'Tasks seen in events, newest first',
            operation_id='listTasks',
            description='A JSON object keyed by task id, in the order asked for.',
            parameters=[
                _query('limit', {'type': 'integer', 'minimum': 0}, 'At most this many tasks (ASCII digits).'),
                _query(
                    'offset', {'type': 'integer'}, 'Skip this many (ASCII digits, `-` allowed: negative counts as 0).'
                ),
                _query('workername', {'type': 'string'}, 'Only tasks of this worker (case-insensitive).'),
                _query('taskname', {'type': 'string'}, 'Only tasks with this name (case-insensitive).'),
                _query('state', {'type': 'string'}, 'Only tasks in this state (`All` for any).'),
                _query(
                    'received_start',
                    {'type': 'string', 'pattern': MINUTE_OR_EMPTY_PATTERN, 'example': '2024-01-31 13:45'},
                    'Received at or after (`YYYY-MM-DD HH:MM`, server local time; a real date: `2024-02-30` '
                    'is refused; empty: no bound).',
                ),
                _query(
                    'received_end',
                    {'type': 'string', 'pattern': MINUTE_OR_EMPTY_PATTERN, 'example': '2024-01-31 14:45'},
                    'Received before (`YYYY-MM-DD HH:MM`, server local time; a real date; empty: no bound).',
                ),
                _query(
                    'sort_by',
                    {
                        'type': 'string',
                        'enum': [
                            'name',
                            'state',
                            'received',
                            'started',
                            '-name',
                            '-state',
                            '-received',
                            '-started',
                            '',
                        ],
                    },
                    'Order (empty: the default, newest first).',
                ),
                _query(
                    'search',
                    {'type': 'string'},
                    'Search query: terms, `name:`, `state:`, `worker:`, `args:`, `kwargs:k=v`, `result:`, '
                    '`exception:`, `traceback:`, `AND`, `OR`, parentheses, double quotes.',
                ),
            ],
            responses={
                '200': _json('Tasks by id.', {'type': 'object', 'additionalProperties': _ref('Task')}),
                '400': {
                    'description': 'A parameter is invalid (text), or the search query is not valid (JSON '
                    '`{"error": "<message>"}`).',
                    'content': {
                        'text/plain': {'schema': {'type': 'string', 'minLength': 1}},
                        JSON: {'schema': _ref('SearchError')},
                    },
                },
            },
        )
    }
    p['/api/task/types'] = {
        'get': _operation(
            'Task names seen in events',
            operation_id='listTaskTypes',
            responses={
                '200': _json(
                    'Sorted task names.',
                    {
                        'type': 'object',
                        'required': ['task-types'],
                        'properties': {'task-types': {'type': 'array', 'items': {'type': 'string'}}},
                    },
                )
            },
        )
    }
    p['/api/queues/length'] = {
        'get': _operation(
            "Messages waiting in the broker's queues",
            tag='queues',
            operation_id='queueLengths',
            description='`active_queues` lists the queues the workers consume, those in `task_queues`, '
            '`task_default_queue` and `task_routes`, those named by `task-sent` events and, on RabbitMQ, '
            "every other queue of the vhost (Celery's event and pidbox queues left out): a queue with "
            'messages and no consumer shows. Beyond Flower, `source` says where the numbers were read '
            '(`redis`, `management-api`, `amqp`, `filesystem`) and `source_note` why a fallback was used: '
            'RabbitMQ is read over AMQP (a passive queue declare: ready messages and consumers of the '
            'known queues only) when its management API is missing or refuses.',
            responses={
                '200': _json(
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
                            'source_note': _nullable(
                                'string', description='Why a fallback source was used (not in Flower).'
                            ),
                        },
                    },
                ),
                '501': _text(
                    "The broker's transport has no queue-length support: `'<transport>' broker is not "
                    'supported` (Flower answers 404).'
                ),
                '503': _text(
                    'The broker (or its management API) cannot tell now; the message says why, for example '
                    '`Redis at 127.0.0.1:6379/0 could not be reached: ...`.'
                ),
            },
            errors=BROKER_ERRORS,
        )
    }
    p['/api/task/info/{taskid}'] = {
        'get': _operation(
            'One task as seen in events',
            operation_id='taskInfo',
            parameters=[TASK_ID],
            description='A task no event showed but the result backend knows (any state but PENDING) is answered '
            'from the backend: `uuid`, `state`, `result` (or `exception`) and `traceback`, the other '
            'fields null, and `"source": "result_backend"` (not in Flower).',
            responses={
                '200': _json('The task.', _ref('Task')),
                '404': _text("Unknown task: `Unknown task '<id>'` (unknown to the result backend too)."),
                '503': _text(
                    'The task is not in the events and the result backend cannot be reached; the message says why.'
                ),
            },
        )
    }

    unknown_task_name = _text("The task is not registered here: `Unknown task '<name>'`.")
    p['/api/task/apply/{taskname}'] = {
        'post': _operation(
            'Run a task and wait for its result',
            operation_id='applyTask',
            parameters=[TASK_NAME],
            body=_apply_body(wait=True),
            mutating=True,
            errors=BROKER_ERRORS,
            description=f'Waits at most `timeout` seconds (default {DEFAULT_APPLY_TIMEOUT:g}); then answers 202 with '
            'the task id and its state so far.',
            responses={
                '200': _json('The task finished.', _ref('ApplyResult')),
                '202': _json('The wait ran out; the task is still going.', _ref('ApplyResult')),
                '400': BAD_CALL,
                '404': unknown_task_name,
            },
        )
    }
    p['/api/task/async-apply/{taskname}'] = {
        'post': _operation(
            'Send a registered task',
            operation_id='asyncApplyTask',
            parameters=[TASK_NAME],
            body=_apply_body(wait=False),
            mutating=True,
            errors=BROKER_ERRORS,
            responses={'200': _json('The task was sent.', _ref('TaskSent')), '400': BAD_CALL, '404': unknown_task_name},
        )
    }
    p['/api/task/send-task/{taskname}'] = {
        'post': _operation(
            'Send a task by name (it need not be registered here)',
            operation_id='sendTask',
            parameters=[_path('taskname', 'Any task name.', 'tasks.add')],
            body=_apply_body(wait=False),
            mutating=True,
            errors=BROKER_ERRORS,
            responses={'200': _json('The task was sent.', _ref('TaskSent')), '400': BAD_BODY},
        )
    }
    p['/api/task/result/{taskid}'] = {
        'get': _operation(
            "A task's result from the result backend",
            operation_id='taskResult',
            parameters=[
                TASK_ID,
                _query(
                    'timeout',
                    {'type': 'number', 'minimum': 0, 'maximum': MAX_WAIT},
                    'Wait up to this many seconds for the result.',
                ),
            ],
            errors=BROKER_ERRORS,
            responses={
                '200': _json('The state, and the result once there is one.', _ref('TaskResult')),
                '400': _text('`timeout` is not a number of seconds in range.'),
            },
        )
    }
    p['/api/task/abort/{taskid}'] = {
        'post': _operation(
            'Ask an abortable task to stop',
            operation_id='abortTask',
            parameters=[TASK_ID],
            mutating=True,
            errors=BROKER_ERRORS,
            description='Marks the task ABORTED in the result backend; an `AbortableTask` sees it and stops.',
            responses={'200': _json("`Aborted '<id>'`.", _ref('Message'))},
        )
    }
    p['/api/task/timeout/{taskname}'] = {
        'post': _operation(
            "Set a task's time limits on a worker",
            operation_id='setTaskTimeLimit',
            parameters=[
                TASK_NAME,
                _query('workername', {'type': 'string', 'minLength': 1}, 'The worker.', required=True),
                _query('hard', {'type': 'number', 'minimum': 0, 'maximum': MAX_DELAY}, 'Hard time limit in seconds.'),
                _query('soft', {'type': 'number', 'minimum': 0, 'maximum': MAX_DELAY}, 'Soft time limit in seconds.'),
            ],
            mutating=True,
            errors=BROKER_ERRORS,
            responses={
                '200': _json("The worker's answer (`time limits set successfully`).", _ref('Message')),
                '400': _text('`Missing argument workername`, or a limit is not a number of seconds.'),
                '403': _text("The worker refused: `Failed to set timeouts: '<reason>'`."),
                '404': _text("Unknown task name or worker: `Unknown task '<name>'`, `Unknown worker '<name>'`."),
            },
        )
    }
    p['/api/task/rate-limit/{taskname}'] = {
        'post': _operation(
            "Set a task's rate limit on a worker",
            operation_id='setTaskRateLimit',
            parameters=[
                TASK_NAME,
                _query('workername', {'type': 'string', 'minLength': 1}, 'The worker.', required=True),
                _query(
                    'ratelimit',
                    {'type': 'string', 'pattern': RATE_PATTERN, 'example': '10/m'},
                    'Tasks per second, or per `s`, `m`, `h` (`10/m`); `0` removes the limit.',
                    required=True,
                ),
            ],
            mutating=True,
            errors=BROKER_ERRORS,
            responses={
                '200': _json("The worker's answer (`new rate limit set successfully`).", _ref('Message')),
                '400': _text('`Missing argument workername`, or the rate limit is malformed.'),
                '403': _text("The worker refused: `Failed to set rate limit: '<reason>'`."),
                '404': _text("Unknown task name or worker: `Unknown task '<name>'`, `Unknown worker '<name>'`."),
            },
        )
    }
    p['/api/task/revoke/{taskid}'] = {
        'post': _operation(
            'Revoke a task, optionally terminating it',
            operation_id='revokeTask',
            parameters=[
                TASK_ID,
                _query('terminate', {'type': 'boolean', 'default': False}, 'Also kill the process running it.'),
                _query(
                    'signal',
                    {'type': 'string', 'enum': sorted(SIGNAL_SPELLINGS), 'default': 'SIGTERM', 'example': 'SIGKILL'},
                    'Signal for `terminate`: its upper-case name with or without `SIG`, or its number.',
                ),
            ],
            mutating=True,
            errors=BROKER_ERRORS,
            description='A task that has not started (waiting for its ETA or countdown, or prefetched) stays RECEIVED '
            'until the worker reports `task-revoked`, which celery sends when the task comes due; until '
            'then the task carries `"revoked_pending": true` in `/api/task/info` and `/api/tasks`, and '
            'its page shows a *revoke pending* badge. Not marked: a finished or unknown task, and a '
            'started one unless `terminate` is set.',
            responses={
                '200': _json("`Revoked '<id>'`.", _ref('Message')),
                '400': _text('`terminate` is not a boolean or `signal` is not a signal.'),
            },
        )
    }
    p['/api/task/retry/{taskid}'] = {
        'post': _operation(
            'Send a finished task again',
            operation_id='retryTask',
            parameters=[TASK_ID],
            mutating=True,
            errors=BROKER_ERRORS,
            description="Re-sends the task with the name, args, kwargs and routing its events reported. The args are "
            "read from the events' text with a literal parser; when they cannot be recovered exactly "
            '(truncated, shortened by Celery, not literals) the answer is 409 with the reason.',
            responses={
                '200': _json('The new task was sent.', _ref('RetryResult')),
                '404': _text("Unknown task: `Unknown task '<id>'`."),
                '409': _text('The task is not finished, or its call cannot be recovered; the message says why.'),
            },
        )
    }
    p['/api/diagnosis'] = {
        'get': _operation(
            'What is wrong between the broker, the workers and this server',
            tag='meta',
            operation_id='diagnosis',
            description='The "why is this empty?" answer the workers and tasks pages show: the broker cannot be '
            'reached (with the cause), no event arrived since the server started, workers run tasks but '
            'send no task events (started without `-E`), or workers\' clocks disagree with the '
            "server's. Each finding says how to fix it. `ok` is true and `findings` empty when nothing "
            'is wrong.',
            responses={'200': _json('The findings, most fundamental first.', _ref('Diagnosis'))},
        )
    }
    p['/api/openapi.json'] = {
        'get': _operation(
            'This document',
            tag='meta',
            operation_id='openapi',
            responses={'200': _json('OpenAPI 3 document.', {'type': 'object', 'required': ['openapi', 'paths']})},
        )
    }
    p['/metrics'] = {
        'get': {
            'tags': ['meta'],
            'summary': 'Prometheus metrics',
            'operationId': 'metrics',
            'security': [],
            'responses': {
                '200': {
                    'description': 'Prometheus text format.',
                    'content': {'text/plain': {'schema': {'type': 'string'}}},
                }
            },
        }
    }
    p['/healthcheck'] = {
        'get': {
            'tags': ['meta'],
            'summary': 'Liveness check, or with `ready=1` readiness',
            'operationId': 'healthcheck',
            'security': [],
            'description': 'Without `ready` (or with a false value) it answers `OK` as long as the server runs '
            '(liveness, as Flower). With `ready=1` it answers `OK` only while the event stream from '
            'the broker is connected, and 503 otherwise, also before the first connection: for '
            'Kubernetes readiness probes.',
            'parameters': [
                _query(
                    'ready',
                    {'type': 'string', 'enum': list(READY_VALUES)},
                    'A true value (`1`, `true`, `yes`) asks for readiness; a false one (`0`, `false`, '
                    '`no`) is the plain liveness answer.',
                )
            ],
            'responses': {
                '200': {
                    'description': '`OK`.',
                    'content': {'text/html': {'schema': {'type': 'string', 'enum': ['OK']}}},
                },
                '400': _text(
                    "`ready` is not one of the accepted values: `Invalid argument '<value>' for 'ready': ...`."
                ),
                '503': _text(
                    'With `ready=1`, the event stream is not connected: `NOT READY: event stream '
                    'down since <UTC time>: <cause>` (the cause is connection refused, reset or '
                    'closed by the broker, Redis cutting a slow subscriber off, or the error '
                    'itself).'
                ),
            },
        }
    }
    return p


def _schemas() -> dict:
    ts = _nullable('number', description='Unix time')
    text = _nullable('string')
    task = {
        'type': 'object',
        'required': ['uuid', 'state'],
        'properties': {
            'uuid': {'type': 'string'},
            'name': text,
            'state': {'type': 'string'},
            'received': ts,
            'sent': ts,
            'started': ts,
            'rejected': ts,
            'succeeded': ts,
            'failed': ts,
            'retried': ts,
            'revoked': ts,
            'args': _nullable('string', description='repr of the positional arguments, as the event carried it'),
            'kwargs': _nullable('string', description='repr of the keyword arguments'),
            'eta': text,
            'expires': text,
            'retries': _nullable('integer'),
            'worker': {'type': 'string', 'description': 'hostname of the worker (absent when unknown)'},
            'result': _nullable('string', description='repr of the result'),
            'exception': text,
            'timestamp': ts,
            'runtime': _nullable('number'),
            'traceback': text,
            'exchange': text,
            'routing_key': text,
            'clock': {'type': 'integer'},
            'client': text,
            'root': text,
            'root_id': text,
            'parent': text,
            'parent_id': text,
            'children': {'type': 'array', 'items': {'type': 'string'}},
            'source': {
                'type': 'string',
                'enum': ['result_backend'],
                'description': 'Not in Flower. Present only when no event showed the task and the answer '
                'comes from the result backend.',
            },
            'revoked_pending': {
                'type': 'boolean',
                'description': 'Not in Flower. Present (true) from a revoke through this server '
                'until the worker reports how the task ended; a task waiting for '
                'its ETA stays RECEIVED until then.',
            },
            'truncated': {
                'type': 'object',
                'additionalProperties': False,
                'description': 'Present only when a text is not whole: for each cut field (`args`, `kwargs`, '
                '`result`, `exception`, `traceback`) how much of it is kept. That field holds '
                'the kept start, without any marker. `by` is who lost the rest first: `celery` '
                "when Celery shortened the repr before sending it (its `argsrepr` limit, 1024 "
                'characters by default), `server` when `--task_args_max_length` cut it here; '
                '`received` is how many characters the server received, when it cut them.',
                'properties': {
                    key: {
                        'type': 'object',
                        'required': ['kept', 'by'],
                        'additionalProperties': False,
                        'properties': {
                            'kept': {'type': 'integer', 'minimum': 0},
                            'by': {'type': 'string', 'enum': ['celery', 'server']},
                            'received': {'type': 'integer', 'minimum': 0},
                        },
                    }
                    for key in ('args', 'kwargs', 'result', 'exception', 'traceback')
                },
                'example': {'args': {'kept': 1024, 'by': 'celery', 'received': 1031}},
            },
        },
        'additionalProperties': True,
    }
    return {
        'Message': {'type': 'object', 'required': ['message'], 'properties': {'message': {'type': 'string'}}},
        'SearchError': {'type': 'object', 'required': ['error'], 'properties': {'error': {'type': 'string'}}},
        'Task': task,
        'WorkerInfo': {
            'type': 'object',
            'additionalProperties': True,
            'properties': {
                'stats': {'type': 'object'},
                'active_queues': {'type': 'array'},
                'registered': REGISTERED,
                'scheduled': {'type': 'array'},
                'active': {'type': 'array'},
                'reserved': {'type': 'array'},
                'revoked': {'type': 'array'},
                'conf': {'type': 'object'},
                'timestamp': {'type': 'number'},
            },
        },
        'TaskSent': {
            'type': 'object',
            'required': ['task-id'],
            'properties': {
                'task-id': {'type': 'string'},
                'state': {'type': 'string', 'description': 'present when a result backend is set'},
            },
        },
        'TaskResult': {
            'type': 'object',
            'required': ['task-id', 'state'],
            'properties': {
                'task-id': {'type': 'string'},
                'state': {'type': 'string'},
                'result': {
                    'description': 'the value (or the repr of what JSON cannot carry); present once the task is ready'
                },
                'traceback': _nullable('string', description='on FAILURE'),
            },
        },
        'ApplyResult': {
            'type': 'object',
            'required': ['task-id', 'state', 'result'],
            'properties': {
                'task-id': {'type': 'string'},
                'state': {'type': 'string'},
                'result': {'description': 'the value, or null when the wait ran out'},
                'traceback': _nullable('string', description='on FAILURE'),
                'timed-out': {'type': 'boolean', 'description': 'true when the wait ran out'},
                'message': {'type': 'string'},
            },
        },
        'Diagnosis': {
            'type': 'object',
            'required': ['ok', 'findings'],
            'additionalProperties': False,
            'properties': {
                'ok': {'type': 'boolean', 'description': 'true when there are no findings'},
                'findings': {
                    'type': 'array',
                    'items': {
                        'type': 'object',
                        'additionalProperties': False,
                        'required': ['code', 'severity', 'title', 'detail', 'fix', 'workers'],
                        'properties': {
                            'code': {'type': 'string', 'enum': list(FINDING_CODES)},
                            'severity': {
                                'type': 'string',
                                'enum': ['error', 'warning'],
                                'description': '`error`: nothing can be shown; `warning`: part of it is '
                                'missing or wrong',
                            },
                            'title': {'type': 'string'},
                            'detail': {'type': 'string'},
                            'fix': {'type': 'string', 'description': 'what to do about it'},
                            'workers': {
                                'type': 'array',
                                'items': {'type': 'string'},
                                'description': 'the workers concerned (empty when not about workers)',
                            },
                        },
                    },
                },
            },
        },
        'RetryResult': {
            'type': 'object',
            'required': ['task-id', 'retry-of', 'name', 'message'],
            'properties': {
                'task-id': {'type': 'string'},
                'retry-of': {'type': 'string'},
                'name': {'type': 'string'},
                'message': {'type': 'string'},
            },
        },
    }


def document(url_prefix: str | None = None, limits: PoolLimits = PoolLimits(), basic_auth: bool = False) -> dict:
    """The OpenAPI 3 document, with the server under ``url_prefix`` and the pool ``limits`` it enforces. With
    ``basic_auth`` (the server has ``--basic_auth``) credentials are required, as the server requires them;
    otherwise they are optional (an open API, or OAuth's session cookie)."""
    return {
        'openapi': '3.0.3',
        'info': {
            'title': 'Flower API',
            'version': __version__,
            'description': 'Monitor and control a Celery cluster. Without `--basic_auth` or `--auth` the API '
            'answers only when FLOWER_UNAUTHENTICATED_API is set. Parameters of POST requests '
            'may also be sent as a form body. In `--read_only` mode every state-changing call is '
            '403.',
        },
        'servers': [{'url': '/' + (url_prefix or '').strip('/')}],
        'tags': [{'name': 'workers'}, {'name': 'tasks'}, {'name': 'queues'}, {'name': 'meta'}],
        'paths': _paths(limits),
        'components': {
            'schemas': _schemas(),
            'securitySchemes': {'basicAuth': {'type': 'http', 'scheme': 'basic'}},
        },
        'security': [{'basicAuth': []}] if basic_auth else [{'basicAuth': []}, {}],
    }


class OpenApiDocument(BaseApiHandler):
    def get(self):
        options = self.application.options
        self.write_json(
            document(
                options.url_prefix,
                PoolLimits(step=options.max_pool_step, cap=options.max_pool_size),
                basic_auth=self.identity.basic_enabled,
            )
        )
