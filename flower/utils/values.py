"""Reading values that came from Celery events, for pages, API answers and ``/metrics`` (runtime rule 8).

Events are checked when they are applied (:mod:`flower.events.sanitize`), but records also come from a
``--persistent`` database an older version wrote, from celery ``Worker`` objects that copy every field of an
event, and from extensions. So every read of a worker or task value that is formatted, compared or
computed with goes through one of these functions: a value that can't be used becomes ``None`` ("unknown":
a dash on a page, ``null`` in JSON, no sample in ``/metrics``) and is logged once per place it was met,
instead of failing the whole answer for everyone.

Pure functions (the once-only log aside); safe on any thread.
"""

from __future__ import annotations

import logging
import math

logger = logging.getLogger(__name__)

_reported: set[str] = set()


def unreadable(where: str, value, shown_as: str = 'unknown') -> None:
    """Log, once per ``where`` for the life of the process, that a value could not be used there."""
    if where not in _reported and len(_reported) < 1000:
        _reported.add(where)
        text = repr(value)
        logger.warning(
            'Showing %s as %s: %s is not a usable value (logged once)',
            where,
            shown_as,
            text[:120] + ('…' if len(text) > 120 else ''),
        )


def number(value, where: str = 'a number'):
    """A finite int or float (never a bool), else None."""
    if (type(value) is float and math.isfinite(value)) or type(value) is int:
        return value
    if value is not None:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return value  # a subclass (an IntEnum, a numpy-like float)
        unreadable(where, value)
    return None


def count(value, where: str = 'a count'):
    """A whole number of 0 or more (never a bool), else None."""
    if type(value) is int and value >= 0:
        return value
    if value is not None:
        unreadable(where, value)
    return None


def numbers(value, where: str = 'a list of numbers', limit: int = 3):
    """A list of at most ``limit`` finite numbers (a load average), else None."""
    if type(value) in (list, tuple) and len(value) <= limit:
        if all(type(item) in (int, float) and math.isfinite(item) for item in value):
            return list(value)
    if value is not None:
        unreadable(where, value)
    return None


def text(value, where: str = 'a text'):
    """Text as it is, None as None; anything else is unknown (None)."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, str):
        return str(value)
    unreadable(where, value)
    return None


def label(value, where: str = 'a name') -> str:
    """A name (a hostname, a task name) as text to show and link: text as it is, anything else as ``str()``
    (an integer hostname is still that worker's name)."""
    if type(value) is str:
        return value
    if value is None:
        return ''
    unreadable(where, value, 'text')
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - an object whose str() fails
        return '?'


def sort_key(value) -> tuple:
    """A key that orders any mix of values without raising: text first (as text orders), then the rest by
    their text."""
    if type(value) is str:
        return (0, value)
    return (1, label(value, 'a sort key'))
