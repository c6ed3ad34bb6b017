"""The OpenAPI document stays true to the route table: every API route (and /metrics, /healthcheck) is described
with exactly the methods its handler answers, every described path is a route, state-changing operations say
they are refused in read-only mode, and the document is valid OpenAPI 3."""

from __future__ import annotations

import re

import tornado.web
from openapi_spec_validator import validate

from flower import urls
from flower.api import BaseApiHandler
from flower.api.openapi import document
from flower.control import APPLY_OPTIONS

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
    mismatched = {path: (sorted(_implemented(handler)), sorted(described[path]))
                  for path, handler in routes.items() if _implemented(handler) != set(described[path])}
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
