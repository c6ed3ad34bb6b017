"""``--persistent``: the IOLoop side of saving the events state, and the start-up load.

:class:`StateSaver` owns the database for the server's lifetime:

* :meth:`~StateSaver.load` (start-up thread, before the IOLoop runs): open the file (moving aside one that
  is not ours), load the state with today's limits, prune the file.
* :meth:`~StateSaver.save` (IOLoop thread, every ``--state_save_interval`` ms): take the state's change sets
  and copy the changed tasks and workers into tuples. That is all the IOLoop pays; the rows are written by
  the :class:`~flower.persistence.writer.Writer` thread in one transaction. SQLite is never touched here.
* :meth:`~StateSaver.close` (shutdown): a last save, written synchronously, then the writer stops. When
  called on the IOLoop thread while the loop runs (a SIGTERM/SIGINT handler, which may have interrupted an
  event being applied), the last save is queued as an IOLoop callback instead, so it sees no half-applied
  event; ``Flower.stop()`` queues the loop's stop after it, so it runs before the process exits.

Update order is kept on disk as ``seq``: the tasks changed since the last save are exactly the newest in the
store, so walking the store from the newest end for as many tasks as changed yields their order cheaply.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, overload

from flower.persistence.database import open_database
from flower.persistence.loader import LoadResult, load_state
from flower.persistence.retention import TaskRetention
from flower.persistence.rows import snapshot_task, snapshot_worker
from flower.persistence.writer import Batch, Writer

if TYPE_CHECKING:
    from tornado.ioloop import PeriodicCallback

logger = logging.getLogger(__name__)

# Used when --persistent is on and --state_save_interval is not set (Flower would then save only at
# shutdown, and lose everything on a crash). One second bounds what a crash loses; a save of the ~700 tasks
# that change per second at 2,000 events/s costs the IOLoop about a millisecond.
DEFAULT_SAVE_INTERVAL_MS = 1000


class StateSaver:
    """Keeps the ``--db`` database in step with ``state`` (an :class:`~flower.events.state.EventsState`)."""

    def __init__(
        self,
        state,
        path: str,
        interval_ms: float | None = 0,
        retention: TaskRetention | None = None,
        busy_timeout: float | None = None,
    ):
        self.state = state
        self.path = path
        self.interval_ms = interval_ms if interval_ms and interval_ms > 0 else DEFAULT_SAVE_INTERVAL_MS
        self.retention = retention
        self.busy_timeout = busy_timeout
        self.io_loop = None
        self.loaded: LoadResult | None = None
        self.moved_to: str | None = None
        self.saves = 0
        self.collect_seconds: list[float] = []  # IOLoop time per save, most recent last (bounded)
        self._seq = 1
        self._writer: Writer | None = None
        self._timer: PeriodicCallback | None = None
        self._loop_thread: int | None = None
        self._expired: set[str] = set()
        self._evicted_workers: set[str] = set()
        self._closed = False
        if retention is not None:
            retention.on_expired.subscribe(self._tasks_expired)

    # -- start-up ------------------------------------------------------------------------------------------
    def load(self) -> LoadResult:
        """Open the database and load it into the state (call before any event is applied)."""
        opened = open_database(self.path)
        self.path = opened.path
        self.moved_to = opened.moved_to
        state = self.state
        try:
            cutoff = self.retention.cutoff() if self.retention is not None else None
            result = load_state(
                opened.connection, state, max_tasks=state.tasks.limit, max_workers=state.workers.limit, cutoff=cutoff
            )
        finally:
            opened.connection.close()
        self._seq = result.next_seq
        self.loaded = result
        if opened.created:
            logger.info('Keeping the state in %s (a new SQLite database)', self.path)
        else:
            pruned = ''
            if result.pruned_tasks or result.pruned_workers:
                pruned = (
                    f'; removed {result.pruned_tasks} tasks and {result.pruned_workers} workers beyond '
                    '--max_tasks/--max_workers/--max_task_age from the file'
                )
            logger.info(
                'Loaded %d tasks and %d workers from %s in %.2fs%s',
                result.tasks,
                result.workers,
                self.path,
                result.seconds,
                pruned,
            )
        self._writer = Writer(self.path, result.counters, busy_timeout=self.busy_timeout)
        return result

    def start(self, io_loop=None) -> None:
        """Start tracking changes and saving every ``interval_ms`` (call on the IOLoop thread)."""
        if self._writer is None:
            self.load()
        self.state.track_changes = True
        self.state.workers.eviction_hooks.append(self._worker_evicted)
        self._ensure_writer()
        self._loop_thread = threading.get_ident()
        if io_loop is not None:
            from tornado.ioloop import PeriodicCallback

            self.io_loop = io_loop
            self._timer = PeriodicCallback(self._save_on_timer, self.interval_ms)
            self._timer.start()

    def _ensure_writer(self) -> Writer:
        if self._writer is None:
            raise RuntimeError('StateSaver.load() must run before saving')
        if not self._writer.is_alive() and not self._writer.ident:
            self._writer.start()
        return self._writer

    # -- IOLoop thread ---------------------------------------------------------------------------------------
    def _save_on_timer(self) -> None:
        self.save()  # the timer's callback returns nothing (tornado would await an awaitable result)

    @overload
    def save(self, done: None = None) -> Batch | None: ...
    @overload
    def save(self, done: threading.Event) -> Batch: ...

    def save(self, done: threading.Event | None = None) -> Batch | None:
        """Collect what changed since the last save and hand it to the writer thread (returns at once)."""
        if self._closed and done is None:
            return None
        started = time.perf_counter()
        self._loop_thread = threading.get_ident()
        batch = self.collect()
        batch.done = done
        self._ensure_writer().submit(batch)
        self.saves += 1
        seconds = time.perf_counter() - started
        self.collect_seconds.append(seconds)
        if len(self.collect_seconds) > 10000:
            del self.collect_seconds[:5000]
        return batch

    def collect(self) -> Batch:
        state = self.state
        dirty, dirty_workers, removed = state.take_changes()
        if self._expired:
            removed |= self._expired
            self._expired = set()
        store = state.tasks
        batch = Batch()

        ordered = []
        if dirty:
            remaining = set(dirty)
            misses = 0
            for task in store.newest_first():
                uuid = task.uuid
                if uuid in remaining:
                    remaining.discard(uuid)
                    ordered.append(task)
                    if not remaining:
                        break
                else:
                    # the newest end should be all changed tasks; if not (a task put in without an event),
                    # stop walking and order the rest as older
                    misses += 1
                    if misses > 64 + len(ordered):
                        break
            ordered.reverse()
            if remaining:
                stragglers = []
                for uuid in remaining:
                    task = store.get(uuid)
                    if task is None:
                        removed.add(uuid)
                    else:
                        stragglers.append(task)
                ordered[:0] = stragglers
        seq = self._seq
        tasks_out = batch.tasks
        for task in ordered:
            tasks_out.append(snapshot_task(seq, task))
            seq += 1
        if removed:
            batch.removed_tasks = [uuid for uuid in removed if uuid not in store]

        workers = state.workers
        if dirty_workers:
            for hostname, worker in workers.items():
                if hostname in dirty_workers:
                    batch.workers.append(snapshot_worker(seq, worker))
                    seq += 1
        self._seq = seq
        if self._evicted_workers:
            batch.removed_workers = [h for h in self._evicted_workers if h not in workers]
            self._evicted_workers = set()

        batch.counters = {host: dict(counts) for host, counts in state.counter.items()}
        batch.meta = {'event_count': state.event_count, 'task_count': state.task_count, 'saved_at': time.time()}
        if self.retention is not None:
            batch.cutoff = self.retention.cutoff()
        return batch

    def _tasks_expired(self, uuids: list) -> None:
        self._expired.update(uuids)

    def _worker_evicted(self, hostname: str) -> None:
        self._evicted_workers.add(hostname)

    def flush(self, timeout: float = 30.0) -> bool:
        """Save now and wait until it is written (IOLoop thread, or any thread once the loop has stopped).
        Returns False if the write failed or did not finish in time."""
        writer = self._writer
        if writer is None or (writer.ident is not None and not writer.is_alive()):
            return False  # not loaded, or already closed
        done = threading.Event()
        batch = self.save(done)
        if not done.wait(timeout):
            logger.error('Saving the state to %s did not finish within %ss', self.path, timeout)
            return False
        return batch.ok

    # -- shutdown --------------------------------------------------------------------------------------------
    def close(self, timeout: float = 30.0) -> None:
        """Stop saving periodically, write a last save, stop the writer. Safe to call more than once and from
        any thread (see the module docstring for how a call on the running IOLoop's thread is handled)."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        loop = self.io_loop
        if loop is None or not _running(loop):
            self._final_save(timeout)
        elif threading.get_ident() == self._loop_thread:
            loop.add_callback(self._final_save, timeout)
        else:
            finished = threading.Event()

            def on_loop():
                try:
                    self._final_save(timeout)
                finally:
                    finished.set()

            loop.add_callback(on_loop)
            if not finished.wait(timeout + 5):
                logger.error('The last save to %s did not run: the IOLoop did not get to it in time', self.path)

    def _final_save(self, timeout: float) -> None:
        writer = self._writer
        if writer is None:
            return
        if writer.ident is None:
            return  # never started: nothing was tracked, the file is as loaded
        started = time.perf_counter()
        ok = self.flush(timeout)
        writer.stop(timeout)
        if ok:
            logger.info('Saved the state to %s in %.3fs', self.path, time.perf_counter() - started)
        else:
            logger.error(
                'The last save to %s failed (%s); the file holds the state as of the previous save',
                self.path,
                writer.last_error or 'timed out',
            )

    # -- numbers, for /healthcheck-style reporting and the bench ---------------------------------------------
    @property
    def writer(self) -> Writer | None:
        return self._writer


def _running(io_loop) -> bool:
    asyncio_loop = getattr(io_loop, 'asyncio_loop', None)
    return bool(asyncio_loop is not None and asyncio_loop.is_running() and not asyncio_loop.is_closed())
