"""``flower.command`` has Flower 2.2's public names with Flower's signatures and meaning, so a script that
starts the server the way Flower's command does works: ``apply_env_options(); apply_options(prog, argv);
extract_settings(); setup_logging(); Flower(capp=..., options=options, **settings)``."""

from __future__ import annotations

import inspect
import logging
import types
from unittest import mock

import pytest
from celery import Celery

from flower import command
from flower.options import OptionError
from tests.support.tornado_options import restored_tornado_options

FLOWER_SIGNATURES = {
    'apply_env_options': '()',
    'apply_options': '(prog_name, argv)',
    'extract_settings': '()',
    'is_flower_option': '(arg)',
    'is_flower_envvar': '(name)',
    'sigterm_handler': '(signum, _)',
    'warn_about_celery_args_used_in_flower_command': '(ctx, flower_args)',
    'setup_logging': '()',
    'print_banner': '(app, ssl, port=None)',
}


@pytest.fixture
def options(monkeypatch):
    for name in [n for n in __import__('os').environ if n.startswith('FLOWER_')]:
        monkeypatch.delenv(name)
    with restored_tornado_options() as opts:
        yield opts


@pytest.mark.parametrize('name, signature', sorted(FLOWER_SIGNATURES.items()))
def test_flowers_names_have_flowers_signatures(name, signature):
    assert str(inspect.signature(getattr(command, name))) == signature


def test_flowers_module_level_names():
    import tornado.options

    from flower import urls

    assert command.ENV_VAR_PREFIX == 'FLOWER_'
    assert command.options is tornado.options.options and command.default_options is command.options
    assert command.settings is urls.settings
    from flower.app import Flower

    assert command.Flower is Flower
    with pytest.raises(AttributeError):
        command.no_such_name


def test_apply_env_options_writes_flower_variables_into_tornados_object(options, monkeypatch):
    monkeypatch.setenv('FLOWER_PORT', '6011')
    monkeypatch.setenv('FLOWER_BASIC_AUTH', 'a:b,c:d')
    monkeypatch.setenv('FLOWER_READ_ONLY', 'yes')
    monkeypatch.setenv('FLOWER_UNAUTHENTICATED_API', 'true')  # read where it is needed, not an option
    command.apply_env_options()
    assert (options.port, options.basic_auth, options.read_only) == (6011, ['a:b', 'c:d'], True)


def test_apply_env_options_refuses_a_bad_value_clearly(options, monkeypatch):
    monkeypatch.setenv('FLOWER_MAX_TASKS', 'lots')
    with pytest.raises(OptionError, match="Invalid value 'lots' for option '--max_tasks' .*FLOWER_MAX_TASKS"):
        command.apply_env_options()
    assert options.max_tasks == 100000


def test_apply_options_command_line_over_config_file_over_environment(options, monkeypatch, tmp_path):
    conf = tmp_path / 'custom.py'
    conf.write_text('port = 6022\nmax_tasks = 50\nurl_prefix = "fromfile"\n')
    monkeypatch.setenv('FLOWER_PORT', '6021')
    monkeypatch.setenv('FLOWER_MAX_WORKERS', '7')
    monkeypatch.setenv('FLOWER_URL_PREFIX', 'fromenv')
    command.apply_env_options()
    command.apply_options('flower', ['-A', 'proj', 'flower', f'--conf={conf}', '--port', '6023', '--broker=redis://'])
    assert (options.port, options.max_tasks, options.max_workers, options.url_prefix) == (6023, 50, 7, 'fromfile')


def test_apply_options_reads_the_default_config_file_of_the_working_directory(options, monkeypatch, tmp_path):
    (tmp_path / 'flowerconfig.py').write_text('read_only = True\n')
    monkeypatch.chdir(tmp_path)
    command.apply_options('flower', [])
    assert options.read_only is True


def test_apply_options_errors_are_ours(options, tmp_path):
    with pytest.raises(OptionError, match="Unknown option '--prot' \\(did you mean '--port'\\?\\)"):
        command.apply_options('flower', ['--prot=1'])
    with pytest.raises(OptionError, match="Config file '.*missing.py' does not exist"):
        command.apply_options('flower', [f'--conf={tmp_path}/missing.py'])
    with pytest.raises(OptionError, match="'--max_tasks' must be at least 1"):
        command.apply_options('flower', ['--max_tasks=0'])
    assert options.max_tasks == 100000  # nothing written when validation fails


def test_apply_options_leaves_options_other_code_defined_to_tornado(options):
    options.define('opts_test_colour', default='red', type=str)
    command.apply_options('flower', ['--opts_test_colour=blue', '--port=6031'])
    assert (options.opts_test_colour, options.port) == ('blue', 6031)


def test_apply_options_help_prints_ours_and_exits(options, capsys):
    with pytest.raises(SystemExit) as exited:
        command.apply_options('/usr/bin/flower', ['--help'])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith('Usage: flower ') and '--read_only' in out and '--max_pool_step' in out


def test_extract_settings_fills_flowers_settings_and_the_app_takes_them(options, monkeypatch):
    from flower.app import Flower

    monkeypatch.delenv('FLOWER_OAUTH2_KEY', raising=False)
    options.url_prefix = 'pre'
    options.debug = True
    options.cookie_secret = 'sekrit'
    options.auth = '*@example.com'
    options.oauth2_key = 'k'
    command.extract_settings()
    command.extract_settings()  # twice: nothing is prefixed twice
    settings = command.settings
    assert (settings['login_url'], settings['static_url_prefix']) == ('/pre/login', '/pre/static/')
    assert (settings['debug'], settings['cookie_secret']) == (True, 'sekrit')
    assert settings['oauth'] == {'key': 'k', 'secret': None, 'redirect_uri': None}
    assert 'ssl_options' not in settings

    app = Flower(capp=Celery('t', broker='memory://', set_as_current=False), options=options, **settings)
    assert app.settings['login_url'] == '/pre/login' and app.settings['cookie_secret'] == 'sekrit'
    assert app.options.url_prefix == 'pre'
    assert app.reverse_url('workers') == '/pre/workers'


def test_extract_settings_ssl_options_and_its_start_up_errors(options, tmp_path, caplog):
    options.certfile = str(tmp_path / 'c.pem')
    options.keyfile = str(tmp_path / 'k.pem')
    command.extract_settings()
    assert command.settings['ssl_options'] == {'certfile': str(tmp_path / 'c.pem'), 'keyfile': str(tmp_path / 'k.pem')}
    options.keyfile = None
    with pytest.raises(SystemExit) as exited, caplog.at_level(logging.ERROR, logger='flower.command'):
        command.extract_settings()
    assert exited.value.code == 1 and "Both 'certfile' and 'keyfile' are required" in caplog.text
    options.certfile = None
    options.auth = 'a*b*@example.com'
    with pytest.raises(SystemExit) as exited, caplog.at_level(logging.ERROR, logger='flower.command'):
        command.extract_settings()
    assert exited.value.code == 1 and "Invalid '--auth' option: a*b*@example.com" in caplog.text
    options.auth = ''
    options.broker_api = 'ftp://nowhere'
    with pytest.raises(SystemExit), caplog.at_level(logging.ERROR, logger='flower.command'):
        command.extract_settings()
    assert "Invalid '--broker-api' option" in caplog.text


@pytest.mark.parametrize(
    'arg, expected',
    [
        ('--port=1', True),
        ('--port', True),
        ('--read-only', True),
        ('--logging=debug', True),
        ('--max_pool_step=2', True),
        ('-A', False),
        ('proj', False),
        ('flower', False),
        ('--define=x', False),
        ('--', False),
        ('--prot=1', False),
    ],
)
def test_is_flower_option(arg, expected):
    assert command.is_flower_option(arg) is expected


@pytest.mark.parametrize(
    'name, expected',
    [
        ('FLOWER_PORT', True),
        ('FLOWER_BASIC_AUTH', True),
        ('FLOWER_LOGGING', True),
        ('FLOWER_UNAUTHENTICATED_API', False),
        ('FLOWER_PROT', False),
        ('CELERY_BROKER_URL', False),
        ('PORT', False),
    ],
)
def test_is_flower_envvar(name, expected):
    assert command.is_flower_envvar(name) is expected


def test_warn_about_celery_args_used_in_flower_command(caplog):
    params = [types.SimpleNamespace(opts=['-A', '--app']), types.SimpleNamespace(opts=['-b', '--broker'])]
    ctx = types.SimpleNamespace(parent=types.SimpleNamespace(command=types.SimpleNamespace(params=params)))
    with caplog.at_level(logging.WARNING, logger='flower.command'):
        found = command.warn_about_celery_args_used_in_flower_command(ctx, ['--broker=redis://', '--port=1'])
    assert found == ['--broker']
    assert "Celery options given after the flower command: ['--broker']" in caplog.text
    caplog.clear()
    assert command.warn_about_celery_args_used_in_flower_command(ctx, ['--port=1']) == []
    assert caplog.text == ''
    # without celery's command around it, our own table of celery's options is used
    assert command.warn_about_celery_args_used_in_flower_command(None, ['-A', 'x', '--result-backend=y']) == [
        '-A',
        '--result-backend',
    ]


def test_sigterm_handler_logs_and_exits_cleanly(caplog):
    with pytest.raises(SystemExit) as exited, caplog.at_level(logging.INFO, logger='flower.command'):
        command.sigterm_handler(15, None)
    assert exited.value.code == 0 and '15 detected, shutting down' in caplog.text


def test_setup_logging_reads_tornados_object(options):
    options.debug = True
    with mock.patch('tornado.log.enable_pretty_logging') as pretty:
        command.setup_logging()
    assert options.logging == 'debug'
    pretty.assert_called_once_with(options)
    assert logging.getLogger('tornado.access').disabled is False
    options.debug = False
    options.logging = 'none'
    with mock.patch('tornado.log.enable_pretty_logging') as pretty:
        command.setup_logging()
    pretty.assert_not_called()
    assert logging.getLogger('tornado.access').disabled is True


def test_print_banner_takes_the_celery_app_ssl_and_port(options, caplog):
    capp = Celery('t', broker='redis://:pw@example.org:6379/0', set_as_current=False)

    @capp.task(name='tasks.add')
    def add(x, y):
        return x + y

    options.url_prefix = 'pre'
    with caplog.at_level(logging.INFO, logger='flower.command'):
        command.print_banner(capp, True, 5601)
    assert 'Visit me at https://127.0.0.1:5601/pre/' in caplog.text
    assert 'Broker: redis://:**@example.org:6379/0' in caplog.text
    assert "'tasks.add'" in caplog.text
    caplog.clear()
    options.unix_socket = '/tmp/flower.sock'
    with caplog.at_level(logging.INFO, logger='flower.command'):
        command.print_banner(capp, False)
    assert 'Visit me via unix socket file: /tmp/flower.sock' in caplog.text
