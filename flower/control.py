"""Changing the cluster: worker control, task control and task execution, as plain objects.

The ``/api/worker/*`` and ``/api/task/*`` handlers are thin; what they do lives here, free of tornado.web, so
it is unit-tested without a server:

* :class:`WorkerControl` sends control commands (pool, consumers, limits, revoke, shutdown) and reads the
  workers' replies (:func:`reply_from`): a reply is a success only when the addressed worker answered ``ok``.
* :class:`PoolLimits` keeps one call from forking a host out of memory (``--max_pool_step``,
  ``--max_pool_size``): what the request alone breaks is a 400, what breaks only given the pool's current size
  (as last inspected, :func:`pool_size`) is a 409. :class:`PoolChanges` runs pool changes one at a time and
  refreshes the worker's stats after each, so a cap cannot be passed by two quick grows.
* :meth:`TaskExecution.check_arguments` runs Celery's own argument check before publishing, so its
  ``TypeError`` (and only that one) is a 400 with Celery's words.
* :class:`TaskExecution` publishes tasks, waits a bounded time for results, reads results and aborts.
* :func:`parse_apply_body` turns the JSON body of apply/async-apply/send-task into arguments and
  ``apply_async`` options, refusing anything Celery would choke on (so a client never causes a 500).
* :func:`recover_call` rebuilds a finished task's call (name, args, kwargs, routing) from its event record
  for ``/api/task/retry``: the reprs are parsed with :func:`ast.literal_eval` and nothing else, and a call that
  cannot be recovered exactly is refused with the reason.

Every blocking Celery/kombu/backend call goes through :class:`flower.runner.BlockingRunner`. The coroutines
here are awaited on the IOLoop thread; the plain functions they hand to the runner run on its threads and touch
no events state. Errors are :class:`ControlError` subclasses carrying a message for the client; the web layer
gives each its HTTP status.
"""

from __future__ import annotations

import ast
import asyncio
import json
import math
import re
import signal as signal_module
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Awaitable, Callable

from celery import states

from flower.events.task import truncation
from flower.runner import BlockingRunner
from flower.utils import strict

DEFAULT_APPLY_TIMEOUT = 30.0     # seconds /api/task/apply waits for a result unless told otherwise
MAX_WAIT = 3600.0                # longest wait a client may ask for (apply and result)
MAX_DELAY = 10 * 365 * 24 * 3600.0   # countdown/expires beyond ten years are mistakes (and overflow Celery)
MAX_PROCESSES = 10000            # the largest autoscale bound
MAX_NAME_LENGTH = strict.MAX_NAME_BYTES  # AMQP short strings: queue, exchange, routing key, task id
MAX_PRIORITY = 255
RETRYABLE_STATES = frozenset(states.READY_STATES | {states.REJECTED})


# -- errors ---------------------------------------------------------------------------------------------------
class ControlError(Exception):
    """Something the client asked for cannot be done; ``message`` says why, in words for the client."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(ControlError):
    """A parameter or body that cannot be used (HTTP 400)."""


class UnknownWorker(ControlError):
    """No such worker (HTTP 404)."""

    def __init__(self, name: str):
        super().__init__(f"Unknown worker '{name}'")
        self.name = name


class UnknownTask(ControlError):
    """No such task name or task id (HTTP 404)."""

    def __init__(self, name: str):
        super().__init__(f"Unknown task '{name}'")
        self.name = name


class CommandFailed(ControlError):
    """The worker refused the command or did not answer (HTTP 403, as Flower)."""


class PoolLimitReached(ControlError):
    """The pool change would take the worker's pool past a limit given its current size (HTTP 409)."""


class NotRetryable(ControlError):
    """The task cannot be re-sent as it was (HTTP 409)."""


class NoResultBackend(ControlError):
    """The operation needs a result backend and none is configured (HTTP 503)."""

    def __init__(self):
        super().__init__('No result backend is configured')


# -- replies ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkerReply:
    """What one worker answered to a control command: ``ok`` and the text it gave (or the failure reason)."""
    ok: bool
    text: str


def _entry_for(workername: str, replies) -> Any:
    for reply in replies or ():
        if isinstance(reply, dict) and workername in reply:
            return reply[workername]
    return None


def reply_from(workername: str, replies, timeout: float | None = None) -> WorkerReply:
    """Read ``workername``'s answer among the broadcast ``replies`` (a list of ``{hostname: {...}}``).

    Flower looked only at the first reply and failed with a KeyError when another worker answered first; any
    position is accepted here, and a missing answer is a failure that says so."""
    entry = _entry_for(workername, replies)
    if entry == 'ok':
        # not what a worker sends, but what Flower's own tests make a patched ``capp.control`` method return
        # (``[{'worker': 'ok'}]``), and Flower takes it for a success: tests written for Flower keep passing
        return WorkerReply(True, 'ok')
    if isinstance(entry, dict) and 'ok' in entry:
        return WorkerReply(True, str(entry['ok']))
    if isinstance(entry, dict) and 'error' in entry:
        return WorkerReply(False, str(entry['error']))
    if entry is None and not replies:
        wait = f' within {timeout:g}s' if timeout else ''
        return WorkerReply(False, f"no reply from '{workername}'{wait}")
    return WorkerReply(False, 'Unknown reason')


def error_reason(workername: str, replies) -> str:
    """The reason a command failed on ``workername`` (Flower's ``ControlHandler.error_reason``)."""
    reply = reply_from(workername, replies)
    return 'Unknown reason' if reply.ok else reply.text


# -- parameter checks ---------------------------------------------------------------------------------------------
def _finite(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"Invalid {name} '{value}': expected a finite number")
    return float(value)


CELERY_REPLY_TIMEOUT = 1.0  # Celery's default for a control command's replies


# -- pool limits ----------------------------------------------------------------------------------------------------
DEFAULT_MAX_POOL_STEP = 10       # --max_pool_step: processes one grow/shrink may add or remove


def pool_size(info: dict | None) -> int | None:
    """How many processes (or threads) a worker's pool had when it was last inspected: the length of
    ``stats.pool.processes`` (it follows grow/shrink and the autoscaler), else ``stats.pool.max-concurrency``
    (thread and solo pools report only that); ``None`` when the worker did not report either."""
    pool = ((info or {}).get('stats') or {}).get('pool')
    if not isinstance(pool, dict):
        return None
    processes = pool.get('processes')
    if isinstance(processes, list):
        return len(processes)
    concurrency = pool.get('max-concurrency')
    if isinstance(concurrency, int) and not isinstance(concurrency, bool):
        return concurrency
    return None


def autoscaler_max(info: dict | None) -> int | None:
    """The ``max`` of the worker's autoscaler when it runs one (``stats.autoscaler.max``)."""
    autoscaler = ((info or {}).get('stats') or {}).get('autoscaler')
    value = autoscaler.get('max') if isinstance(autoscaler, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class PoolLimits:
    """How far one API call may change a worker's pool (``--max_pool_step``, ``--max_pool_size``).

    * grow/shrink: ``n`` from 1 to ``step``; a grow is also refused when the pool's size as last inspected plus
      ``n`` would exceed ``cap`` (when a cap is set), and a shrink when it would leave the pool no process: a
      worker with an empty pool still takes tasks from its queues and holds them unrun, which looks like a hung
      worker (Celery's autoscaler, which may scale to zero, grows again when tasks wait; a bare shrink never
      does);
    * autoscale: both bounds from 0 to ``cap`` (or :data:`MAX_PROCESSES` without a cap), taken in either order
      as Celery's ``--autoscale=10,3`` takes them; without a cap, ``max`` may exceed the larger of the pool's
      size and its autoscaler's current ``max`` by at most ``step``, so one call never lets the autoscaler fork
      more than ``step`` new processes at once (a pool whose size is unknown counts as empty).

    What the request alone breaks is :class:`InvalidInput` (400); what breaks only because of the worker's
    current pool is :class:`PoolLimitReached` (409), as is a rule that needs a pool size the worker has not
    reported."""
    step: int = DEFAULT_MAX_POOL_STEP
    cap: int = 0  # 0: no cap

    @property
    def largest_bound(self) -> int:
        return self.cap or MAX_PROCESSES

    def step_size(self, n: int) -> int:
        return whole(n, 'n', 1, self.step)

    def grow(self, workername: str, n: int, info: dict | None) -> int:
        n = self.step_size(n)
        if self.cap:
            current = self._known_size(workername, info, 'grow its pool')
            if current + n > self.cap:
                raise PoolLimitReached(
                    f"Cannot grow '{workername}' worker's pool by {n}: it has {_processes(current)} and "
                    f'--max_pool_size is {self.cap}')
        return n

    def shrink(self, workername: str, n: int, info: dict | None) -> int:
        n = self.step_size(n)
        current = pool_size(info)
        # an unknown size is let through: the worker refuses a shrink it cannot do ("All processes busy")
        if current is not None and current - n < 1:
            raise PoolLimitReached(
                f"Cannot shrink '{workername}' worker's pool by {n}: it has {_processes(current)}, and a pool "
                'needs one at least to run tasks (use autoscale with min=0 to let it scale to none when idle)')
        return n

    def autoscale(self, workername: str, minimum: int, maximum: int, info: dict | None) -> tuple[int, int]:
        minimum = whole(minimum, 'min', 0, self.largest_bound)
        maximum = whole(maximum, 'max', 0, self.largest_bound)
        minimum, maximum = min(minimum, maximum), max(minimum, maximum)
        if not self.cap:
            # a pool of unknown size is taken as empty: max up to one step is allowed (as Flower allows any),
            # so one call still never lets the autoscaler fork more than --max_pool_step processes
            current = pool_size(info)
            if current is None and maximum > self.step:
                self._known_size(workername, info, f"autoscale '{workername}' worker to max={maximum}, more than "
                                                   f'--max_pool_step ({self.step}) above an empty pool')
            current = current or 0
            base = max(current, autoscaler_max(info) or 0)
            if maximum > base + self.step:
                raise PoolLimitReached(
                    f"Cannot autoscale '{workername}' worker to max={maximum}: its pool has {_processes(current)}"
                    f"{f' and autoscales up to {base}' if base > current else ''}, and one call may raise that "
                    f'by --max_pool_step ({self.step}) at most; set --max_pool_size to allow larger ranges')
        return minimum, maximum

    @staticmethod
    def _known_size(workername: str, info: dict | None, action: str) -> int:
        current = pool_size(info)
        if current is None:
            raise PoolLimitReached(f"Cannot {action}: the pool size of '{workername}' is unknown (its stats "
                                   'did not report one); refresh /api/workers and try again')
        return current


def _processes(count: int) -> str:
    return f"{count} process{'' if count == 1 else 'es'}"


class PoolChanges:
    """Serialises the pool-changing commands (grow, shrink, autoscale, restart) and refreshes the worker's
    inspected stats after each, so the next limit check sees the size the last change left, not an older one.

    A worker answers a grow before its new processes exist, so when the change has a known outcome (grow and
    shrink: the size before plus or minus ``n``) the stats are asked again until they show it, for at most
    :attr:`settle_timeout` seconds more than one inspection can take. Only a grow needs this to be safe: stale
    stats after a shrink or an autoscale make the next check stricter, not looser. Lives on the application;
    used on the IOLoop thread only."""

    settle_timeout = 3.0
    settle_interval = 0.2

    def __init__(self, inspector):
        self.inspector = inspector
        self._lock = asyncio.Lock()

    async def change(self, workername: str, operation: Callable[[dict | None], Awaitable[str]],
                     resize: Callable[[int], int] | None = None) -> str:
        """``await operation(info)`` with the worker's inspected data (it checks the limits against it and sends
        the command), then refresh that data; ``resize(size_before)`` is the size the change should leave."""
        async with self._lock:
            info = self.inspector.workers.get(workername)
            before = pool_size(info)
            answer = await operation(info)
            expected = resize(before) if resize is not None and before is not None else None
            # a refresh of every worker already under way is joined, and it may have asked before the command
            # and wait the whole inspect timeout: the bound allows for one of those
            deadline = time.monotonic() + self.settle_timeout + getattr(self.inspector, 'timeout', 0)
            while True:
                try:
                    await self.inspector.inspect(workername)
                except Exception:  # noqa: BLE001 - the inspector logs its own failures; the command succeeded
                    break
                if expected is None or pool_size(self.inspector.workers.get(workername)) == expected \
                        or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(self.settle_interval)
            return answer


# -- parameter checks ---------------------------------------------------------------------------------------------
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
        raise InvalidInput(f"Invalid rate limit '{value}': expected a number of tasks, optionally per s, m or h "
                           "(for example 10/m)")
    return value


def wait_seconds(value: float | None, name: str = 'timeout') -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= MAX_WAIT:
        raise InvalidInput(f"Invalid {name} '{value}': expected a number of seconds from 0 to {MAX_WAIT:g}")
    return float(value)


# -- workers ------------------------------------------------------------------------------------------------------
async def ask_worker(inspector, workername: str | None) -> bool:
    """Inspect ``workername`` now, on its own, and say whether the inspector knows it afterwards.

    Used before calling a worker unknown: a worker that has just started (or sends no events) is in no cache
    yet, and answers when asked. A worker that does not answer within the inspect timeout is unknown. Failures
    are the inspector's to log."""
    if not workername:
        return False
    try:
        await inspector.inspect(workername)
    except Exception:  # noqa: BLE001 - the inspector logs its own failures; unknown is the answer
        return False
    return workername in inspector.workers


class WorkerControl:
    """Control commands for one worker (or, for revoke, the whole cluster); each returns the text for the
    client or raises :class:`CommandFailed` with Flower's message.

    Each command is called on ``capp.control`` exactly as Flower 2.2 calls it: ``pool_grow``, ``pool_shrink``,
    ``time_limit``, ``rate_limit`` and ``revoke`` through Celery's method of that name, the others through
    ``broadcast`` with Flower's arguments. The method is looked up when the command is sent, so code that wraps
    or patches one (a test's ``MagicMock`` and its ``assert_called_once_with`` written for Flower) sees Flower's
    call. Every command but revoke is addressed to the one worker."""

    def __init__(self, capp, runner: BlockingRunner, reply_timeout: float = CELERY_REPLY_TIMEOUT,
                 limits: PoolLimits = PoolLimits()):
        self.capp = capp
        self.runner = runner
        self.reply_timeout = reply_timeout
        self.limits = limits

    async def _send(self, workername: str, operation: str, method: str, *args, **kwargs):
        """``capp.control.<method>(*args, **kwargs)`` on the runner; the replies. Celery's own reply timeout
        is left implicit, so the call is Flower's; a longer ``--inspect_timeout`` is passed as ``timeout``."""
        if self.reply_timeout != CELERY_REPLY_TIMEOUT:
            kwargs['timeout'] = self.reply_timeout

        def call():
            return getattr(self.capp.control, method)(*args, **kwargs)
        return await self.runner.run(operation, workername, call, timeout=self.reply_timeout + 10.0)

    async def _command(self, workername: str, operation: str, failure: Callable[[str], str], method: str, *args,
                       **kwargs) -> str:
        """Send ``operation`` and read the worker's answer: its words, or :class:`CommandFailed` with
        ``failure(reason)``, Flower's message for it."""
        replies = await self._send(workername, operation, method, *args, **kwargs)
        answer = reply_from(workername, replies, self.reply_timeout)
        if not answer.ok:
            raise CommandFailed(failure(answer.text))
        return answer.text

    async def _broadcast(self, workername: str, command: str, failure: Callable[[str], str],
                         arguments: dict) -> str:
        return await self._command(workername, command, failure, 'broadcast', command, reply=True,
                                   destination=[workername], arguments=arguments)

    async def shutdown(self, workername: str) -> str:
        await self._send(workername, 'shutdown', 'broadcast', 'shutdown', destination=[workername])
        return 'Shutting down!'

    async def pool_restart(self, workername: str) -> str:
        await self._broadcast(workername, 'pool_restart',
                              lambda why: f"Failed to restart the '{workername}' pool: {why}", {'reload': False})
        return f"Restarting '{workername}' worker's pool"

    async def pool_grow(self, workername: str, n: int, info: dict | None = None) -> str:
        """Grow by ``n`` within :attr:`limits`; ``info`` is what the worker last reported to inspect."""
        n = self.limits.grow(workername, n, info)
        await self._command(workername, 'pool_grow',
                            lambda why: f"Failed to grow '{workername}' worker's pool: {why}", 'pool_grow',
                            n=n, reply=True, destination=[workername])
        return f"Growing '{workername}' worker's pool by {n}"

    async def pool_shrink(self, workername: str, n: int, info: dict | None = None) -> str:
        """Shrink by ``n`` within :attr:`limits`, never to no process at all."""
        n = self.limits.shrink(workername, n, info)
        await self._command(workername, 'pool_shrink',
                            lambda why: f"Failed to shrink '{workername}' worker's pool: {why}", 'pool_shrink',
                            n=n, reply=True, destination=[workername])
        return f"Shrinking '{workername}' worker's pool by {n}"

    async def autoscale(self, workername: str, minimum: int, maximum: int, info: dict | None = None) -> str:
        minimum, maximum = self.limits.autoscale(workername, minimum, maximum, info)
        await self._broadcast(workername, 'autoscale', lambda why: f"Failed to autoscale '{workername}' worker: {why}",
                              {'min': minimum, 'max': maximum})
        return f"Autoscaling '{workername}' worker (min={minimum}, max={maximum})"

    async def add_consumer(self, workername: str, queue: str) -> str:
        queue = short_name(queue, 'queue')
        return await self._broadcast(
            workername, 'add_consumer',
            lambda why: f"Failed to add '{queue}' consumer to '{workername}' worker: {why}", {'queue': queue})

    async def cancel_consumer(self, workername: str, queue: str) -> str:
        queue = short_name(queue, 'queue')
        return await self._broadcast(
            workername, 'cancel_consumer',
            lambda why: f"Failed to cancel '{queue}' consumer from '{workername}' worker: {why}", {'queue': queue})

    async def time_limit(self, workername: str, task_name: str, hard: float | None, soft: float | None) -> str:
        hard = time_limit_value(hard, 'hard')
        soft = time_limit_value(soft, 'soft')
        return await self._command(workername, 'time_limit', lambda why: f"Failed to set timeouts: '{why}'",
                                   'time_limit', task_name, hard=hard, soft=soft, destination=[workername],
                                   reply=True)

    async def rate_limit(self, workername: str, task_name: str, ratelimit: str) -> str:
        ratelimit = rate_limit_value(ratelimit)
        return await self._command(workername, 'rate_limit', lambda why: f"Failed to set rate limit: '{why}'",
                                   'rate_limit', task_name, ratelimit, destination=[workername], reply=True)

    async def revoke(self, task_id: str, terminate: bool = False, signal: str | None = None) -> str:
        signame = signal_name(signal)

        def call():
            return self.capp.control.revoke(task_id, terminate=terminate, signal=signame)
        await self.runner.run('revoke', task_id, call)
        return f"Revoked '{task_id}'"


# -- task execution ---------------------------------------------------------------------------------------------
@dataclass
class ApplyRequest:
    """What a client asked apply/async-apply/send-task to publish."""
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    timeout: float | None = None  # apply only: how long to wait for the result


def _parse_datetime(value, name: str) -> datetime:
    """Flower's ``2024-01-31 13:45:00.000000`` or ISO 8601 (``T``, an optional ``Z``/``+HH:MM`` offset), a real
    date of the calendar (:data:`flower.utils.strict.TIME_PATTERN`)."""
    try:
        return strict.parse_time(value, name)
    except strict.InvalidValue:
        raise InvalidInput(f"Invalid option '{name}': expected a real date and time like 2024-01-31 13:45:00.000000 "
                           'or 2024-01-31T13:45:00+01:00') from None


# A number of seconds written as text (``"60"``, ``"2.5"``, ``"-1"``), which Flower accepts for ``countdown`` and
# ``expires``: decimal digits only, at most 8 before the point (under MAX_DELAY whatever they are), so that the
# text accepted is exactly the text the API document's pattern describes.
SECONDS_TEXT_PATTERN = r'^-?[0-9]{1,8}(\.[0-9]{1,6})?$'
SECONDS_TEXT_WORDS = 'as a number, or as text of up to 8 digits and 6 decimals like "60" or "2.5"'


def seconds_text(value) -> float | None:
    """``value`` as seconds when it is a string of :data:`SECONDS_TEXT_PATTERN`, else None."""
    if isinstance(value, str) and re.fullmatch(SECONDS_TEXT_PATTERN[1:-1], value):
        return float(value)
    return None


def _seconds(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or abs(value) > MAX_DELAY:
        raise InvalidInput(f"Invalid option '{name}': expected a number of seconds up to {MAX_DELAY:g}")
    return float(value)


def _delay(value, name: str) -> float:
    """``countdown`` and the seconds of ``expires``: a number, or its digits as text (as Flower takes them)."""
    from_text = seconds_text(value)
    if from_text is not None:
        return from_text
    if isinstance(value, str):
        raise InvalidInput(f"Invalid option '{name}': expected a number of seconds up to {MAX_DELAY:g} "
                           f"({SECONDS_TEXT_WORDS})")
    return _seconds(value, name)


def _positive_seconds(value, name: str) -> float:
    seconds = _seconds(value, name)
    if seconds <= 0:
        raise InvalidInput(f"Invalid option '{name}': expected a number of seconds greater than 0")
    return seconds


def _option_name(value, name: str) -> str:
    try:
        return short_name(value, f"option '{name}'")
    except InvalidInput as exc:
        raise InvalidInput(exc.message) from None


def _priority(value, name: str) -> int:
    try:
        return strict.whole_number(value, name, 0, MAX_PRIORITY)
    except strict.InvalidValue:
        raise InvalidInput(f"Invalid option '{name}': expected a whole number from 0 to {MAX_PRIORITY}") from None


def _boolean(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"Invalid option '{name}': expected true or false")
    return value


# The headers of Celery's task message protocol: a custom header of the same name would replace them.
PROTOCOL_HEADERS = frozenset({
    'lang', 'task', 'id', 'shadow', 'eta', 'expires', 'group', 'group_index', 'retries', 'timelimit', 'root_id',
    'parent_id', 'argsrepr', 'kwargsrepr', 'origin', 'ignore_result', 'replaced_task_nesting', 'stamped_headers',
    'stamps'})


def _headers(value, name: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidInput(f"Invalid option '{name}': expected an object")
    clashes = sorted(PROTOCOL_HEADERS & set(value))
    if clashes:
        raise InvalidInput(f"Invalid option '{name}': {', '.join(clashes)} would replace Celery's own message "
                           'headers')
    return value


CODEC_CANDIDATES = {'serializer': ('json', 'msgpack', 'pickle', 'yaml'),
                    'compression': ('brotli', 'bzip2', 'gzip', 'lzma', 'zlib', 'zstd')}


def codec_works(kind: str, name: str) -> bool:
    """Whether kombu can encode with serializer/compression ``name`` here (some need extra packages)."""
    try:
        if kind == 'serializer':
            from kombu.serialization import dumps
            dumps({}, serializer=name)
        else:
            from kombu.compression import compress
            compress(b'', name)
        return True
    except Exception:  # noqa: BLE001 - kombu raises several kinds for unknown or uninstalled codecs
        return False


def installed_codecs(kind: str) -> list[str]:
    return [name for name in CODEC_CANDIDATES[kind] if codec_works(kind, name)]


def _codec(kind: str):
    def check(value, name: str) -> str:
        if not isinstance(value, str) or not codec_works(kind, value):
            raise InvalidInput(f"Invalid option '{name}': '{value}' is not an installed {kind}")
        return value
    return check


def _expires(value, name: str):
    if isinstance(value, str) and seconds_text(value) is None:
        try:
            return strict.parse_time(value, name)
        except strict.InvalidValue:
            raise InvalidInput(f"Invalid option '{name}': expected a number of seconds ({SECONDS_TEXT_WORDS}) or "
                               'a real date and time like 2024-01-31 13:45:00.000000 or 2024-01-31T13:45:00+01:00') \
                from None
    return _delay(value, name)


# The apply_async options a JSON body may carry, each with its check/converter. Anything else is refused:
# options such as ``link``, ``connection`` or ``router`` expect Python objects no JSON value can be.
APPLY_OPTIONS: dict[str, Callable[[Any, str], Any]] = {
    'countdown': _delay,
    'eta': _parse_datetime,
    'expires': _expires,
    'task_id': _option_name,
    'queue': _option_name,
    'exchange': _option_name,
    'routing_key': _option_name,
    'priority': _priority,
    'serializer': _codec('serializer'),
    'compression': _codec('compression'),
    'headers': _headers,
    'shadow': _option_name,
    'time_limit': _positive_seconds,
    'soft_time_limit': _positive_seconds,
    'ignore_result': _boolean,
    'retry': _boolean,
}


class InvalidOption(InvalidInput, ValueError):
    """A bad value in an apply body. Also a ``ValueError``, which is what code written for Flower catches around
    ``normalize_options``; uncaught it is still our 400."""


def split_apply_body(body: bytes | str | None) -> tuple[list, dict, dict]:
    """``(args, kwargs, rest)`` of a JSON apply body ``{"args": [...], "kwargs": {...}, <options>}``: the body
    decoded and its shape checked, the other keys left as the client wrote them. An empty body means no
    arguments."""
    if isinstance(body, bytes):
        try:
            body = body.decode('utf-8')
        except UnicodeDecodeError:
            raise InvalidInput('Invalid JSON body: not UTF-8 text') from None
    if body is None or not body.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise InvalidInput(f'Invalid JSON body: {exc}') from None
    if not isinstance(data, dict):
        raise InvalidInput('Invalid options: the body must be a JSON object')
    data = dict(data)
    args = data.pop('args', None)
    kwargs = data.pop('kwargs', None)
    if args is None:
        args = []
    if not isinstance(args, list):
        raise InvalidInput('Invalid args: args must be an array')
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        raise InvalidInput('Invalid kwargs: kwargs must be an object')
    return args, kwargs, data


def apply_options(data: dict, wait_option: bool = False) -> dict:
    """The ``apply_async`` options of ``data`` (keys other than args/kwargs, and ``timeout`` when
    ``wait_option``), each checked and converted; a null value is left out. Raises :class:`InvalidOption`."""
    options = {}
    for key, value in data.items():
        if wait_option and key == 'timeout':
            continue
        check = APPLY_OPTIONS.get(key)
        if check is None:
            raise InvalidOption(f"Unknown option '{key}': use args, kwargs{', timeout' if wait_option else ''} "
                                f"or one of {', '.join(sorted(APPLY_OPTIONS))}")
        if value is None:
            continue
        try:
            options[key] = check(value, key)
        except InvalidInput as exc:
            raise InvalidOption(exc.message) from None
    return options


def parse_apply_body(body: bytes | str | None, wait_option: bool = False) -> ApplyRequest:
    """The JSON body of apply/async-apply/send-task: ``{"args": [...], "kwargs": {...}, <options>}``.

    An empty body means no arguments. With ``wait_option`` (apply) the ``timeout`` key is how long to wait for
    the result (default :data:`DEFAULT_APPLY_TIMEOUT`); it is not an ``apply_async`` option."""
    args, kwargs, data = split_apply_body(body)
    timeout = None
    if wait_option:
        raw = data.get('timeout')
        if raw is None:
            timeout = DEFAULT_APPLY_TIMEOUT
        else:
            try:
                timeout = wait_seconds(raw)
            except InvalidInput:
                raise InvalidInput(f"Invalid timeout '{raw}': expected a number of seconds from 0 to "
                                   f"{MAX_WAIT:g}") from None
    return ApplyRequest(args=args, kwargs=kwargs, options=apply_options(data, wait_option), timeout=timeout)


def json_safe(value):
    """``value`` if it can be written as JSON, else its repr (a result object, an exception)."""
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError, OverflowError, RecursionError):
        return repr(value)


def has_result_backend(capp) -> bool:
    from celery.backends.base import DisabledBackend
    try:
        return not isinstance(capp.backend, DisabledBackend)
    except Exception:  # noqa: BLE001 - a backend that cannot even be built is no backend
        return False


@dataclass(frozen=True)
class ResultSnapshot:
    """A task's result as the backend has it now."""
    task_id: str
    state: str
    ready: bool
    result: Any = None
    traceback: str | None = None
    date_done: Any = None

    def as_dict(self, with_result: bool) -> dict:
        data: dict[str, Any] = {'task-id': self.task_id, 'state': self.state}
        if with_result:
            data['result'] = json_safe(self.result)
            if self.state == states.FAILURE:
                data['traceback'] = self.traceback
        return data


class TaskExecution:
    """Publishing tasks and reading their results through the runner."""

    #: how often a wait asks the backend again (the first polls are quick, then every half second)
    poll_intervals = (0.05, 0.1, 0.2, 0.3, 0.5)

    def __init__(self, capp, runner: BlockingRunner, result_factory: Callable[[str], Any] | None = None):
        self.capp = capp
        self.runner = runner
        # how a task id becomes a result object (Celery's AsyncResult of the app by default); the API passes
        # one that looks up ``flower.api.tasks.AsyncResult`` when called, so a test patching that name is obeyed
        self.result_factory = result_factory or capp.AsyncResult

    @property
    def has_backend(self) -> bool:
        return has_result_backend(self.capp)

    def require_registered(self, name: str) -> None:
        if name not in self.capp.tasks:
            raise UnknownTask(name)

    def check_arguments(self, name: str, request: ApplyRequest) -> None:
        """Celery's own argument check of a registered task (what ``apply_async`` runs first), made before
        publishing so that its ``TypeError`` (``add() takes 2 positional arguments but 3 were given``) is a
        400 with Celery's words, and only that one: a ``TypeError`` from anywhere else stays a server error."""
        task = self.capp.tasks[name]
        check = getattr(task, '__header__', None) if getattr(task, 'typing', False) else None
        if check is None:
            return
        try:
            check(*request.args, **request.kwargs)
        except TypeError as exc:
            raise InvalidInput(f"Invalid arguments for '{name}': {exc}") from None

    def require_backend(self) -> None:
        if not self.has_backend:
            raise NoResultBackend()

    async def publish(self, name: str, request: ApplyRequest, registered: bool = True) -> str:
        """Send ``name`` with the request's arguments and options; returns the task id. ``registered`` uses the
        task's own ``apply_async`` (its routing and defaults); otherwise ``send_task`` by name."""
        def call():
            if registered:
                task = self.capp.tasks[name]
                result = task.apply_async(args=request.args, kwargs=request.kwargs, **request.options)
            else:
                result = self.capp.send_task(name, args=request.args, kwargs=request.kwargs, **request.options)
            return result.id
        return await self.runner.run('publish task', name, call)

    def _snapshot(self, task_id: str) -> ResultSnapshot:
        result = self.result_factory(task_id)
        state = result.state
        if state in states.READY_STATES:
            return ResultSnapshot(task_id, state, True, result.result, result.traceback, result.date_done)
        return ResultSnapshot(task_id, state, False)

    async def snapshot(self, task_id: str) -> ResultSnapshot:
        return await self.runner.run('read result', task_id, self._snapshot, task_id)

    async def known_to_backend(self, task_id: str) -> ResultSnapshot | None:
        """What the result backend has for a task the events never showed, or None when there is no backend or
        it does not know the id (backends answer PENDING for ids they never stored). An unreachable backend
        raises the runner's 503 error."""
        if not self.has_backend:
            return None
        snapshot = await self.snapshot(task_id)
        return None if snapshot.state == states.PENDING else snapshot

    async def wait(self, task_id: str, timeout: float, stop: Callable[[], bool] = lambda: False) \
            -> ResultSnapshot:
        """The result once ready, or the snapshot when ``timeout`` seconds have passed (or ``stop()`` says the
        client went away). Polls the backend instead of blocking on it, so a long wait does not hold one of
        the runner's few slots."""
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            snapshot = await self.snapshot(task_id)
            remaining = deadline - time.monotonic()
            if snapshot.ready or remaining <= 0 or stop():
                return snapshot
            interval = self.poll_intervals[min(attempt, len(self.poll_intervals) - 1)]
            attempt += 1
            await asyncio.sleep(min(interval, remaining))

    async def abort(self, task_id: str, result=None) -> str:
        """Ask the task to stop (Celery's ``AbortableAsyncResult.abort``); ``result`` is the abortable result
        to use, built here when not given."""
        from celery.contrib.abortable import AbortableAsyncResult
        if result is None:
            result = AbortableAsyncResult(task_id, app=self.capp)

        def call():
            result.abort()
        await self.runner.run('abort', task_id, call)
        return f"Aborted '{task_id}'"


# -- retry --------------------------------------------------------------------------------------------------------
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
    if isinstance(value, (str, bytes)):
        return value.endswith('...' if isinstance(value, str) else b'...')
    if isinstance(value, dict):
        return any(_contains_ellipsis_or_cut_text(k, depth + 1) or _contains_ellipsis_or_cut_text(v, depth + 1)
                   for k, v in value.items())
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
        raise NotRetryable(f'The task cannot be retried: its {what} were shortened by Celery when the task was '
                           f'sent (its {what}repr limit), so the call is not known whole')
    if cut is not None:
        raise NotRetryable(f'The task cannot be retried: its {what} were truncated when stored '
                           '(raise --task_args_max_length to keep them whole)')
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise NotRetryable(f'The task cannot be retried: its {what} {text!r} are not a Python literal') from None
    if _contains_ellipsis_or_cut_text(value):
        raise NotRetryable(f'The task cannot be retried: its {what} were shortened by Celery when the task was '
                           "sent (they contain '...')")
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
        raise NotRetryable(f"The task cannot be retried: its arguments cannot be sent with the '{serializer}' "
                           f'serializer ({exc})') from None
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
