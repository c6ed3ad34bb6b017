"""The precedence rule, pinned: command line > config file (--conf) > FLOWER_* environment > defaults, the same
through the command (:func:`flower.options.resolve`) and through Flower's adapters (``apply_env_options();
apply_options(prog, argv)``), which both layer in :func:`flower.options.layer_over`. And the one argv walker
(:func:`flower.options.walk`): splitting celery's arguments from flower's and parsing flower's group the words
the same way."""

from __future__ import annotations

import itertools

import pytest

from flower import command
from flower.options import OptionError, parse_command_line, resolve, split_argv, walk
from tests.support.tornado_options import restored_tornado_options

# one option per combination of layers that set it: (name, set on the command line, in the file, in the
# environment) -> the value that must win, and where it comes from
LAYERS = list(itertools.product([False, True], repeat=3))
VALUES = {'cli': '3', 'file': '2', 'env': '1'}
NAMES = [
    'max_tasks',
    'max_workers',
    'max_pool_step',
    'max_pool_size',
    'port',
    'task_args_max_length',
    'state_save_interval',
    'metrics_max_task_names',
]
DEFAULTS = {
    'max_tasks': 100000,
    'max_workers': 5000,
    'max_pool_step': 10,
    'max_pool_size': 0,
    'port': 5555,
    'task_args_max_length': 1024,
    'state_save_interval': 0,
    'metrics_max_task_names': 500,
}


def _layers(tmp_path):
    argv, file_lines, environ, expected = [], [], {}, {}
    for name, (cli, file, env) in zip(NAMES, LAYERS):
        if cli:
            argv.append(f'--{name}={VALUES["cli"]}')
        if file:
            file_lines.append(f'{name} = {VALUES["file"]}')
        if env:
            environ[f'FLOWER_{name.upper()}'] = VALUES['env']
        winner = 'cli' if cli else 'file' if file else 'env' if env else None
        expected[name] = (int(VALUES[winner]) if winner else DEFAULTS[name], winner)
    conf = tmp_path / 'layers.py'
    conf.write_text('\n'.join(file_lines) + '\n')
    return [f'--conf={conf}', *argv], environ, expected


def test_each_layer_wins_over_the_ones_below_it(tmp_path):
    argv, environ, expected = _layers(tmp_path)
    options = resolve(argv, environ, cwd=str(tmp_path)).options
    source_names = {'cli': 'command line', 'file': 'config file', 'env': 'environment', None: None}
    for name, (value, winner) in expected.items():
        assert getattr(options, name) == value, name
        assert options.sources.get(name) == source_names[winner], name


def test_flowers_adapters_apply_the_same_rule(tmp_path, monkeypatch):
    argv, environ, expected = _layers(tmp_path)
    for variable in [v for v in __import__('os').environ if v.startswith('FLOWER_')]:
        monkeypatch.delenv(variable)
    for variable, value in environ.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.chdir(tmp_path)
    with restored_tornado_options() as options:
        command.apply_env_options()
        command.apply_options('flower', argv)
        assert {name: getattr(options, name) for name in NAMES} == {
            name: value for name, (value, _) in expected.items()
        }


def test_the_config_file_named_in_the_environment_is_read_and_the_command_line_one_wins(tmp_path):
    (tmp_path / 'env.py').write_text('max_tasks = 11\nmax_workers = 12\n')
    (tmp_path / 'cli.py').write_text('max_tasks = 21\n')
    environ = {'FLOWER_CONF': str(tmp_path / 'env.py')}
    assert resolve([], environ, cwd=str(tmp_path)).options.max_workers == 12
    options = resolve([f'--conf={tmp_path / "cli.py"}'], environ, cwd=str(tmp_path)).options
    assert (options.max_tasks, options.max_workers) == (21, 5000)


@pytest.mark.parametrize(
    'argv, celery, flower',
    [
        (
            ['-A', 'proj', 'flower', '--db', 'flower', '--broker', 'redis://', '--debug'],
            ['-A', 'proj', '--broker', 'redis://'],
            ['--db', 'flower', '--debug'],
        ),
        (['--debug', 'no', 'flower', '-Aproj', '-q'], ['-Aproj', '-q'], ['--debug', 'no']),
        (['--port', '--broker=x'], [], ['--port', '--broker=x']),  # the option's missing value, not celery's
        (['--prot', 'flower', '--', '-A'], ['-A'], ['--prot', '--']),
    ],
)
def test_splitting_and_parsing_group_the_same_words(argv, celery, flower):
    assert split_argv(argv) == (celery, flower)
    assert [word for argument in walk(argv) for word in argument.words] == argv  # every word, in order, once


def test_an_option_followed_by_another_option_has_no_value():
    with pytest.raises(OptionError, match=r"Option '--port' requires a value \(an integer\)"):
        parse_command_line(['--port', '--broker=x'])
    assert parse_command_line(['--debug', 'off', '-Aproj']).values == {'debug': False}
