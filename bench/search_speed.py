"""How fast ``flower.search.find`` answers typical queries on a store of 100,000 tasks.

Builds the store the way the server does (task-received/started/succeeded|failed event dicts fed through
``EventsState.event``), then times each query several times and prints p50/p95 in milliseconds.

    python bench/search_speed.py [--tasks 100000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flower.events.state import EventsState  # noqa: E402
from flower.search import find, parse_query  # noqa: E402

QUERIES = [
    ('state:FAILURE', 'index'),
    ('name:add', 'index'),
    ('worker:w3', 'index'),
    ('name:add AND state:SUCCESS', 'index'),
    ('(state:FAILURE OR state:RETRY) name:mul', 'index'),
    ('user4242', 'plain term: indexes + 4 text fields'),
    ('args:123', 'scan 1 field'),
    ('result:abc', 'scan 1 field'),
    ('kwargs:x=5', 'scan 1 field'),
    ('kwargs:user=user42', 'scan 1 field'),
    ('name:add kwargs:x=5', 'index + pair filter'),
]

TASK_NAMES = ['tasks.add', 'tasks.mul'] + [f'proj.module{i}.task_{i}' for i in range(48)]
WORKERS = [f'celery@w{i}' for i in range(10)]


def build_state(count: int, seed: int = 1) -> EventsState:
    rng = random.Random(seed)
    state = EventsState(max_tasks_in_memory=count)
    now = time.time() - count
    for i in range(count):
        uuid = f'{rng.getrandbits(128):032x}'
        uuid = f'{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}'
        name = TASK_NAMES[rng.randrange(len(TASK_NAMES))]
        worker = WORKERS[rng.randrange(len(WORKERS))]
        t = now + i
        args = f'({rng.randrange(100000)}, {rng.randrange(100000)})'
        kwargs = f"{{'x': {rng.randrange(100)}, 'user': 'user{rng.randrange(10000)}', 'mode': 'fast'}}"
        base = {'uuid': uuid, 'hostname': worker, 'utcoffset': 0, 'pid': 1, 'clock': 3 * i}
        state.event(
            dict(
                base,
                type='task-received',
                timestamp=t,
                name=name,
                args=args,
                kwargs=kwargs,
                retries=0,
                root_id=uuid,
                parent_id=None,
                eta=None,
                expires=None,
            )
        )
        state.event(dict(base, type='task-started', timestamp=t + 0.001, clock=3 * i + 1))
        roll = rng.random()
        if roll < 0.05:
            state.event(
                dict(
                    base,
                    type='task-failed',
                    timestamp=t + 0.002,
                    clock=3 * i + 2,
                    exception="ValueError('boom')",
                    traceback='Traceback ...',
                )
            )
        elif roll < 0.07:
            state.event(
                dict(base, type='task-retried', timestamp=t + 0.002, clock=3 * i + 2, exception="Retry('later')")
            )
        elif roll < 0.99:
            result = repr(rng.randrange(1000)) if rng.random() < 0.7 else repr(f'done-{rng.randrange(10**6):x}')
            state.event(
                dict(base, type='task-succeeded', timestamp=t + 0.002, clock=3 * i + 2, result=result, runtime=0.01)
            )
        # the rest stay STARTED
    return state


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tasks', type=int, default=100_000)
    parser.add_argument('--repeat', type=int, default=30)
    options = parser.parse_args()

    started = time.perf_counter()
    state = build_state(options.tasks)
    store = state.tasks
    print(
        f'built {len(store):,} tasks in {time.perf_counter() - started:.1f}s: '
        f'{len(store.by_name)} names, {len(store.by_worker)} workers, '
        + ', '.join(f'{key} {len(bucket):,}' for key, bucket in sorted(store.by_state.items()))
    )
    print(f'{"query":44} {"kind":38} {"matches":>8} {"p50 ms":>8} {"p95 ms":>8}')
    for text, kind in QUERIES:
        parse_query(text)  # parsing is cached; time the search itself
        samples = []
        found = None
        for _ in range(options.repeat):
            t0 = time.perf_counter()
            found = find(store, text)
            samples.append((time.perf_counter() - t0) * 1000)
        count = len(store) if found is None else len(found)
        print(f'{text:44} {kind:38} {count:8,} {statistics.median(samples):8.2f} {percentile(samples, 0.95):8.2f}')


if __name__ == '__main__':
    main()
