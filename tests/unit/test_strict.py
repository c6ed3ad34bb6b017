"""flower.utils.strict: the one parser of numbers, dates and names sent as text. Python's own int()/float()/
strptime accept spaces, underscores, other scripts' digits, nan and impossible layouts; these do not, and what
they accept is exactly what the patterns published in the OpenAPI document match."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from flower.utils import strict
from flower.utils.strict import InvalidValue, parse_float, parse_int, parse_name, parse_time, whole_number


@pytest.mark.parametrize('text,expected', [('0', 0), ('7', 7), ('007', 7), ('10', 10), ('9' * 40, int('9' * 40))])
def test_ascii_digits_are_integers(text, expected):
    assert parse_int(text, 'n', minimum=0) == expected


@pytest.mark.parametrize(
    'text',
    [
        ' 1',
        '1 ',
        ' 1000 ',
        '1_000',
        '+1',
        '1.0',
        '1e3',
        '',
        '0x10',
        '\u0661\u0660\u0660\u0660',
        '\uff11',
        '\u00b2',
        '١',
        '1\n',
        '--1',
        'nan',
    ],
)
def test_anything_but_ascii_digits_is_refused_with_flowers_words(text):
    with pytest.raises(InvalidValue) as caught:
        parse_int(text, 'n', minimum=0)
    assert caught.value.message == f"Invalid argument '{text}' of type 'int'"


def test_a_minus_is_refused_by_the_range_where_negatives_mean_nothing():
    assert parse_int('-5', 'offset') == -5
    assert parse_int('-5', 'delta', minimum=-10) == -5
    assert parse_int('-0', 'n', minimum=0) == 0
    with pytest.raises(InvalidValue) as caught:
        parse_int('-5', 'n', minimum=1, maximum=10)
    assert caught.value.message == "Invalid n '-5': expected a whole number from 1 to 10"
    with pytest.raises(InvalidValue, match="Invalid limit '-1': expected a whole number of 0 or more"):
        parse_int('-1', 'limit', minimum=0)


def test_bounds_are_checked_and_named():
    assert parse_int('10', 'n', 1, 10) == 10
    with pytest.raises(InvalidValue) as caught:
        parse_int('11', 'n', 1, 10)
    assert caught.value.message == "Invalid n '11': expected a whole number from 1 to 10"
    with pytest.raises(InvalidValue, match="Invalid limit '5': expected a whole number of 6 or more"):
        parse_int('5', 'limit', minimum=6)
    with pytest.raises(InvalidValue, match='Invalid argument'):
        parse_int('1' * (strict.MAX_DIGITS + 1), 'n')


@pytest.mark.parametrize(
    'text,expected',
    [
        ('1', 1.0),
        ('0.5', 0.5),
        ('.5', 0.5),
        ('2.', 2.0),
        ('1e-3', 0.001),
        ('1E+2', 100.0),
        ('-3.5', -3.5),
        ('5e-324', 5e-324),
    ],
)
def test_numbers_are_decimal_ascii(text, expected):
    assert parse_float(text, 'x') == expected


@pytest.mark.parametrize(
    'text', ['nan', 'inf', '-inf', 'Infinity', ' 1', '1_0', '1,5', '\u0661', '', '.', 'e5', '0x1p3']
)
def test_other_numbers_are_refused(text):
    with pytest.raises(InvalidValue, match=re.escape(f"Invalid argument '{text}' of type 'float'")):
        parse_float(text, 'x')


def test_numbers_must_be_finite_and_in_range():
    with pytest.raises(InvalidValue, match="Invalid x '1e999': expected a finite number"):
        parse_float('1e999', 'x')
    with pytest.raises(InvalidValue, match="Invalid soft '-1': expected a number from 0 to 10"):
        parse_float('-1', 'soft', 0, 10)


def test_json_whole_numbers_are_ints_not_bools_or_floats():
    assert whole_number(3, 'priority', 0, 9) == 3
    for bad in (True, 1.0, '1', None, 10):
        with pytest.raises(InvalidValue, match='Invalid priority'):
            whole_number(bad, 'priority', 0, 9)


@pytest.mark.parametrize(
    'text',
    [
        '2024-02-29 00:00',
        '2000-02-29 23:59',
        '2023-12-31 12:30',
        '0001-01-01 00:00',
        '9999-12-31 23:59',
        '2024-04-30 10:00',
        '1600-02-29 00:00',
    ],
)
def test_real_dates_are_accepted(text):
    assert parse_time(text, 'received_start', strict.MINUTE_PATTERN) == datetime.strptime(text, '%Y-%m-%d %H:%M')


@pytest.mark.parametrize(
    'text',
    [
        '2024-02-30 00:00',
        '2023-02-29 00:00',
        '1900-02-29 00:00',
        '2024-04-31 00:00',
        '2024-13-01 00:00',
        '2024-00-10 00:00',
        '0000-01-01 00:00',
        '2024-01-01 24:00',
        '2024-01-01 10:60',
        '2024-1-5 10:00',
        '2024-01-05 1:00',
        ' 2024-01-05 10:00',
        '2024-01-05 10:00 ',
        '2024-01-05T10:00',
        '２０２４-01-05 10:00',
        '',
    ],
)
def test_impossible_or_loose_dates_are_refused(text):
    with pytest.raises(InvalidValue, match=re.escape(f"Invalid received_start '{text}'")):
        parse_time(text, 'received_start', strict.MINUTE_PATTERN)


def test_a_pattern_wider_than_a_date_time_is_refused_not_a_crash():
    # ``pattern`` narrows what is accepted; a text it lets through without a time is still no date-time
    with pytest.raises(InvalidValue, match=re.escape("Invalid day '2024-01-31': expected a date like 2024-01-31")):
        parse_time('2024-01-31', 'day', r'^.*$', example='2024-01-31')


def test_times_for_eta_take_seconds_fractions_and_offsets():
    assert parse_time('2024-01-31 13:45:00.000000', 'eta') == datetime(2024, 1, 31, 13, 45)
    assert parse_time('2024-01-31T13:45:07.5', 'eta') == datetime(2024, 1, 31, 13, 45, 7, 500000)
    assert parse_time('2024-01-31T13:45Z', 'eta') == datetime(2024, 1, 31, 13, 45, tzinfo=timezone.utc)
    assert parse_time('2024-01-31T13:45+05:30', 'eta').utcoffset() == timedelta(hours=5, minutes=30)
    assert parse_time('2024-01-31T13:45-0230', 'eta').utcoffset() == -timedelta(hours=2, minutes=30)
    for bad in (
        '2024-01-31T13:45+24:00',
        '2024-01-31T13:45:60',
        '2024-02-30T10:00',
        '2024-01-31T13:45:00.1234567',
        '2024-01-31',
        '2024-01-31T13:45+5',
    ):
        with pytest.raises(InvalidValue, match='Invalid eta'):
            parse_time(bad, 'eta')


def test_patterns_and_parsers_agree_on_every_day_of_four_centuries_edges():
    # the calendar in the pattern is the real one: every day datetime knows matches, and only those
    day = datetime(1899, 12, 25)
    while day < datetime(2101, 1, 5):
        text = day.strftime('%Y-%m-%d 00:00')
        assert re.fullmatch(strict.MINUTE_PATTERN[1:-1], text), text
        day += timedelta(days=1)
    for year in range(1896, 2105):
        leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0
        assert bool(re.fullmatch(strict.MINUTE_PATTERN[1:-1], f'{year}-02-29 00:00')) == leap, year


@pytest.mark.parametrize('name', ['celery', 'a b', 'tasks.high-priority', 'q' * 255, 'é' * 63, 'очередь', '日本'])
def test_names_amqp_can_carry_are_accepted(name):
    assert parse_name(name, 'queue') == name
    assert len(name.encode('utf-8')) <= 255


@pytest.mark.parametrize(
    'name',
    [
        '',
        ' ',
        ' lead',
        'bell\x07',
        'nul\x00',
        'tab\tq',
        'new\nline',
        'del\x7f',
        'c1\x85',
        'q' * 256,
        'é' * 64,
        'q\ud800',
        None,
        5,
    ],
)
def test_blank_control_or_oversized_names_are_refused(name):
    with pytest.raises(InvalidValue, match='Invalid queue'):
        parse_name(name, 'queue')
