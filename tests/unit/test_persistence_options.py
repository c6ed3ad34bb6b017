"""``--max_task_age``: durations from the command line, the environment and the config file, and bad ones."""

from __future__ import annotations

import pytest

from flower.options import OptionError, help_text, parse_duration, resolve


@pytest.mark.parametrize(
    'text, seconds',
    [
        ('7d', 7 * 86400),
        ('12h', 12 * 3600),
        ('30m', 1800),
        ('90s', 90),
        ('2w', 14 * 86400),
        ('1.5h', 5400),
        ('3600', 3600),
        (' 5 m ', 300),
        ('10D', 10 * 86400),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize('text', ['abc', '7 days', 'd', '-1d', '1h30m', '1e3'])
def test_bad_durations_are_errors(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_max_task_age_from_each_source(tmp_path):
    assert resolve([], {}, cwd=str(tmp_path)).options.max_task_age is None
    assert resolve(['--max_task_age=7d'], {}, cwd=str(tmp_path)).options.max_task_age == 7 * 86400
    assert resolve([], {'FLOWER_MAX_TASK_AGE': '12h'}, cwd=str(tmp_path)).options.max_task_age == 43200
    assert resolve([], {'FLOWER_MAX_TASK_AGE': ''}, cwd=str(tmp_path)).options.max_task_age is None
    (tmp_path / 'flowerconfig.py').write_text('max_task_age = 3600\n')
    assert resolve([], {}, cwd=str(tmp_path)).options.max_task_age == 3600
    (tmp_path / 'flowerconfig.py').write_text("max_task_age = '30m'\n")
    assert resolve([], {}, cwd=str(tmp_path)).options.max_task_age == 1800


@pytest.mark.parametrize(
    'argv, message',
    [
        (
            ['--max_task_age=soon'],
            "Invalid value 'soon' for option '--max_task_age' (from command line): expected a "
            "duration such as 7d, 12h, 30m or 90s",
        ),
        (['--max_task_age=0'], "Option '--max_task_age' must be longer than 0"),
        (['--max_task_age=0s'], "Option '--max_task_age' must be longer than 0"),
    ],
)
def test_bad_max_task_age_names_the_option(tmp_path, argv, message):
    with pytest.raises(OptionError) as info:
        resolve(argv, {}, cwd=str(tmp_path))
    assert message in str(info.value)


def test_help_shows_max_task_age_as_a_duration():
    assert '--max_task_age=DURATION' in help_text()
