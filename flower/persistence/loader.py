"""Loading the saved state at start-up, with today's limits, and pruning the file to match.

The newest ``--max_workers`` workers and ``--max_tasks`` tasks (by update order; with ``--max_task_age``,
only those young enough) go into the :class:`~flower.events.state.EventsState` through its stores, oldest
first, so the stores' order and indexes come out exactly as if the events had just been applied. Counters go
back into ``state.counter`` (those of workers left out go with them, as when ``--max_workers`` evicts).
What was not loaded is deleted from the file in the same transaction, and the freed pages are given back to
the file system, so a lowered ``--max_tasks`` shrinks the file too.

Runs once, on the thread that starts the server, before the IOLoop runs and before any event is applied.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, field

from celery.events.state import Worker

from flower.persistence.rows import task_from_row, worker_from_row
from flower.persistence.schema import TASK_FIELDS, WORKER_FIELDS

logger = logging.getLogger(__name__)

_TASK_SELECT = f'SELECT seq, worker, children, {", ".join(TASK_FIELDS)} FROM tasks'
_WORKER_SELECT = f'SELECT seq, {", ".join(WORKER_FIELDS)}, extra FROM workers'


@dataclass
class LoadResult:
    tasks: int = 0
    workers: int = 0
    pruned_tasks: int = 0
    pruned_workers: int = 0
    next_seq: int = 1
    counters: dict = field(default_factory=dict)  # as now on disk, for the writer
    saved_at: float | None = None
    seconds: float = 0.0


def load_state(
    conn: sqlite3.Connection,
    state,
    *,
    max_tasks: int,
    max_workers: int,
    cutoff: float | None = None,
    prune: bool = True,
) -> LoadResult:
    """Fill ``state`` from the database and delete from the file what did not fit (unless ``prune`` is
    False: a read-only look, see :meth:`flower.events.Events.load_state`)."""
    started = time.perf_counter()
    result = LoadResult()
    max_seq = conn.execute(
        'SELECT max(m) FROM (SELECT max(seq) AS m FROM tasks UNION ALL SELECT max(seq) FROM workers)'
    ).fetchone()[0]
    result.next_seq = (max_seq or 0) + 1
    meta = dict(conn.execute('SELECT key, value FROM meta'))
    result.saved_at = meta.get('saved_at')

    worker_rows = conn.execute(f'{_WORKER_SELECT} ORDER BY seq DESC LIMIT ?', (max_workers,)).fetchall()
    worker_rows.reverse()
    workers: dict[str, Worker] = {}
    for row in worker_rows:
        worker = worker_from_row(row[1:])
        workers[worker.hostname] = worker
        state.workers[worker.hostname] = worker
    result.workers = len(worker_rows)
    oldest_worker_seq = worker_rows[0][0] if worker_rows else None

    dropped_hosts = {
        row[0]
        for row in conn.execute(
            'SELECT hostname FROM workers WHERE ? IS NULL OR seq < ?', (oldest_worker_seq, oldest_worker_seq)
        )
    }
    for hostname, event_type, count in conn.execute('SELECT hostname, event_type, count FROM counters'):
        if hostname not in dropped_hosts:
            state.counter[hostname][event_type] = count
            result.counters.setdefault(hostname, {})[event_type] = count

    query = _TASK_SELECT
    params: tuple = ()
    if cutoff is not None:
        query += ' WHERE last_event_at IS NULL OR last_event_at >= ?'
        params = (cutoff,)
    task_rows = conn.execute(f'{query} ORDER BY seq DESC LIMIT ?', params + (max_tasks,)).fetchall()
    task_rows.reverse()
    tasks = state.tasks
    detached: dict[str, Worker] = {}  # workers of tasks whose worker record did not fit in --max_workers
    names = set()
    loaded = []
    for seq, hostname, children, *fields in task_rows:
        worker = None
        if hostname is not None:
            worker = workers.get(hostname) or state.workers.get(hostname)
            if worker is None:
                worker = detached.get(hostname)
                if worker is None:
                    worker = detached[hostname] = Worker(hostname)
        task = task_from_row(state, worker, children, fields)
        loaded.append(task)
        if task.name is not None:
            names.add(task.name)
    tasks.load(loaded)
    # celery's State remembers task names as it sees them; /api/task/types lists these
    state.note_task_types(names)
    result.tasks = len(task_rows)
    state.event_count += int(meta.get('event_count') or 0)
    state.task_count += int(meta.get('task_count') or 0)

    oldest_task_seq = task_rows[0][0] if task_rows else None
    if not prune:
        result.seconds = time.perf_counter() - started
        return result
    conn.execute('BEGIN IMMEDIATE')
    try:
        result.pruned_tasks = _delete(conn, 'DELETE FROM tasks WHERE ? IS NULL OR seq < ?', oldest_task_seq)
        if cutoff is not None:
            result.pruned_tasks += conn.execute('DELETE FROM tasks WHERE last_event_at < ?', (cutoff,)).rowcount
        result.pruned_workers = _delete(conn, 'DELETE FROM workers WHERE ? IS NULL OR seq < ?', oldest_worker_seq)
        if dropped_hosts:
            conn.executemany('DELETE FROM counters WHERE hostname = ?', [(h,) for h in dropped_hosts])
        conn.execute('COMMIT')
    except BaseException:
        conn.execute('ROLLBACK')
        raise
    if result.pruned_tasks or result.pruned_workers:
        shrink(conn)
    result.seconds = time.perf_counter() - started
    return result


def _delete(conn: sqlite3.Connection, sql: str, seq) -> int:
    return conn.execute(sql, (seq, seq)).rowcount


def shrink(conn: sqlite3.Connection) -> None:
    """Give free pages back to the file system (the database was created with ``auto_vacuum=INCREMENTAL``)
    and fold the WAL into the main file, so the file on disk is as small as its content."""
    # one page per step; executescript steps it to the end (execute would stop after the first page)
    conn.executescript('PRAGMA incremental_vacuum;')
    conn.execute('PRAGMA wal_checkpoint(TRUNCATE)').fetchall()
