"""A Flower extension's own pages in a real ``python -m flower`` server, added the way Flower users add them:
a ``flowerconfig.py`` that defines handlers and puts them in ``flower.urls.handlers`` (Flower's
``flower.app.default_handlers``). One page reads ``get_argument(..., type=int)``, one is a ``BaseHandler`` method
wrapped in ``tornado.web.authenticated`` behind ``--basic_auth``, one is a plain ``tornado.web.RequestHandler``
(public, named in the start-up log)."""

from __future__ import annotations

import html
import re
import textwrap

import pytest

from tests.support.processes import REPO, Server

CONFIG = textwrap.dedent('''
    import tornado.web
    from tornado.web import url

    import flower.urls
    from flower.views import BaseHandler


    class DoublePage(BaseHandler):
        def get(self):
            n = self.get_argument('n', type=int)
            limit = self.get_argument('limit', default=100, type=int)
            self.write(f'n={n!r} doubled={None if n is None else 2 * n!r} limit={limit}')


    class Whoami(BaseHandler):
        @tornado.web.authenticated
        def get(self):
            self.write(f'you are {self.get_current_user()}')


    class Plain(tornado.web.RequestHandler):
        def get(self):
            self.write('plain page')


    # before the catch-all 404, which is last
    flower.urls.handlers[0:0] = [url(r'/ext/double', DoublePage), url(r'/ext/whoami', Whoami),
                                 url(r'/ext/plain', Plain)]
''')


@pytest.fixture
def server(redis_url, processes, tmp_path):
    conf = tmp_path / 'flowerconfig.py'
    conf.write_text(CONFIG)
    running = Server(
        redis_url, args=[f'--conf={conf}', '--basic_auth=ann:s3cret'], env={'PYTHONPATH': f'{tmp_path}:{REPO}'}
    )
    processes.append(running)
    return running


ANN = ('ann', 's3cret')


def test_a_page_with_typed_arguments(server):
    good = server.get('/ext/double?n=21', auth=ANN)
    assert good.status_code == 200 and good.text == 'n=21 doubled=42 limit=100'
    assert server.get('/ext/double?n=4&limit=7', auth=ANN).text == 'n=4 doubled=8 limit=7'

    missing = server.get('/ext/double', auth=ANN)  # Flower's default=None
    assert missing.status_code == 200 and missing.text == 'n=None doubled=None limit=100'

    for raw in ('abc', '4.5', '1_0'):
        bad = server.get('/ext/double', params={'n': raw}, auth=ANN)
        assert bad.status_code == 400, bad.text
        assert f"Invalid argument '{raw}' of type 'int'" in html.unescape(bad.text)
        assert 'Traceback' not in bad.text
    bad_limit = server.get('/ext/double?n=1&limit=lots', auth=ANN)
    assert bad_limit.status_code == 400 and "Invalid argument 'lots' of type 'int'" in html.unescape(bad_limit.text)


def test_an_authenticated_page_behind_basic_auth(server):
    refused = server.get('/ext/whoami')
    assert refused.status_code == 401 and refused.headers['WWW-Authenticate'] == 'Basic realm="flower"'
    assert server.get('/ext/whoami', auth=('ann', 'wrong')).status_code == 401
    allowed = server.get('/ext/whoami', auth=ANN)
    assert allowed.status_code == 200 and allowed.text == 'you are ann'
    assert server.get('/ext/double?n=1').status_code == 401  # a BaseHandler page is protected too


def test_a_plain_request_handler_is_public_and_named_at_start_up(server):
    page = server.get('/ext/plain')
    assert page.status_code == 200 and page.text == 'plain page'
    log = server.output()
    # (the module name of a class defined in the config file depends on how the file is executed)
    assert re.search(
        r"Handler \S+\.Plain for '/ext/plain\$' is a plain tornado RequestHandler: GET answer "
        r"without authentication \(public\)",
        log,
    ), log
    assert 'Whoami' not in log and 'DoublePage' not in log  # the protected ones are not warned about
