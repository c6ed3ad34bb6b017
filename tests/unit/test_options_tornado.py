"""Options on tornado's object, as in Flower: every option of the table is defined on
``tornado.options.options`` (``flower.options.options``), validated values are written into it, and the
application reads it through at request time, so a run-time change is seen by what is derived from it."""

from __future__ import annotations

import collections.abc
import time
import types
from unittest import mock

import pytest
import tornado.options
from celery import Celery

from flower.options import ALL_OPTIONS, PROCESS_COOKIE_SECRET, LiveOptions, OptionError, Options, publish, resolve
from tests.support.tornado_options import restored_tornado_options


@pytest.fixture
def options():
    with restored_tornado_options() as opts:
        yield opts


def test_options_is_tornados_global_object_and_default_options_is_flowers_alias():
    from flower.options import default_options, options

    assert options is tornado.options.options
    assert default_options is options


@pytest.mark.parametrize('name', sorted(ALL_OPTIONS))
def test_every_option_of_the_table_is_defined_on_tornado_with_its_type_and_default(name):
    opt = ALL_OPTIONS[name]
    record = tornado.options.options._options[name.replace('_', '-')]
    expected_type = {'function': collections.abc.Callable, 'duration': float}.get(opt.type, opt.type)
    assert record.type is expected_type
    assert record.multiple == opt.multiple
    if name == 'cookie_secret':
        assert record.default == PROCESS_COOKIE_SECRET and len(record.default) > 60
    else:
        assert record.default == opt.default
    assert name in tornado.options.options


def test_tornados_own_logging_options_are_reused_not_redefined():
    record = tornado.options.options._options['logging']
    assert record.file_name.endswith('tornado/log.py')  # defined by tornado, where tornado defines it


def test_defining_again_is_harmless(options):
    from flower.options import define_options

    define_options()
    define_options(options)
    assert options.port == 5555


def test_validated_values_written_into_tornados_object(options, tmp_path):
    resolved = resolve(
        ['--port=6001', '--basic_auth=a:b,c:d', '--max_task_age=7d', '--read_only'],
        {'FLOWER_MAX_TASKS': '12'},
        cwd=str(tmp_path),
    )
    publish(resolved.options)
    assert (options.port, options.basic_auth, options.max_task_age, options.read_only, options.max_tasks) == (
        6001,
        ['a:b', 'c:d'],
        7 * 86400.0,
        True,
        12,
    )
    assert options.cookie_secret == resolved.options.cookie_secret


def test_a_config_file_may_set_options_on_tornados_object(options, tmp_path):
    (tmp_path / 'flowerconfig.py').write_text(
        'from flower.options import options\n'
        'options.port = 5678\n'
        'options.read_only = True\n'
        'options.basic_auth = ["u:p"]\n'
        'read_only = False  # a top-level name wins\n'
    )
    resolved = resolve(['--basic_auth=x:y'], {}, cwd=str(tmp_path))
    assert (resolved.options.port, resolved.options.read_only, resolved.options.basic_auth) == (
        5678,
        False,
        ['x:y'],
    )  # the command line wins over the file
    assert resolved.options.sources['port'] == 'config file'
    # resolving reads, it does not write: the object is as it was until the command publishes
    assert (options.port, options.read_only, options.basic_auth) == (5555, False, [])


def test_a_config_file_setting_a_bad_type_on_the_object_is_a_clear_error(options, tmp_path):
    (tmp_path / 'flowerconfig.py').write_text('from flower.options import options\noptions.port = "x"\n')
    with pytest.raises(OptionError, match="Config file .* failed to load: Error: Option 'port' is required to be"):
        resolve([], {}, cwd=str(tmp_path))
    assert options.port == 5555


def test_publish_refuses_a_value_of_the_wrong_type_with_the_option_named(options):
    with pytest.raises(OptionError, match="Cannot set option '--port' to 'x'"):
        publish({'port': 'x'})


def test_live_view_reads_through_writes_through_and_falls_back_to_defaults(options):
    live = Options.from_object(options)
    assert isinstance(live, LiveOptions)
    assert live.read_only is False
    options.read_only = True
    assert live.read_only is True
    with mock.patch.object(options.mockable(), 'basic_auth', ['u:p']):
        assert live.basic_auth == ['u:p']
    assert live.basic_auth == []
    live.max_tasks = 9
    assert options.max_tasks == 9
    assert live['max_tasks'] == 9 and 'max_tasks' in live and live.as_dict()['max_tasks'] == 9

    partial = Options.from_object(types.SimpleNamespace(port=1234, cookie_secret=None))
    assert (partial.port, partial.db, partial.max_tasks) == (1234, 'flower', 100000)
    assert partial.cookie_secret == PROCESS_COOKIE_SECRET  # never None: tornado needs one to sign cookies
    with pytest.raises(AttributeError):
        partial.not_an_option


def test_no_options_means_tornados_global_object_as_in_flower(options):
    live = Options.from_object(None)
    assert isinstance(live, LiveOptions) and live.source is options
    given = Options({'port': 1})
    assert Options.from_object(given) is given


def _app(opts):
    from flower.app import Flower

    return Flower(capp=Celery('t', broker='memory://', set_as_current=False), options=opts)


def test_app_reads_tornados_object_at_request_time_and_what_is_derived_follows(options):
    options.address = '127.0.0.1'
    app = _app(options)
    assert app.options.source is options
    assert not app.identity.enabled
    assert not app.allowed_hosts.any_host  # no authentication on a loopback address: loopback names only
    with mock.patch.object(options.mockable(), 'read_only', True):
        assert app.options.read_only is True
    assert app.options.read_only is False

    options.basic_auth = ['u:secret']
    assert app.identity.basic_enabled
    assert app.identity.basic_user('Basic dTpzZWNyZXQ=') == 'u'  # u:secret
    assert app.allowed_hosts.any_host  # with authentication, any Host name is answered
    options.basic_auth = []
    options.auth = '*@example.com'
    assert app.identity.oauth_enabled and not app.identity.basic_enabled
    assert app.identity.cookie_user('me@example.com') == 'me@example.com'
    assert app.identity.cookie_user('me@elsewhere.org') is None
    options.auth = ''
    assert not app.identity.enabled


def test_the_live_pages_read_purge_offline_workers_as_it_is_now(options):
    from tests.support.events import event

    app = _app(options)
    long_ago = time.time() - 3600
    app.events.state.event(event('worker-online', 'gone@host', timestamp=long_ago, local_received=long_ago))
    app.events.state.event(
        event('worker-heartbeat', 'gone@host', timestamp=long_ago, local_received=long_ago, freq=2.0)
    )
    workers = app.live.pages['workers']
    assert 'id="gone@host"' in workers.render(None).data['fragments']['workers-rows']
    options.purge_offline_workers = 30
    assert 'id="gone@host"' not in workers.render(None).data['fragments']['workers-rows']


def test_app_accepts_our_options_any_object_or_nothing(options):
    assert _app(Options({'read_only': True})).options.read_only is True
    assert _app(types.SimpleNamespace(read_only=True, max_tasks=5)).options.max_tasks == 5
    from flower.app import Flower

    app = Flower()
    assert app.options.port == 5555 and app.options.source is options


def test_reading_an_option_is_cheap():
    # handlers read options per request: a read must be an attribute lookup, not a failed one plus
    # __getattr__ (guarded loosely: the point is that it is a property, on both kinds of options)
    assert isinstance(vars(LiveOptions)['read_only'], property)
    assert isinstance(vars(Options)['read_only'], property)
