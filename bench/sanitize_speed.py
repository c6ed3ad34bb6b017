"""What checking events costs (flower.events.sanitize, runtime rule 8): CPU microseconds per event applied to
an ``EventsState``, this tree against a revision from before the checks (default ``4dc0643``), over realistic
celery events (task lifecycles received -> started -> succeeded/failed on 8 workers with 20 task names, plus
heartbeats) in the shapes ``tests/support/events.py`` builds. Also times :func:`check_event` alone.

    python bench/sanitize_speed.py [--events 200000] [--rounds 5] [--baseline 4dc0643]

The baseline revision is exported with ``git archive`` into a temporary directory; the two trees are measured
in alternating child processes (``--rounds`` each, best taken) so that load from elsewhere on the machine
hits both alike. Each child builds the events before timing and measures CPU time (``time.process_time``)
of ``EventsState.apply_messages`` only.
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKERS = [f'celery@w{i}' for i in range(8)]
NAMES = [f'proj.tasks.task_{i}' for i in range(20)]


def make_events(count: int) -> list:
    from tests.support.events import heartbeat, task_events

    now = time.time()
    events = []
    i = 0
    while len(events) < count:
        host = WORKERS[i % len(WORKERS)]
        events += task_events(
            name=NAMES[i % len(NAMES)],
            hostname=host,
            start=now + i * 0.0001,
            outcome='failed' if i % 10 == 0 else 'succeeded',
            args=f'({i}, {i})',
        )
        if i % 50 == 0:
            events.append(heartbeat(host, active=1, processed=i))
        i += 1
    return events[:count]


def child(tree: str, count: int) -> None:
    """Runs in a child process: one timing of applying ``count`` events with the flower package of ``tree``."""
    sys.path.insert(0, tree)
    sys.path.insert(1, HERE)  # tests.support from this tree (the baseline may not have the same helpers)
    from flower.events.state import EventsState

    events = make_events(count)
    batch = [(time.time(), copy.copy(event)) for event in events]
    state = EventsState(max_tasks_in_memory=count)
    started = time.process_time()
    state.apply_messages(batch)
    elapsed = time.process_time() - started
    assert len(state.tasks) > count // 4
    print(elapsed / count * 1e6)


def check_alone(count: int, rounds: int) -> float:
    sys.path.insert(0, HERE)
    from flower.events.sanitize import check_event

    events = make_events(count)
    repairs = Counter()
    best = float('inf')
    for _ in range(rounds):
        batch = [(copy.copy(event), event['type'].partition('-')[0]) for event in events]
        now = time.time()
        started = time.process_time()
        for event, group in batch:
            check_event(event, group, now, repairs)
        best = min(best, time.process_time() - started)
    assert not repairs, repairs  # well-formed events need no repair
    return best / count * 1e6


def measure(tree: str, count: int) -> float:
    out = subprocess.run(
        [sys.executable, __file__, '--child', tree, '--events', str(count)],
        check=True,
        capture_output=True,
        text=True,
        cwd=HERE,
    ).stdout
    return float(out.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--events', type=int, default=200_000)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--baseline', default='4dc0643')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.events)
        return
    with tempfile.TemporaryDirectory(prefix='sanitize-bench-') as base:
        archive = subprocess.run(
            ['git', 'archive', args.baseline, 'flower'], cwd=HERE, check=True, capture_output=True
        ).stdout
        subprocess.run(['tar', '-x', '-C', base], input=archive, check=True)
        old, new = [], []
        for _ in range(args.rounds):
            old.append(measure(base, args.events))
            new.append(measure(HERE, args.events))
    alone = check_alone(args.events, args.rounds)
    print(f'{args.events:,} events, best of {args.rounds} alternating runs, CPU time per event applied:')
    print(f'  {args.baseline} (no checks)  {min(old):6.2f} us   (runs: {", ".join(f"{v:.2f}" for v in old)})')
    print(f'  this tree (checks)  {min(new):6.2f} us   (runs: {", ".join(f"{v:.2f}" for v in new)})')
    print(f'  overhead            {min(new) - min(old):+6.2f} us per event')
    print(f'  check_event alone   {alone:6.2f} us per event')


if __name__ == '__main__':
    main()
