"""flower.control without HTTP: reading the workers' replies, checking parameters, parsing apply bodies,
recovering a finished task's call for retry, and the commands actually sent (through a recording ``control``
and the real runner), plus publishing and waiting on an in-memory Celery app."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime
from unittest.mock import MagicMock

import pytest
from celery import Celery, states
from celery.app.control import Control

from flower import control
from flower.control import (
    ApplyRequest,
    CommandFailed,
    InvalidInput,
    NotRetryable,
    UnknownTask,
    WorkerControl,
    parse_apply_body,
    recover_call,
    reply_from,
)
from flower.events.task import Task, truncate_text
from flower.runner import BlockingRunner, OperationFailed


def run(coro):
    return asyncio.run(coro)


# -- replies --------------------------------------------------------------------------------------------------------
def test_a_reply_is_ok_only_when_the_addressed_worker_says_ok():
    assert reply_from('w1', [{'w1': {'ok': 'pool will grow'}}]) == control.WorkerReply(True, 'pool will grow')
    # another worker answered first: Flower raised a KeyError here
    assert reply_from('w1', [{'w2': {'error': 'x'}}, {'w1': {'ok': 'done'}}]) == control.WorkerReply(True, 'done')
    assert reply_from('w1', [{'w1': {'error': "ValueError('Autoscale not enabled')"}}]) == control.WorkerReply(
        False, "ValueError('Autoscale not enabled')"
    )
    assert reply_from('w1', [], timeout=1.5) == control.WorkerReply(False, "no reply from 'w1' within 1.5s")
    assert reply_from('w1', None) == control.WorkerReply(False, "no reply from 'w1'")
    assert reply_from('w1', [{'w2': {'ok': 'yes'}}]) == control.WorkerReply(False, 'Unknown reason')
    assert reply_from('w1', [{'w1': 'weird'}]) == control.WorkerReply(False, 'Unknown reason')
    # what Flower's own tests make a patched control method return, and Flower takes for a success
    assert reply_from('w1', [{'w1': 'ok'}]) == control.WorkerReply(True, 'ok')


def test_error_reason_is_the_workers_error_or_unknown():
    assert control.error_reason('w', [{'w': {'error': 'nope'}}]) == 'nope'
    assert control.error_reason('w', [{'w': {'ok': 'fine'}}]) == 'Unknown reason'


# -- parameters ---------------------------------------------------------------------------------------------------------
def prefork(processes: int, autoscale_max: int | None = None) -> dict:
    """What ``inspect stats`` caches for a prefork worker with ``processes`` processes."""
    stats = {'pool': {'max-concurrency': 2, 'processes': list(range(1000, 1000 + processes))}}
    if autoscale_max is not None:
        stats['autoscaler'] = {'max': autoscale_max, 'min': 1, 'qty': 0}
    return {'stats': stats}


@pytest.mark.parametrize('value', [0, -1, control.DEFAULT_MAX_POOL_STEP + 1, 1000, True, 1.5, '3'])
def test_a_pool_step_is_a_whole_number_from_1_to_the_step_limit(value):
    with pytest.raises(InvalidInput, match=f"Invalid n '{value}'"):
        control.PoolLimits().step_size(value)


def test_the_pool_size_is_the_process_count_else_the_concurrency():
    assert control.pool_size(prefork(3)) == 3  # processes follow grow/shrink, max-concurrency does not
    assert control.pool_size({'stats': {'pool': {'max-concurrency': 4, 'threads': []}}}) == 4
    for unknown in (None, {}, {'stats': {}}, {'stats': {'pool': 'x'}}, {'stats': {'pool': {'max-concurrency': '4'}}}):
        assert control.pool_size(unknown) is None


def test_grow_within_the_step_is_allowed_without_a_cap_whatever_the_size():
    limits = control.PoolLimits(step=10, cap=0)
    assert limits.grow('w', 10, prefork(500)) == 10
    assert limits.grow('w', 1, None) == 1  # no cap: the size is not needed


def test_grow_past_the_cap_is_a_conflict_that_names_the_sizes():
    limits = control.PoolLimits(step=10, cap=8)
    assert limits.grow('w', 6, prefork(2)) == 6
    with pytest.raises(
        control.PoolLimitReached,
        match="Cannot grow 'w' worker's pool by 7: it has 2 processes and --max_pool_size is 8",
    ):
        limits.grow('w', 7, prefork(2))
    with pytest.raises(control.PoolLimitReached, match="the pool size of 'w' is unknown"):
        limits.grow('w', 1, {'stats': {}})
    with pytest.raises(InvalidInput, match="Invalid n '11'"):  # the step is checked first, and is a 400
        limits.grow('w', 11, prefork(0))


def test_shrink_that_would_leave_no_process_is_a_conflict():
    limits = control.PoolLimits(step=10, cap=0)
    assert limits.shrink('w', 2, prefork(3)) == 2
    with pytest.raises(
        control.PoolLimitReached, match="Cannot shrink 'w' worker's pool by 1: it has 1 process, and a pool needs one"
    ):
        limits.shrink('w', 1, prefork(1))
    with pytest.raises(control.PoolLimitReached, match='by 3: it has 2 processes'):
        limits.shrink('w', 3, prefork(2))
    assert limits.shrink('w', 1, {'stats': {}}) == 1  # unknown size: the worker itself refuses what it cannot do
    with pytest.raises(InvalidInput, match="Invalid n '11'"):
        limits.shrink('w', 11, prefork(20))


def test_autoscale_bounds_are_a_range_capped_by_the_pool_size_option():
    capped = control.PoolLimits(step=10, cap=20)
    assert capped.autoscale('w', 2, 20, None) == (2, 20)  # with a cap the current size does not matter
    assert capped.autoscale('w', 9, 3, None) == (3, 9)  # either order, as celery worker --autoscale=9,3
    with pytest.raises(InvalidInput, match="Invalid max '21': expected a whole number from 0 to 20"):
        capped.autoscale('w', 1, 21, None)
    with pytest.raises(InvalidInput, match="Invalid min '-1'"):
        capped.autoscale('w', -1, 2, None)


def test_autoscale_without_a_cap_raises_max_by_one_step_at_most():
    limits = control.PoolLimits(step=10, cap=0)
    assert limits.autoscale('w', 1, 12, prefork(2)) == (1, 12)
    with pytest.raises(
        control.PoolLimitReached,
        match=r"to max=13: its pool has 2 processes, and one call may "
        r"raise that by --max_pool_step \(10\) at most",
    ):
        limits.autoscale('w', 1, 13, prefork(2))
    # an autoscaling worker is measured by the larger of its processes and its current maximum
    assert limits.autoscale('w', 1, 40, prefork(1, autoscale_max=30)) == (1, 40)
    with pytest.raises(control.PoolLimitReached, match='autoscales up to 30'):
        limits.autoscale('w', 1, 41, prefork(1, autoscale_max=30))
    # a pool of unknown size counts as empty: up to one step is allowed, more needs the size
    assert limits.autoscale('w', 2, 10, None) == (2, 10)
    with pytest.raises(
        control.PoolLimitReached,
        match=r"Cannot autoscale 'w' worker to max=11, more than --max_pool_step \(10\) above an empty pool: the "
        "pool size of 'w' is unknown",
    ):
        limits.autoscale('w', 1, 11, None)
    with pytest.raises(InvalidInput, match=f"Invalid max '{control.MAX_PROCESSES + 1}'"):
        limits.autoscale('w', 0, control.MAX_PROCESSES + 1, prefork(2))


class GrowingInspector:
    """An inspector whose worker shows one more process at each inspection (a pool still forking)."""

    def __init__(self, processes: int):
        self.workers = {'w': prefork(processes)}
        self.refreshed = 0

    async def inspect(self, workername=None):
        self.refreshed += 1
        self.workers['w'] = prefork(control.pool_size(self.workers['w']) + 1)


def test_pool_changes_run_one_at_a_time_and_refresh_the_worker_afterwards():
    inspector = GrowingInspector(2)
    changes = control.PoolChanges(inspector)
    seen = []

    async def grow(info):
        seen.append(control.pool_size(info))
        await asyncio.sleep(0)  # let the other change try to run meanwhile
        return 'grown'

    async def both():
        return await asyncio.gather(changes.change('w', grow), changes.change('w', grow))

    assert run(both()) == ['grown', 'grown']
    assert seen == [2, 3]  # the second saw what the first left
    assert inspector.refreshed == 2


def test_a_pool_change_is_inspected_again_until_the_worker_shows_it_within_a_bound():
    async def noop(info):
        return 'ok'

    inspector = GrowingInspector(2)
    changes = control.PoolChanges(inspector)
    changes.settle_interval = 0
    assert run(changes.change('w', noop, resize=lambda size: size + 3)) == 'ok'
    assert (inspector.refreshed, control.pool_size(inspector.workers['w'])) == (3, 5)

    inspector = GrowingInspector(2)
    changes = control.PoolChanges(inspector)
    changes.settle_interval, changes.settle_timeout = 0.01, 0.05
    started = time.monotonic()
    run(changes.change('w', noop, resize=lambda size: size - 1))  # never shown: gives up at the bound
    assert inspector.refreshed >= 2 and time.monotonic() - started < 2


@pytest.mark.parametrize(
    'given,expected',
    [
        (None, 'SIGTERM'),
        ('KILL', 'SIGKILL'),
        ('SIGKILL', 'SIGKILL'),
        ('SIGUSR1', 'SIGUSR1'),
        ('9', 'SIGKILL'),
        ('TERM', 'SIGTERM'),
    ],
)
def test_signal_names_are_normalised(given, expected):
    assert control.signal_name(given) == expected


@pytest.mark.parametrize('given', ['NOPE', '999', '-9', 'SIG', '9.0', '', 'sigkill', 'kill', ' TERM ', '٩'])
def test_unknown_signals_are_refused(given):
    with pytest.raises(InvalidInput, match=f"Invalid signal '{given}'"):
        control.signal_name(given)


def test_time_limits_rate_limits_and_waits_are_checked():
    assert control.time_limit_value(None, 'hard') is None
    assert control.time_limit_value(2, 'hard') == 2.0
    for bad in (-1, float('nan'), float('inf'), 1e12):
        with pytest.raises(InvalidInput, match="Invalid soft"):
            control.time_limit_value(bad, 'soft')
    assert control.rate_limit_value('10/m') == '10/m'
    assert control.rate_limit_value('0') == '0'
    assert control.rate_limit_value('') == ''
    for bad in ('fast', '10/x', '1/m/s', '-5', 'nan', 'inf/s', '1e999'):
        with pytest.raises(InvalidInput, match='Invalid rate limit'):
            control.rate_limit_value(bad)
    assert control.wait_seconds(None) is None
    assert control.wait_seconds(0) == 0.0
    for bad in (-0.1, control.MAX_WAIT + 1, float('nan'), True):
        with pytest.raises(InvalidInput, match='Invalid timeout'):
            control.wait_seconds(bad)


def test_queue_names_must_fit_amqp():
    assert control.short_name('extra', 'queue') == 'extra'
    assert control.short_name('q' * 255, 'queue') == 'q' * 255
    assert control.short_name('é' * 63, 'queue') == 'é' * 63
    for bad in ('', '   ', ' lead', 'bell\x07', 'nul\x00', 'del\x7f', 'c1\x85', 'q' * 256, 'é' * 64, None, 5):
        with pytest.raises(InvalidInput, match='Invalid queue'):
            control.short_name(bad, 'queue')


# -- apply bodies -------------------------------------------------------------------------------------------------------
def test_an_empty_body_means_no_arguments():
    assert parse_apply_body(b'') == ApplyRequest([], {}, {}, None)
    assert parse_apply_body(None, wait_option=True) == ApplyRequest([], {}, {}, control.DEFAULT_APPLY_TIMEOUT)


def test_args_kwargs_and_options_are_separated_and_converted():
    request = parse_apply_body(
        b'{"args": [1, "a"], "kwargs": {"k": null}, "queue": "q", "priority": 3, '
        b'"countdown": 2, "eta": "2030-01-31 13:45:00.123456", "expires": 60, '
        b'"headers": {"x": 1}, "task_id": "abc", "ignore_result": false, "shadow": null}'
    )
    assert request.args == [1, 'a']
    assert request.kwargs == {'k': None}
    assert request.options == {
        'queue': 'q',
        'priority': 3,
        'countdown': 2.0,
        'eta': datetime(2030, 1, 31, 13, 45, 0, 123456),
        'expires': 60.0,
        'headers': {'x': 1},
        'task_id': 'abc',
        'ignore_result': False,
    }
    assert request.timeout is None


def test_eta_and_expires_take_flowers_format_or_iso():
    request = parse_apply_body('{"eta": "2030-01-31T13:45:00+00:00", "expires": "2030-02-01 00:00:00.000000"}')
    assert request.options['eta'].tzinfo is not None
    assert request.options['expires'] == datetime(2030, 2, 1)


def test_countdown_and_expires_take_seconds_written_as_text_as_flower_does():
    request = parse_apply_body(b'{"countdown": "3", "expires": "60"}')
    assert request.options == {'countdown': 3.0, 'expires': 60.0}
    request = parse_apply_body(b'{"countdown": "-0.5", "expires": "12345678.123456"}')
    assert request.options == {'countdown': -0.5, 'expires': 12345678.123456}
    # a time as text is still a time
    assert parse_apply_body(b'{"expires": "2030-02-01 00:00"}').options == {'expires': datetime(2030, 2, 1)}


def test_seconds_as_text_are_accepted_exactly_as_the_api_document_describes_them():
    """The OpenAPI document declares SECONDS_TEXT_PATTERN for the text form; what the parser takes must be that
    and nothing else, or the fuzzer's schema-valid requests get a 400 (or invalid ones a 200)."""
    for text in ('0', '60', '-1', '2.5', '00000003', '99999999.999999', '-12345678.1'):
        assert re.fullmatch(control.SECONDS_TEXT_PATTERN[1:-1], text)
        assert parse_apply_body(f'{{"countdown": "{text}"}}').options['countdown'] == float(text)
    for text in ('', '-', '.5', '5.', '1e3', '+1', ' 1', '1 ', '123456789', '1.1234567', 'inf', '١٢'):
        assert not re.fullmatch(control.SECONDS_TEXT_PATTERN[1:-1], text)
        with pytest.raises(InvalidInput, match="Invalid option 'countdown'"):
            parse_apply_body(f'{{"countdown": "{text}"}}')


def test_apply_timeout_is_not_an_apply_async_option():
    request = parse_apply_body(b'{"timeout": 2.5}', wait_option=True)
    assert request.timeout == 2.5
    assert request.options == {}
    with pytest.raises(InvalidInput, match="Unknown option 'timeout'"):
        parse_apply_body(b'{"timeout": 2.5}')


@pytest.mark.parametrize(
    'body,message',
    [
        (b'{nope', 'Invalid JSON body: '),
        (b'\xff\xfe', 'Invalid JSON body: not UTF-8 text'),
        (b'[1, 2]', 'Invalid options: the body must be a JSON object'),
        (b'"text"', 'Invalid options: the body must be a JSON object'),
        (b'{"args": 5}', 'Invalid args: args must be an array'),
        (b'{"args": {"a": 1}}', 'Invalid args: args must be an array'),
        (b'{"kwargs": [1]}', 'Invalid kwargs: kwargs must be an object'),
        (b'{"eta": "tomorrow"}', "Invalid option 'eta'"),
        (b'{"eta": 12}', "Invalid option 'eta'"),
        (b'{"expires": "later"}', "Invalid option 'expires'"),
        (b'{"expires": 1e300}', "Invalid option 'expires'"),
        (
            b'{"countdown": "five"}',
            "Invalid option 'countdown': expected a number of seconds up to 3.1536e+08 (as a "
            'number, or as text of up to 8 digits and 6 decimals like "60" or "2.5")',
        ),
        (b'{"countdown": "1e3"}', "Invalid option 'countdown'"),
        (b'{"countdown": " 5"}', "Invalid option 'countdown'"),
        (b'{"countdown": "nan"}', "Invalid option 'countdown'"),
        (b'{"countdown": ""}', "Invalid option 'countdown'"),
        (b'{"countdown": "123456789"}', "Invalid option 'countdown'"),
        (b'{"countdown": "1.1234567"}', "Invalid option 'countdown'"),
        (b'{"expires": "1e3"}', "Invalid option 'expires': expected a number of seconds (as a number, or as text"),
        (b'{"time_limit": "5"}', "Invalid option 'time_limit'"),  # Flower passes it on unconverted: not a number
        (b'{"countdown": true}', "Invalid option 'countdown'"),
        (b'{"priority": 256}', "Invalid option 'priority'"),
        (b'{"priority": 1.5}', "Invalid option 'priority'"),
        (b'{"queue": ""}', "Invalid option 'queue'"),
        (b'{"queue": 5}', "Invalid option 'queue'"),
        (b'{"serializer": "nosuch"}', "Invalid option 'serializer': 'nosuch' is not an installed serializer"),
        (b'{"compression": "nosuch"}', "Invalid option 'compression'"),
        (b'{"headers": []}', "Invalid option 'headers'"),
        (b'{"headers": {"id": "other", "x": 1}}', "Invalid option 'headers': id would replace Celery's own"),
        (b'{"time_limit": 0}', "Invalid option 'time_limit'"),
        (b'{"retry": "yes"}', "Invalid option 'retry'"),
        (b'{"link": "tasks.other"}', "Unknown option 'link'"),
        (b'{"connection": 1}', "Unknown option 'connection'"),
        (b'[' * 100000 + b']' * 100000, 'Invalid'),
    ],
)
def test_bad_bodies_are_refused_with_a_reason(body, message):
    with pytest.raises(InvalidInput) as caught:
        parse_apply_body(body)
    assert caught.value.message.startswith(message)


@pytest.mark.parametrize('raw', ['"soon"', '-1', '1e9', 'true'])
def test_bad_apply_timeouts_are_refused(raw):
    with pytest.raises(InvalidInput, match='^Invalid timeout'):
        parse_apply_body(f'{{"timeout": {raw}}}', wait_option=True)


def test_json_safe_keeps_json_and_reprs_the_rest():
    assert control.json_safe({'a': [1, None]}) == {'a': [1, None]}
    assert control.json_safe(ValueError('x')) == "ValueError('x')"
    assert control.json_safe(float('nan')) == 'nan'


# -- retry ---------------------------------------------------------------------------------------------------------------
def finished(state=states.FAILURE, **fields):
    fields.setdefault('name', 'tasks.add')
    fields.setdefault('args', '(2, 2)')
    fields.setdefault('kwargs', '{}')
    task = Task('id-1', **fields)
    task.state = state
    return task


def test_the_call_of_a_finished_task_is_recovered_with_its_routing():
    task = finished(args="(1, 'two', [3.5, None], {'k': (True,)})", kwargs="{'x': b'bytes'.decode() if 0 else 'v'}")
    with pytest.raises(NotRetryable, match='not a Python literal'):
        recover_call(task)
    task = finished(
        args="(1, 'two', [3.5, None], {'k': [True]})", kwargs="{'x': 'v'}", exchange='', routing_key='celery'
    )
    call = recover_call(task)
    assert call == control.RecoveredCall(
        'tasks.add', [1, 'two', [3.5, None], {'k': [True]}], {'x': 'v'}, {'queue': 'celery'}
    )
    assert recover_call(finished(states.REVOKED, args='[1]', kwargs=None)).kwargs == {}
    assert recover_call(finished(states.SUCCESS)).options == {}  # no routing reported: the app routes it


@pytest.mark.parametrize('state', [states.PENDING, states.RECEIVED, states.STARTED, states.RETRY])
def test_unfinished_tasks_are_not_retried(state):
    with pytest.raises(NotRetryable, match=f'it is {state}, not finished'):
        recover_call(finished(state))


@pytest.mark.parametrize(
    'fields,reason',
    [
        ({'args': "(__import__('os').system('true'),)"}, 'are not a Python literal'),
        ({'args': '(<object object at 0x7f>,)'}, 'are not a Python literal'),
        ({'args': '(datetime.datetime(2020, 1, 1, 0, 0),)'}, 'are not a Python literal'),
        ({'args': '(nan,)'}, 'are not a Python literal'),
        ({'args': truncate_text(repr(tuple(range(100))), 20)}, 'truncated when stored'),
        ({'args': "('aaaaaaaaaaaaaaaaaaaaaaaaaaaaa...', ...)"}, 'shortened by Celery'),
        ({'args': '((((...,),),),)'}, 'shortened by Celery'),
        ({'kwargs': "{'text': 'cut...'}"}, 'shortened by Celery'),
        ({'args': '5'}, 'are not a list'),
        ({'kwargs': '[1]'}, 'are not keyword arguments'),
        ({'kwargs': '{1: 2}'}, 'are not keyword arguments'),
        ({'args': None}, 'were not reported in its events'),
        ({'args': ['not', 'text']}, 'were not reported as text'),
        ({'name': None}, 'its name was not reported'),
        ({'args': '({1, 2},)'}, "cannot be sent with the 'json' serializer"),
    ],
)
def test_calls_that_cannot_be_recovered_exactly_are_refused_with_the_reason(fields, reason):
    with pytest.raises(NotRetryable) as caught:
        recover_call(finished(**fields))
    assert reason in caught.value.message
    assert caught.value.message.startswith('The task cannot be retried: ')


def test_a_set_can_be_retried_with_a_serializer_that_carries_it():
    assert recover_call(finished(args='({1, 2},)'), serializer='pickle').args == [{1, 2}]


@pytest.mark.parametrize(
    'exchange,routing_key,options',
    [
        ('', 'extra', {'queue': 'extra'}),  # the default exchange: the routing key is the queue
        (None, 'extra', {'queue': 'extra'}),
        ('tasks', 'tasks.add', {'exchange': 'tasks', 'routing_key': 'tasks.add'}),
        ('tasks', None, {}),  # an exchange alone does not route: the app's router does
        (None, None, {}),
        (5, 'rk', {}),
        ('', 'x' * 300, {}),
    ],
)
def test_routing_follows_the_original_message(exchange, routing_key, options):
    assert control.routing_options(exchange, routing_key) == options
    assert recover_call(finished(exchange=exchange, routing_key=routing_key)).options == options


# -- commands as sent ---------------------------------------------------------------------------------------------
COMMANDS = (
    'shutdown',
    'pool_restart',
    'pool_grow',
    'pool_shrink',
    'autoscale',
    'add_consumer',
    'cancel_consumer',
    'time_limit',
    'rate_limit',
    'revoke',
)


class RecordingControl(Control):
    """Celery's own ``app.control``, whose methods build the messages, with the sending replaced: ``calls``
    records each control method called (name, args, kwargs), ``sent`` each broadcast it made (command,
    arguments, destination, reply, timeout: what goes on the wire), and a broadcast answers with the next
    canned reply."""

    def __init__(self, *replies):
        super().__init__(app=Celery('recording', set_as_current=False))
        self.calls = []
        self.sent = []
        self.replies = list(replies)

    def broadcast(self, command, arguments=None, destination=None, connection=None, reply=False, timeout=1.0, **extra):
        self.sent.append((command, arguments, destination, reply, timeout))
        return self.replies.pop(0) if self.replies else None


def _recorded(name):
    def method(self, *args, **kwargs):
        self.calls.append((name, args, kwargs))
        return getattr(Control, name)(self, *args, **kwargs)

    return method


for _command in COMMANDS:
    setattr(RecordingControl, _command, _recorded(_command))


class FakeApp:
    def __init__(self, control_):
        self.control = control_


def worker_control(*replies, timeout=1.0):
    recorder = RecordingControl(*replies)
    return WorkerControl(FakeApp(recorder), BlockingRunner(max_concurrency=2), reply_timeout=timeout), recorder


TO_W = {'destination': ['w@h'], 'reply': True}  # Celery's reply timeout (1 s) is left implicit, as Flower does


def test_pool_grow_calls_celerys_pool_grow_for_the_one_worker_and_reads_its_reply():
    ctl, recorder = worker_control([{'w@h': {'ok': 'pool will grow'}}])
    assert run(ctl.pool_grow('w@h', 2)) == "Growing 'w@h' worker's pool by 2"
    assert recorder.calls == [('pool_grow', (), {'n': 2, **TO_W})]
    assert recorder.sent == [('pool_grow', {'n': 2}, ['w@h'], True, 1.0)]


# (method, its arguments, the call Flower 2.2 makes on capp.control: a method of that name or broadcast, what
# goes on the wire, the message of a refusal)
@pytest.mark.parametrize(
    'method,args,call,wire,message',
    [
        ('pool_restart', (), None, {'reload': False}, "Failed to restart the 'w@h' pool: boom"),
        ('pool_grow', (1,), ((), {'n': 1}), {'n': 1}, "Failed to grow 'w@h' worker's pool: boom"),
        ('pool_shrink', (1,), ((), {'n': 1}), {'n': 1}, "Failed to shrink 'w@h' worker's pool: boom"),
        ('autoscale', (1, 2, prefork(2)), None, {'min': 1, 'max': 2}, "Failed to autoscale 'w@h' worker: boom"),
        ('add_consumer', ('q',), None, {'queue': 'q'}, "Failed to add 'q' consumer to 'w@h' worker: boom"),
        ('cancel_consumer', ('q',), None, {'queue': 'q'}, "Failed to cancel 'q' consumer from 'w@h' worker: boom"),
        (
            'time_limit',
            ('t', 5, None),
            (('t',), {'hard': 5.0, 'soft': None}),
            {'task_name': 't', 'hard': 5.0, 'soft': None},
            "Failed to set timeouts: 'boom'",
        ),
        (
            'rate_limit',
            ('t', '5/s'),
            (('t', '5/s'), {}),
            {'task_name': 't', 'rate_limit': '5/s'},
            "Failed to set rate limit: 'boom'",
        ),
    ],
)
def test_each_command_is_flowers_call_and_a_refusal_gives_flowers_message(method, args, call, wire, message):
    ctl, recorder = worker_control([{'w@h': {'error': 'boom'}}])
    with pytest.raises(CommandFailed) as caught:
        run(getattr(ctl, method)('w@h', *args))
    assert caught.value.message == message
    if call is None:  # Flower broadcasts this one: no method of Celery's is called
        assert recorder.calls == []
    else:
        call_args, call_kwargs = call
        assert recorder.calls == [(method, call_args, {**call_kwargs, **TO_W})]
    assert recorder.sent == [(method, wire, ['w@h'], True, 1.0)]


def test_a_longer_inspect_timeout_is_the_reply_timeout_of_every_command():
    ctl, recorder = worker_control([{'w@h': {'ok': 'pool will grow'}}], [{'w@h': {'ok': ''}}], timeout=5.0)
    run(ctl.pool_grow('w@h', 1))
    run(ctl.autoscale('w@h', 1, 2, prefork(1)))
    assert recorder.calls == [('pool_grow', (), {'n': 1, **TO_W, 'timeout': 5.0})]
    assert recorder.sent == [
        ('pool_grow', {'n': 1}, ['w@h'], True, 5.0),
        ('autoscale', {'min': 1, 'max': 2}, ['w@h'], True, 5.0),
    ]


def test_a_silent_worker_is_a_failure_that_says_so():
    ctl, _ = worker_control(None, timeout=2.0)
    with pytest.raises(CommandFailed, match=r"Failed to grow 'w@h' worker's pool: no reply from 'w@h' within 2s"):
        run(ctl.pool_grow('w@h', 1))


def test_successful_consumer_and_limit_commands_return_the_workers_words():
    ctl, _ = worker_control([{'w@h': {'ok': 'add consumer q'}}], [{'w@h': {'ok': 'time limits set successfully'}}])
    assert run(ctl.add_consumer('w@h', 'q')) == 'add consumer q'
    assert run(ctl.time_limit('w@h', 't', None, 1)) == 'time limits set successfully'


def test_names_with_braces_stay_as_they_are_in_the_failure_message():
    ctl, _ = worker_control([{'w{0}@h': {'error': 'no {x}'}}])
    with pytest.raises(CommandFailed) as caught:
        run(ctl.add_consumer('w{0}@h', 'q{}'))
    assert caught.value.message == "Failed to add 'q{}' consumer to 'w{0}@h' worker: no {x}"


def test_shutdown_does_not_wait_for_a_reply_and_revoke_normalises_the_signal():
    ctl, recorder = worker_control()
    assert run(ctl.shutdown('w@h')) == 'Shutting down!'
    assert run(ctl.revoke('abc', terminate=True, signal='KILL')) == "Revoked 'abc'"
    assert recorder.calls == [('revoke', ('abc',), {'terminate': True, 'signal': 'SIGKILL'})]  # shutdown: broadcast
    assert recorder.sent == [
        ('shutdown', None, ['w@h'], False, 1.0),
        ('revoke', {'task_id': 'abc', 'terminate': True, 'signal': 'SIGKILL'}, None, False, 1.0),
    ]


def test_invalid_parameters_are_refused_before_anything_is_sent():
    ctl, recorder = worker_control()
    for call in (
        ctl.pool_grow('w', 0),
        ctl.autoscale('w', 3, 10**6),
        ctl.add_consumer('w', ''),
        ctl.rate_limit('w', 't', 'fast'),
        ctl.time_limit('w', 't', -1, None),
        ctl.revoke('x', True, 'NOPE'),
    ):
        with pytest.raises(InvalidInput):
            run(call)
    assert recorder.calls == [] and recorder.sent == []


def test_a_patched_control_method_sees_the_call_as_in_flowers_own_tests():
    """Code written for Flower patches ``capp.control.<method>`` with a MagicMock (Flower's tests answer
    ``[{'<worker>': 'ok'}]``) and checks the call; nothing is broadcast."""
    app = Celery('patched', broker='memory://', set_as_current=False)
    app.control.broadcast = MagicMock(side_effect=AssertionError('the patched method must be the one called'))
    # with a reply timeout longer than Celery's default, it is passed on
    app.control.pool_grow = MagicMock(return_value=[{'w@h': 'ok'}])
    app.control.time_limit = MagicMock(return_value=[{'w@h': {'ok': 'time limits set successfully'}}])
    app.control.revoke = MagicMock()
    ctl = WorkerControl(app, BlockingRunner(max_concurrency=2), reply_timeout=2.0)
    assert run(ctl.pool_grow('w@h', 3)) == "Growing 'w@h' worker's pool by 3"
    app.control.pool_grow.assert_called_once_with(n=3, destination=['w@h'], reply=True, timeout=2.0)
    assert run(ctl.time_limit('w@h', 'tasks.add', 10, 5)) == 'time limits set successfully'
    app.control.time_limit.assert_called_once_with(
        'tasks.add', hard=10.0, soft=5.0, destination=['w@h'], reply=True, timeout=2.0
    )
    assert run(ctl.revoke('abc')) == "Revoked 'abc'"
    app.control.revoke.assert_called_once_with('abc', terminate=False, signal='SIGTERM')
    app.control.broadcast.assert_not_called()


# -- a worker no cache knows yet is asked -------------------------------------------------------------------------------
class RecordingInspector:
    def __init__(self, known=(), answers=(), fails=()):
        self.workers = {name: {} for name in known}
        self.answers = set(answers)
        self.fails = set(fails)
        self.asked = []

    def inspect(self, workername=None):
        self.asked.append(workername)

        async def refresh():
            if workername in self.fails:
                raise RuntimeError('broker down')
            if workername in self.answers:
                self.workers[workername] = {'stats': {}}
            return [workername] if workername in self.answers else []

        return asyncio.ensure_future(refresh())


def test_asking_a_worker_inspects_it_and_says_whether_it_answered():
    inspector = RecordingInspector(known=['a'], answers=['b'], fails=['c'])
    assert run(control.ask_worker(inspector, 'b')) is True
    assert 'b' in inspector.workers
    assert run(control.ask_worker(inspector, 'c')) is False  # the inspection failed: unknown, no exception
    assert run(control.ask_worker(inspector, 'nobody')) is False
    assert run(control.ask_worker(inspector, None)) is False
    assert run(control.ask_worker(inspector, '')) is False
    assert inspector.asked == ['b', 'c', 'nobody']


# -- publishing and waiting on an in-memory app ------------------------------------------------------------------------
@pytest.fixture
def memory_app():
    app = Celery('unit-control', broker='memory://', backend='cache+memory://')
    app.conf.task_serializer = 'json'

    @app.task(name='unit.add')
    def add(x, y):
        return x + y

    return app


def test_publish_then_wait_returns_the_result_once_it_is_stored(memory_app):
    execution = control.TaskExecution(memory_app, BlockingRunner(max_concurrency=2))
    execution.require_registered('unit.add')
    with pytest.raises(UnknownTask, match="Unknown task 'unit.nope'"):
        execution.require_registered('unit.nope')

    async def scenario():
        task_id = await execution.publish('unit.add', ApplyRequest(args=[1, 2], options={'priority': 1}))
        waiting = asyncio.ensure_future(execution.wait(task_id, 10))
        await asyncio.sleep(0)  # let the first poll see PENDING
        memory_app.backend.store_result(task_id, 3, states.SUCCESS)
        return task_id, await waiting

    task_id, snapshot = run(scenario())
    assert snapshot.as_dict(with_result=True) == {'task-id': task_id, 'state': 'SUCCESS', 'result': 3}


@pytest.mark.parametrize(
    'args,kwargs,words',
    [
        ([1, 2, 3], {}, 'add() takes 2 positional arguments but 3 were given'),
        ([1], {}, "add() missing 1 required positional argument: 'y'"),
        ([1, 2], {'z': 3}, "add() got an unexpected keyword argument 'z'"),
        ([1], {'x': 2}, "add() got multiple values for argument 'x'"),
    ],
)
def test_arguments_that_do_not_fit_the_task_are_invalid_input_with_celerys_words(memory_app, args, kwargs, words):
    execution = control.TaskExecution(memory_app, BlockingRunner(max_concurrency=1))
    with pytest.raises(InvalidInput) as caught:
        execution.check_arguments('unit.add', ApplyRequest(args=args, kwargs=kwargs))
    assert caught.value.message == f"Invalid arguments for 'unit.add': {words}"
    # the very check apply_async makes, with the very message
    with pytest.raises(TypeError, match=re.escape(words)):
        memory_app.tasks['unit.add'].apply_async(args=args, kwargs=kwargs)
    execution.check_arguments('unit.add', ApplyRequest(args=[1, 2]))
    execution.check_arguments('unit.add', ApplyRequest(args=[], kwargs={'x': 1, 'y': 2}))


def test_a_task_without_typing_is_not_checked_and_other_type_errors_are_not_invalid_input(memory_app):
    @memory_app.task(name='unit.untyped', typing=False)
    def untyped(x):
        return x

    execution = control.TaskExecution(memory_app, BlockingRunner(max_concurrency=1))
    execution.check_arguments('unit.untyped', ApplyRequest(args=[1, 2, 3]))  # Celery would not check either

    def broken_publish(*args, **kwargs):
        raise TypeError('a bug in a publish hook')

    memory_app.tasks['unit.add'].apply_async = broken_publish
    with pytest.raises(OperationFailed, match='a bug in a publish hook'):  # a 500, not a 400
        run(execution.publish('unit.add', ApplyRequest(args=[1, 2])))


def test_a_wait_gives_up_at_its_timeout_with_the_current_state(memory_app):
    execution = control.TaskExecution(memory_app, BlockingRunner(max_concurrency=2))
    started = time.monotonic()
    snapshot = run(execution.wait('never-runs', 0.3))
    assert 0.3 <= time.monotonic() - started < 3
    assert (snapshot.state, snapshot.ready) == ('PENDING', False)
    assert snapshot.as_dict(with_result=False) == {'task-id': 'never-runs', 'state': 'PENDING'}


def test_a_wait_stops_when_the_client_goes_away(memory_app):
    execution = control.TaskExecution(memory_app, BlockingRunner(max_concurrency=2))
    started = time.monotonic()
    run(execution.wait('never-runs', 60, stop=lambda: True))
    assert time.monotonic() - started < 5


def test_failures_carry_the_exception_repr_and_traceback(memory_app):
    memory_app.backend.store_result('failed-id', ValueError('bad'), states.FAILURE, traceback='Traceback: bad')
    execution = control.TaskExecution(memory_app, BlockingRunner(max_concurrency=2))
    snapshot = run(execution.snapshot('failed-id'))
    assert snapshot.as_dict(with_result=True) == {
        'task-id': 'failed-id',
        'state': 'FAILURE',
        'result': "ValueError('bad')",
        'traceback': 'Traceback: bad',
    }


def test_abort_marks_the_task_aborted(memory_app):
    execution = control.TaskExecution(memory_app, BlockingRunner(max_concurrency=2))
    assert run(execution.abort('some-id')) == "Aborted 'some-id'"
    assert memory_app.AsyncResult('some-id').state == 'ABORTED'


def test_resend_publishes_the_recovered_call_by_name(memory_app):
    runner = BlockingRunner(max_concurrency=2)
    sent = []
    from celery.signals import before_task_publish

    def record(sender=None, headers=None, body=None, routing_key=None, **kwargs):
        sent.append((sender, body[0], body[1], routing_key))

    before_task_publish.connect(record, weak=False)
    try:
        call = control.RecoveredCall('remote.only', [1], {'k': 'v'}, {'queue': 'special'})
        new_id = run(control.resend(memory_app, runner, call))
    finally:
        before_task_publish.disconnect(record)
    assert len(new_id) == 36
    assert sent == [('remote.only', [1], {'k': 'v'}, 'special')]


def test_operations_needing_a_backend_say_none_is_configured():
    execution = control.TaskExecution(Celery('nobackend', broker='memory://'), BlockingRunner(max_concurrency=1))
    assert execution.has_backend is False
    with pytest.raises(control.NoResultBackend, match='No result backend is configured'):
        execution.require_backend()


# -- queue lengths ----------------------------------------------------------------------------------------------------
class Adapter:
    def __init__(self, error=None):
        self.error = error
        self.asked = []
        self.closed = False

    async def queues(self, names):
        self.asked.append(names)
        if self.error:
            raise self.error
        return [{'name': name, 'messages': len(name)} for name in names]

    async def close(self):
        self.closed = True
