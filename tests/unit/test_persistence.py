"""The saver, writer, loader and retention of ``--persistent`` without HTTP: states fed with event dicts, saved
to a real SQLite file, loaded into a fresh state and compared."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time

import pytest
from celery.events.state import Worker

from flower.events.state import EventsState
from flower.persistence import StateSaver, TaskRetention
from flower.persistence.rows import last_event_time
from tests.support.events import event, heartbeat, task_events, worker_online
from tests.support.full_disk import cap_writer_at_its_current_size, fill_with_ballast, free_space
from tests.support.processes import wait_for


def feed(state, events):
    for item in events:
        state.event(item)


def run_task(state, outcome='succeeded', hostname='worker1@host', parent_id=None, **kwargs):
    events = task_events(hostname=hostname, outcome=outcome, **kwargs)
    if parent_id:
        events[0]['parent_id'] = parent_id
    feed(state, events)
    return events[0]['uuid']


def new_saver(path, max_tasks=1000, max_workers=50, retention_age=None, **kwargs):
    state = EventsState(max_tasks_in_memory=max_tasks, max_workers_in_memory=max_workers)
    retention = TaskRetention(state, retention_age) if retention_age else None
    saver = StateSaver(state, str(path), retention=retention, **kwargs)
    saver.load()
    return state, saver


def rows(path, sql, params=()):
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def api_view(task):
    data = task.as_dict()
    data['worker'] = task.worker.hostname if task.worker is not None else None
    return data


def index_view(state):
    store = state.tasks
    return (
        {key: sorted(bucket) for key, bucket in store.by_state.items()},
        {key: sorted(bucket) for key, bucket in store.by_name.items()},
        {key: sorted(bucket) for key, bucket in store.by_worker.items()},
    )


@pytest.fixture
def db(tmp_path):
    return tmp_path / 'flower.db'


def test_round_trip_restores_tasks_workers_counters_and_order(db):
    state, saver = new_saver(db)
    saver.start()
    feed(
        state,
        [
            worker_online('w1@host'),
            heartbeat('w1@host', active=1, processed=3),
            worker_online('w2@host'),
            heartbeat('w2@host'),
        ],
    )
    parent = run_task(state, hostname='w1@host', name='tasks.parent', args='(1,)', kwargs="{'x': 'é ✓'}")
    child = run_task(state, hostname='w2@host', name='tasks.child', parent_id=parent, outcome='failed')
    pending = str(__import__('uuid').uuid4())
    feed(
        state,
        [
            event(
                'task-sent',
                'client@web',
                uuid=pending,
                name='tasks.later',
                args='()',
                kwargs='{}',
                retries=0,
                eta='2030-01-01T00:00:00',
                expires=None,
                root_id=pending,
                parent_id=None,
                queue='celery',
                exchange='',
                routing_key='celery',
            )
        ],
    )
    others = [run_task(state, hostname='w1@host', outcome=('failed' if i % 3 else 'succeeded')) for i in range(20)]
    feed(state, [event('worker-offline', 'w2@host')])
    assert saver.flush()
    saver.close()

    restored, _ = new_saver(db)
    assert list(restored.tasks) == list(state.tasks)  # update order, oldest first
    for uuid in [parent, child, pending, *others]:
        assert api_view(restored.tasks[uuid]) == api_view(state.tasks[uuid])
    assert restored.tasks[parent].children == [child]
    assert restored.tasks[child].parent is restored.tasks[parent]
    assert restored.tasks[pending].state == 'PENDING' and restored.tasks[pending].client == 'client@web'
    assert index_view(restored) == index_view(state)
    assert restored.counter == state.counter
    assert restored.counter['client@web']['task-sent'] == 1
    assert restored.event_count == state.event_count and restored.task_count == state.task_count
    assert restored.task_types() == state.task_types()
    assert list(restored.workers) == list(state.workers)
    for hostname, worker in state.workers.items():
        back = restored.workers[hostname]
        assert isinstance(back, Worker)
        for field in Worker._fields:
            assert getattr(back, field) == getattr(worker, field), field
        assert back.alive == worker.alive
        assert back.local_received == worker.local_received
    assert restored.workers['w1@host'].alive and not restored.workers['w2@host'].alive
    # the restored worker's event handler still works on its restored heartbeat list
    restored.event(heartbeat('w2@host'))
    assert restored.workers['w2@host'].alive


def test_values_sqlite_cannot_take_are_saved_as_text_and_later_saves_still_work(db):
    """One such value used to end the writer thread: every later save failed and nothing was written again."""
    state, saver = new_saver(db)
    saver.start()
    huge = run_task(state, result=str(2**70))
    state.event(event('task-progress', 'worker1@host', uuid=huge, result=2**70, current=2**64))
    broken = run_task(state, outcome='failed')
    state.tasks[broken].traceback = 'File "/srv/caf\udce9.py", line 1'  # surrogateescape-decoded file name
    state.event(heartbeat('worker1@host'))
    # events can no longer carry such a number (flower.events.sanitize drops it); records from elsewhere can
    state.workers['worker1@host'].processed = 2**65
    state.mark_all_changed()
    assert saver.flush()
    later = run_task(state)
    assert saver.flush()
    saver.close()

    restored, _ = new_saver(db)
    assert {huge, broken, later} <= set(restored.tasks)
    assert restored.tasks[huge].result == str(2**70)
    assert restored.tasks[broken].traceback == 'File "/srv/caf\\udce9.py", line 1'
    assert str(restored.workers['worker1@host'].processed) == str(2**65)


def test_each_save_writes_only_what_changed(db):
    state, saver = new_saver(db)
    saver.start()
    ids = [run_task(state, outcome=None) for _ in range(30)]  # received and started
    first = saver.save()
    assert [snap[3][0] for snap in first.tasks] == ids
    assert saver.flush()

    feed(state, [event('task-succeeded', 'worker1@host', uuid=ids[4], result='4', runtime=0.1)])
    second = saver.save()
    assert [snap[3][0] for snap in second.tasks] == [ids[4]]
    assert second.removed_tasks == []
    assert saver.flush()
    idle = saver.save()
    assert idle.tasks == [] and idle.workers == []
    saver.close()
    assert rows(db, 'SELECT state, result FROM tasks WHERE uuid = ?', (ids[4],)) == [('SUCCESS', '4')]
    assert rows(db, "SELECT count(*) FROM tasks WHERE state = 'STARTED'") == [(29,)]
    # the finished task is now the most recently updated
    assert rows(db, 'SELECT uuid FROM tasks ORDER BY seq DESC LIMIT 1') == [(ids[4],)]


def test_update_order_decides_what_a_smaller_max_tasks_keeps(db):
    state, saver = new_saver(db)
    saver.start()
    a, b, c = (run_task(state, outcome=None) for _ in range(3))  # received + started
    assert saver.flush()
    feed(state, [event('task-succeeded', 'worker1@host', uuid=a, result='1', runtime=0.1)])  # a is newest now
    saver.close()

    restored, _ = new_saver(db, max_tasks=2)
    assert list(restored.tasks) == [c, a]
    assert restored.tasks[a].state == 'SUCCESS'
    assert rows(db, 'SELECT uuid FROM tasks ORDER BY seq') == [(c,), (a,)]


def test_tasks_evicted_by_max_tasks_leave_the_file(db):
    state, saver = new_saver(db, max_tasks=5)
    saver.start()
    ids = [run_task(state) for _ in range(8)]
    assert saver.flush()
    ids += [run_task(state) for _ in range(4)]
    saver.close()
    assert sorted(uuid for (uuid,) in rows(db, 'SELECT uuid FROM tasks')) == sorted(ids[-5:])
    assert list(state.tasks) == ids[-5:]


def test_lowering_max_tasks_shrinks_memory_and_file(db):
    state, saver = new_saver(db, max_tasks=1000)
    saver.start()
    ids = [run_task(state, args=repr(('x' * 900, i))) for i in range(400)]
    saver.close()
    size_before = os.path.getsize(db)
    assert rows(db, 'SELECT count(*) FROM tasks') == [(400,)]

    restored, loader = new_saver(db, max_tasks=40)
    assert list(restored.tasks) == ids[-40:]
    assert loader.loaded.pruned_tasks == 360
    assert sum(len(bucket) for bucket in restored.tasks.by_state.values()) == 40
    assert set(restored.tasks.by_worker['worker1@host']) == set(ids[-40:])
    assert rows(db, 'SELECT count(*) FROM tasks') == [(40,)]
    assert rows(db, 'PRAGMA integrity_check') == [('ok',)]
    size_after = os.path.getsize(db)
    assert size_after < size_before * 0.3, (size_before, size_after)


def test_lowering_max_workers_drops_the_oldest_workers_and_their_counters(db):
    state, saver = new_saver(db)
    saver.start()
    for name in ('old@host', 'mid@host', 'new@host'):
        feed(state, [worker_online(name), heartbeat(name)])
        run_task(state, hostname=name)
    saver.close()

    restored, loader = new_saver(db, max_workers=2)
    assert list(restored.workers) == ['mid@host', 'new@host']
    assert 'old@host' not in restored.counter
    assert restored.counter['new@host']['task-succeeded'] == 1
    assert rows(db, 'SELECT DISTINCT hostname FROM counters ORDER BY hostname') == [('mid@host',), ('new@host',)]
    assert rows(db, 'SELECT hostname FROM workers ORDER BY seq') == [('mid@host',), ('new@host',)]
    # the old worker's tasks are still there, and still say where they ran
    assert restored.tasks.by_worker['old@host']


def test_worker_evicted_by_max_workers_leaves_the_file(db):
    state, saver = new_saver(db, max_workers=2)
    saver.start()
    for name in ('a@host', 'b@host'):
        feed(state, [worker_online(name)])
    assert saver.flush()
    feed(state, [worker_online('c@host')])
    saver.close()
    assert rows(db, 'SELECT hostname FROM workers ORDER BY seq') == [('b@host',), ('c@host',)]
    assert rows(db, "SELECT count(*) FROM counters WHERE hostname = 'a@host'") == [(0,)]


def test_a_failed_write_is_kept_retried_and_never_runs_on_the_calling_thread(db, caplog):
    state, saver = new_saver(db, busy_timeout=0.2)
    saver.start()
    ids = [run_task(state) for _ in range(10)]
    blocker = sqlite3.connect(str(db), isolation_level=None)
    blocker.execute('BEGIN IMMEDIATE')  # an operator's shell holding the write lock
    try:
        with caplog.at_level(logging.ERROR, logger='flower.persistence'):
            started = time.perf_counter()
            saver.save()
            elapsed = time.perf_counter() - started
            # the writer waits for the lock (busy_timeout) on its own thread; the caller does not
            assert elapsed < 0.1, elapsed
            wait_for(lambda: saver.writer.failures >= 1, 10, 0.02, message='the blocked write to fail')
        assert 'Could not save the state' in caplog.text and 'locked' in caplog.text
        more = [run_task(state) for _ in range(3)]
    finally:
        blocker.execute('ROLLBACK')
        blocker.close()
    assert saver.flush()
    saver.close()
    assert sorted(uuid for (uuid,) in rows(db, 'SELECT uuid FROM tasks')) == sorted(ids + more)


def test_a_full_disk_is_logged_with_its_cause_once_and_everything_is_saved_when_space_returns(db, caplog, monkeypatch):
    fill_with_ballast(db)
    cap_writer_at_its_current_size(monkeypatch)
    state, saver = new_saver(db)
    saver.start()
    ids = [run_task(state, args=repr('x' * 500)) for _ in range(200)]
    with caplog.at_level(logging.WARNING, logger='flower.persistence'):
        assert not saver.flush()
        more = [run_task(state) for _ in range(5)]
        assert not saver.flush()  # still full: retried with everything kept, not logged again
        assert saver.writer.is_alive() and saver.writer.failures == 2
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, errors
        assert 'database or disk is full' in errors[0] and 'kept in memory' in errors[0]
        assert 'rollback' not in caplog.text
        assert rows(db, 'SELECT count(*) FROM tasks') == [(0,)]

        free_space(db)
        assert saver.flush()
    assert 'Saving the state to %s works again' % saver.path in caplog.text
    saver.close()
    assert sorted(uuid for (uuid,) in rows(db, 'SELECT uuid FROM tasks')) == sorted(ids + more)
    assert rows(db, "SELECT count FROM counters WHERE hostname = 'worker1@host' AND event_type = 'task-succeeded'") == [
        (205,)
    ]


def test_max_task_age_in_memory_and_on_disk(db):
    state, saver = new_saver(db, retention_age=3600)
    saver.start()
    now = time.time()
    old = [run_task(state, start=now - 7200 - i) for i in range(5)]
    fresh = [run_task(state, start=now - 60) for _ in range(5)]
    assert saver.flush()
    # on disk the age limit applies with every save; in memory with the next retention run
    assert sorted(uuid for (uuid,) in rows(db, 'SELECT uuid FROM tasks')) == sorted(fresh)
    assert len(state.tasks) == 10

    gone = saver.retention.expire(now)
    assert sorted(gone) == sorted(old)
    assert list(state.tasks) == fresh
    assert all(uuid not in bucket for bucket in state.tasks.by_state.values() for uuid in old)
    assert sorted(state.tasks.by_worker['worker1@host']) == sorted(fresh)
    saver.close()
    assert sorted(uuid for (uuid,) in rows(db, 'SELECT uuid FROM tasks')) == sorted(fresh)

    # a task that aged while the server was down is neither loaded nor kept in the file
    conn = sqlite3.connect(str(db))
    conn.execute('UPDATE tasks SET last_event_at = ? WHERE uuid = ?', (now - 4000, fresh[0]))
    conn.commit()
    conn.close()
    restored, loader = new_saver(db, retention_age=3600)
    assert list(restored.tasks) == fresh[1:]
    assert rows(db, 'SELECT count(*) FROM tasks') == [(4,)]


def test_retention_walks_only_the_expired_end():
    state = EventsState(max_tasks_in_memory=1000)
    now = time.time()
    for i in range(200):
        run_task(state, start=now - 1000 + i)
    retention = TaskRetention(state, 900.5)
    seen = []
    retention.on_expired.subscribe(seen.extend)
    gone = retention.expire(now)
    assert len(gone) == 100 and seen == gone
    assert all(last_event_time(task) >= now - 900.5 for task in state.tasks.values())
    assert retention.expire(now) == []


def test_saves_run_periodically_and_close_from_another_thread_saves_on_the_ioloop(db):
    from tornado.ioloop import IOLoop

    holder = {}
    started = threading.Event()
    collect_threads = set()

    def serve():
        import asyncio

        asyncio.set_event_loop(asyncio.new_event_loop())
        loop = IOLoop.current()
        state, saver = new_saver(db, interval_ms=50)
        original = saver.collect

        def collect():
            collect_threads.add(threading.get_ident())
            return original()

        saver.collect = collect
        holder.update(loop=loop, state=state, saver=saver, thread=threading.get_ident())
        loop.add_callback(lambda: (saver.start(loop), started.set()))
        loop.start()
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    loop, state, saver = holder['loop'], holder['state'], holder['saver']
    ids = []
    loop.add_callback(lambda: ids.extend(run_task(state) for _ in range(5)))
    wait_for(lambda: rows(db, 'SELECT count(*) FROM tasks') == [(5,)], 10, 0.02, message='a periodic save')

    last = []

    def late_task():  # applied, and not yet saved when close() is called
        saver._timer.stop()
        last.append(run_task(state))

    loop.add_callback(late_task)
    wait_for(lambda: last, 10, 0.01, message='the late task')
    saver.close()
    assert rows(db, 'SELECT uuid FROM tasks WHERE uuid = ?', (last[0],)) == [(last[0],)]
    assert collect_threads == {holder['thread']}
    loop.add_callback(loop.stop)
    thread.join(10)


def test_close_on_the_running_ioloop_saves_before_the_loop_stops(db):
    from tornado.ioloop import IOLoop
    import asyncio

    asyncio.set_event_loop(asyncio.new_event_loop())
    loop = IOLoop.current()
    state, saver = new_saver(db, interval_ms=60000)
    ids = []
    seen = {}

    def shutdown():  # what a SIGTERM handler does through Flower.stop(): close, then stop the loop
        try:
            saver.start(loop)
            ids.extend(run_task(state) for _ in range(3))
            began = time.perf_counter()
            saver.close(timeout=2)
            seen['close_seconds'] = time.perf_counter() - began
            seen['rows_right_after'] = rows(db, 'SELECT count(*) FROM tasks')
        finally:
            loop.add_callback(loop.stop)

    loop.add_callback(shutdown)
    loop.start()
    loop.close()
    assert seen['close_seconds'] < 1.0  # it must not wait for the loop it is blocking
    assert seen['rows_right_after'] == [(0,)]  # the last save is a callback queued before the loop's stop
    assert sorted(uuid for (uuid,) in rows(db, 'SELECT uuid FROM tasks')) == sorted(ids)


def test_attached_persistence_loads_at_once_and_saves_around_the_events_lifecycle(db):
    from celery import Celery
    from flower.events import Events
    from flower.persistence import attach_persistence

    capp = Celery(broker='memory://')
    events = Events(capp, db=str(db), persistent=True, state_save_interval=100, max_tasks_in_memory=100)
    persistence = attach_persistence(events)
    assert persistence.saver is not None and persistence.retention is None
    assert events.on_starting.subscribers == (persistence.start,)
    assert events.on_stopped.subscribers == (persistence.stop,)
    events.on_starting.emit(None)  # what Events.start does before its thread starts
    uuid = run_task(events.state)
    assert events.save_state() is True
    events.on_stopped.emit()  # what Events.stop does once its thread ended: the last save

    again = Events(capp, db=str(db), persistent=True, max_tasks_in_memory=100)
    assert list(again.state.tasks) == []  # the receiver itself never touches the file
    persisted = attach_persistence(again)
    assert list(again.state.tasks) == [uuid]  # loaded when attached, before any event
    assert persisted.saver.interval_ms == 1000  # --persistent without --state_save_interval
    persisted.stop()
    plain = Events(capp, max_tasks_in_memory=10)
    assert plain.save_state() is False
    attach_persistence(plain)
    assert plain.save_state() is False
    in_memory_only = Events(capp, max_tasks_in_memory=10, max_task_age=60)
    retained = attach_persistence(in_memory_only)
    assert retained.saver is None and retained.retention.max_age == 60
