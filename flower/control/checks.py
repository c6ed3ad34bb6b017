"""Checking the parameters of control requests: numbers, names, signals, time limits, rate limits, waits.

Each check takes a value already parsed (a query parameter or a JSON value) and returns it converted, or raises
:class:`~flower.control.errors.InvalidInput` (400) with words for the client; nothing here talks to Celery's
workers. Also the bounds the API document publishes (:data:`MAX_WAIT`, :data:`MAX_DELAY`,
:data:`SIGNAL_SPELLINGS`). Pure functions, called on the IOLoop thread.
"""

from __future__ import annotations

import math
import signal as signal_module

from flower.control.errors import InvalidInput
from flower.utils import strict

MAX_WAIT = 3600.0  # longest wait a client may ask for (apply and result)
MAX_DELAY = 10 * 365 * 24 * 3600.0  # countdown/expires beyond ten years are mistakes (and overflow Celery)
MAX_NAME_LENGTH = strict.MAX_NAME_BYTES  # AMQP short strings: queue, exchange, routing key, task id


def _finite(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"Invalid {name} '{value}': expected a finite number")
    return float(value)


def whole(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number already parsed (a query parameter through :func:`flower.utils.strict.parse_int`, or a JSON
    value) within the bounds; anything else is :class:`InvalidInput`."""
    try:
        return strict.whole_number(value, name, minimum, maximum)
    except strict.InvalidValue as exc:
        raise InvalidInput(exc.message) from None


def short_name(value, what: str) -> str:
    """A queue, exchange or routing key name that AMQP can carry (:func:`flower.utils.strict.parse_name`)."""
    try:
        return strict.parse_name(value, what)
    except strict.InvalidValue as exc:
        raise InvalidInput(exc.message) from None


# Every spelling of a signal that revoke accepts: the upper-case name with or without SIG, or its number.
SIGNAL_SPELLINGS: dict[str, str] = {}
for _name, _signal in sorted(signal_module.Signals.__members__.items()):
    if _name.startswith('SIG') and not _name.startswith('SIG_'):
        SIGNAL_SPELLINGS[_name] = SIGNAL_SPELLINGS[_name[3:]] = _signal.name
        SIGNAL_SPELLINGS[str(int(_signal))] = _signal.name


def signal_name(value: str | None) -> str:
    """``'KILL'``, ``'SIGKILL'`` or ``'9'`` -> ``'SIGKILL'`` (``None``: SIGTERM); anything else, lower case and
    spaces included, is refused: the list is :data:`SIGNAL_SPELLINGS`, as the API document publishes it."""
    if value is None:
        return 'SIGTERM'
    name = SIGNAL_SPELLINGS.get(value) if isinstance(value, str) else None
    if name is None:
        raise InvalidInput(f"Invalid signal '{value}': expected a signal name such as SIGTERM or SIGKILL")
    return name


def time_limit_value(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    value = _finite(value, name)
    if not 0 <= value <= MAX_DELAY:
        raise InvalidInput(f"Invalid {name} '{value:g}': time limits are from 0 to {MAX_DELAY:g} seconds")
    return value


def rate_limit_value(value: str) -> str:
    """A Celery rate limit (``'10'``, ``'10/s'``, ``'100/m'``, ``'1000/h'``; empty or ``'0'`` lifts it), checked
    as the worker will, and finite and not negative."""
    from celery.utils.time import rate

    try:
        per_second = rate(value)
        valid = isinstance(value, str) and math.isfinite(per_second) and per_second >= 0
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError):
        valid = False
    if not valid:
        raise InvalidInput(
            f"Invalid rate limit '{value}': expected a number of tasks, optionally per s, m or h (for example 10/m)"
        )
    return value


def wait_seconds(value: float | None, name: str = 'timeout') -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 <= value <= MAX_WAIT
    ):
        raise InvalidInput(f"Invalid {name} '{value}': expected a number of seconds from 0 to {MAX_WAIT:g}")
    return float(value)
