"""More of Flower 2.2's public names (issue 16): the OAuth handlers as tornado mixins with Flower's ``_OAUTH_*``
attributes (a subclass's own winning), ``Flower.pool_executor_cls`` / ``purge_offline_worker_metrics`` /
``ssl_options``, and names Flower's modules have at module level. Each is used the way code written for Flower
uses it."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from unittest import mock

import pytest
import tornado.auth
import tornado.options
from celery import Celery
from tornado.httputil import HTTPHeaders, HTTPServerRequest

from flower.app import Flower
from flower.identity import OAuthEnvironment
from flower.options import Options
from flower.views import auth
from tests.support.events import event, worker_online


def run(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


@pytest.fixture
def make_app():
    apps = []

    def make(cls=Flower, **kwargs):
        options = kwargs.pop('options', {})
        app = cls(
            capp=Celery('names', broker='memory://', set_as_current=False),
            options=Options({'enable_events': False, **options}),
            **kwargs,
        )
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.runner.shutdown()


def handler(app, cls):
    request = HTTPServerRequest(
        method='GET', uri='/login', headers=HTTPHeaders({'Host': 'flower.test'}), connection=mock.Mock()
    )
    made = cls(app, request)
    made._transforms = []  # what tornado sets when it runs the handler for a request
    return made


# -- OAuth handlers: tornado's mixins, Flower's attributes ------------------------------------------------------


def test_providers_are_tornados_oauth2_mixins_with_flowers_endpoint_attributes():
    for cls in (auth.GithubLoginHandler, auth.GitLabLoginHandler, auth.OktaLoginHandler, auth.GoogleAuth2LoginHandler):
        assert issubclass(cls, tornado.auth.OAuth2Mixin)
        assert callable(cls.authorize_redirect) and callable(cls.oauth2_request)
    assert issubclass(auth.GoogleAuth2LoginHandler, tornado.auth.GoogleOAuth2Mixin)
    google = tornado.auth.GoogleOAuth2Mixin
    assert auth.GoogleAuth2LoginHandler._OAUTH_AUTHORIZE_URL == google._OAUTH_AUTHORIZE_URL
    assert auth.GoogleAuth2LoginHandler._OAUTH_ACCESS_TOKEN_URL == google._OAUTH_ACCESS_TOKEN_URL
    github_domain = auth.GithubLoginHandler._OAUTH_DOMAIN
    assert auth.GithubLoginHandler._OAUTH_AUTHORIZE_URL == f'https://{github_domain}/login/oauth/authorize'
    assert auth.GithubLoginHandler._OAUTH_ACCESS_TOKEN_URL == f'https://{github_domain}/login/oauth/access_token'
    gitlab_domain = auth.GitLabLoginHandler._OAUTH_GITLAB_DOMAIN
    assert auth.GitLabLoginHandler._OAUTH_AUTHORIZE_URL == f'https://{gitlab_domain}/oauth/authorize'
    assert auth.GitLabLoginHandler._OAUTH_ACCESS_TOKEN_URL == f'https://{gitlab_domain}/oauth/token'


def test_built_in_handlers_use_their_defaults_and_the_oauth_endpoints_setting(make_app):
    app = make_app(oauth_endpoints={'github': {'token': 'http://127.0.0.1:9/token'}})
    github = handler(app, auth.GithubLoginHandler)
    assert github.endpoint('token') == 'http://127.0.0.1:9/token'
    assert github.endpoint('authorize') == 'https://github.com/login/oauth/authorize'
    assert github.endpoint('emails') == 'https://api.github.com/user/emails'
    google = handler(app, auth.GoogleAuth2LoginHandler)
    assert google.endpoint('token') == tornado.auth.GoogleOAuth2Mixin._OAUTH_ACCESS_TOKEN_URL


def test_a_github_enterprise_subclass_wins_over_settings_and_defaults(make_app):
    class Enterprise(auth.GithubLoginHandler):
        _OAUTH_AUTHORIZE_URL = 'https://ghe.example.com/login/oauth/authorize'
        _OAUTH_ACCESS_TOKEN_URL = 'https://ghe.example.com/login/oauth/access_token'

    class EnterpriseDomain(auth.GithubLoginHandler):
        _OAUTH_DOMAIN = 'git.example.org'

    app = make_app(
        oauth_endpoints={'github': {'token': 'http://127.0.0.1:9/token', 'authorize': 'http://127.0.0.1:9/authorize'}}
    )
    enterprise = handler(app, Enterprise)
    assert enterprise.endpoint('authorize') == 'https://ghe.example.com/login/oauth/authorize'
    assert enterprise.endpoint('token') == 'https://ghe.example.com/login/oauth/access_token'
    plain = make_app()
    by_domain = handler(plain, EnterpriseDomain)
    assert by_domain.endpoint('authorize') == 'https://git.example.org/login/oauth/authorize'
    assert by_domain.endpoint('emails') == 'https://git.example.org/api/v3/user/emails'  # GHE's API path


def test_okta_base_url_and_its_endpoint_properties(make_app):
    app = make_app()
    app.settings['oauth_environment'] = OAuthEnvironment(okta_base_url='https://x.okta.com/oauth2/default')
    okta = handler(app, auth.OktaLoginHandler)
    assert okta.base_url == 'https://x.okta.com/oauth2/default'
    assert okta._OAUTH_AUTHORIZE_URL == 'https://x.okta.com/oauth2/default/v1/authorize'
    assert okta._OAUTH_ACCESS_TOKEN_URL == 'https://x.okta.com/oauth2/default/v1/token'
    assert okta._OAUTH_USER_INFO_URL == 'https://x.okta.com/oauth2/default/v1/userinfo'
    assert okta.endpoint('userinfo') == okta._OAUTH_USER_INFO_URL

    class PrivateOkta(auth.OktaLoginHandler):
        @property
        def base_url(self):
            return 'https://corp.okta.com/oauth2/aus1'

    private = handler(make_app(), PrivateOkta)
    assert private.endpoint('token') == 'https://corp.okta.com/oauth2/aus1/v1/token'
    assert private.endpoint('userinfo') == 'https://corp.okta.com/oauth2/aus1/v1/userinfo'
    # a subclass that brings its own server needs no FLOWER_OAUTH2_OKTA_BASE_URL; the built-in one does
    assert auth.load_login_provider('tests.unit.test_flower_more_names.CorpOkta', OAuthEnvironment()) is CorpOkta
    with pytest.raises(ValueError, match='FLOWER_OAUTH2_OKTA_BASE_URL'):
        auth.load_login_provider('flower.views.auth.OktaLoginHandler', OAuthEnvironment())


class CorpOkta(auth.OktaLoginHandler):
    _OAUTH_AUTHORIZE_URL = 'https://corp.okta.com/authorize'


def test_authorize_redirect_goes_to_the_handlers_authorize_endpoint(make_app):
    app = make_app(oauth_endpoints={'gitlab': {'authorize': 'http://127.0.0.1:9/authorize'}})
    gitlab = handler(app, auth.GitLabLoginHandler)
    gitlab.authorize_redirect(
        redirect_uri='https://flower.test/login', client_id='id', scope=['read_api'], extra_params={'state': 's1'}
    )
    location = gitlab._headers['Location']
    assert location.startswith('http://127.0.0.1:9/authorize?')
    for part in (
        'client_id=id',
        'scope=read_api',
        'state=s1',
        'response_type=code',
        'redirect_uri=https%3A%2F%2Fflower.test%2Flogin',
    ):
        assert part in location


# -- flower.app.Flower ------------------------------------------------------------------------------------------


def test_pool_executor_cls_and_max_workers_build_the_executor_blocking_calls_run_on(make_app):
    class CountingExecutor(ThreadPoolExecutor):
        made = []

        def __init__(self, max_workers=None):
            super().__init__(max_workers=max_workers)
            self.submitted = 0
            CountingExecutor.made.append(max_workers)

        def submit(self, *args, **kwargs):
            self.submitted += 1
            return super().submit(*args, **kwargs)

    class MyFlower(Flower):
        pool_executor_cls = CountingExecutor
        max_workers = 3

    app = make_app(MyFlower)
    assert isinstance(app.executor, CountingExecutor) and CountingExecutor.made == [3]
    assert app.runner.executor is app.executor
    assert run(app.runner.run('sum', 'x', sum, [1, 2])) == 3
    assert app.executor.submitted == 1
    assert Flower.pool_executor_cls is ThreadPoolExecutor
    assert isinstance(make_app().executor, ThreadPoolExecutor)


def test_purge_offline_worker_metrics_drops_long_offline_workers(make_app):
    app = make_app()
    state = app.events.state
    old = time.time() - 600
    state.event(worker_online('gone@h', timestamp=old))
    state.event(event('worker-offline', 'gone@h', old + 1))
    state.workers['gone@h'].local_received = old + 1  # as if that event had arrived ten minutes ago
    state.event(worker_online('here@h'))
    assert 'gone@h' in state.metrics.render().decode()
    assert app.purge_offline_worker_metrics() == 0  # no --purge_offline_workers: nothing goes
    app.options.purge_offline_workers = 60
    assert app.purge_offline_worker_metrics() > 0
    text = state.metrics.render().decode()
    assert 'gone@h' not in text and 'here@h' in text


def test_ssl_options_attribute(make_app):
    assert make_app().ssl_options is None
    given = {'certfile': '/c.pem', 'keyfile': '/k.pem'}
    assert make_app(ssl_options=given).ssl_options is given


# -- names Flower's modules have -------------------------------------------------------------------------------


def test_tasks_page_columns():
    from flower.views.tasks import TASK_COLUMNS, visible_task_columns

    assert TASK_COLUMNS['uuid'] == 'UUID' and TASK_COLUMNS['eta'] == 'ETA' and len(TASK_COLUMNS) == 17
    assert visible_task_columns('name, bogus,eta') == [('name', 'Name'), ('eta', 'ETA')]


def test_module_level_names_are_the_working_ones():
    import flower.api.control
    import flower.api.workers
    import flower.app
    import flower.command
    import flower.events
    import flower.options
    import flower.urls
    import flower.utils
    import flower.utils.authentication
    import flower.utils.blocking
    import flower.utils.broker
    import flower.utils.search
    import flower.views
    import flower.views.error

    assert flower.views.authenticate('*@example.com', 'a@example.com')
    assert not flower.views.authenticate('*@example.com', 'a@other.com')
    assert 'celery' in flower.views.bugreport().lower()
    assert flower.views.Broker is flower.utils.broker.Broker
    assert flower.api.workers.ControlHandler is flower.api.control.ControlHandler
    assert flower.app.BlockingOperationRunner is flower.utils.blocking.BlockingOperationRunner
    assert flower.app.default_options is flower.options.default_options
    assert auth.NotFoundErrorHandler is flower.views.error.NotFoundErrorHandler
    assert flower.events.TaskSearchEngine is flower.utils.search.TaskSearchEngine
    assert isinstance(flower.events.logger, logging.Logger)
    assert flower.events.get_prometheus_metrics() is flower.events.PROMETHEUS_METRICS
    secrets = {flower.urls.gen_cookie_secret() for _ in range(3)}
    assert len(secrets) == 3 and all(len(s) > 40 for s in secrets)


def test_class_hierarchy_and_re_exports_are_flowers():
    import tornado.options

    import flower.api.tasks
    import flower.api.workers
    import flower.events
    import flower.utils.search
    import flower.utils.tasks
    import flower.views.tasks
    from flower.api.control import ControlHandler
    from flower.utils.broker import Redis, RedisSsl

    assert issubclass(RedisSsl, Redis)  # code that asks isinstance(broker, Redis) gets Flower's answer
    for name in ('ListTasks', 'ListTaskTypes', 'TaskInfo', 'GetQueueLengths', 'TaskApply', 'TaskResult'):
        assert issubclass(getattr(flower.api.tasks, name), flower.api.tasks.BaseTaskHandler), name
    assert issubclass(flower.api.workers.ListWorkers, ControlHandler)
    for name in ('as_dict', 'get_task_by_id', 'search_tasks'):
        assert getattr(flower.views.tasks, name) is getattr(flower.utils.tasks, name)
    assert (
        flower.views.tasks.QuerySyntaxError is flower.api.tasks.QuerySyntaxError is flower.utils.search.QuerySyntaxError
    )
    assert flower.events.options is auth.options is tornado.options.options


def test_command_names():
    import flower.command

    assert flower.command.strtobool('yes') is True and flower.command.strtobool(val='off') is False
    assert flower.command.validate_auth_option('.*@example.com') is True
    assert flower.command.validate_auth_option('*@*.example.com') is False
    for bad in ('ftp://rabbit:15672/api/', 'http://', ''):
        with pytest.raises(ValueError):
            flower.command.validate_broker_api(bad)
    assert flower.command.validate_broker_api('http://guest:guest@rabbit:15672/api/') is None
    assert flower.command.parse_config_file is tornado.options.parse_config_file


def test_parse_config_file_sets_flowers_options_on_tornados_global_options(tmp_path):
    import flower.command

    options = tornado.options.options
    before = options.max_tasks
    path = tmp_path / 'flowerconfig.py'
    path.write_text('max_tasks = 1234\n')
    try:
        flower.command.parse_config_file(str(path), final=False)
        assert options.max_tasks == 1234
    finally:
        options.max_tasks = before


def test_search_document_from_task():
    from flower.utils.search import SearchDocument

    task = SimpleNamespace(
        uuid='U-1',
        name='Tasks.Add',
        state='SUCCESS',
        worker=SimpleNamespace(hostname='W1@H'),
        args='(1, 2)',
        kwargs="{'User': 'Ann'}",
        result=None,
    )
    doc = SearchDocument.from_task(task)
    assert (doc.name, doc.state, doc.worker, doc.args, doc.result) == ('tasks.add', 'success', 'w1@h', '(1, 2)', '')
    assert doc.kwargs_pairs == frozenset({'user=ann'})
    assert doc.all_text.split('\x00')[:3] == ['u-1', 'tasks.add', 'success']


def test_redis_defaults_and_worker_page_limit():
    from flower.utils.broker import RedisBase
    from flower.views.workers import WorkerView

    assert RedisBase.DEFAULT_SEP == '\x06\x16' and RedisBase.DEFAULT_PRIORITY_STEPS == (0, 3, 6, 9)
    assert RedisBase.DEFAULT_SOCKET_TIMEOUT == 2.0 and RedisBase.DEFAULT_SOCKET_CONNECT_TIMEOUT == 1.0
    assert WorkerView.list_limit == 50


def test_strtobool_takes_flowers_parameter_name():
    from flower.utils import strtobool

    assert strtobool(val='1') is True
    with pytest.raises(ValueError):
        strtobool(val='maybe')


def test_events_load_state_reads_the_saved_state_into_a_new_state(tmp_path):
    from flower.events import Events, EventsState
    from flower.persistence import attach_persistence

    capp = Celery('names', broker='memory://', set_as_current=False)
    db = str(tmp_path / 'flower.db')
    first = Events(capp, db=db, persistent=True, enable_events=False)
    saver = attach_persistence(first).saver  # what the composition root does for every Events
    saver.start(None)
    first.state.event(worker_online('w1@h'))
    assert first.save_state()
    saver.close()

    second = Events(capp, db=db, persistent=True, enable_events=False)
    again = attach_persistence(second)
    loaded = second.load_state()
    assert isinstance(loaded, EventsState) and loaded is not second.state
    assert 'w1@h' in loaded.workers
    assert again.saver.path == saver.path
    again.saver.close()
    assert Events(capp, db=db, persistent=True, enable_events=False).load_state() is None  # nothing attached
    not_persistent = Events(capp, persistent=False, enable_events=False)
    attach_persistence(not_persistent)
    assert not_persistent.load_state() is None and not_persistent.save_state() is False
