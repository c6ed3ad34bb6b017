"""Strict parsing of the numbers, times and names a client sends as text: the one parser every API parameter
and page parameter goes through.

Python's ``int()`` and ``float()`` are lenient in ways an API must not be: they accept ``' 1000 '``,
``'1_000'``, Arabic-Indic or full-width digits, ``'nan'`` and ``'inf'``; ``strptime`` accepts ``'2024-1-5'``.
What a client sends is accepted here only when it matches a pattern that the OpenAPI document
(:mod:`flower.api.openapi`) publishes as it is, so the document and the server refuse exactly the same
requests:

* integers: ASCII digits ``0-9`` and an optional leading ``-``, which the range refuses where negatives mean
  nothing (``n=-1`` is ``Invalid n '-1': expected a whole number from 1 to 10``);
* numbers: the same, with an optional fraction and exponent (what JSON and ``repr(float)`` write);
* times: ``YYYY-MM-DD HH:MM`` (and for ``eta``/``expires`` seconds, a fraction and an offset), with the calendar
  in the pattern itself, so ``2024-02-30`` and ``2023-02-29`` do not match while ``2024-02-29`` does;
* names (queues, exchanges, routing keys, task ids): no control characters, not starting with a space, and
  short enough for an AMQP short string (255 bytes).

A refusal is :class:`InvalidValue` (a ``ValueError``) with a message for the client; the web layer answers 400.
Plain functions, no state: any thread may call them.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone


class InvalidValue(ValueError):
    """A value a client sent that cannot be used; ``message`` says why, in words for the client."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# -- numbers -----------------------------------------------------------------------------------------------------
# [0-9], never \d: in Python patterns \d also matches the digits of every other script.
SIGNED_INTEGER_PATTERN = r'^-?[0-9]+$'
NUMBER_PATTERN = r'^-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$'
MAX_DIGITS = 4300  # Python's own limit for turning text into an int


def _fullmatch(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern[1:-1], text) is not None  # the patterns are anchored for JSON Schema


def _malformed(raw, kind: str) -> InvalidValue:
    # Flower 2.2's words for an argument of the wrong type
    return InvalidValue(f"Invalid argument '{raw}' of type '{kind}'")


def _in_range(value, name: str, minimum, maximum, what: str):
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if minimum is not None and maximum is not None:
            bounds = f'from {minimum:g} to {maximum:g}'
        elif minimum is not None:
            bounds = f'of {minimum:g} or more'
        else:
            bounds = f'of {maximum:g} or less'
        shown = f'{value:g}' if isinstance(value, float) else str(value)
        raise InvalidValue(f"Invalid {name} '{shown}': expected {what} {bounds}")
    return value


def parse_int(raw: str, name: str, minimum: float | None = None, maximum: float | None = None) -> int:
    """``raw`` as an int: ASCII digits and an optional leading ``-`` (refused by the range, with the bounds in
    the message, where ``minimum`` rules negatives out)."""
    if not isinstance(raw, str) or len(raw) > MAX_DIGITS or not _fullmatch(SIGNED_INTEGER_PATTERN, raw):
        raise _malformed(raw, 'int')
    return _in_range(int(raw), name, minimum, maximum, 'a whole number')


def parse_float(raw: str, name: str, minimum: float | None = None, maximum: float | None = None) -> float:
    """``raw`` as a finite float written in ASCII decimal notation (no ``nan``, ``inf``, spaces or ``_``)."""
    if not isinstance(raw, str) or len(raw) > MAX_DIGITS or not _fullmatch(NUMBER_PATTERN, raw):
        raise _malformed(raw, 'float')
    value = float(raw)
    if not math.isfinite(value):
        raise InvalidValue(f"Invalid {name} '{raw}': expected a finite number")
    return _in_range(value, name, minimum, maximum, 'a number')


def whole_number(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """A JSON value that must be an integer (not a boolean, not ``1.0``) within the bounds."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(f"Invalid {name} '{value}': expected a whole number")
    return _in_range(value, name, minimum, maximum, 'a whole number')


# -- times -------------------------------------------------------------------------------------------------------
_YEAR = r'(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])'
_LEAP_YEAR = r'(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)'
_MONTH_DAY = (
    r'(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)'
    r'|02-(?:0[1-9]|1[0-9]|2[0-8]))'
)
DATE = rf'(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)'
_HOUR_MINUTE = r'(?:[01][0-9]|2[0-3]):[0-5][0-9]'
#: ``YYYY-MM-DD HH:MM``: the received_start/received_end filters (server local time)
MINUTE_PATTERN = rf'^{DATE} {_HOUR_MINUTE}$'
#: the same, or empty (a filter not given)
MINUTE_OR_EMPTY_PATTERN = rf'^(?:{MINUTE_PATTERN[1:-1]})?$'
#: ``YYYY-MM-DD HH:MM[:SS[.ffffff]]`` with a space or ``T``, and an optional ``Z`` or ``+HH:MM`` offset
TIME_PATTERN = rf'^{DATE}[ T]{_HOUR_MINUTE}(?::[0-5][0-9](?:\.[0-9]{{1,6}})?)?(?:Z|[-+]{_HOUR_MINUTE}|[-+](?:[01][0-9]|2[0-3])[0-5][0-9])?$'

_TIME_PARTS = re.compile(
    r'([0-9]{4})-([0-9]{2})-([0-9]{2})[ T]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?'
    r'(Z|[-+][0-9]{2}:?[0-9]{2})?'
)


def parse_time(raw: str, name: str, pattern: str = TIME_PATTERN, example: str = '2024-01-31 13:45:00') -> datetime:
    """``raw`` as a datetime when it matches ``pattern`` (a real date of the calendar); naive unless it has an
    offset."""
    # a caller's ``pattern`` narrows what is accepted; the parts are read by the one pattern of every date-time
    parts = _TIME_PARTS.fullmatch(raw) if isinstance(raw, str) and _fullmatch(pattern, raw) else None
    if parts is None:
        raise InvalidValue(f"Invalid {name} '{raw}': expected a date like {example}")
    year, month, day, hour, minute, second, fraction, offset = parts.groups()
    tz = None
    if offset == 'Z':
        tz = timezone.utc
    elif offset:
        sign = -1 if offset[0] == '-' else 1
        digits = offset[1:].replace(':', '')
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    return datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second or 0),
        int((fraction or '').ljust(6, '0')),
        tzinfo=tz,
    )


# -- names -------------------------------------------------------------------------------------------------------
MAX_NAME_BYTES = 255  # AMQP short strings
#: printable ASCII up to 255 characters, or any printable text up to 63 characters (at most 4 bytes each in
#: UTF-8, so never more than 252 bytes); no control characters (C0, DEL, C1), no leading space
NAME_PATTERN = (
    r'^(?:[\x21-\x7e][\x20-\x7e]{0,254}'
    r'|[^\x00-\x20\x7f-\x9f][^\x00-\x1f\x7f-\x9f]{0,62})$'
)


def parse_name(raw, what: str) -> str:
    """A queue, exchange, routing key or task id name that AMQP can carry and a log line can show."""
    if not isinstance(raw, str) or not _fullmatch(NAME_PATTERN, raw):
        raise InvalidValue(
            f'Invalid {what}: expected a name without control characters or a leading space, '
            'of at most 255 ASCII characters (63 when it has others)'
        )
    try:
        raw.encode('utf-8')
    except UnicodeEncodeError:  # lone surrogates from a JSON escape
        raise InvalidValue(f'Invalid {what}: not valid Unicode text') from None
    return raw
