"""EventsState: lifecycles, out-of-order and duplicate events, counters, metrics, bounds and indexes."""

from __future__ import annotations

import time

import pytest
from celery.events.state import State
from celery.events.state import Task as CeleryTask

from flower.events.state import EventsState
from flower.events.task import is_truncated
from tests.support.events import event, heartbeat, task_events, worker_online


def apply(state, events):
    for ev in events:
        state.event(ev)


def test_is_a_celery_state_with_celery_task_records():
    state = EventsState()
    apply(state, task_events(uuid='t1'))
    assert isinstance(state, State)
    assert isinstance(state.tasks['t1'], CeleryTask)


def test_lifecycle_fields_and_worker():
    state = EventsState()
    apply(state, [worker_online()] + task_events(uuid='t1', args='(1, 2)', result='3', runtime=0.5))
    task = state.tasks['t1']
    assert (task.name, task.state, task.args, task.result, task.runtime) == ('tasks.add', 'SUCCESS', '(1, 2)', '3', 0.5)
    assert task.received < task.started < task.succeeded
    assert task.worker.hostname == 'worker1@host'
    assert task.worker.alive
    data = task.as_dict()
    assert list(data) == list(CeleryTask._fields)
    assert data['children'] == [] and data['root'] == 't1' and data['parent'] is None
    assert state.task_types() == ['tasks.add']
    assert state.counter['worker1@host'] == {
        'worker-online': 1,
        'task-received': 1,
        'task-started': 1,
        'task-succeeded': 1,
    }
    assert state.task_count == 1 and state.event_count == 4


def test_success_before_received_keeps_success_and_takes_name_and_args():
    state = EventsState()
    received, started, succeeded = task_events(uuid='t1', args='(5,)')
    apply(state, [succeeded, started, received])
    task = state.tasks['t1']
    assert task.state == 'SUCCESS'
    assert task.name == 'tasks.add' and task.args == '(5,)'
    assert task.result == '4'
    assert task.timestamp == succeeded['timestamp']


def test_duplicate_events_are_harmless_to_state_but_counted():
    state = EventsState()
    evs = task_events(uuid='t1')
    apply(state, evs + evs)
    assert state.tasks['t1'].state == 'SUCCESS'
    assert len(state.tasks) == 1
    assert state.counter['worker1@host']['task-succeeded'] == 2  # Flower counts every event it receives


def test_retry_cycle_ends_in_final_state():
    state = EventsState()
    t = time.time()
    apply(
        state,
        [
            event('task-received', timestamp=t, uuid='r', name='tasks.flaky', args='()', kwargs='{}', retries=0),
            event('task-started', timestamp=t + 1, uuid='r'),
            event('task-retried', timestamp=t + 2, uuid='r', exception="RuntimeError('x')", traceback='tb'),
            event('task-received', timestamp=t + 3, uuid='r', name='tasks.flaky', args='()', kwargs='{}', retries=1),
            event('task-started', timestamp=t + 4, uuid='r'),
            event('task-succeeded', timestamp=t + 5, uuid='r', result='1', runtime=0.1),
        ],
    )
    task = state.tasks['r']
    assert task.state == 'SUCCESS' and task.retries == 1 and task.retried == t + 2


def test_missed_started_does_not_leave_task_stale():
    state = EventsState()
    received, _started, succeeded = task_events(uuid='t1')
    apply(state, [received, succeeded])
    assert state.tasks['t1'].state == 'SUCCESS'


def test_custom_task_event_becomes_state():
    state = EventsState()
    received, started, _ = task_events(uuid='t1')
    apply(state, [received, started, event('task-progress', uuid='t1')])
    assert state.tasks['t1'].state == 'PROGRESS'


def test_task_multi_messages_apply_every_event():
    state = EventsState()
    evs = task_events(uuid='a') + task_events(uuid='b', outcome='failed')
    applied = state.apply_messages([(time.time(), evs[:3]), (time.time(), evs[3:]), (time.time(), 'junk')])
    assert applied == 6
    assert state.tasks['a'].state == 'SUCCESS' and state.tasks['b'].state == 'FAILURE'
    assert state.tasks['b'].exception == "ValueError('boom')"


def test_events_without_type_or_uuid_are_ignored():
    state = EventsState()
    state.apply_messages([(time.time(), {'no': 'type'}), (time.time(), {'type': 'task-received'})])
    assert len(state.tasks) == 0


def test_max_tasks_keeps_newest_and_indexes_stay_consistent():
    state = EventsState(max_tasks_in_memory=100)
    ids = [f'task-{i:03d}' for i in range(300)]
    for i, uuid in enumerate(ids):
        outcome = 'failed' if i % 3 == 0 else 'succeeded'
        apply(state, task_events(uuid=uuid, name=f'tasks.n{i % 7}', hostname=f'w{i % 4}@h', outcome=outcome))
    assert list(state.tasks.keys()) == ids[200:]
    store = state.tasks
    indexed = set()
    for index in (store.by_state, store.by_name, store.by_worker):
        members = set()
        for bucket in index.values():
            assert bucket, 'no empty buckets are left behind'
            members.update(bucket)
        assert members == set(ids[200:])  # no ghosts, nothing missing
        indexed |= members
    assert store.evicted == 200
    assert set(store.by_state['FAILURE']) == {u for i, u in enumerate(ids) if i >= 200 and i % 3 == 0}


def test_updating_an_old_task_protects_it_from_eviction():
    state = EventsState(max_tasks_in_memory=3)
    for uuid in ('a', 'b', 'c'):
        apply(state, task_events(uuid=uuid)[:1])
    state.event(event('task-started', uuid='a'))  # a is now the most recently updated
    apply(state, task_events(uuid='d')[:1])
    assert set(state.tasks.keys()) == {'a', 'c', 'd'}


def test_children_link_whichever_arrives_first():
    state = EventsState()
    t = time.time()
    state.event(event('task-received', timestamp=t, uuid='child1', name='c', parent_id='parent', root_id='parent'))
    state.event(event('task-received', timestamp=t, uuid='parent', name='p', root_id='parent'))
    state.event(event('task-received', timestamp=t, uuid='child2', name='c', parent_id='parent', root_id='parent'))
    parent = state.tasks['parent']
    assert parent.as_dict()['children'] == ['child1', 'child2']
    assert state.tasks['child2'].parent is parent and state.tasks['child2'].root is parent


def test_long_text_is_truncated_and_marked():
    state = EventsState(text_limit=100)
    apply(state, task_events(uuid='big', args='x' * 10_000, result='y' * 50))
    task = state.tasks['big']
    assert task.args.startswith('x' * 100) and len(task.args) < 200
    assert '10,000 characters' in task.args and is_truncated(task.args)
    assert task.result == 'y' * 50 and not is_truncated(task.result)


def test_worker_offline_and_heartbeat_metrics():
    state = EventsState()
    apply(state, [worker_online('w@h'), heartbeat('w@h', active=3)])
    assert state.workers['w@h'].alive
    assert state.metrics.online['w@h'] == 1.0 and state.metrics.executing['w@h'] == 3
    state.event(event('worker-offline', 'w@h'))
    assert not state.workers['w@h'].alive
    assert state.metrics.online['w@h'] == 0.0


def test_task_metrics_follow_flower_rules():
    state = EventsState()
    t = time.time()
    received, started, succeeded = task_events(uuid='t', start=t, runtime=0.3)
    state.event(received)
    assert state.metrics.prefetched[('worker1@host', 'tasks.add')] == 1
    state.event(started)
    assert state.metrics.prefetched[('worker1@host', 'tasks.add')] == 0
    assert state.metrics.prefetch_time[('worker1@host', 'tasks.add')] == pytest.approx(0.001, abs=1e-6)
    state.event(succeeded)
    assert state.metrics.prefetch_time[('worker1@host', 'tasks.add')] == 0
    hist = state.metrics.runtime[('worker1@host', 'tasks.add')]
    assert hist.count == 1 and hist.sum == pytest.approx(0.3)
    assert state.metrics.events[('worker1@host', 'task-succeeded', 'tasks.add')][0] == 1
    # a prefetched task revoked before it starts is no longer prefetched
    state.event(task_events(uuid='r', start=t)[0])
    state.event(event('task-revoked', uuid='r', terminated=False, signum=None, expired=False))
    assert state.metrics.prefetched[('worker1@host', 'tasks.add')] == 0


def test_max_workers_evicts_workers_with_their_counters_and_metrics():
    state = EventsState(max_workers_in_memory=2)
    for name in ('a@h', 'b@h', 'c@h'):
        state.event(heartbeat(name))
    assert list(state.workers.keys()) == ['b@h', 'c@h']
    assert 'a@h' not in state.counter and 'a@h' not in state.metrics.online


def test_tasks_by_type_and_worker_views():
    state = EventsState()
    apply(state, task_events(uuid='1', name='x') + task_events(uuid='2', name='y', hostname='w2@h'))
    assert [t.uuid for t in state.tasks_by_type['x']] == ['1']
    assert [u for u, _ in state.tasks_by_worker('w2@h')] == ['2']
    assert [u for u, _ in state.tasks_by_time()] == ['2', '1']


def test_clear_tasks_keeps_unfinished():
    state = EventsState()
    apply(state, task_events(uuid='done') + task_events(uuid='running')[:2])
    state.clear_tasks(ready=True)
    assert list(state.tasks.keys()) == ['running']
    assert list(state.tasks.by_state) == ['STARTED']


def test_client_hosts_do_not_pile_up_in_counters_and_metrics():
    state = EventsState(max_workers_in_memory=3)
    state.event(heartbeat('worker@h'))
    for i in range(50):  # every producer process has its own host name in task-sent events
        state.event(event('task-sent', f'gen{i}@client', uuid=f't{i}', name='x'))
    assert len(state.counter) <= 2 * 3 + 1
    assert 'worker@h' in state.counter
    assert len({key[0] for key in state.metrics.events}) <= 2 * 3 + 1


def test_change_logs_serve_several_readers_and_hear_of_removals():
    state = EventsState(max_tasks_in_memory=2)
    state.track_changes = True
    live = state.subscribe_changes()
    apply(state, task_events(uuid='a') + task_events(uuid='b'))
    assert state.take_changes() == ({'a', 'b'}, {'worker1@host'}, set())
    apply(state, task_events(uuid='c'))  # evicts a
    state.tasks.pop('b')  # removed on purpose (retention)
    assert state.take_changes() == ({'c'}, {'worker1@host'}, {'a', 'b'})
    tasks, workers, removed = live.take()  # the second reader saw everything too
    assert tasks == {'c'} and removed == {'a', 'b'}
    state.unsubscribe_changes(live)
    state.track_changes = False
    apply(state, task_events(uuid='d'))
    assert state.change_logs == [] and state.take_changes() == (set(), set(), set())


def test_mark_all_changed_reaches_every_change_log():
    state = EventsState(max_tasks_in_memory=10)
    apply(state, task_events(uuid='a') + task_events(uuid='b'))
    state.track_changes = True
    live = state.subscribe_changes()
    assert state.take_changes() == (set(), set(), set())  # nothing changed since the logs began
    state.mark_all_changed()
    assert state.take_changes() == ({'a', 'b'}, {'worker1@host'}, set())
    assert live.take() == ({'a', 'b'}, {'worker1@host'}, set())


def test_bulk_load_builds_indexes_once_and_applies_the_limit():
    source = EventsState()
    for i in range(50):
        apply(source, task_events(uuid=f't{i:02d}', name=f'n{i % 3}', start=1000.0 + (i * 7) % 50))
    target = EventsState(max_tasks_in_memory=40)
    assert target.tasks.load(list(source.tasks.values())) == 40
    assert list(target.tasks.keys()) == [f't{i:02d}' for i in range(10, 50)]
    received = [t.received for t in target.tasks.sorted_by('received', reverse=False)]
    assert received == sorted(received) and len(received) == 40
    assert sum(len(b) for b in target.tasks.by_name.values()) == 40


def test_no_ghosts_in_search_results_after_eviction():
    from flower.search import find

    state = EventsState(max_tasks_in_memory=50)
    for i in range(200):
        apply(
            state,
            task_events(
                uuid=f'task-{i:03d}',
                name=f'jobs.kind{i % 4}',
                args=f"('item-{i:03d}',)",
                hostname=f'w{i % 3}@h',
                outcome='failed' if i % 5 == 0 else 'succeeded',
            ),
        )
    live = set(state.tasks.keys())
    for query in (
        'name:kind1',
        'state:FAILURE',
        'worker:w2',
        'item-1',
        'args:item-19',
        'jobs',
        'name:kind2 OR state:FAILURE',
        'kind3 AND state:SUCCESS',
    ):
        found = find(state.tasks, query)
        assert found and found <= live, query  # only tasks still in memory
    assert find(state.tasks, 'args:item-010') == set()  # evicted long ago
    assert find(state.tasks, 'args:item-199') == {'task-199'}
