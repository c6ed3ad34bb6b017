"""flower.api.spec without HTTP: one declaration gives a handler its parsing and the document its parameters, and
every API route's handler carries the declaration of that very route."""

from __future__ import annotations

import re

import pytest
import tornado.web

from flower import control, urls
from flower.api import BaseApiHandler
from flower.api.openapi import API_HANDLERS, OpenApiDocument
from flower.api.spec import Endpoint, Param, json_response
from flower.control import PoolLimits
from flower.views import BaseHandler


class Request:
    """Just enough of a handler for Param.parse: its arguments, read by BaseHandler's own parsing."""

    get_typed_argument = BaseHandler.get_typed_argument

    def __init__(self, **arguments):
        self.arguments = arguments

    def raw_argument(self, name):
        return self.arguments.get(name)


NOTES = Endpoint(
    '/api/notes/{taskid}',
    'Notes',
    'notes',
    {'200': json_response('The notes.', {'type': 'array'})},
    params=(
        Param('taskid', 'A task id.', where='path', required=True),
        Param('limit', 'At most this many.', int, default=10, minimum=1, maximum=lambda limits: limits.step),
        Param('author', 'Whose.', required=True, check=lambda name: name.lower(), schema={'minLength': 1}),
        Param('tidy', 'Tidy up.', bool, default=False),
    ),
)


def test_parsing_converts_checks_and_fills_defaults():
    args = NOTES.parse(Request(author='ANN', limit='3'), PoolLimits(step=5))
    assert vars(args) == {'limit': 3, 'author': 'ann', 'tidy': False}  # path parameters come from the route


@pytest.mark.parametrize(
    'arguments, message',
    [
        ({}, 'Missing argument author'),
        ({'author': 'a', 'limit': '6'}, "Invalid limit '6': expected a whole number from 1 to 5"),
        ({'author': 'a', 'limit': ' 3'}, "Invalid argument ' 3' of type 'int'"),
        ({'author': 'a', 'tidy': 'maybe'}, "Invalid argument 'maybe' of type 'bool'"),
    ],
)
def test_bad_input_is_a_400_in_get_typed_arguments_words(arguments, message):
    with pytest.raises(tornado.web.HTTPError) as refused:
        NOTES.parse(Request(**arguments), PoolLimits(step=5))
    assert (refused.value.status_code, refused.value.log_message) == (400, message)


def test_a_check_refusing_a_value_is_the_checks_400():
    endpoint = Endpoint(
        '/x', 's', 'x', {}, params=(Param('queue', 'q', check=lambda v: control.short_name(v, 'queue')),)
    )
    with pytest.raises(control.InvalidInput, match='queue'):
        endpoint.parse(Request(queue=' leading space'))


def test_the_document_says_what_parsing_enforces():
    op = NOTES.operation(PoolLimits(step=5))
    params = {p['name']: p for p in op['parameters']}
    assert params['taskid'] == {
        'name': 'taskid',
        'in': 'path',
        'required': True,
        'description': 'A task id.',
        'schema': {'type': 'string', 'minLength': 1},
    }
    assert params['limit']['schema'] == {'type': 'integer', 'minimum': 1, 'maximum': 5, 'default': 10}
    assert params['author']['required'] is True and params['author']['schema'] == {'type': 'string', 'minLength': 1}
    assert params['tidy']['schema'] == {'type': 'boolean', 'default': False}
    assert op['responses']['401']['content']['text/plain']  # the API gate's answer, added to every operation


def test_a_state_changing_post_documents_the_read_only_refusal():
    endpoint = Endpoint('/x', 's', 'x', {'200': json_response('ok', {})}, method='post')
    assert 'Read only' in endpoint.operation(PoolLimits(), mutating=True)['responses']['403']['description']
    assert '403' not in endpoint.operation(PoolLimits(), mutating=False)['responses']


def _api_routes() -> dict[str, type]:
    routes = {}
    for spec in urls.handlers:
        pattern = spec.regex.pattern.rstrip('$')
        if pattern.startswith('/api/'):
            routes[pattern] = spec.handler_class
    return routes


def test_every_api_route_is_served_by_a_handler_declaring_that_route():
    for pattern, handler in _api_routes().items():
        assert issubclass(handler, BaseApiHandler)
        assert handler in (*API_HANDLERS, OpenApiDocument), handler
        path = re.sub(r'\{[^}]+\}', '{}', handler.endpoint.path)
        assert path == re.sub(r'\(\.[*+]\)', '{}', pattern).replace('\\.', '.'), handler
        method = handler.endpoint.method
        assert getattr(handler, method) is not getattr(tornado.web.RequestHandler, method), handler
