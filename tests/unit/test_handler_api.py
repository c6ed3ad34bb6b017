"""Flower's handler API for extensions, as an extension uses it: ``BaseHandler.get_argument`` with types,
``render`` with the common context, ``get_current_user``, ``format_task``, ``get_active_queue_names``, ``capp``;
the start-up audit of routes (``tornado.web.authenticated`` methods, plain ``RequestHandler``s, things that are
not handlers); ``flower.app.rewrite_handler`` and ``default_handlers``; identity and ``--auth_provider`` read
from the options at each request.

Each test builds ``Flower(options=..., handlers=...)`` in-process with tornado's ``AsyncHTTPTestCase``."""

from __future__ import annotations

import base64
import html
import functools
import json
import logging
import os
import shutil
import tempfile
from urllib.parse import parse_qs, urlsplit

import celery
import pytest

import flower
import tornado.web
from tornado.testing import AsyncHTTPTestCase

from flower import urls
from flower.app import Flower, default_handlers, ensure_handlers_declare_auth, rewrite_handler
from flower.options import Options
from flower.utils.authentication import authenticate
from flower.views import BaseHandler


# -- handlers an extension would write --------------------------------------------------------------------------
class TypedPage(BaseHandler):
    """Echoes what get_argument returned, with its type."""

    def get(self):
        kind = self.get_query_argument('kind')
        calls = {
            'int': lambda: self.get_argument('n', type=int),
            'int-default': lambda: self.get_argument('n', default=10, type=int),
            'int-string-default': lambda: self.get_argument('n', default='7', type=int),
            'required-tornado': lambda: self.get_argument('n', default=tornado.web._ARG_DEFAULT, type=int),
            'required': lambda: self.get_argument('n', type=int, required=True),
            'float': lambda: self.get_argument('n', type=float),
            'bool': lambda: self.get_argument('n', default=False, type=bool),
            'str': lambda: self.get_argument('n'),
            'str-nostrip': lambda: self.get_argument('n', strip=False),
            'escaped': lambda: self.get_argument('n', escape=True),
            'json': lambda: self.get_argument('n', type=json.loads),
        }
        value = calls[kind]()
        self.write({'value': value, 'type': type(value).__name__})


class Protected(BaseHandler):
    """The spec's example: a BaseHandler method wrapped in tornado.web.authenticated."""

    @tornado.web.authenticated
    def get(self):
        self.write(f'hello {self.get_current_user()}')


class PlainPage(tornado.web.RequestHandler):
    def get(self):
        self.write('plain and public')


def _logged(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        self.set_header('X-Logged', '1')
        return method(self, *args, **kwargs)

    return wrapper


class OwnAuth(tornado.web.RequestHandler):
    """Not a BaseHandler: every method it implements is wrapped in tornado.web.authenticated (one under
    another decorator), with its own get_current_user."""

    def get_current_user(self):
        return self.request.headers.get('X-User')

    @tornado.web.authenticated
    def get(self):
        self.write(f'own {self.current_user}')

    @_logged
    @tornado.web.authenticated
    def post(self):
        self.write('posted')


class HalfProtected(tornado.web.RequestHandler):
    @tornado.web.authenticated
    def get(self):
        self.write('never')

    def delete(self):
        self.write('deleted')


class ContextPage(BaseHandler):
    def get(self):
        self.render('context.html', mine='<own value>')


class FormatPage(BaseHandler):
    def get(self):
        task = self.format_task(TaskLike('abc'))
        self.write({'name': task.name, 'queues': self.get_active_queue_names(), 'capp': self.capp.main})


class TaskLike:
    def __init__(self, name):
        self.name = name
        self.uuid = 'u-1'


def _app(options=None, handlers=(), **settings) -> Flower:
    values = {'port': 0, 'address': '127.0.0.1', 'enable_events': False, 'cookie_secret': 'x' * 40}
    values.update(options or {})
    routes = [tornado.web.url(pattern, handler) for pattern, handler in handlers]
    return Flower(
        capp=celery.Celery('handlers', broker='memory://'),
        options=Options(values),
        handlers=routes + list(default_handlers),
        **settings,
    )


def _cookie(response, name) -> str:
    """``name=value`` of the cookie ``response`` sets (for the next request's Cookie header)."""
    for line in response.headers.get_list('Set-Cookie'):
        if line.startswith(name + '='):
            return line.split(';')[0]
    return ''


def _basic(user, password):
    return {'Authorization': 'Basic ' + base64.b64encode(f'{user}:{password}'.encode()).decode()}


class FlowerTestCase(AsyncHTTPTestCase):
    options: dict = {}
    routes: list = []
    settings: dict = {}

    def get_app(self):
        self.flower = _app(self.options, self.routes, **self.settings)
        return self.flower

    def tearDown(self):
        self.flower.runner.shutdown()
        super().tearDown()

    def get(self, path, **kwargs):
        kwargs.setdefault('follow_redirects', False)
        return self.fetch(path, **kwargs)


# -- get_argument -------------------------------------------------------------------------------------------------
class TestGetArgument(FlowerTestCase):
    routes = [(r'/typed', TypedPage)]

    def value(self, kind, query=''):
        response = self.get(f'/typed?kind={kind}{query}')
        assert response.code == 200, response.body
        return json.loads(response.body)

    def refusal(self, kind, query=''):
        response = self.get(f'/typed?kind={kind}{query}')
        return response.code, html.unescape(response.body.decode())

    def test_an_int_is_parsed(self):
        assert self.value('int', '&n=42') == {'value': 42, 'type': 'int'}
        assert self.value('int', '&n=-3') == {'value': -3, 'type': 'int'}
        assert self.value('int', '&n=%2012%20') == {'value': 12, 'type': 'int'}  # stripped, as tornado does

    def test_a_bad_int_is_a_400_that_says_so_never_a_500(self):
        for raw, shown in (('abc', 'abc'), ('1.5', '1.5'), ('', ''), ('1_000', '1_000'), ('%D9%A1', '\u0661')):
            code, body = self.refusal('int', f'&n={raw}')
            assert code == 400, (raw, body)
            assert f"Invalid argument '{shown}' of type 'int'" in body

    def test_missing_gives_the_default(self):
        assert self.value('int') == {'value': None, 'type': 'NoneType'}  # Flower's default=None
        assert self.value('int-default') == {'value': 10, 'type': 'int'}
        assert self.value('int-default', '&n=3') == {'value': 3, 'type': 'int'}
        assert self.value('int-string-default') == {'value': 7, 'type': 'int'}  # converted, as in Flower
        assert self.value('bool') == {'value': False, 'type': 'bool'}

    def test_a_required_argument_that_is_missing_is_a_400(self):
        for kind in ('required-tornado', 'required'):
            code, body = self.refusal(kind)
            assert code == 400 and 'Missing argument n' in body
        assert self.refusal('required', '&n=')[0] == 400
        assert self.value('required-tornado', '&n=5') == {'value': 5, 'type': 'int'}

    def test_floats_bools_and_other_types(self):
        assert self.value('float', '&n=2.5') == {'value': 2.5, 'type': 'float'}
        for raw in ('nan', 'inf', 'x'):
            code, body = self.refusal('float', f'&n={raw}')
            assert code == 400 and f"'{raw}'" in body
        assert self.value('bool', '&n=yes') == {'value': True, 'type': 'bool'}
        assert self.value('bool', '&n=off') == {'value': False, 'type': 'bool'}
        code, body = self.refusal('bool', '&n=maybe')
        assert code == 400 and "Invalid argument 'maybe' of type 'bool'" in body
        assert self.value('json', '&n=%5B1%2C2%5D') == {'value': [1, 2], 'type': 'list'}
        code, body = self.refusal('json', '&n=%5B1')
        assert code == 400 and "Invalid argument '[1' of type 'loads'" in body

    def test_strings_are_not_html_escaped_unless_asked(self):
        assert self.value('str', '&n=foo%26bar%3Cb%3E') == {'value': 'foo&bar<b>', 'type': 'str'}
        assert self.value('str-nostrip', '&n=%20a%20') == {'value': ' a ', 'type': 'str'}
        assert self.value('escaped', '&n=foo%26bar%3Cb%3E') == {'value': 'foo&amp;bar&lt;b&gt;', 'type': 'str'}


# -- render, get_current_user, format_task, get_active_queue_names, capp --------------------------------------
class TestRenderAndHelpers(FlowerTestCase):
    options = {
        'url_prefix': 'mon',
        'max_tasks': 123,
        'basic_auth': ['ann:pw'],
        'format_task': lambda task: setattr(task, 'name', task.name.upper()) or task,
    }
    routes = [(r'/context', ContextPage), (r'/format', FormatPage)]

    def get_app(self):
        folder = tempfile.mkdtemp(prefix='flowertest-templates-')
        self.addCleanup(shutil.rmtree, folder)
        with open(os.path.join(folder, 'context.html'), 'w') as template:
            template.write(
                '{{ current_user }}|{{ capp.main }}|{{ type(events).__name__ }}|{{ broker_url }}|'
                '{{ flower_version }}|{{ celery_version }}|{{ options.max_tasks }}|{{ url_prefix }}|'
                '{{ static_url("x.css") }}|{{ reverse_url("tasks") }}|{{ mine }}'
            )
        self.settings = {'template_path': folder}
        return super().get_app()

    def test_render_gives_the_common_context(self):
        response = self.get('/mon/context', headers=_basic('ann', 'pw'))
        assert response.code == 200, response.body
        parts = response.body.decode().split('|')
        assert parts[:3] == ['ann', 'handlers', 'Events']
        assert parts[3].startswith('memory://')
        assert parts[4:6] == [flower.__version__, celery.__version__]
        assert parts[6:8] == ['123', '/mon']
        assert parts[8].startswith('/mon/static/x.css')
        assert parts[9:] == ['/mon/tasks', '&lt;own value&gt;']
        assert self.get('/mon/context').code == 401

    def test_format_task_queue_names_and_capp(self):
        auth = _basic('ann', 'pw')
        self.flower.inspector.workers['w1@h'] = {'active_queues': [{'name': 'b'}, {'name': 'a'}]}
        body = json.loads(self.get('/mon/format', headers=auth).body)
        assert body == {'name': 'ABC', 'queues': ['a', 'b'], 'capp': 'handlers'}
        self.flower.inspector.workers.clear()  # no worker reports its queues: the app's own
        assert json.loads(self.get('/mon/format', headers=auth).body)['queues'] == ['celery']


# -- the start-up audit ---------------------------------------------------------------------------------------
class TestAuthMarkers(FlowerTestCase):
    options = {'basic_auth': ['ann:pw']}
    routes = [(r'/protected', Protected), (r'/plain', PlainPage), (r'/own', OwnAuth)]

    def test_an_authenticated_basehandler_method_is_behind_basic_auth(self):
        refused = self.get('/protected')
        assert refused.code == 401 and refused.headers['WWW-Authenticate'] == 'Basic realm="flower"'
        assert self.get('/protected', headers=_basic('ann', 'nope')).code == 401
        allowed = self.get('/protected', headers=_basic('ann', 'pw'))
        assert allowed.code == 200 and allowed.body == b'hello ann'

    def test_a_plain_request_handler_is_served_as_public(self):
        response = self.get('/plain')
        assert response.code == 200 and response.body == b'plain and public'

    def test_a_handler_with_its_own_authenticated_methods_is_accepted(self):
        assert self.get('/own').code == 302  # tornado's authenticated: to the login page
        assert self.get('/own', headers={'X-User': 'zed'}).body == b'own zed'
        xsrf = {'Cookie': '_xsrf=token', 'X-XSRFToken': 'token'}  # tornado checks it: not a BaseHandler
        posted = self.fetch('/own', method='POST', body='', headers={'X-User': 'zed', **xsrf})
        assert posted.code == 200 and posted.headers['X-Logged'] == '1'


def test_the_audit_accepts_authenticated_methods_through_wrappers(caplog):
    caplog.set_level(logging.WARNING, logger='flower.app')
    ensure_handlers_declare_auth(
        [
            tornado.web.url('/own', OwnAuth),
            ('/protected', Protected),
            ('/static/(.*)', tornado.web.StaticFileHandler, {'path': '.'}),
        ]
    )
    assert not caplog.records


def test_the_audit_names_plain_handlers_and_their_public_methods(caplog):
    caplog.set_level(logging.WARNING, logger='flower.app')
    ensure_handlers_declare_auth(
        [('/plain', PlainPage), tornado.web.url('/half', HalfProtected), (r'/named', f'{__name__}.PlainPage')]
    )
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 3
    assert f"Handler {__name__}.PlainPage for '/plain' is a plain tornado RequestHandler: GET answer" in messages[0]
    assert 'tornado.web.authenticated' in messages[0] and 'public = True' in messages[0]
    assert f"{__name__}.HalfProtected for '/half$'" in messages[1] and ': DELETE answer' in messages[1]
    assert "'/named'" in messages[2]


def test_public_classes_are_not_warned_about(caplog):
    class Declared(tornado.web.RequestHandler):
        public = True

        def get(self):
            pass

    caplog.set_level(logging.WARNING, logger='flower.app')
    ensure_handlers_declare_auth([('/declared', Declared)])
    assert not caplog.records


@pytest.mark.parametrize('target', [lambda request: None, PlainPage.__new__(PlainPage), object()])
def test_a_route_that_is_not_a_handler_class_is_refused(target):
    with pytest.raises(
        RuntimeError,
        match=r"Route '/x' is served by .*which is not a tornado.web.RequestHandler "
        r"class.*flower.views.BaseHandler.*tornado.web.authenticated",
    ):
        ensure_handlers_declare_auth([('/x', target)])


def test_the_app_refuses_to_start_with_a_route_that_is_not_a_handler():
    with pytest.raises(RuntimeError, match='not a tornado.web.RequestHandler class'):
        Flower(
            capp=celery.Celery('x', broker='memory://'),
            options=Options({'cookie_secret': 'x' * 40}),
            handlers=[('/x', object())],
        )


# -- rewrite_handler and default_handlers ----------------------------------------------------------------------------
def test_default_handlers_is_the_route_table():
    assert default_handlers is urls.handlers
    assert any(getattr(spec, 'name', None) == 'workers' for spec in default_handlers)


def test_rewrite_handler_keeps_names_kwargs_and_shape():
    spec = rewrite_handler(tornado.web.url(r'/workers', PlainPage, {'a': 1}, name='w'), '/flower/')
    assert isinstance(spec, tornado.web.URLSpec)
    assert spec.regex.pattern == '/flower/workers$' and spec.name == 'w' and spec.kwargs == {'a': 1}
    route = rewrite_handler((r'/static/(.*)', tornado.web.StaticFileHandler, {'path': '/srv'}), 'flower')
    assert isinstance(route, tuple) and tuple(route) == (
        '/flower/static/(.*)',
        tornado.web.StaticFileHandler,
        {'path': '/srv'},
    )
    pattern, handler, kwargs = route  # still unpacks as a tuple
    assert rewrite_handler(route, 'flower') is route  # not prefixed twice
    assert rewrite_handler(route, 'other')[0] == '/other/flower/static/(.*)'
    assert rewrite_handler(('/x', PlainPage), '') == ('/x', PlainPage)


class TestRewrittenHandlersInTheApp(FlowerTestCase):
    """Code written for Flower builds its own list with rewrite_handler and passes the prefix too."""

    def get_app(self):
        prefix = 'mon'
        handlers = [rewrite_handler(h, prefix) for h in [tornado.web.url(r'/plain', PlainPage)] + default_handlers]
        self.flower = Flower(
            capp=celery.Celery('x', broker='memory://'),
            options=Options({'url_prefix': prefix, 'cookie_secret': 'x' * 40}),
            handlers=handlers,
        )
        return self.flower

    def test_routes_are_under_the_prefix_once(self):
        assert self.get('/mon/plain').body == b'plain and public'
        assert self.get('/mon/healthcheck').body == b'OK'
        assert self.get('/mon/mon/plain').code == 404
        assert self.get('/plain').code == 404


# -- identity and --auth_provider follow the options ------------------------------------------------------------
class TestIdentityFollowsOptions(FlowerTestCase):
    routes = [(r'/protected', Protected)]

    def test_basic_auth_set_after_start_up_takes_effect(self):
        assert self.get('/protected').body == b'hello anonymous'
        self.flower.options.basic_auth = ['bob:pw']
        assert self.get('/protected').code == 401
        assert self.get('/protected', headers=_basic('bob', 'pw')).body == b'hello bob'
        self.flower.options.basic_auth = []
        assert self.get('/protected').code == 200


class EmailLogin(BaseHandler):
    """A custom provider as Flower's contract has it: it checks ``options.auth`` itself, at request time, sets
    the signed ``user`` cookie and redirects."""

    def get(self):
        email = self.get_argument('email', '')
        if not authenticate(self.application.options.auth, email):
            raise tornado.web.HTTPError(403, f'{email} may not log in')
        self.set_secure_cookie('user', email)
        self.redirect(self.get_argument('next', '/'))


class TestCustomProviderReadsOptionsAtRequestTime(FlowerTestCase):
    options = {'auth': '.*@example.com', 'auth_provider': f'{__name__}.EmailLogin'}
    routes = [(r'/protected', Protected)]

    def login(self, email):
        response = self.get(f'/login?email={email}&next=/protected')
        return response, _cookie(response, 'user')

    def test_the_provider_and_the_session_check_both_read_options_auth(self):
        assert self.get('/protected').code == 302
        response, cookie = self.login('me@example.com')
        assert response.code == 302 and response.headers['Location'] == '/protected'
        assert self.get('/protected', headers={'Cookie': cookie}).body == b'hello me@example.com'

        self.flower.options.auth = 'boss@example.com'  # narrowed at run time
        assert self.get('/protected', headers={'Cookie': cookie}).code == 302  # the session no longer passes
        refused, _ = self.login('me@example.com')
        assert refused.code == 403 and b'me@example.com may not log in' in refused.body
        response, cookie = self.login('boss@example.com')
        assert self.get('/protected', headers={'Cookie': cookie}).body == b'hello boss@example.com'

    def test_a_provider_named_at_run_time_is_used(self):
        self.flower.options.auth_provider = f'{__name__}.OtherLogin'
        assert self.get('/login').body == b'the other login'
        self.flower.options.auth_provider = f'{__name__}.NoSuchLogin'
        broken = self.get('/login')
        assert broken.code == 503 and b'Cannot load --auth_provider' in broken.body
        self.flower.options.auth_provider = None
        assert self.get('/login').code == 404


class OtherLogin(BaseHandler):
    def get(self):
        self.write('the other login')


# -- the OAuth hooks -------------------------------------------------------------------------------------------
from flower.views.auth import (
    GithubLoginHandler,
    GitLabLoginHandler,
    GoogleAuth2LoginHandler,  # noqa: E402
    OAuth2StateMixin,
    OktaLoginHandler,
    get_next_url,
    is_safe_redirect,
)

CALLS: list = []


class HookedGithub(GithubLoginHandler):
    """Both of Flower's hooks overridden: no provider is called at all."""

    async def get_authenticated_user(self, redirect_uri, code):
        CALLS.append(('get_authenticated_user', redirect_uri, code))
        return {'access_token': f'token-for-{code}'}

    async def _on_auth(self, user):
        CALLS.append(('_on_auth', user))
        if user['access_token'] == 'token-for-bad':
            raise tornado.web.HTTPError(403, 'Access denied by our own rule')
        self.set_secure_cookie('user', 'hooked@example.com')
        self.redirect(get_next_url(self))


class HookedOkta(OktaLoginHandler):
    async def get_access_token(self, redirect_uri, code):
        CALLS.append(('get_access_token', code))
        return {'access_token': 'okta-token'}

    async def _on_auth(self, access_token_response):
        CALLS.append(('_on_auth', access_token_response))
        self.set_secure_cookie('user', 'okta@example.com')
        self.redirect(get_next_url(self))


class OAuthHookCase(FlowerTestCase):
    provider = ''
    routes = [(r'/protected', Protected)]

    @property
    def options(self):
        return {
            'auth': '.*@example.com',
            'auth_provider': f'{__name__}.{self.provider}',
            'oauth2_key': 'k',
            'oauth2_secret': 's',
            'oauth2_redirect_uri': 'http://localhost/login',
        }

    def login(self, code, next_url='/protected'):
        CALLS.clear()
        start = self.get(f'/login?next={next_url}')
        assert start.code == 302, start.body
        state = parse_qs(urlsplit(start.headers['Location']).query)['state'][0]
        state_cookie = _cookie(start, 'oauth_state')
        return self.get(f'/login?code={code}&state={state}', headers={'Cookie': state_cookie})


class TestGithubHooks(OAuthHookCase):
    provider = 'HookedGithub'

    def test_an_overridden_get_authenticated_user_and_on_auth_are_honoured(self):
        done = self.login('good')
        assert done.code == 302 and done.headers['Location'] == '/protected'
        assert CALLS == [
            ('get_authenticated_user', 'http://localhost/login', 'good'),
            ('_on_auth', {'access_token': 'token-for-good'}),
        ]
        cookie = _cookie(done, 'user')
        assert self.get('/protected', headers={'Cookie': cookie}).body == b'hello hooked@example.com'

    def test_a_refusal_from_the_override_is_a_403_page(self):
        refused = self.login('bad')
        assert refused.code == 403 and b'Access denied by our own rule' in refused.body

    def test_a_wrong_state_never_reaches_the_hooks(self):
        CALLS.clear()
        refused = self.get('/login?code=good&state=forged')
        assert refused.code == 403 and b'State tokens do not match' in refused.body and CALLS == []


class TestOktaHooks(OAuthHookCase):
    provider = 'HookedOkta'
    settings = {'oauth_endpoints': {'okta': {'authorize': 'https://okta.test/v1/authorize'}}}

    def test_get_access_token_and_on_auth_are_honoured(self):
        done = self.login('c0de')
        assert done.code == 302 and done.headers['Location'] == '/protected'
        assert CALLS == [('get_access_token', 'c0de'), ('_on_auth', {'access_token': 'okta-token'})]


class StateOnly(BaseHandler, OAuth2StateMixin):
    """A user's own login handler using Flower's state mixin."""

    public = True

    def get(self):
        if self.get_argument('state', None) is None:
            self.write(self.set_oauth_state())
            return
        self.verify_oauth_state()
        self.write('state ok')


class TestStateMixin(FlowerTestCase):
    routes = [(r'/own-login', StateOnly)]

    def test_the_state_round_trip(self):
        first = self.get('/own-login')
        cookie = _cookie(first, 'oauth_state')
        ok = self.get(f'/own-login?state={first.body.decode()}', headers={'Cookie': cookie})
        assert ok.body == b'state ok'
        forged = self.get('/own-login?state=forged', headers={'Cookie': cookie})
        assert forged.code == 403 and b'State tokens do not match' in forged.body


def test_flowers_provider_names_and_helpers_are_importable():
    import flower.views.auth as auth

    for name in (
        'GoogleAuth2LoginHandler',
        'GithubLoginHandler',
        'GitLabLoginHandler',
        'OktaLoginHandler',
        'LoginHandler',
        'LogoutHandler',
        'OAuth2StateMixin',
        'get_next_url',
        'is_safe_redirect',
        'authenticate',
        'validate_auth_option',
    ):
        assert hasattr(auth, name), name
    for cls in (GoogleAuth2LoginHandler, GithubLoginHandler, GitLabLoginHandler, OktaLoginHandler):
        assert issubclass(cls, BaseHandler) and callable(cls._on_auth) and callable(cls.get_authenticated_user)
    assert is_safe_redirect('/tasks') and not is_safe_redirect('//evil.com') and not is_safe_redirect('https://x')


class _Unmarked(BaseHandler):
    """A BaseHandler without tornado.web.authenticated: its prepare() checks every request."""

    def get(self):
        self.write('checked by BaseHandler.prepare')


class _Declared(tornado.web.RequestHandler):
    public = True

    def get(self):
        self.write('meant to be public')


@pytest.mark.parametrize(
    'handler, warned',
    [
        (Protected, False),  # BaseHandler with the authenticated marker
        (_Unmarked, False),  # BaseHandler without it (prepare authenticates)
        (OwnAuth, False),  # a RequestHandler whose every method is wrapped in tornado.web.authenticated
        (_Declared, False),  # public = True
        (PlainPage, True),  # a plain RequestHandler: served as public, with a warning naming it
        (HalfProtected, True),  # one method wrapped, another not: the unwrapped one is named
    ],
    ids=lambda value: getattr(value, '__name__', str(value)),
)
def test_the_audit_with_every_kind_of_handler(caplog, handler, warned):
    caplog.set_level(logging.WARNING, logger='flower.app')
    ensure_handlers_declare_auth([('/h', handler)])
    messages = [record.getMessage() for record in caplog.records]
    if warned:
        assert len(messages) == 1 and f'{handler.__qualname__} for ' in messages[0]
    else:
        assert messages == []


def test_the_audit_refuses_a_non_handler_among_good_routes():
    with pytest.raises(RuntimeError, match=r"Route '/bad' is served by .*not a tornado.web.RequestHandler"):
        ensure_handlers_declare_auth([('/ok', Protected), ('/public', _Declared), ('/bad', len)])


class UnmarkedAudited(AsyncHTTPTestCase):
    """What the audit lets through without a warning really is checked: an unmarked BaseHandler asks for
    credentials under --basic_auth."""

    def get_app(self):
        return Flower(
            capp=celery.Celery('x', broker='memory://'),
            options=Options({'cookie_secret': 'x' * 40, 'basic_auth': ['u:p']}),
            handlers=[('/unmarked', _Unmarked)],
        )

    def test_an_unmarked_basehandler_asks_for_credentials(self):
        assert self.fetch('/unmarked').code == 401
        ok = self.fetch('/unmarked', auth_username='u', auth_password='p')
        assert ok.code == 200 and ok.body == b'checked by BaseHandler.prepare'
