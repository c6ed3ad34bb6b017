"""Event validation (flower.events.sanitize), a state fed bad events, and reads of records holding bad values
(flower.utils.values through flower.cluster, the views' helpers, queries, templates and /metrics)."""

from __future__ import annotations

import logging
import math
import time
from collections import Counter

import pytest
from celery.events.state import Worker

from flower.cluster import is_alive, worker_status
from flower.views.workers import worker_rows
from flower.events import sanitize
from flower.events.sanitize import EventQuality, check_event
from flower.events.state import EventsState
from flower.queries import TaskFilter, select_tasks
from flower.utils.template import format_time, humanize
from flower.views.workers import summarize, table_rows, worker_page
from tests.support.events import event, heartbeat, task_events

NOW = time.time()


def checked(ev: dict, now: float = NOW):
    """(reason, event after the check, repairs)"""
    ev = dict(ev)
    repairs = Counter()
    reason = check_event(ev, ev['type'].partition('-')[0] if isinstance(ev.get('type'), str) else '', now, repairs)
    return reason, ev, +repairs


# -- the rules, one by one ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    'ev, reason',
    [
        (event('task-received', 12345, uuid='u', name='n'), 'bad_hostname'),
        (event('task-received', {'h': 1}, uuid='u', name='n'), 'bad_hostname'),
        (event('task-received', 'h' * 513, uuid='u', name='n'), 'bad_hostname'),
        (heartbeat(None), 'bad_hostname'),
        (heartbeat(''), 'bad_hostname'),
        (event('task-received', uuid=['a'], name='n'), 'bad_uuid'),
        (event('task-received', uuid={'a': 1}, name='n'), 'bad_uuid'),
        (event('task-started'), 'bad_uuid'),
        (event('task-started', uuid=''), 'bad_uuid'),
        (event('task-received', uuid='u' * 513), 'bad_uuid'),
        (event('task-received', uuid='u', name=42), 'bad_name'),
        (event('task-received', uuid='u', name={'a': 1}), 'bad_name'),
        (event('task-received', uuid='u', name='n' * 513), 'bad_name'),
    ],
)
def test_an_event_that_cannot_be_made_sane_is_rejected_with_its_reason(ev, reason):
    assert checked(ev)[0] == reason


def test_well_formed_celery_events_pass_untouched():
    for ev in task_events(outcome='succeeded') + task_events(outcome='failed') + [heartbeat()]:
        reason, after, repairs = checked(ev)
        assert (reason, after, repairs) == (None, ev, Counter())


@pytest.mark.parametrize(
    'timestamp, expected, repair',
    [
        (NOW * 1000, NOW, 'timestamp_milliseconds'),
        ('yesterday', NOW, 'timestamp_replaced'),
        (-5.0, NOW, 'timestamp_replaced'),
        (math.nan, NOW, 'timestamp_replaced'),
        (math.inf, NOW, 'timestamp_replaced'),
        (True, NOW, 'timestamp_replaced'),
        (NOW + 2 * 86400, NOW, 'timestamp_replaced'),
        (1000.0, NOW, 'timestamp_replaced'),
        (NOW * 1e6, NOW, 'timestamp_replaced'),  # microseconds are not guessed
        (NOW - 3600, NOW - 3600, None),  # a clock an hour slow (or going backwards) is believed
        (int(NOW), int(NOW), None),
    ],
)
def test_timestamps(timestamp, expected, repair):
    reason, after, repairs = checked(event('task-started', uuid='u', timestamp=timestamp))
    assert reason is None
    assert after['timestamp'] == pytest.approx(expected, abs=0.01)
    assert repairs == (Counter({repair: 1}) if repair else Counter())


@pytest.mark.parametrize(
    'field, value',
    [
        ('utcoffset', 15),
        ('utcoffset', 'x'),
        ('utcoffset', math.nan),
        ('clock', -1),
        ('clock', 2**60),
        ('clock', 1.5),
        ('clock', True),
        ('retries', 'two'),
        ('retries', -1),
        ('runtime', 'slow'),
        ('runtime', -1.0),
        ('runtime', math.inf),
        ('runtime', math.nan),
    ],
)
def test_task_numbers_out_of_range_are_dropped(field, value):
    ev = event('task-succeeded', uuid='u', result='1', runtime=0.5, retries=0)
    ev[field] = value
    reason, after, repairs = checked(ev)
    assert reason is None and field not in after and repairs == Counter({'field_dropped': 1})


@pytest.mark.parametrize(
    'field, value',
    [
        ('freq', 'fast'),
        ('freq', None),
        ('freq', 0),
        ('freq', -2.0),
        ('freq', math.inf),
        ('active', '3'),
        ('active', None),
        ('processed', [1]),
        ('processed', -1),
        ('loadavg', ['a', 'b', 'c']),
        ('loadavg', 1.5),
        ('loadavg', [1, 2, 3, 4]),
        ('loadavg', [math.nan]),
        ('pid', 'x'),
        ('sw_ident', 5),
        ('sw_ver', 'v' * 600),
        ('event', 1),
        ('heartbeats', 'x'),
        ('alive', True),
        ('update', 0),
        ('_private', 1),
        ('clock', 'x'),
    ],
)
def test_bad_worker_fields_are_dropped(field, value):
    reason, after, repairs = checked(heartbeat('w@h', **{field: value}))
    assert reason is None and field not in after and repairs == Counter({'field_dropped': 1})


def test_text_fields_that_are_not_text_are_converted_and_long_identifiers_dropped():
    state = EventsState()
    state.event(
        event(
            'task-received',
            uuid='u',
            name='n',
            args=[1, 2],
            kwargs={'a': 1},
            eta=5,
            root_id='r' * 600,
            routing_key=['x'],
        )
    )
    state.event(event('task-succeeded', uuid='u', result=4, runtime=1))
    task = state.tasks['u']
    assert (task.args, task.kwargs, task.eta, task.result) == ('[1, 2]', "{'a': 1}", '5', '4')
    assert task.root_id is None and task.routing_key is None and task.runtime == 1
    assert state.quality.repaired == Counter(
        text_converted=4, field_dropped=2, timestamp_milliseconds=0, timestamp_replaced=0
    )


def test_rule_functions():
    assert sanitize.identifier('x') == 'x' and sanitize.identifier(None) is None
    assert sanitize.identifier(1) is sanitize.DROP
    assert sanitize.text([1]) == '[1]' and sanitize.text('a') == 'a'
    assert sanitize.count(3) == 3 and sanitize.count(True) is sanitize.DROP and sanitize.count(3.0) is sanitize.DROP
    assert sanitize.loadavg((1, 2.5)) == [1, 2.5] and sanitize.loadavg('1 2 3') is sanitize.DROP
    assert sanitize.freq(2.0) == 2.0 and sanitize.freq(0) is sanitize.DROP
    assert sanitize.utcoffset(-14) == -14 and sanitize.utcoffset(14.5) is sanitize.DROP


# -- a state fed bad events ----------------------------------------------------------------------------------
def test_bad_events_are_skipped_whole_and_cost_no_other_event():
    state = EventsState()
    good = [(NOW, event('task-received', 'w@h', uuid=f'g{i}', name='ok', args='()')) for i in range(63)]
    bad = [
        (NOW, event('task-received', 'w@h', uuid='bad-name', name=42)),
        (NOW, {'type': 7, 'uuid': 'bad-type'}),
        (NOW, [event('task-started', 'w@h', uuid=['x']), 'not a dict', 5]),
        (NOW, 'not an event'),
        (NOW, heartbeat(12345)),
    ]
    assert state.apply_messages(bad + good) == 63
    assert set(state.tasks) == {f'g{i}' for i in range(63)}
    assert 12345 not in state.counter and 12345 not in state.workers
    assert state.task_types() == ['ok']
    rejected = {reason: n for reason, n in state.quality.rejected.items() if n}
    assert rejected == {'bad_name': 1, 'bad_type': 1, 'bad_uuid': 1, 'not_an_event': 3, 'bad_hostname': 1}
    assert state.event_count == 63  # the skipped ones were not counted anywhere


def test_an_event_that_fails_to_apply_is_counted_and_costs_no_other(monkeypatch):
    state = EventsState()
    original = state._task_event

    def broken(event, *args):
        if event['uuid'] == 'boom':
            raise RuntimeError('a bug')
        return original(event, *args)

    monkeypatch.setattr(state, '_task_event', broken)
    messages = [(NOW, event('task-received', uuid='boom', name='n'))] + [
        (NOW, event('task-received', uuid=f'g{i}', name='n')) for i in range(5)
    ]
    assert state.apply_messages(messages) == 5
    assert state.quality.rejected['internal_error'] == 1 and len(state.tasks) == 5


def test_heartbeat_with_bad_numbers_keeps_the_worker_usable():
    state = EventsState()
    state.event(heartbeat('w@h', freq='fast', active='3', processed=None, loadavg=1.5, event=1, heartbeats='x'))
    worker = state.workers['w@h']
    assert worker.freq == 60 and worker.active is None and worker.loadavg is None
    assert worker.alive and callable(worker.event)
    state.event(heartbeat('w@h', active=2))  # its event handler still works
    assert worker.active == 2
    assert state.metrics.executing['w@h'] == 2
    assert b'flower_worker_number_of_currently_executing_tasks{worker="w@h"} 2.0' in state.metrics.render()


def test_metrics_count_rejections_and_repairs_by_reason():
    state = EventsState()
    state.apply_messages(
        [
            (NOW, event('task-received', uuid='u', name=1)),
            (NOW, event('task-received', uuid='v', name='n', timestamp=NOW * 1000)),
        ]
    )
    text = state.metrics.render().decode()
    assert '# TYPE flower_events_rejected_total counter' in text
    assert 'flower_events_rejected_total{reason="bad_name"} 1.0' in text
    assert 'flower_events_rejected_total{reason="bad_uuid"} 0.0' in text
    assert 'flower_events_repaired_total{reason="timestamp_milliseconds"} 1.0' in text


def test_rejections_are_logged_at_most_once_a_minute_per_reason(caplog):
    clock = [0.0]
    quality = EventQuality(clock=lambda: clock[0])
    with caplog.at_level(logging.WARNING, logger='flower.events.sanitize'):
        for _ in range(5):
            quality.reject('bad_name', {'type': 'task-received', 'hostname': 'evil@host'})
        quality.reject('bad_uuid', {'type': 'task-started', 'hostname': 'other@host'})
        clock[0] = 61.0
        quality.reject('bad_name', {'type': 'task-sent', 'hostname': 'evil@host'})
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 3
    assert 'bad_name' in lines[0] and "'task-received'" in lines[0] and "'evil@host'" in lines[0]
    assert 'bad_uuid' in lines[1]
    assert "'task-sent'" in lines[2] and '5 skipped' in lines[2]  # the 4 not logged, and this one
    assert quality.rejected['bad_name'] == 6


def test_direct_events_with_a_bad_receive_time_use_now():
    state = EventsState()
    state.event(event('task-received', uuid='u', name='n', local_received='soon'))
    assert abs(state.tasks['u'].received - time.time()) < 60


# -- reads of records with bad values (an old database, an extension) ----------------------------------------
def _poisoned_state() -> EventsState:
    state = EventsState()
    state.event(heartbeat('good@h'))
    for ev in task_events(hostname='good@h', uuid='t1', name='ok'):
        state.event(ev)
    bad = Worker(
        12345, freq='fast', heartbeats=[time.time()], active='3', processed='7', loadavg=['a', 'b'], sw_ident=5
    )
    state.workers[12345] = bad
    state.counter[12345]['worker-heartbeat'] = 1
    nulls = Worker('nulls@h', freq=None, heartbeats=['x', time.time()], loadavg=1.5)
    state.workers['nulls@h'] = nulls
    state.counter['nulls@h']['worker-heartbeat'] = 1
    task = state.tasks['t1']
    state.tasks['t2'] = type(task)('t2', state, name=42, received='never', state='SUCCESS')
    state.note_task_types([42])
    state.metrics.set_executing('old@h', 'abc')
    return state


def test_reads_of_bad_worker_records_show_unknown_instead_of_failing():
    state = _poisoned_state()
    rows = {row['hostname']: row for row in worker_rows(state)}
    assert set(rows) == {'good@h', '12345', 'nulls@h'}
    assert rows['12345']['freq'] is None and rows['12345']['active'] is None
    assert rows['12345']['loadavg'] is None and rows['12345']['sw_ident'] is None
    assert rows['12345']['status'] is True  # a fresh heartbeat, with celery's default frequency
    assert rows['nulls@h']['heartbeats'] and rows['nulls@h']['status'] is True
    assert worker_status(state) == {'good@h': True, '12345': True, 'nulls@h': True}
    table = table_rows(worker_rows(state))
    assert [row.hostname for row in table] == ['12345', 'good@h', 'nulls@h']
    assert summarize(table, {}).online == 3
    page = worker_page('12345', {}, state.workers[12345], state.counter[12345], 10)
    assert page['online'] and page['worker_record'].freq is None and page['worker_record'].loadavg is None
    # Flower's `worker` for its worker.html: not inspected yet, every part it reads is empty, not a KeyError
    assert page['worker']['name'] == '12345' and page['worker']['stats']['broker'] == {}
    assert not is_alive(Worker('x', freq='fast'))


def test_reads_of_bad_task_values_sort_and_format():
    state = _poisoned_state()
    assert state.task_types() == ['ok', 42]
    page = select_tasks(state.tasks, TaskFilter(), sort_by='name')
    assert [task.uuid for task in page.tasks] == ['t1', 't2']
    assert format_time('never') == 'unknown' and format_time(1e30) == 'unknown'
    assert humanize('never', type='natural-time') == 'unknown'
    assert format_time(0, 'UTC').startswith('1970-01-01 00:00:00')


def test_a_scrape_leaves_out_a_sample_it_cannot_format():
    state = _poisoned_state()
    text = state.metrics.render().decode()
    assert 'worker="old@h"' not in text
    assert 'flower_events_total{' in text


# -- the receiver's drain ----------------------------------------------------------------------------------
class _Loop:
    def __init__(self):
        self.callbacks = []

    def add_callback(self, callback, *args):
        self.callbacks.append(callback)


def test_the_drain_reschedules_itself_even_when_something_raises(monkeypatch):
    from celery import Celery

    from flower.events.receiver import _BODY, Events

    events = Events(Celery('t', broker='memory://'), io_loop=_Loop(), enable_events=False)
    calls = []

    def apply(messages):
        calls.append(messages)
        if len(calls) == 1:
            raise RuntimeError('a bug in a listener')

    monkeypatch.setattr(events, '_apply', apply)
    events._pending.extend([(_BODY, NOW, {'type': 'a'}), (_BODY, NOW, {'type': 'b'})])
    with pytest.raises(RuntimeError):
        events._drain()
    assert events.io_loop.callbacks == [events._drain]  # the second message still gets its turn
    events.io_loop.callbacks.clear()
    events._drain()
    assert len(calls) == 2 and not events._pending and events.io_loop.callbacks == []


def test_undecodable_messages_are_counted_under_both_metrics():
    from celery import Celery

    from flower.events.receiver import Events

    events = Events(Celery('t', broker='memory://'), io_loop=_Loop(), enable_events=False)
    assert events._decode([(NOW, b'\x00garbage'), (NOW, b'[' * 100_000)]) == []
    text = events.state.metrics.render().decode()
    assert 'flower_events_undecodable_total 2.0' in text
    assert 'flower_events_rejected_total{reason="undecodable"} 2.0' in text
