"""An API endpoint's contract, declared once: its path, parameters, body and answers.

Every ``/api/*`` handler carries an :class:`Endpoint` in its ``endpoint`` attribute. From that one declaration

* the handler parses its query (or form) parameters: ``args = self.arguments()`` (:meth:`Endpoint.parse`)
  converts each :class:`Param` with its type and bounds, and runs its ``check``; a missing required parameter,
  a value that does not convert or is out of bounds is a 400 whose words are
  :meth:`flower.views.BaseHandler.get_typed_argument`'s (the same code parses both);
* :mod:`flower.api.openapi` writes the operation of ``/api/openapi.json`` (:meth:`Endpoint.operation`): path
  and query parameters with their schemas, the request body, the answers;
* ``scripts/gen_docs.py`` writes ``docs/api.md`` from that document.

A JSON body is declared by a function that returns its ``requestBody`` (apply/async-apply/send-task take theirs
from :data:`flower.control.apply.APPLY_OPTION_SPECS`, where the body is also validated).

What a parameter's ``check`` enforces beyond type and bounds (a name's pattern, a signal's spellings) is written
for the document in ``schema``; the check raises the 400 with its own words. Bounds that are options of the
running server (``--max_pool_step``) are functions of the server's :class:`~flower.control.PoolLimits`, resolved
per request for parsing and per document for ``/api/openapi.json``.

Plain data and pure functions: parsing runs on the IOLoop thread, in the handler's request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable, Mapping, Union

from flower.control import PoolLimits
from flower.control.apply import NAME_SCHEMA

JSON = 'application/json'
OPENAPI_TYPES = {str: 'string', int: 'integer', float: 'number', bool: 'boolean'}

#: a bound given as a number, or read from the running server's pool limits
Bound = Union[float, int, Callable[[PoolLimits], float], None]


def text_response(description: str) -> dict:
    """An answer whose body is a plain-text message (every error of the API)."""
    return {'description': description, 'content': {'text/plain': {'schema': {'type': 'string', 'minLength': 1}}}}


def json_response(description: str, schema: dict) -> dict:
    return {'description': description, 'content': {JSON: {'schema': schema}}}


def ref(name: str) -> dict:
    """A schema of ``components/schemas`` (see :mod:`flower.api.openapi`)."""
    return {'$ref': f'#/components/schemas/{name}'}


def nullable(type_: str, **extra) -> dict:
    return {'type': type_, 'nullable': True, **extra}


# a name AMQP can carry and a log line can show: the server checks exactly this pattern
NAME = NAME_SCHEMA

ERRORS = {
    '401': text_response(
        'The API is not enabled: configure authentication or set FLOWER_UNAUTHENTICATED_API, or the '
        'credentials are wrong.'
    ),
    '500': text_response(
        'The call to the broker or the result backend failed in an unexpected way; the message says which call and why.'
    ),
    '503': text_response(
        'The broker or the result backend is unavailable (`Broker or result backend unavailable`), '
        'or the operation needs a result backend and none is configured.'
    ),
}
#: the errors of an operation that calls the broker or the result backend (through the server's blocking runner)
BROKER_ERRORS = ('401', '500', '503')
READ_ONLY_REFUSAL = 'Read only mode is enabled (`--read_only`)'


def _resolve(bound: Bound, limits: PoolLimits) -> float | None:
    return bound(limits) if callable(bound) else bound


@dataclass(frozen=True)
class Param:
    """One parameter. ``where`` is ``query`` (also read from a form body, as every handler's arguments are) or
    ``path`` (a group of the route, passed to the handler method; declared for the document)."""

    name: str
    #: or a function of the server's pool limits, for a text that quotes them
    description: str | Callable[[PoolLimits], str]
    type: type = str
    #: the value when the parameter is not sent (ignored when ``required``)
    default: Any = None
    required: bool = False
    #: numbers only: enforced while parsing, with strict's words (``Invalid n '0': expected ...``)
    minimum: Bound = None
    maximum: Bound = None
    #: applied to the converted value (not to a missing one); returns the value to use, raises the 400
    check: Callable[[Any], Any] | None = None
    #: more of the OpenAPI schema: what ``check`` enforces (pattern, enum, length) and an example
    schema: Mapping[str, Any] = field(default_factory=dict)
    where: str = 'query'
    example: Any = None

    def parse(self, handler, limits: PoolLimits) -> Any:
        """The value of this parameter in ``handler``'s request (see the module docstring)."""
        minimum, maximum = _resolve(self.minimum, limits), _resolve(self.maximum, limits)
        if self.required:  # no default: missing is get_typed_argument's 400 'Missing argument <name>'
            value = handler.get_typed_argument(self.name, self.type, minimum=minimum, maximum=maximum)
        else:
            value = handler.get_typed_argument(self.name, self.type, self.default, minimum=minimum, maximum=maximum)
        if self.check is not None and value is not None:
            value = self.check(value)
        return value

    def openapi(self, limits: PoolLimits) -> dict:
        """The parameter object of the OpenAPI document."""
        schema: dict[str, Any] = {'type': OPENAPI_TYPES.get(self.type, 'string')}
        if self.where == 'path':
            schema['minLength'] = 1
        for key, bound in (('minimum', self.minimum), ('maximum', self.maximum)):
            value = _resolve(bound, limits)
            if value is not None:
                schema[key] = value
        schema.update(self.schema)
        if self.default is not None and not self.required:
            schema['default'] = self.default
        param = {
            'name': self.name,
            'in': self.where,
            'required': self.required or self.where == 'path',
            'description': self.description(limits) if callable(self.description) else self.description,
            'schema': schema,
        }
        if self.example is not None:
            param['example'] = self.example
        return param


def path_param(name: str, description: str, example: str) -> Param:
    return Param(name, description, where='path', required=True, example=example)


WORKER = path_param(
    'workername', "The worker's hostname as it reports itself (for example `celery@host`).", 'celery@worker1'
)
TASK_ID = path_param('taskid', 'A task id.', '0b4ac0c2-5f0c-4d38-9d6f-0ad1c4c2e6d1')
TASK_NAME = path_param('taskname', 'A registered task name.', 'tasks.add')


@dataclass(frozen=True)
class Endpoint:
    """One operation of the API: ``method`` on ``path`` (``{name}`` for each path parameter, in the order of the
    route's groups), its :class:`Param` list, an optional ``body`` (a function returning the ``requestBody``, so
    that what it lists is read when the document is built) and its documented ``responses``. ``errors`` adds the
    shared answers of :data:`ERRORS`; a state-changing handler (``mutating``, not GET) gets the read-only 403."""

    path: str
    summary: str
    operation_id: str
    responses: Mapping[str, dict]
    params: tuple[Param, ...] = ()
    method: str = 'get'
    tag: str = 'tasks'
    description: str | None = None
    body: Callable[[], dict] | None = None
    errors: tuple[str, ...] = ('401',)

    @property
    def query(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.where == 'query')

    def parse(self, handler, limits: PoolLimits | None = None) -> SimpleNamespace:
        """Every query parameter of ``handler``'s request, parsed in the declared order: ``args.<name>``."""
        limits = limits or PoolLimits()
        return SimpleNamespace(**{p.name: p.parse(handler, limits) for p in self.query})

    def operation(self, limits: PoolLimits, mutating: bool = False) -> dict:
        """The OpenAPI operation object; ``mutating``: the handler is refused in ``--read_only`` mode."""
        op: dict[str, Any] = {'tags': [self.tag], 'summary': self.summary, 'operationId': self.operation_id}
        responses = {code: dict(answer) for code, answer in self.responses.items()}
        op['responses'] = responses
        if self.description:
            op['description'] = self.description
        if self.params:
            op['parameters'] = [p.openapi(limits) for p in self.params]
        if self.body is not None:
            op['requestBody'] = self.body()
        for code in self.errors:
            responses.setdefault(code, ERRORS[code])
        if mutating and self.method != 'get':
            existing = responses.get('403')
            if existing:
                existing['description'] = f'{existing["description"]} Also: {READ_ONLY_REFUSAL}.'
            else:
                responses['403'] = text_response(f'{READ_ONLY_REFUSAL}.')
        return op
