"""The writer thread: the only code that writes the database while the server runs.

Runtime rules owned here:

* All SQLite I/O after start-up happens on this thread, on its own connection (``sqlite3`` refuses use of
  a connection from another thread, so the rule is enforced, not just followed). The IOLoop only hands over
  :class:`Batch` objects, which costs a queue put.
* Whatever is waiting when the thread wakes up is merged (a newer row for the same task wins) and written in
  ONE transaction: a crash leaves the file as of the last commit, never half a save, and a writer that fell
  behind catches up in a single write instead of building a backlog.
* A failed write (disk full, file locked by an operator's long transaction) is rolled back, logged, and kept:
  it is merged into the next attempt, so nothing collected is dropped, and the thread lives on. The log names
  the real cause (``database or disk is full``) once per run of failures, again only if the cause changes,
  and says when saving works again. SQLite itself rolls a transaction back on some errors (SQLITE_FULL among
  them), so a ROLLBACK is sent only while a transaction is still open: otherwise its own ``cannot rollback``
  error would hide the cause.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from flower.persistence.database import connect
from flower.persistence.rows import encode_task, encode_worker
from flower.persistence.schema import TASK_COLUMNS, WORKER_COLUMNS

logger = logging.getLogger(__name__)

_INSERT_TASK = f'INSERT OR REPLACE INTO tasks ({", ".join(TASK_COLUMNS)}) VALUES ({", ".join("?" * len(TASK_COLUMNS))})'
_INSERT_WORKER = (
    f'INSERT OR REPLACE INTO workers ({", ".join(WORKER_COLUMNS)}) VALUES ({", ".join("?" * len(WORKER_COLUMNS))})'
)
_UPSERT_COUNTER = (
    'INSERT INTO counters (hostname, event_type, count) VALUES (?, ?, ?) '
    'ON CONFLICT (hostname, event_type) DO UPDATE SET count = excluded.count'
)


@dataclass
class Batch:
    """What changed since the previous save, as collected on the IOLoop. Within a batch, removals come
    before upserts (a task evicted and then seen again is upserted)."""

    tasks: list = field(default_factory=list)  # task snapshots, oldest update first
    removed_tasks: list = field(default_factory=list)  # task ids
    workers: list = field(default_factory=list)  # worker snapshots
    removed_workers: list = field(default_factory=list)  # hostnames
    counters: dict | None = None  # full {hostname: {event_type: count}}, or None
    meta: dict = field(default_factory=dict)
    cutoff: float | None = None  # delete tasks whose last event is older
    done: threading.Event | None = None  # set once written (or failed), for flushes
    ok: bool = False


class _Pending:
    """Batches merged, waiting to be written."""

    def __init__(self):
        self.tasks: dict[str, tuple] = {}
        self.removed_tasks: set[str] = set()
        self.workers: dict[str, tuple] = {}
        self.removed_workers: set[str] = set()
        self.counters: dict | None = None
        self.meta: dict = {}
        self.cutoff: float | None = None
        self.waiters: list[Batch] = []

    def merge(self, batch: Batch) -> None:
        for uuid in batch.removed_tasks:
            self.tasks.pop(uuid, None)
            self.removed_tasks.add(uuid)
        for snapshot in batch.tasks:
            uuid = snapshot[3][0]
            self.removed_tasks.discard(uuid)
            self.tasks[uuid] = snapshot
        for hostname in batch.removed_workers:
            self.workers.pop(hostname, None)
            self.removed_workers.add(hostname)
        for snapshot in batch.workers:
            self.removed_workers.discard(snapshot[1])
            self.workers[snapshot[1]] = snapshot
        if batch.counters is not None:
            self.counters = batch.counters
        self.meta.update(batch.meta)
        if batch.cutoff is not None:
            self.cutoff = batch.cutoff
        self.waiters.append(batch)

    def row_count(self) -> int:
        return len(self.tasks) + len(self.removed_tasks) + len(self.workers) + len(self.removed_workers)


_STOP = object()


def _roll_back(conn: sqlite3.Connection) -> None:
    """End a failed transaction without hiding why it failed (the caller re-raises the original error)."""
    if not conn.in_transaction:
        return  # SQLite already rolled it back (it does on SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM, ...)
    try:
        conn.execute('ROLLBACK')
    except sqlite3.Error as exc:
        logger.warning('Rolling back a failed save failed too: %s', exc)


class Writer(threading.Thread):
    """Writes :class:`Batch` objects to the database at ``path``. ``counters_on_disk`` is what the file
    holds now (from the loader), so only changed counters are written."""

    def __init__(self, path: str, counters_on_disk: dict | None = None, busy_timeout: float | None = None):
        super().__init__(name='flower-persistence-writer', daemon=True)
        self.path = path
        self.busy_timeout = busy_timeout
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._pending = _Pending()
        self._counters_on_disk = {host: dict(counts) for host, counts in (counters_on_disk or {}).items()}
        self._failing = False
        self.writes = 0
        self.failures = 0
        self.last_error: str | None = None
        self.durations: deque[float] = deque(maxlen=10000)  # seconds per transaction, for the bench
        self.rows_written: deque[int] = deque(maxlen=10000)

    # -- any thread ---------------------------------------------------------------------------------------
    def submit(self, batch: Batch) -> None:
        self._queue.put(batch)

    def stop(self, timeout: float = 30.0) -> bool:
        """Write what is queued, close the connection, end the thread; False if it did not end in time."""
        self._queue.put(_STOP)
        if self.is_alive():
            self.join(timeout)
        return not self.is_alive()

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    # -- the thread --------------------------------------------------------------------------------------------
    def run(self) -> None:
        conn = connect(self.path)
        if self.busy_timeout is not None:
            conn.execute(f'PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}')
        try:
            stopping = False
            while not stopping:
                item = self._queue.get()
                while True:
                    if item is _STOP:
                        stopping = True
                    else:
                        self._pending.merge(item)
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                if self._pending.waiters:
                    self._write_pending(conn)
        finally:
            conn.close()

    def _write_pending(self, conn: sqlite3.Connection) -> None:
        pending = self._pending
        started = time.perf_counter()
        counter_rows, counter_deletes, new_counters = self._counter_changes(pending.counters)
        try:
            conn.execute('BEGIN IMMEDIATE')
            try:
                if pending.removed_tasks:
                    conn.executemany('DELETE FROM tasks WHERE uuid = ?', [(u,) for u in pending.removed_tasks])
                if pending.tasks:
                    conn.executemany(_INSERT_TASK, [encode_task(s) for s in pending.tasks.values()])
                if pending.removed_workers:
                    conn.executemany('DELETE FROM workers WHERE hostname = ?', [(h,) for h in pending.removed_workers])
                if pending.workers:
                    conn.executemany(_INSERT_WORKER, [encode_worker(s) for s in pending.workers.values()])
                if counter_deletes:
                    conn.executemany('DELETE FROM counters WHERE hostname = ? AND event_type = ?', counter_deletes)
                if counter_rows:
                    conn.executemany(_UPSERT_COUNTER, counter_rows)
                if pending.cutoff is not None:
                    conn.execute('DELETE FROM tasks WHERE last_event_at < ?', (pending.cutoff,))
                if pending.meta:
                    conn.executemany(
                        'INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)', list(pending.meta.items())
                    )
                conn.execute('COMMIT')
            except BaseException:
                _roll_back(conn)
                raise
        except Exception as exc:  # sqlite3.Error mostly; anything else must not end the thread either
            self._failed(exc)
            for batch in pending.waiters:
                batch.ok = False
                if batch.done is not None:
                    batch.done.set()
            pending.waiters = []
            return
        if self._failing:
            logger.warning('Saving the state to %s works again', self.path)
            self._failing = False
        if new_counters is not None:
            self._counters_on_disk = new_counters
        self.writes += 1
        self.durations.append(time.perf_counter() - started)
        self.rows_written.append(pending.row_count() + len(counter_rows) + len(counter_deletes))
        waiters = pending.waiters
        self._pending = _Pending()
        for batch in waiters:
            batch.ok = True
            if batch.done is not None:
                batch.done.set()

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        cause = str(exc) or type(exc).__name__
        if not self._failing or cause != self.last_error:
            logger.error(
                'Could not save the state to %s: %s. The changes are kept in memory and written with the next save.',
                self.path,
                cause,
            )
        self.last_error = cause
        self._failing = True

    def _counter_changes(self, counters: dict | None):
        """Rows to upsert and to delete so the table matches ``counters``; unchanged hosts cost one compare."""
        if counters is None:
            return [], [], None
        on_disk = self._counters_on_disk
        upserts: list[tuple[str, str, int]] = []
        deletes: list[tuple[str, str]] = []
        for host, counts in counters.items():
            old = on_disk.get(host)
            if old == counts:
                continue
            old = old or {}
            upserts.extend((host, type_, count) for type_, count in counts.items() if old.get(type_) != count)
            deletes.extend((host, type_) for type_ in old if type_ not in counts)
        for host, old in on_disk.items():
            if host not in counters:
                deletes.extend((host, type_) for type_ in old)
        return upserts, deletes, counters
