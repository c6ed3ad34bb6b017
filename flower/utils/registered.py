"""Reading the entries of Celery's ``registered`` inspect reply. Pure functions, any thread.

A worker answers ``registered`` with one string per task: the task's name, followed by `` [key=value ...]``
when the task has a rate limit, exchange or routing key of its own (``celery.worker.control.registered``), for
example ``'app.limited [rate_limit=100/m]'``. That whole string is not a task name: posting it to the rate-limit
endpoint or filtering tasks by it finds nothing. Flower 2.2 cuts the suffix off; so do we, and show it apart.
"""

from __future__ import annotations

import re

# the decoration is always `` [`` + space-separated ``key=value`` pairs + ``]`` at the very end
_DECORATED = re.compile(r'^(?P<name>.+?) \[(?P<info>\w+=[^\[\]]*)\]$', re.S)


def split_registered(entry) -> tuple[str, str]:
    """``(task name, decoration)``: ``('app.limited', 'rate_limit=100/m')`` for
    ``'app.limited [rate_limit=100/m]'``, ``(entry, '')`` for a bare name (or anything that is not one)."""
    text = entry if isinstance(entry, str) else str(entry)
    match = _DECORATED.match(text)
    if match is None:
        return text, ''
    return match.group('name'), match.group('info')


def registered_name(entry) -> str:
    """The task name of a ``registered`` entry, without Celery's ``[key=value ...]`` decoration."""
    return split_registered(entry)[0]
