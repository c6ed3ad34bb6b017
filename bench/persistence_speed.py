"""Does ``--persistent`` stall event processing? Feeds Celery events into an ``EventsState`` on a real IOLoop
at a fixed rate (default 2,000 events/s: task-received/started/succeeded plus worker heartbeats) while a
``StateSaver`` saves every ``--interval`` ms, and prints:

* the IOLoop time each save takes (collecting the changed rows: the only part that runs on the IOLoop),
* how late a 5 ms heartbeat callback on the IOLoop runs (everything that delays the loop, including the
  writer thread competing for the GIL),
* the event backlog (events due by the clock but not yet applied): it must not grow,
* the writer thread's transaction durations and rows per transaction,
* the file size, and how long loading it back takes,
* Python's full (generation 2) garbage collections during the run: they stop every thread, so they explain
  the worst heartbeat lateness with or without saving (compare with ``--no-save``).

The store is first filled to ``--prefill`` tasks (default: the ``--max_tasks`` limit of 100,000), so the
run measures the steady state where every new task evicts an old one (an upsert plus a delete per task).

    python bench/persistence_speed.py [--rate 2000] [--seconds 30] [--interval 1000] [--max-tasks 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
import uuid as uuidlib

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tornado.ioloop import IOLoop, PeriodicCallback  # noqa: E402

from flower.events.state import EventsState  # noqa: E402
from flower.persistence import StateSaver  # noqa: E402

WORKERS = [f'celery@w{i}' for i in range(8)]
TASK_NAMES = [f'proj.tasks.task_{i}' for i in range(20)]


class EventSource:
    """Realistic event dicts: each task is received, started and finished on one worker; every worker sends
    a heartbeat every 2 s."""

    def __init__(self):
        self._steps: list = []
        self._task = 0
        self._last_heartbeat = 0.0
        self._clock = 0

    def take(self, count: int, now: float) -> list:
        events = []
        if now - self._last_heartbeat >= 2.0:
            self._last_heartbeat = now
            for worker in WORKERS:
                events.append(
                    self._event(
                        'worker-heartbeat',
                        worker,
                        now,
                        freq=2.0,
                        active=1,
                        processed=self._task,
                        loadavg=[0.5, 0.4, 0.3],
                        sw_ident='py-celery',
                        sw_ver='5.7.0',
                        sw_sys='Linux',
                    )
                )
        while len(events) < count:
            if not self._steps:
                self._new_task(now)
            events.append(self._steps.pop())
        return events

    def _new_task(self, now: float) -> None:
        self._task += 1
        n = self._task
        uuid = str(uuidlib.uuid4())
        worker = WORKERS[n % len(WORKERS)]
        name = TASK_NAMES[n % len(TASK_NAMES)]
        received = self._event(
            'task-received',
            worker,
            now,
            uuid=uuid,
            name=name,
            args=f'({n}, "user{n % 5000}")',
            kwargs=f"{{'x': {n % 97}, 'tenant': 't{n % 13}'}}",
            retries=0,
            eta=None,
            expires=None,
            root_id=uuid,
            parent_id=None,
        )
        started = self._event('task-started', worker, now, uuid=uuid)
        if n % 10 == 0:
            done = self._event(
                'task-failed',
                worker,
                now,
                uuid=uuid,
                exception="ValueError('bad input')",
                traceback='Traceback (most recent call last):\n  File "x.py", line 1\nValueError',
            )
        else:
            done = self._event(
                'task-succeeded', worker, now, uuid=uuid, result=repr({'n': n, 'ok': True}), runtime=0.012
            )
        self._steps = [done, started, received]

    def _event(self, type_, hostname, now, **fields):
        self._clock += 1
        data = {
            'type': type_,
            'hostname': hostname,
            'timestamp': now,
            'utcoffset': 0,
            'pid': 4242,
            'clock': self._clock,
        }
        data.update(fields)
        return data


def percentiles(values, unit=1000.0):
    if not values:
        return 'n/a'
    ordered = sorted(values)

    def pick(q):
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * unit

    return f'p50 {pick(0.5):7.2f}  p95 {pick(0.95):7.2f}  max {ordered[-1] * unit:7.2f}  (n={len(ordered)})'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rate', type=int, default=2000, help='events per second')
    parser.add_argument('--seconds', type=float, default=30.0)
    parser.add_argument('--interval', type=int, default=1000, help='save interval in ms')
    parser.add_argument('--max-tasks', type=int, default=100_000)
    parser.add_argument(
        '--prefill', type=int, default=None, help='tasks in the store before measuring (default: --max-tasks)'
    )
    parser.add_argument('--db', default=None, help='database path (default: a temporary directory)')
    parser.add_argument(
        '--no-save',
        action='store_true',
        help='the same run without periodic saves: the baseline for the IOLoop numbers',
    )
    args = parser.parse_args()
    prefill = args.max_tasks if args.prefill is None else args.prefill
    directory = None
    if args.db is None:
        directory = tempfile.TemporaryDirectory(prefix='flower-bench-')
        args.db = os.path.join(directory.name, 'flower.db')

    asyncio.set_event_loop(asyncio.new_event_loop())
    loop = IOLoop.current()
    state = EventsState(max_tasks_in_memory=args.max_tasks, max_workers_in_memory=5000)
    saver = StateSaver(state, args.db, interval_ms=args.interval)
    saver.load()
    source = EventSource()

    # fill the store (and the file) first, outside the measurement
    started = time.perf_counter()
    filled = 0
    while len(state.tasks) < prefill:
        now = time.time()
        state.apply_messages([(now, e) for e in source.take(3000, now)])
        filled += 3000
    fill_seconds = time.perf_counter() - started
    saver.start(None)
    # the first save after start-up writes nothing; the prefilled tasks are written in one big save here
    state.mark_all_changed()
    started = time.perf_counter()
    saver.flush(600)
    initial_save = time.perf_counter() - started
    initial_collect = saver.collect_seconds[-1]
    saver.collect_seconds.clear()
    saver.writer.durations.clear()
    saver.writer.rows_written.clear()

    lateness: list[float] = []
    backlog_samples: list[int] = []
    writer_backlog: list[int] = []
    applied = 0
    run = {'start': 0.0}

    def feed():
        nonlocal applied
        elapsed = time.perf_counter() - run['start']
        due = int(elapsed * args.rate)
        count = due - applied
        if count > 0:
            now = time.time()
            state.apply_messages([(now, e) for e in source.take(count, now)])
            applied += count
        backlog_samples.append(max(0, int((time.perf_counter() - run['start']) * args.rate) - applied))

    expected = {'at': 0.0}

    def heartbeat():
        now = time.perf_counter()
        if expected['at']:
            lateness.append(max(0.0, now - expected['at']))
        expected['at'] = now + 0.005

    def sample_writer():
        writer_backlog.append(saver.writer.backlog)

    def finish():
        loop.stop()

    timers = [PeriodicCallback(feed, 10), PeriodicCallback(heartbeat, 5), PeriodicCallback(sample_writer, 100)]
    if not args.no_save:
        timers.append(PeriodicCallback(saver.save, args.interval))

    gc_pauses: list[float] = []
    gc_started = {}

    def on_gc(phase, info):
        if info['generation'] != 2 or not run['start']:
            return
        if phase == 'start':
            gc_started['at'] = time.perf_counter()
        elif 'at' in gc_started:
            gc_pauses.append(time.perf_counter() - gc_started.pop('at'))

    def begin():
        gc.callbacks.append(on_gc)
        run['start'] = time.perf_counter()
        for timer in timers:
            timer.start()
        loop.call_later(args.seconds, finish)

    loop.add_callback(begin)
    loop.start()
    gc.callbacks.remove(on_gc)
    for timer in timers:
        timer.stop()
    measured = time.perf_counter() - run['start']
    saver.flush(600)
    saver.close()
    loop.close()

    writer = saver.writer
    saving = 'no periodic saves (baseline)' if args.no_save else f'save every {args.interval} ms'
    print(f'persistence speed: {args.rate} events/s for {measured:.1f}s, {saving}, --max_tasks {args.max_tasks}')
    print(
        f'  prefill: {len(state.tasks)} tasks in memory ({filled} events in {fill_seconds:.1f}s); first save of '
        f'all of them: {initial_save:.2f}s (IOLoop part {initial_collect * 1000:.1f} ms)'
    )
    print(
        f'  events applied: {applied} ({applied / measured:.0f}/s); backlog at end: {backlog_samples[-1]} events, '
        f'max {max(backlog_samples)} events'
    )
    print(f'  IOLoop stall per save (ms):       {percentiles(saver.collect_seconds)}')
    print(f'  IOLoop heartbeat lateness (ms):   {percentiles(lateness)}')
    print(f'  writer transaction (ms):          {percentiles(list(writer.durations))}')
    rows = sorted(writer.rows_written)
    if rows:
        print(f'  rows per transaction:             p50 {rows[len(rows) // 2]}  max {rows[-1]}')
    print(
        f'  writer queue: max {max(writer_backlog) if writer_backlog else 0} batches waiting; '
        f'failures {writer.failures}'
    )
    print(
        f'  full GC pauses during the run:    {len(gc_pauses)}'
        + (f', max {max(gc_pauses) * 1000:.1f} ms' if gc_pauses else '')
    )
    print(f'  file: {os.path.getsize(args.db) / 1e6:.1f} MB')

    restored = EventsState(max_tasks_in_memory=args.max_tasks)
    loader = StateSaver(restored, args.db)
    started = time.perf_counter()
    loader.load()
    print(
        f'  load at start-up: {len(restored.tasks)} tasks, {len(restored.workers)} workers in '
        f'{time.perf_counter() - started:.2f}s'
    )
    if directory is not None:
        directory.cleanup()


if __name__ == '__main__':
    main()
