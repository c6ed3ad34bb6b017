"""``--persistent`` with real servers and a real worker: a restart shows what was shown before, a ``kill -9``
loses at most what came after the last save and leaves a clean file, foreign and damaged files are moved
aside (never deleted) with a message, and a lowered ``--max_tasks`` shrinks memory and file."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import threading
from collections import defaultdict

import pytest

from flower.events.state import EventsState
from flower.persistence import StateSaver
from flower.persistence.schema import APPLICATION_ID
from tests.conftest import celery_app_for
from tests.support.events import task_events
from tests.support.full_disk import cap_writer_at_its_current_size, fill_with_ballast, free_space
from tests.support.processes import Server, start_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis]

TASKS = 'tests.support.celeryapp'
FINAL = {'SUCCESS', 'FAILURE'}


def persistent(db, *extra):
    return ['--persistent', f'--db={db}', *extra]


def log_of(proc) -> str:
    return proc.log_path.read_text(errors='replace')


def query(db, sql, params=()):
    """A read through a connection of our own, as an operator's sqlite3 shell would do it."""
    conn = sqlite3.connect(f'file:{db}?mode=ro', uri=True, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def counters_in(db) -> dict:
    counts: dict = defaultdict(dict)
    for hostname, event_type, count in query(db, 'SELECT hostname, event_type, count FROM counters'):
        counts[hostname][event_type] = count
    return dict(counts)


def online_worker(server) -> str:
    status = wait_for(
        lambda: {h: s for h, s in server.get('/api/workers', params={'status': 1}).json().items() if s},
        40,
        0.2,
        message='a worker to be online',
    )
    return next(iter(status))


def wait_final(server, ids, timeout=60):
    def done():
        tasks = server.get('/api/tasks').json()
        return all(tasks.get(uuid, {}).get('state') in FINAL for uuid in ids)

    wait_for(done, timeout, 0.3, message=f'{len(ids)} tasks to finish')


def test_restart_shows_what_was_shown_before(redis_url, processes, tmp_path):
    db = tmp_path / 'state.sqlite'
    worker = start_worker(redis_url, 'persist@%h', pool='solo', concurrency=1)
    processes.append(worker)
    server = Server(redis_url, args=persistent(db, '--state_save_interval=500'))
    processes.append(server)
    hostname = online_worker(server)
    app = celery_app_for(redis_url)
    ids = [app.send_task(f'{TASKS}.add', args=(i, i)).id for i in range(6)]
    ids += [app.send_task(f'{TASKS}.fail', args=(f'boom {i}',)).id for i in range(3)]
    ids.append(app.send_task(f'{TASKS}.retry_once', args=(7,)).id)
    ids.append(app.send_task(f'{TASKS}.echo', args=('héllo ✓', [1, 2]), kwargs={'k': '<b>v</b>'}).id)
    wait_final(server, ids)

    worker.stop()  # a warm shutdown sends worker-offline: the status shown becomes False and stays so
    wait_for(
        lambda: server.get('/api/workers', params={'status': 1}).json() == {hostname: False},
        30,
        0.2,
        message='the worker to be shown offline',
    )
    before_tasks = server.get('/api/tasks').json()
    before_info = {uuid: server.get(f'/api/task/info/{uuid}').json() for uuid in ids}
    before_types = server.get('/api/task/types').json()
    # the workers table: its counters (processed, succeeded, failed, retried) and the worker's own fields
    # (software, load average, heartbeats, status)
    before_rows = server.get('/workers', params={'json': 1}).json()['data']
    assert [row['hostname'] for row in before_rows] == [hostname]
    assert before_rows[0]['task-failed'] == 3 and before_rows[0]['sw_ident'] == 'py-celery'
    assert set(before_tasks) == set(ids)
    assert before_tasks[ids[-2]]['state'] == 'SUCCESS' and before_tasks[ids[-2]]['retries'] == 1

    assert server.stop() == 0  # SIGTERM
    assert 'Saved the state to' in log_of(server)
    counters = counters_in(db)[hostname]
    assert counters['task-received'] == 12  # the retried task was received twice
    assert counters['task-succeeded'] == 8 and counters['task-failed'] == 3 and counters['task-retried'] == 1
    assert counters['worker-offline'] == 1

    again = Server(redis_url, args=persistent(db, '--state_save_interval=500'))
    processes.append(again)
    after_tasks = again.get('/api/tasks').json()
    assert list(after_tasks.items()) == list(before_tasks.items())  # same tasks, fields and order
    assert {uuid: again.get(f'/api/task/info/{uuid}').json() for uuid in ids} == before_info
    assert again.get('/api/workers', params={'status': 1}).json() == {hostname: False}
    assert again.get('/api/task/types').json() == before_types
    assert again.get('/workers', params={'json': 1}).json()['data'] == before_rows
    assert f'Loaded {len(ids)} tasks and 1 workers' in log_of(again)

    # the restored counters go on counting: the same worker comes back and runs one more task
    worker = start_worker(redis_url, 'persist@%h', pool='solo', concurrency=1)
    processes.append(worker)
    wait_for(
        lambda: again.get('/api/workers', params={'status': 1}).json() == {hostname: True},
        40,
        0.2,
        message='the worker to be back online',
    )
    one_more = app.send_task(f'{TASKS}.add', args=(20, 22)).id
    wait_final(again, [one_more])
    assert again.stop() == 0
    counters_after = counters_in(db)[hostname]
    assert counters_after['task-received'] == counters['task-received'] + 1
    assert counters_after['task-succeeded'] == counters['task-succeeded'] + 1
    assert counters_after['task-failed'] == counters['task-failed']
    assert query(db, 'SELECT state, result FROM tasks WHERE uuid = ?', (one_more,)) == [('SUCCESS', '42')]


def test_kill_9_loses_at_most_what_came_after_the_last_save(redis_url, processes, tmp_path):
    db = tmp_path / 'flower'  # Flower's default file name
    worker = start_worker(redis_url, 'crash@%h', pool='solo', concurrency=1)
    processes.append(worker)
    args = persistent(db, '--state_save_interval=200')
    server = Server(redis_url, args=args)
    processes.append(server)
    online_worker(server)
    app = celery_app_for(redis_url)
    stop_sending = threading.Event()
    sent: list[str] = []

    def send():  # a steady flow of tasks, about 50 a second, until told to stop
        while not stop_sending.wait(0.02):
            sent.append(app.send_task(f'{TASKS}.add', args=(1, 2)).id)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        saved = wait_for(
            lambda: (
                dict(rows)
                if len(rows := query(db, "SELECT uuid, state FROM tasks WHERE state = 'SUCCESS'")) >= 40
                else None
            ),
            60,
            0.1,
            message='40 finished tasks in the file',
        )
        # one more save lands while tasks keep flowing, then the server dies mid-stream
        wait_for(
            lambda: query(db, "SELECT count(*) FROM tasks WHERE state = 'SUCCESS'")[0][0] > len(saved),
            30,
            0.05,
            message='a later save',
        )
        assert sender.is_alive()
        server.send_signal(signal.SIGKILL)
        server.popen.wait(10)
    finally:
        stop_sending.set()
        sender.join(10)
    assert server.popen.returncode == -signal.SIGKILL

    conn = sqlite3.connect(str(db))
    try:
        assert conn.execute('PRAGMA integrity_check').fetchall() == [('ok',)]
        assert conn.execute('PRAGMA application_id').fetchone()[0] == APPLICATION_ID
        in_file = dict(conn.execute('SELECT uuid, state FROM tasks').fetchall())
        workers_in_file = [row[0] for row in conn.execute('SELECT hostname FROM workers')]
    finally:
        conn.close()
    assert all(in_file.get(uuid) == 'SUCCESS' for uuid in saved)
    counters = counters_in(db)

    again = Server(redis_url, args=args)
    processes.append(again)
    shown = again.get('/api/tasks').json()
    missing = [uuid for uuid in in_file if uuid not in shown]
    assert missing == []
    assert all(shown[uuid]['state'] == 'SUCCESS' for uuid in saved)
    # the worker and its counters as of the last save: the workers table counts on from them (the worker still
    # runs, so its heartbeats, and any task it finishes, may add to them by now)
    assert len(workers_in_file) == 1
    row = next(
        row for row in again.get('/workers', params={'json': 1}).json()['data'] if row['hostname'] == workers_in_file[0]
    )
    saved_counts = counters[workers_in_file[0]]
    assert saved_counts['task-succeeded'] >= len(saved)
    assert all(row.get(key, 0) >= count for key, count in saved_counts.items()), (row, saved_counts)
    log = log_of(again)
    assert f'Loaded {len(in_file)} tasks' in log
    assert '.corrupt' not in log and '.foreign' not in log
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(('.corrupt', '.foreign'))] == []


@pytest.fixture(scope='module')
def file_worker(redis_url):
    worker = start_worker(redis_url, 'files@%h', pool='solo', concurrency=1)
    yield worker
    worker.stop()


def _random_bytes(path):
    path.write_bytes(os.urandom(4096))
    return path, 'foreign', 'is not a flower state database'


def _flower_shelve(path):
    import dbm.dumb
    import shelve

    base = path.with_suffix('')
    with shelve.Shelf(dbm.dumb.open(str(base), 'c')) as shelf:  # what Flower 2.1 leaves behind
        shelf['events'] = {'tasks': {}}
        shelf['counter'] = {'worker@host': {'task-succeeded': 3}}
    return base.with_suffix('.dat'), 'foreign', 'an old Flower shelve'


def _damaged_sqlite(path):
    state = EventsState(max_tasks_in_memory=1000)
    saver = StateSaver(state, str(path))
    saver.load()
    saver.start()
    for _ in range(300):
        for item in task_events(args=repr('z' * 400)):
            state.event(item)
    saver.close()
    conn = sqlite3.connect(str(path))
    conn.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    conn.close()
    data = bytearray(path.read_bytes())
    data[8 * 4096 : 16 * 4096] = os.urandom(8 * 4096)
    path.write_bytes(bytes(data))
    return path, 'corrupt', 'is damaged'


@pytest.mark.parametrize(
    'make', [_random_bytes, _flower_shelve, _damaged_sqlite], ids=['random-bytes', 'flower-shelve', 'damaged-sqlite']
)
def test_foreign_or_damaged_file_is_moved_aside_and_the_server_starts_fresh(
    redis_url, processes, tmp_path, file_worker, make
):
    path, kind, says = make(tmp_path / 'flower.db')
    original = path.read_bytes()
    server = Server(redis_url, args=persistent(path, '--state_save_interval=200'))
    processes.append(server)
    assert server.get('/api/tasks').json() == {}
    moved = [p for p in tmp_path.iterdir() if p.name.startswith(path.name + '.') and p.name.endswith('.' + kind)]
    assert len(moved) == 1 and moved[0].read_bytes() == original
    log = log_of(server)
    assert says in log and str(moved[0]) in log and 'nothing was deleted' in log

    # and the fresh database works: a task run now is saved in it
    online_worker(server)
    uuid = celery_app_for(redis_url).send_task(f'{TASKS}.add', args=(2, 3)).id
    wait_for(
        lambda: query(path, 'SELECT state FROM tasks WHERE uuid = ?', (uuid,)) == [('SUCCESS',)],
        40,
        0.2,
        message='the new task in the new file',
    )
    assert query(path, 'PRAGMA application_id') == [(APPLICATION_ID,)]


def test_lowering_max_tasks_between_runs_shrinks_memory_and_file(redis_url, processes, tmp_path):
    db = tmp_path / 'flower.db'
    worker = start_worker(redis_url, 'shrink@%h', pool='solo', concurrency=1)
    processes.append(worker)
    server = Server(redis_url, args=persistent(db, '--max_tasks=100', '--state_save_interval=300'))
    processes.append(server)
    online_worker(server)
    app = celery_app_for(redis_url)
    ids = [app.send_task(f'{TASKS}.echo', args=('x' * 1000, i)).id for i in range(100)]
    wait_final(server, ids, timeout=90)
    newest_first = list(server.get('/api/tasks').json())
    assert server.stop() == 0
    assert query(db, 'SELECT count(*) FROM tasks') == [(100,)]
    size_before = os.path.getsize(db)

    smaller = Server(redis_url, args=persistent(db, '--max_tasks=20'))
    processes.append(smaller)
    shown = list(smaller.get('/api/tasks').json())
    assert shown == newest_first[:20]
    assert query(db, 'SELECT count(*) FROM tasks') == [(20,)]
    assert 'removed 80 tasks' in log_of(smaller)
    assert smaller.stop() == 0
    size_after = os.path.getsize(db)
    assert size_after < size_before / 2, (size_before, size_after)
    assert query(db, 'PRAGMA integrity_check') == [('ok',)]


def test_a_db_path_that_cannot_work_stops_the_server_with_a_clear_message(redis_url, processes, tmp_path):
    server = Server(redis_url, args=persistent(tmp_path / 'no' / 'such' / 'dir' / 'flower'), wait=False)
    processes.append(server)
    wait_for(lambda: not server.alive(), 30, 0.1, message='the server to exit')
    assert server.popen.returncode == 1
    log = log_of(server)
    assert 'Cannot start' in log and 'does not exist' in log and str(tmp_path / 'no' / 'such' / 'dir') in log
    assert not (tmp_path / 'no').exists()


def test_a_full_disk_is_reported_with_its_cause_and_nothing_is_lost_when_space_returns(tmp_path, monkeypatch, caplog):
    """A real server (in this process, so the writer's connection can be capped at the file's size with
    ``PRAGMA max_page_count``: SQLite then answers SQLITE_FULL exactly as on a full disk) keeps serving,
    logs the cause once, and saves everything once the operator frees space."""
    from tests.support.inprocess import InProcessServer

    db = tmp_path / 'flower.db'
    fill_with_ballast(db)
    cap_writer_at_its_current_size(monkeypatch)
    monkeypatch.setenv('FLOWER_UNAUTHENTICATED_API', 'true')

    caplog.set_level(logging.INFO, logger='flower.persistence')
    server = InProcessServer({'persistent': True, 'db': str(db), 'state_save_interval': 100})
    stopped = False
    try:
        server.on_loop(server.app.start_background)
        ids = []
        for _ in range(150):
            events = task_events(name='tasks.big', args=repr('x' * 800))
            ids.append(events[0]['uuid'])
            server.apply(events)
        saver = server.app.persistence.saver
        wait_for(lambda: saver.writer.failures >= 3, 30, 0.1, message='saves failing on the full database')
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, errors
        assert f'Could not save the state to {saver.path}: database or disk is full.' in errors[0]
        assert 'rollback' not in caplog.text
        assert saver.writer.is_alive()
        listed = server.get('/api/tasks', params={'limit': 1000}).json()
        assert set(ids) <= set(listed)  # the server keeps serving what it has in memory
        assert query(db, 'SELECT count(*) FROM tasks') == [(0,)]

        free_space(db)
        wait_for(
            lambda: query(db, 'SELECT count(*) FROM tasks') == [(150,)], 30, 0.1, message='the kept changes to be saved'
        )
        assert f'Saving the state to {saver.path} works again' in caplog.text
        server.stop()
        stopped = True
    finally:
        if not stopped:
            server.stop()
    assert sorted(uuid for (uuid,) in query(db, 'SELECT uuid FROM tasks')) == sorted(ids)
    assert query(db, "SELECT count(*) FROM tasks WHERE state = 'SUCCESS'") == [(150,)]
