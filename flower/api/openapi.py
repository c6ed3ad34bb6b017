"""``GET /api/openapi.json``: an OpenAPI 3 description of the whole HTTP API.

The document is derived from the handlers it describes: each API handler declares its operation once, in its
``endpoint`` (:class:`flower.api.spec.Endpoint`: path, parameters, body, answers), the declaration its own
parameter parsing uses too. Written here are only what no handler declares: the shared schemas of
``components``, the document's frame, and the two public pages ``/metrics`` and ``/healthcheck``. A test keeps
it true: every ``/api/`` route in :data:`flower.urls.handlers` (and ``/metrics``, ``/healthcheck``) is described
with the methods its handler implements, and every described path is a route. Bodies of errors are the plain-text messages of
:class:`flower.api.BaseApiHandler` (never empty); the only JSON error is a search syntax error on
``/api/tasks``.

To add an endpoint: give its handler an ``endpoint``, parse with ``self.arguments()``, add the handler to
:data:`API_HANDLERS` and its route to :mod:`flower.urls`, and run ``python scripts/gen_docs.py`` for
docs/api.md (docs/extending.md shows an example).

The document is as strict as the server: the patterns of dates and names are the very ones
:mod:`flower.utils.strict` parses with, the signal enum is what revoke accepts, and the pool limits
(``maximum`` of ``n``, ``min``, ``max``) are the running server's options, so the served document is built per
request. Every status an operation can answer is listed (500/503 where the broker or backend is called).

Runs on the IOLoop thread.
"""

from __future__ import annotations


from flower import __version__
from flower.api import BaseApiHandler
from flower.api.control import (
    TaskRateLimit,
    TaskRevoke,
    TaskTimeout,
    WorkerPoolAutoscale,
    WorkerPoolGrow,
    WorkerPoolRestart,
    WorkerPoolShrink,
    WorkerQueueAddConsumer,
    WorkerQueueCancelConsumer,
    WorkerShutDown,
)
from flower.api.diagnosis import GetDiagnosis
from flower.api.spec import Endpoint, Param, json_response, nullable, text_response
from flower.api.tasks import (
    GetQueueLengths,
    ListTasks,
    ListTaskTypes,
    TaskAbort,
    TaskApply,
    TaskAsyncApply,
    TaskInfo,
    TaskResult,
    TaskRetry,
    TaskSend,
)
from flower.api.workers import ListWorkers
from flower.control import PoolLimits
from flower.diagnosis import FINDING_CODES
from flower.views.monitor import READY_VALUES

# Every API handler, in the document's order; each declares its operation (``endpoint``, flower.api.spec).
API_HANDLERS: tuple[type[BaseApiHandler], ...] = (
    ListWorkers,
    WorkerShutDown,
    WorkerPoolRestart,
    WorkerPoolGrow,
    WorkerPoolShrink,
    WorkerPoolAutoscale,
    WorkerQueueAddConsumer,
    WorkerQueueCancelConsumer,
    ListTasks,
    ListTaskTypes,
    GetQueueLengths,
    TaskInfo,
    TaskApply,
    TaskAsyncApply,
    TaskSend,
    TaskResult,
    TaskAbort,
    TaskTimeout,
    TaskRateLimit,
    TaskRevoke,
    TaskRetry,
    GetDiagnosis,
)

# Celery's strings: a task's name, then ` [key=value ...]` for its own rate limit, exchange or routing key
REGISTERED = {
    'type': 'array',
    'items': {'type': 'string'},
    'example': ['tasks.add', 'tasks.limited [rate_limit=100/m]'],
    'description': "The worker's tasks as Celery reports them: the name, then ` [key=value ...]` when "
    "the task has its own rate limit, exchange or routing key. Only the name (before "
    "` [`) is a task name; the control endpoints accept either.",
}


def _paths(limits: PoolLimits) -> dict:
    """Every operation declared by an API handler, then the two public pages of :mod:`flower.views.monitor`
    (not API handlers, so written here)."""
    p: dict[str, dict] = {}
    handlers: tuple[type[BaseApiHandler], ...] = (*API_HANDLERS, OpenApiDocument)
    for handler in handlers:
        endpoint = handler.endpoint
        assert endpoint is not None, handler
        p.setdefault(endpoint.path, {})[endpoint.method] = endpoint.operation(limits, mutating=handler.mutating)
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
                Param(
                    'ready',
                    'A true value (`1`, `true`, `yes`) asks for readiness; a false one (`0`, `false`, '
                    '`no`) is the plain liveness answer.',
                    schema={'enum': list(READY_VALUES)},
                ).openapi(limits)
            ],
            'responses': {
                '200': {
                    'description': '`OK`.',
                    'content': {'text/html': {'schema': {'type': 'string', 'enum': ['OK']}}},
                },
                '400': text_response(
                    "`ready` is not one of the accepted values: `Invalid argument '<value>' for 'ready': ...`."
                ),
                '503': text_response(
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
    ts = nullable('number', description='Unix time')
    text = nullable('string')
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
            'args': nullable('string', description='repr of the positional arguments, as the event carried it'),
            'kwargs': nullable('string', description='repr of the keyword arguments'),
            'eta': text,
            'expires': text,
            'retries': nullable('integer'),
            'worker': {'type': 'string', 'description': 'hostname of the worker (absent when unknown)'},
            'result': nullable('string', description='repr of the result'),
            'exception': text,
            'timestamp': ts,
            'runtime': nullable('number'),
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
                'traceback': nullable('string', description='on FAILURE'),
            },
        },
        'ApplyResult': {
            'type': 'object',
            'required': ['task-id', 'state', 'result'],
            'properties': {
                'task-id': {'type': 'string'},
                'state': {'type': 'string'},
                'result': {'description': 'the value, or null when the wait ran out'},
                'traceback': nullable('string', description='on FAILURE'),
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
    endpoint = Endpoint(
        '/api/openapi.json',
        'This document',
        'openapi',
        tag='meta',
        responses={'200': json_response('OpenAPI 3 document.', {'type': 'object', 'required': ['openapi', 'paths']})},
    )

    def get(self):
        options = self.application.options
        self.write_json(
            document(
                options.url_prefix,
                PoolLimits(step=options.max_pool_step, cap=options.max_pool_size),
                basic_auth=self.identity.basic_enabled,
            )
        )
