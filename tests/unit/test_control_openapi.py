"""The OpenAPI document stays true to the route table: every API route (and /metrics, /healthcheck) is described
with exactly the methods its handler answers, every described path is a route, state-changing operations say
they are refused in read-only mode, and the document is valid OpenAPI 3."""

from __future__ import annotations

import json
import re

import tornado.web
from openapi_spec_validator import validate

from flower import urls
from flower.api import BaseApiHandler
from flower.api.openapi import document
from flower import control
from flower.control import APPLY_OPTIONS, PoolLimits
from flower.utils import strict

DESCRIBED_OUTSIDE_API = ('/metrics', '/healthcheck')
VERBS = ('get', 'post', 'put', 'patch', 'delete', 'head')


def _routes() -> dict[str, type]:
    """Route patterns written the way the document writes paths (``(.+)`` -> ``{}``)."""
    routes = {}
    for spec in urls.handlers:
        pattern = spec.regex.pattern if isinstance(spec, tornado.web.URLSpec) else spec[0]
        pattern = pattern.rstrip('$')
        if not (pattern.startswith('/api/') or pattern in DESCRIBED_OUTSIDE_API):
            continue
        handler = spec.handler_class if isinstance(spec, tornado.web.URLSpec) else spec[1]
        routes[re.sub(r'\(\.[*+]\)', '{}', pattern).replace('\\.', '.')] = handler
    return routes


def _described() -> dict[str, dict]:
    return {re.sub(r'\{[^}]+\}', '{}', path): operations for path, operations in document()['paths'].items()}


def _implemented(handler: type) -> set[str]:
    return {verb for verb in VERBS if getattr(handler, verb) is not getattr(tornado.web.RequestHandler, verb)}


def test_every_api_route_is_described_and_every_described_path_is_a_route():
    routes, described = _routes(), _described()
    assert len(routes) >= 24
    assert sorted(set(routes) - set(described)) == []
    assert sorted(set(described) - set(routes)) == []


def test_described_methods_are_the_methods_handlers_answer():
    routes, described = _routes(), _described()
    mismatched = {
        path: (sorted(_implemented(handler)), sorted(described[path]))
        for path, handler in routes.items()
        if _implemented(handler) != set(described[path])
    }
    assert mismatched == {}


def test_path_parameters_are_declared_for_every_placeholder():
    for path, operations in document()['paths'].items():
        names = re.findall(r'\{([^}]+)\}', path)
        for operation in operations.values():
            declared = [p['name'] for p in operation.get('parameters', ()) if p['in'] == 'path']
            assert declared == names, path


def test_state_changing_operations_document_the_read_only_refusal():
    routes, described = _routes(), _described()
    for path, handler in routes.items():
        if issubclass(handler, BaseApiHandler) and handler.mutating:
            for verb in _implemented(handler) - {'get', 'head'}:
                assert 'Read only mode is enabled' in described[path][verb]['responses']['403']['description'], path
        else:
            for operation in described[path].values():
                assert 'Read only' not in str(operation.get('responses', {}).get('403', '')), path


def test_every_error_response_has_a_body():
    for path, operations in document()['paths'].items():
        for verb, operation in operations.items():
            for status, response in operation['responses'].items():
                if status.startswith(('4', '5')):
                    text = response['content'].get('text/plain')
                    assert text and text['schema']['minLength'] == 1, (path, verb, status)


def test_the_apply_body_schema_lists_exactly_the_options_accepted():
    paths = document()['paths']
    for name in ('async-apply', 'send-task', 'apply'):
        schema = paths[f'/api/task/{name}/{{taskname}}']['post']['requestBody']['content']['application/json']['schema']
        extra = {'args', 'kwargs'} | ({'timeout'} if name == 'apply' else set())
        assert set(schema['properties']) == set(APPLY_OPTIONS) | extra
        assert schema['additionalProperties'] is False


def test_the_document_is_valid_openapi_3_and_follows_the_url_prefix():
    validate(document())
    assert document()['servers'] == [{'url': '/'}]
    assert document('/flower/')['servers'] == [{'url': '/flower'}]


# -- the document is as strict as the server ----------------------------------------------------------------------
def _parameter(operation: dict, name: str) -> dict:
    return next(p for p in operation['parameters'] if p['name'] == name)['schema']


def test_the_pool_limits_in_the_document_are_the_servers():
    paths = document(limits=PoolLimits(step=4, cap=7))['paths']
    for verb in ('grow', 'shrink'):
        assert _parameter(paths[f'/api/worker/pool/{verb}/{{workername}}']['post'], 'n') == {
            'type': 'integer',
            'minimum': 1,
            'maximum': 4,
            'default': 1,
        }
    autoscale = paths['/api/worker/pool/autoscale/{workername}']['post']
    assert _parameter(autoscale, 'min')['maximum'] == _parameter(autoscale, 'max')['maximum'] == 7
    assert (
        _parameter(document()['paths']['/api/worker/pool/autoscale/{workername}']['post'], 'max')['maximum']
        == control.MAX_PROCESSES
    )  # no cap: the limit that depends on the pool is a documented 409
    for path in ('grow', 'autoscale'):
        assert '409' in paths[f'/api/worker/pool/{path}/{{workername}}']['post']['responses']
    validate(document(limits=PoolLimits(step=4, cap=7)))


def test_the_signal_enum_is_exactly_what_revoke_accepts():
    signal = _parameter(document()['paths']['/api/task/revoke/{taskid}']['post'], 'signal')
    assert set(signal['enum']) == set(control.SIGNAL_SPELLINGS)
    assert {'SIGKILL', 'KILL', '9', 'SIGTERM', 'TERM', '15'} <= set(signal['enum'])
    for value in signal['enum']:
        assert control.signal_name(value).startswith('SIG')
    assert not {'kill', 'sigkill', '', ' KILL'} & set(signal['enum'])


def test_the_date_and_name_patterns_are_the_ones_the_server_parses_with():
    tasks = document()['paths']['/api/tasks']['get']
    for bound in ('received_start', 'received_end'):
        pattern = _parameter(tasks, bound)['pattern']
        assert pattern == strict.MINUTE_OR_EMPTY_PATTERN
        assert re.search(pattern, '2024-02-29 10:00') and re.search(pattern, '')
        assert not re.search(pattern, '2024-02-30 10:00')
    queue = _parameter(document()['paths']['/api/worker/queue/add-consumer/{workername}']['post'], 'queue')
    assert queue['pattern'] == strict.NAME_PATTERN
    body = document()['paths']['/api/task/async-apply/{taskname}']['post']['requestBody']['content']
    properties = body['application/json']['schema']['properties']
    assert properties['eta']['pattern'] == strict.TIME_PATTERN
    assert properties['queue']['pattern'] == strict.NAME_PATTERN
    # null means "not given" for every key, as parse_apply_body reads it
    assert all(schema['nullable'] is True for schema in properties.values())
    assert None in properties['serializer']['enum']
    assert control.parse_apply_body(json.dumps(dict.fromkeys(properties))) == control.ApplyRequest()


def test_operations_that_reach_the_broker_document_its_failures():
    paths = document()['paths']
    for path in (
        '/api/task/async-apply/{taskname}',
        '/api/task/result/{taskid}',
        '/api/worker/pool/grow/{workername}',
        '/api/queues/length',
    ):
        responses = next(iter(paths[path].values()))['responses']
        assert {'500', '503'} <= set(responses), path


def test_a_405_lists_the_methods_the_handler_implements():
    from flower.api.control import WorkerPoolGrow
    from flower.api.tasks import ListTasks
    from flower.views.monitor import Metrics

    assert WorkerPoolGrow.allowed_methods() == ['POST', 'OPTIONS']
    assert ListTasks.allowed_methods() == ['GET', 'OPTIONS']
    assert Metrics.allowed_methods() == ['GET', 'OPTIONS']


def test_credentials_are_required_in_the_document_when_the_server_requires_them():
    assert document()['security'] == [{'basicAuth': []}, {}]
    assert document(basic_auth=True)['security'] == [{'basicAuth': []}]
    assert document(basic_auth=True)['paths']['/metrics']['get']['security'] == []  # public either way
