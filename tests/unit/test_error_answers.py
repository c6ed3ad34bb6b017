"""One error renderer for every handler family: each family's errors (404, 400, 401/403, 405, 500 from a handler
that raises, the Host refusal) come back in its format with the words of flower.views.error_status, and never
with a traceback. Pages: the HTML error page; the API: text, JSON for a search syntax error; /metrics,
/healthcheck and static files: text; the live channel's handshake and a client asking for text only: text.

In-process, with tornado's ``AsyncHTTPTestCase`` (no broker needed)."""

from __future__ import annotations

import base64
import html
import json
import re

import celery
import pytest
import tornado.web
from tornado.testing import AsyncHTTPTestCase

from flower.api import BaseApiHandler
from flower.app import Flower, default_handlers
from flower.options import Options
from flower.search import QuerySyntaxError
from flower.views import BaseHandler
from flower.views.error_render import API, PAGE, TEXT, choose_format

SECRET = 'a detail only the log may show'


class RaisingPage(BaseHandler):
    def get(self):
        raise RuntimeError(SECRET)


class NumberPage(BaseHandler):
    def get(self):
        self.write(str(self.get_typed_argument('n', int)))


class RaisingApi(BaseApiHandler):
    def get(self):
        raise RuntimeError(SECRET)


def _basic(user='ann', password='pw') -> dict:
    return {'Authorization': 'Basic ' + base64.b64encode(f'{user}:{password}'.encode()).decode()}


AUTH = _basic()
WEBSOCKET = {
    'Upgrade': 'websocket',
    'Connection': 'Upgrade',
    'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version': '13',
}


class ErrorAnswersCase(AsyncHTTPTestCase):
    def get_app(self):
        values = {
            'port': 0,
            'address': '127.0.0.1',
            'enable_events': False,
            'cookie_secret': 'x' * 40,
            'basic_auth': ['ann:pw'],
            'allowed_hosts': ['127.0.0.1', 'localhost'],
        }
        routes = [
            tornado.web.url(r'/raising', RaisingPage),
            tornado.web.url(r'/number', NumberPage),
            tornado.web.url(r'/api/raising', RaisingApi),
        ]
        self.flower = Flower(
            capp=celery.Celery('errors', broker='memory://'),
            options=Options(values),
            handlers=routes + list(default_handlers),
        )
        return self.flower

    def tearDown(self):
        self.flower.runner.shutdown()
        super().tearDown()

    def answer(self, path, method='GET', headers=None, body=None):
        response = self.fetch(path, method=method, headers=headers, body=body, follow_redirects=False)
        text = response.body.decode('utf-8', 'replace')
        assert 'Traceback' not in text and SECRET not in text, text
        return response.code, response.headers.get('Content-Type', '').split(';')[0], text

    # -- pages: the HTML error page ---------------------------------------------------------------------------
    def test_a_page_answers_its_errors_with_the_html_page(self):
        code, kind, body = self.answer('/no/such/page', headers=AUTH)
        assert (code, kind) == (404, 'text/html')
        assert '<html' in body and 'Error, page not found' in body and '>404<' in body

        code, kind, body = self.answer('/number?n=x', headers=AUTH)
        assert (code, kind) == (400, 'text/html')
        assert html.escape("Invalid argument 'x' of type 'int'") in html.escape(html.unescape(body))

        code, kind, body = self.answer('/raising', headers=AUTH)
        assert (code, kind) == (500, 'text/html')
        assert 'Internal server error' in body

        response = self.fetch('/workers', method='PUT', body='', headers=AUTH)
        assert response.code == 405 and 'GET' in response.headers['Allow']
        assert response.headers['Content-Type'].startswith('text/html')
        assert b'Method Not Allowed' in response.body

    def test_a_page_refusing_credentials_challenges_with_the_page(self):
        response = self.fetch('/workers')
        assert response.code == 401
        assert response.headers['WWW-Authenticate'] == 'Basic realm="flower"'
        assert response.headers['Content-Type'].startswith('text/html')
        assert b'Access denied' in response.body

    def test_a_client_asking_for_text_only_gets_the_text(self):
        code, kind, body = self.answer('/no/such/page', headers={**AUTH, 'Accept': 'text/plain'})
        assert (code, kind, body) == (404, 'text/plain', 'Error, page not found')

    def test_the_login_page_answers_with_the_html_page(self):
        code, kind, body = self.answer('/login')
        assert (code, kind) == (404, 'text/html')
        assert 'There is no login page: this server has no --auth_provider.' in body

    # -- the API: text, JSON for a search syntax error ---------------------------------------------------------
    def test_the_api_answers_its_errors_with_text(self):
        assert self.answer('/api/workers?workername=nobody', headers=AUTH) == (
            404,
            'text/plain',
            "Unknown worker 'nobody'",
        )
        assert self.answer('/api/tasks?limit=x', headers=AUTH) == (
            400,
            'text/plain',
            "Invalid argument 'x' of type 'int'",
        )
        assert self.answer('/api/tasks?sort_by=worker', headers=AUTH)[:2] == (400, 'text/plain')
        assert self.answer('/api/raising', headers=AUTH) == (500, 'text/plain', 'Internal server error')
        assert self.answer('/api/workers') == (401, 'text/plain', 'Access denied')
        response = self.fetch('/api/task/apply/tasks.add', headers=AUTH)
        assert (response.code, response.body, response.headers['Allow']) == (
            405,
            b'Method Not Allowed',
            'POST, OPTIONS',
        )
        assert 'WWW-Authenticate' not in self.fetch('/api/workers').headers  # a status for scripts, no challenge

    def test_a_search_syntax_error_is_json(self):
        code, kind, body = self.answer('/api/tasks?search=state%3A', headers=AUTH)
        assert (code, kind) == (400, 'application/json')
        assert set(json.loads(body)) == {'error'} and json.loads(body)['error']

    # -- text families: /metrics, /healthcheck, static files, the live channel's handshake ----------------------
    def test_probes_and_static_files_answer_with_text(self):
        assert self.answer('/healthcheck?ready=maybe') == (
            400,
            'text/plain',
            "Invalid argument 'maybe' for 'ready': expected one of 1, true, yes, 0, false, no",
        )
        assert self.answer('/metrics', method='POST', body='') == (405, 'text/plain', 'Method Not Allowed')
        assert self.answer('/static/no-such-file.css') == (404, 'text/plain', 'Not Found')

    def test_the_live_handshake_is_refused_with_text(self):
        assert self.answer('/live', headers=WEBSOCKET) == (401, 'text/plain', 'Access denied')

    # -- the Host refusal: in the format of the route it was addressed to --------------------------------------
    def test_a_refused_host_gets_the_format_of_the_route(self):
        evil = {**AUTH, 'Host': 'evil.example'}
        refusal = "Host 'evil.example' is not allowed on this server (see --allowed_hosts)"
        code, kind, body = self.answer('/workers', headers=evil)
        assert (code, kind) == (400, 'text/html') and 'is not allowed on this server' in body
        assert self.answer('/api/workers', headers=evil) == (400, 'text/plain', refusal)
        assert self.answer('/metrics', headers=evil) == (400, 'text/plain', refusal)
        assert self.answer('/static/css/flower.css', headers=evil) == (400, 'text/plain', refusal)


@pytest.mark.parametrize(
    'family, exc, accept, upgrade, expected',
    [
        (PAGE, None, 'text/html,*/*', '', 'html'),
        (PAGE, None, '*/*', '', 'html'),
        (PAGE, None, 'text/plain', '', 'text'),
        (PAGE, None, 'text/plain, text/html', '', 'html'),
        (PAGE, None, '', 'websocket', 'text'),
        (API, None, 'text/html', '', 'text'),
        (API, QuerySyntaxError('x', 0), '', '', 'json'),
        (TEXT, QuerySyntaxError('x', 0), 'text/html', '', 'text'),
    ],
)
def test_the_format_is_decided_in_one_place(family, exc, accept, upgrade, expected):
    assert choose_format(family, exc, accept, upgrade) == expected


def test_no_handler_of_flowers_writes_its_own_errors():
    """Every handler family writes errors through flower.views.error_render: none has a write_error of its own."""
    from flower import urls
    from flower.views.error_render import ErrorAnswers

    own = set()
    for spec in urls.handlers:
        for cls in spec.handler_class.__mro__:
            if cls.__module__.startswith('flower.') and 'write_error' in vars(cls) and cls is not ErrorAnswers:
                own.add(cls.__name__)
        assert issubclass(spec.handler_class, ErrorAnswers), spec.handler_class
    assert own == set()
    assert re.match(r'^flower\.views\.error_render$', ErrorAnswers.__module__)
