"""Changing the cluster: worker control, task control and task execution, as plain objects.

The ``/api/worker/*`` and ``/api/task/*`` handlers are thin; what they do lives here, free of tornado.web, so
it is unit-tested without a server. One module per job:

* :mod:`~flower.control.errors`: :class:`ControlError` and its subclasses, each carrying a message for the
  client; the web layer gives each its HTTP status.
* :mod:`~flower.control.replies`: reading the workers' replies (:func:`reply_from`): a reply is a success only
  when the addressed worker answered ``ok``.
* :mod:`~flower.control.checks`: the parameter checks (numbers, queue names, signals, time and rate limits,
  waits), each a 400 with words for the client.
* :mod:`~flower.control.pool`: :class:`PoolLimits` keeps one call from forking a host out of memory
  (``--max_pool_step``, ``--max_pool_size``): what the request alone breaks is a 400, what breaks only given
  the pool's current size (as last inspected, :func:`pool_size`) is a 409. :class:`PoolChanges` runs pool
  changes one at a time and refreshes the worker's stats after each, so a cap cannot be passed by two quick
  grows.
* :mod:`~flower.control.workers`: :class:`WorkerControl` sends control commands (pool, consumers, limits,
  revoke, shutdown) and reads the replies.
* :mod:`~flower.control.apply`: :func:`parse_apply_body` turns the JSON body of apply/async-apply/send-task
  into arguments and ``apply_async`` options, refusing anything Celery would choke on (so a client never
  causes a 500).
* :mod:`~flower.control.execution`: :class:`TaskExecution` publishes tasks, waits a bounded time for results,
  reads results and aborts; :meth:`TaskExecution.check_arguments` runs Celery's own argument check before
  publishing, so its ``TypeError`` (and only that one) is a 400 with Celery's words.
* :mod:`~flower.control.retry`: :func:`recover_call` rebuilds a finished task's call (name, args, kwargs,
  routing) from its event record for ``/api/task/retry``: the reprs are parsed with :func:`ast.literal_eval`
  and nothing else, and a call that cannot be recovered exactly is refused with the reason.

Every blocking Celery/kombu/backend call goes through :class:`flower.runner.BlockingRunner`. The coroutines
here are awaited on the IOLoop thread; the plain functions they hand to the runner run on its threads and touch
no events state. This package re-exports every name of the modules above, so ``flower.control.<name>`` keeps
working for every caller.
"""

from __future__ import annotations

from flower.control.errors import (
    CommandFailed,
    ControlError,
    InvalidInput,
    InvalidOption,
    NoResultBackend,
    NotRetryable,
    PoolLimitReached,
    UnknownTask,
    UnknownWorker,
)
from flower.control.replies import WorkerReply, error_reason, reply_from
from flower.control.checks import (
    MAX_DELAY,
    MAX_NAME_LENGTH,
    MAX_WAIT,
    SIGNAL_SPELLINGS,
    rate_limit_value,
    short_name,
    signal_name,
    time_limit_value,
    wait_seconds,
    whole,
)
from flower.control.pool import DEFAULT_MAX_POOL_STEP, MAX_PROCESSES, PoolChanges, PoolLimits, autoscaler_max, pool_size
from flower.control.workers import CELERY_REPLY_TIMEOUT, WorkerControl, ask_worker
from flower.control.apply import (
    APPLY_OPTIONS,
    CODEC_CANDIDATES,
    DEFAULT_APPLY_TIMEOUT,
    MAX_PRIORITY,
    PROTOCOL_HEADERS,
    SECONDS_TEXT_PATTERN,
    SECONDS_TEXT_WORDS,
    ApplyRequest,
    apply_options,
    codec_works,
    installed_codecs,
    parse_apply_body,
    seconds_text,
    split_apply_body,
)
from flower.control.execution import ResultSnapshot, TaskExecution, has_result_backend, json_safe
from flower.control.retry import (
    RETRYABLE_STATES,
    RecoveredCall,
    literal_from_repr,
    recover_call,
    resend,
    retry_refusal,
    routing_options,
)

__all__ = [
    # errors
    'CommandFailed',
    'ControlError',
    'InvalidInput',
    'InvalidOption',
    'NoResultBackend',
    'NotRetryable',
    'PoolLimitReached',
    'UnknownTask',
    'UnknownWorker',
    # replies
    'WorkerReply',
    'error_reason',
    'reply_from',
    # checks
    'MAX_DELAY',
    'MAX_NAME_LENGTH',
    'MAX_WAIT',
    'SIGNAL_SPELLINGS',
    'rate_limit_value',
    'short_name',
    'signal_name',
    'time_limit_value',
    'wait_seconds',
    'whole',
    # pool
    'DEFAULT_MAX_POOL_STEP',
    'MAX_PROCESSES',
    'PoolChanges',
    'PoolLimits',
    'autoscaler_max',
    'pool_size',
    # workers
    'CELERY_REPLY_TIMEOUT',
    'WorkerControl',
    'ask_worker',
    # apply
    'APPLY_OPTIONS',
    'CODEC_CANDIDATES',
    'DEFAULT_APPLY_TIMEOUT',
    'MAX_PRIORITY',
    'PROTOCOL_HEADERS',
    'SECONDS_TEXT_PATTERN',
    'SECONDS_TEXT_WORDS',
    'ApplyRequest',
    'apply_options',
    'codec_works',
    'installed_codecs',
    'parse_apply_body',
    'seconds_text',
    'split_apply_body',
    # execution
    'ResultSnapshot',
    'TaskExecution',
    'has_result_backend',
    'json_safe',
    # retry
    'RETRYABLE_STATES',
    'RecoveredCall',
    'literal_from_repr',
    'recover_call',
    'resend',
    'retry_refusal',
    'routing_options',
]
