"""Options: every Flower option exists with Flower's default, values convert with clear errors, and the
precedence is command line > config file > FLOWER_* environment > defaults."""

from __future__ import annotations

import pytest

from flower.command import split_argv
from flower.options import ALL_OPTIONS, FLOWER_OPTIONS, OptionError, Options, help_text, parse_command_line, resolve

FLOWER_DEFAULTS = {
    'port': 5555,
    'address': '',
    'unix_socket': '',
    'debug': False,
    'inspect_timeout': 1000.0,
    'auth': '',
    'basic_auth': [],
    'oauth2_key': None,
    'oauth2_secret': None,
    'oauth2_redirect_uri': None,
    'max_workers': 5000,
    'max_tasks': 100000,
    'db': 'flower',
    'persistent': False,
    'state_save_interval': 0,
    'broker_api': None,
    'ca_certs': None,
    'certfile': None,
    'keyfile': None,
    'xheaders': False,
    'auto_refresh': True,
    'purge_offline_workers': None,
    'cookie_secret': None,
    'conf': 'flowerconfig.py',
    'enable_events': True,
    'format_task': None,
    'natural_time': False,
    'tasks_columns': 'name,uuid,state,received,runtime,worker',
    'auth_provider': None,
    'url_prefix': None,
    'task_runtime_metric_buckets': [
        0.005,
        0.01,
        0.025,
        0.05,
        0.075,
        0.1,
        0.25,
        0.5,
        0.75,
        1.0,
        2.5,
        5.0,
        7.5,
        10.0,
        float('inf'),
    ],
    'read_only': False,
}


def test_all_32_flower_options_with_flower_defaults():
    assert len(FLOWER_OPTIONS) == 32
    assert {opt.name: opt.default for opt in FLOWER_OPTIONS} == FLOWER_DEFAULTS


def test_tornado_logging_options_exist():
    for name in (
        'logging',
        'log_to_stderr',
        'log_file_prefix',
        'log_file_max_size',
        'log_file_num_backups',
        'log_rotate_mode',
        'log_rotate_when',
        'log_rotate_interval',
    ):
        assert name in ALL_OPTIONS


def test_help_lists_every_option():
    text = help_text()
    for name in ALL_OPTIONS:
        assert f'--{name}' in text


def test_forms_of_command_line_values():
    cli = parse_command_line(
        [
            '--port=1',
            '--max-tasks',
            '7',
            '--debug',
            '--natural_time=false',
            '--basic_auth=a:b,c:d',
            '--inspect_timeout=250.5',
            '--xheaders',
            'yes',
        ]
    )
    assert cli.values == {
        'port': 1,
        'max_tasks': 7,
        'debug': True,
        'natural_time': False,
        'basic_auth': ['a:b', 'c:d'],
        'inspect_timeout': 250.5,
        'xheaders': True,
    }


def test_celery_global_options_are_recognised_after_flower():
    cli = parse_command_line(['-A', 'proj', '--broker=redis://x', '--port=1', '-q'])
    assert cli.celery_args == {'app': 'proj', 'broker': 'redis://x', 'quiet': True}
    assert cli.values == {'port': 1}


@pytest.mark.parametrize(
    'argv, message',
    [
        (['--prot=5555'], "Unknown option '--prot' (did you mean '--port'?)"),
        (['--no_such_thing'], "Unknown option '--no_such_thing'."),
        (['--port=abc'], "Invalid value 'abc' for option '--port' (from command line): expected an integer"),
        (['--debug=maybe'], "Invalid value 'maybe' for option '--debug' (from command line): expected a boolean"),
        (['--inspect_timeout=x'], "expected a number"),
        (['--port'], "Option '--port' requires a value"),
        (['--format_task=x'], "Option '--format_task' can only be set in a config file"),
        (['stray'], "Unexpected argument 'stray'"),
    ],
)
def test_bad_command_lines_name_the_problem(argv, message):
    with pytest.raises(OptionError) as info:
        parse_command_line(argv)
    assert message in str(info.value)


def test_precedence_cli_over_file_over_env(tmp_path):
    conf = tmp_path / 'flowerconfig.py'
    conf.write_text('port = 2222\nmax_tasks = 30\nurl_prefix = "file"\n\ndef helper():\n    return 1\n')
    env = {'FLOWER_PORT': '1111', 'FLOWER_MAX_TASKS': '20', 'FLOWER_DB': 'envdb', 'FLOWER_URL_PREFIX': 'env'}
    resolved = resolve(['--port=3333'], env, cwd=str(tmp_path))
    opts = resolved.options
    assert (opts.port, opts.max_tasks, opts.db, opts.url_prefix) == (3333, 30, 'envdb', 'file')
    assert opts.sources['port'] == 'command line'
    assert opts.sources['max_tasks'] == 'config file'
    assert opts.sources['db'] == 'environment'
    assert opts.natural_time is False  # default


def test_config_file_named_explicitly_must_exist(tmp_path):
    assert resolve([], {}, cwd=str(tmp_path)).options.port == 5555  # missing default file is fine
    with pytest.raises(OptionError, match="does not exist"):
        resolve(['--conf=nope.py'], {}, cwd=str(tmp_path))


def test_config_file_errors_and_misspellings(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text('port = "many"\n')
    with pytest.raises(OptionError, match=r"Invalid value 'many' for option '--port' \(from config file"):
        resolve([f'--conf={bad}'], {}, cwd=str(tmp_path))
    broken = tmp_path / 'broken.py'
    broken.write_text('port = (\n')
    with pytest.raises(OptionError, match='failed to load: SyntaxError'):
        resolve([f'--conf={broken}'], {}, cwd=str(tmp_path))
    typo = tmp_path / 'typo.py'
    typo.write_text('max_task = 10\n')
    resolved = resolve([f'--conf={typo}'], {}, cwd=str(tmp_path))
    assert any("'max_task'" in w and "'max_tasks'" in w for w in resolved.warnings)


def test_format_task_only_from_config_file(tmp_path):
    conf = tmp_path / 'flowerconfig.py'
    conf.write_text('def format_task(task):\n    return task\n')
    assert callable(resolve([], {}, cwd=str(tmp_path)).options.format_task)
    with pytest.raises(OptionError, match='only be set in a config file'):
        resolve([], {'FLOWER_FORMAT_TASK': 'x'}, cwd=str(tmp_path))


def test_environment_values_convert_and_typos_warn(tmp_path):
    resolved = resolve(
        [],
        {
            'FLOWER_DEBUG': 'yes',
            'FLOWER_BASIC_AUTH': 'u:p,v:q',
            'FLOWER_PRT': '1',
            'FLOWER_UNAUTHENTICATED_API': 'true',
        },
        cwd=str(tmp_path),
    )
    assert resolved.options.debug is True
    assert resolved.options.basic_auth == ['u:p', 'v:q']
    assert any('FLOWER_PRT' in w and 'FLOWER_PORT' in w for w in resolved.warnings)
    with pytest.raises(OptionError, match='environment variable FLOWER_MAX_TASKS'):
        resolve([], {'FLOWER_MAX_TASKS': 'lots'}, cwd=str(tmp_path))


@pytest.mark.parametrize(
    'variable, meant',
    [
        ('FLOWER_PROT', 'FLOWER_PORT'),  # as close as --prot is to --port, which the command line names
        ('FLOWER_BASIC_AUTHS', 'FLOWER_BASIC_AUTH'),
        ('FLOWER_UNAUTHENTICATED_APl', 'FLOWER_UNAUTHENTICATED_API'),  # read directly, not an option
        ('FLOWER_UNAUTHENTICATE_API', 'FLOWER_UNAUTHENTICATED_API'),
        ('FLOWER_GITLAB_OAUTH_DOMIAN', 'FLOWER_GITLAB_OAUTH_DOMAIN'),
    ],
)
def test_misspelt_environment_variables_are_reported_with_the_one_meant(tmp_path, variable, meant):
    resolved = resolve([], {variable: '1'}, cwd=str(tmp_path))
    assert resolved.warnings == [f'Environment variable {variable} is not an option; did you mean {meant}?']


@pytest.mark.parametrize(
    'variable',
    [
        'FLOWER_UNAUTHENTICATED_API',
        'FLOWER_DATA_DIR',
        'FLOWER_OAUTH2_OKTA_BASE_URL',
        'FLOWER_PASSWORD',
        'FLOWER_TEST_BROKER',
        'FLOWER_PORT',
    ],
)
def test_variables_read_directly_and_other_tools_are_not_reported(tmp_path, variable):
    assert resolve([], {variable: '1'}, cwd=str(tmp_path)).warnings == []


@pytest.mark.parametrize(
    'argv, message',
    [
        (['--certfile=a.pem'], "'--certfile' and '--keyfile' must be given together"),
        (['--max_tasks=0'], "'--max_tasks' must be at least 1"),
        (['--basic_auth=nopassword'], "Invalid '--basic_auth' entry 'nopassword'"),
        (['--task_runtime_metric_buckets=1,0.5'], 'must be a non-empty increasing list'),
        (['--port=70000'], 'expected 0 to 65535'),
    ],
)
def test_cross_checks(tmp_path, argv, message):
    with pytest.raises(OptionError, match=message.replace('(', r'\(').replace(')', r'\)')):
        resolve(argv, {}, cwd=str(tmp_path))


def test_random_cookie_secret_is_known_to_be_random():
    assert Options().cookie_secret_is_random
    assert not Options({'cookie_secret': 'x'}).cookie_secret_is_random
    assert Options().cookie_secret != Options().cookie_secret


def test_options_from_any_object():
    class Legacy:
        port = 1234
        max_tasks = 7

    opts = Options.from_object(Legacy())
    assert (opts.port, opts.max_tasks, opts.db) == (1234, 7, 'flower')


def test_split_argv_moves_celery_options_and_drops_flower_token():
    assert split_argv(['-A', 'proj', 'flower', '--db', 'flower', '--broker', 'redis://', '--debug']) == (
        ['-A', 'proj', '--broker', 'redis://'],
        ['--db', 'flower', '--debug'],
    )


def test_pool_limit_options_default_to_a_step_of_ten_and_no_cap(tmp_path):
    options = resolve([], {}, cwd=str(tmp_path)).options
    assert (options.max_pool_step, options.max_pool_size) == (10, 0)
    options = resolve(['--max_pool_step=2'], {'FLOWER_MAX_POOL_SIZE': '16'}, cwd=str(tmp_path)).options
    assert (options.max_pool_step, options.max_pool_size) == (2, 16)
    with pytest.raises(OptionError, match="'--max_pool_step' must be at least 1"):
        resolve(['--max_pool_step=0'], {}, cwd=str(tmp_path))
    with pytest.raises(OptionError, match="'--max_pool_size' must be 0 \\(no cap\\) or more"):
        resolve(['--max_pool_size=-1'], {}, cwd=str(tmp_path))
