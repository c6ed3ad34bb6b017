"""Retry recovery: rebuilding a finished task's call from its event record for ``/api/task/retry``.

:func:`recover_call` parses the ``args``/``kwargs`` reprs with :func:`ast.literal_eval` and nothing else (they
are attacker-controlled text), and refuses a call that cannot be recovered exactly with the reason
(:class:`~flower.control.errors.NotRetryable`, 409): shortened by Celery, truncated when stored, not a literal,
not sendable with the app's serializer. The task page offers Retry by the same rule (:func:`retry_refusal`).
Recovery reads an events record on the IOLoop thread; :func:`resend` publishes through
:class:`flower.runner.BlockingRunner`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from celery import states

from flower.control.checks import MAX_NAME_LENGTH
from flower.control.errors import NotRetryable
from flower.events.task import truncation
from flower.runner import BlockingRunner

RETRYABLE_STATES = frozenset(states.READY_STATES | {states.REJECTED})


@dataclass(frozen=True)
class RecoveredCall:
    """How to send a finished task again."""

    name: str
    args: list
    kwargs: dict
    options: dict


def _contains_ellipsis_or_cut_text(value, depth: int = 0) -> bool:
    """Celery's ``saferepr`` shortens long argument lists: items become ``...`` and long texts end in
    ``...``. Either means the repr is not the call that was made."""
    if depth > 100:
        return True
    if value is Ellipsis:
        return True
    if isinstance(value, str):
        return value.endswith('...')
    if isinstance(value, bytes):
        return value.endswith(b'...')
    if isinstance(value, dict):
        return any(
            _contains_ellipsis_or_cut_text(k, depth + 1) or _contains_ellipsis_or_cut_text(v, depth + 1)
            for k, v in value.items()
        )
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_contains_ellipsis_or_cut_text(item, depth + 1) for item in value)
    return False


def literal_from_repr(text, what: str):
    """The Python literal an event's ``args``/``kwargs`` repr stands for, or :class:`NotRetryable`."""
    if text is None:
        raise NotRetryable(f'The task cannot be retried: its {what} were not reported in its events')
    if not isinstance(text, str):
        raise NotRetryable(f'The task cannot be retried: its {what} were not reported as text')
    _kept, cut = truncation(text)
    if cut is not None and cut['by'] == 'celery':
        raise NotRetryable(
            f'The task cannot be retried: its {what} were shortened by Celery when the task was '
            f'sent (its {what}repr limit), so the call is not known whole'
        )
    if cut is not None:
        raise NotRetryable(
            f'The task cannot be retried: its {what} were truncated when stored '
            '(raise --task_args_max_length to keep them whole)'
        )
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise NotRetryable(f'The task cannot be retried: its {what} {text!r} are not a Python literal') from None
    if _contains_ellipsis_or_cut_text(value):
        raise NotRetryable(
            f'The task cannot be retried: its {what} were shortened by Celery when the task was '
            "sent (they contain '...')"
        )
    return value


def recover_call(task, serializer: str = 'json') -> RecoveredCall:
    """The name, args, kwargs and routing of the finished task ``task`` (an events record), checked to be
    sendable with ``serializer``; :class:`NotRetryable` says why not."""
    if task.state not in RETRYABLE_STATES:
        raise NotRetryable(f"The task cannot be retried: it is {task.state}, not finished")
    if not task.name or not isinstance(task.name, str):
        raise NotRetryable('The task cannot be retried: its name was not reported in its events')
    args = literal_from_repr(task.args, 'args')
    kwargs = literal_from_repr(task.kwargs if task.kwargs is not None else '{}', 'kwargs')
    if not isinstance(args, (list, tuple)):
        raise NotRetryable(f'The task cannot be retried: its args {task.args!r} are not a list')
    if not isinstance(kwargs, dict) or not all(isinstance(key, str) for key in kwargs):
        raise NotRetryable(f'The task cannot be retried: its kwargs {task.kwargs!r} are not keyword arguments')
    try:
        from kombu.serialization import dumps

        dumps([list(args), kwargs, {}], serializer=serializer)
    except Exception as exc:  # noqa: BLE001 - whatever the serializer refuses
        raise NotRetryable(
            f"The task cannot be retried: its arguments cannot be sent with the '{serializer}' serializer ({exc})"
        ) from None
    return RecoveredCall(task.name, list(args), kwargs, routing_options(task.exchange, task.routing_key))


def retry_refusal(task, serializer: str = 'json') -> str | None:
    """Why ``task`` cannot be retried (the 409 message of ``/api/task/retry``), or None when it can: the task
    page offers Retry by this same rule."""
    try:
        recover_call(task, serializer)
    except NotRetryable as exc:
        return str(exc)
    return None


def routing_options(exchange, routing_key) -> dict:
    """``send_task`` options that route a message as the original was routed.

    Through the default exchange (``''``, as Celery sends to its queues) the routing key is the queue's name, and
    Celery only keeps a routing key for the default exchange when it is given as the queue. A named exchange is
    given with its routing key. Anything else (nothing reported, not names) is left to the app's router."""

    def usable(name):
        return isinstance(name, str) and name != '' and len(name.encode('utf-8')) <= MAX_NAME_LENGTH

    if not usable(routing_key):
        return {}
    if exchange is None or exchange == '':
        return {'queue': routing_key}
    if usable(exchange):
        return {'exchange': exchange, 'routing_key': routing_key}
    return {}


async def resend(capp, runner: BlockingRunner, call: RecoveredCall) -> str:
    """Publish ``call`` by name (the task need not be registered here); returns the new task id."""

    def publish():
        return capp.send_task(call.name, args=call.args, kwargs=call.kwargs, **call.options).id

    return await runner.run('retry task', call.name, publish)
