"""How big and how slow ``/metrics`` is after 100,000 distinct task names (issue 14's target: under 2 MB and
under 100 ms), with the task-name cap (``--metrics_max_task_names``, default 500) and, with ``--uncapped``,
without it for comparison.

Starts a private redis-server and this server on free ports (both stopped by PID at the end, whatever
happens), publishes ``--names`` task lifecycles (received, started, succeeded, one distinct task name each,
spread over 4 workers) through Redis as ``task-multi`` messages, waits until every event is counted in
``flower_events_total``, checks the folding (``task="__other__"`` present, ``flower_metrics_task_names_folded``
= names beyond the cap), then times ``GET /metrics`` ``--repeat`` times and prints the size and p50/p95. Exits
with 1 when the capped run misses a target.

    python bench/metrics_cardinality.py [--names 100000] [--repeat 30] [--cap 500] [--uncapped]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.events import event  # noqa: E402
from tests.support.processes import PrivateRedis, Server, wait_for  # noqa: E402 - started and stopped by PID
from tests.support.publish import publish_burst  # noqa: E402

MAX_BYTES = 2_000_000
MAX_SECONDS = 0.100
EVENTS_PER_MESSAGE = 300  # events in one task-multi message, as a busy worker groups them
OVERFLOW = '__other__'


def lifecycles(count: int) -> list[list[dict]]:
    """task-multi messages: one received/started/succeeded lifecycle per distinct task name."""
    t0 = time.time()
    messages, current = [], []
    for i in range(count):
        worker, name, uuid = f'w{i % 4}@bench', f'bench.tasks.generated_{i:06d}', f'bench-{i:06d}'
        current += [
            event('task-received', worker, t0, uuid=uuid, name=name, args='()', kwargs='{}', retries=0),
            event('task-started', worker, t0 + 0.001, uuid=uuid),
            event('task-succeeded', worker, t0 + 0.002, uuid=uuid, result='None', runtime=0.001),
        ]
        if len(current) >= EVENTS_PER_MESSAGE:
            messages.append(current)
            current = []
    if current:
        messages.append(current)
    return messages


def samples(text: str, name: str) -> list[tuple[str, float]]:
    """``(label text, value)`` of every sample of ``name`` (no parser: the uncapped text is hundreds of MB)."""
    out = []
    for line in text.splitlines():
        if line.startswith(name + '{') or line.startswith(name + ' '):
            labels, _, value = line.rpartition(' ')
            out.append((labels[len(name) :], float(value)))
    return out


def total(server: Server, name: str) -> float:
    return sum(value for _, value in samples(server.get('/metrics', timeout=120).text, name))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def run(redis_server: PrivateRedis, names: int, cap: int, repeat: int) -> dict:
    server = Server(
        redis_server.url,
        args=[
            '--enable_events=false',
            '--queue_length_interval=0',
            f'--metrics_max_task_names={cap}',
            f'--max_tasks={min(names, 100000)}',
        ],
    )
    try:
        messages = lifecycles(names)
        expected = 3 * names
        for start in range(0, len(messages), 100):
            publish_burst(redis_server.port, messages[start : start + 100])
        wait_for(
            lambda: total(server, 'flower_events_total') >= expected,
            600,
            interval=2,
            message=f'{expected} events to be applied',
        )
        text = server.get('/metrics', timeout=120).text
        assert total(server, 'flower_events_total') == expected
        folded = samples(text, 'flower_metrics_task_names_folded')[0][1]
        other = [labels for labels, _ in samples(text, 'flower_events_total') if f'task="{OVERFLOW}"' in labels]
        if cap:
            assert other, f'no task="{OVERFLOW}" series with the cap on'
            assert folded == names - cap, f'folded gauge {folded}, expected {names - cap}'
        else:
            assert not other and folded == 0
        times, size = [], 0
        for _ in range(repeat):
            started = time.perf_counter()
            response = server.get('/metrics', timeout=120)
            times.append(time.perf_counter() - started)
            size = len(response.content)
        return {
            'cap': cap,
            'bytes': size,
            'lines': response.text.count('\n'),
            'p50': percentile(times, 50),
            'p95': percentile(times, 95),
            'folded': folded,
            'runs': repeat,
        }
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--names', type=int, default=100_000, help='distinct task names to publish')
    parser.add_argument('--repeat', type=int, default=30, help='timed /metrics requests')
    parser.add_argument('--cap', type=int, default=500, help='--metrics_max_task_names for the capped run')
    parser.add_argument('--uncapped', action='store_true', help='also measure with the cap off (slow, big)')
    args = parser.parse_args()

    redis_server = PrivateRedis()
    try:
        results = [run(redis_server, args.names, args.cap, args.repeat)]
        if args.uncapped:
            redis_server.stop()
            redis_server = PrivateRedis()  # a fresh one, so the second server sees only its own events
            results.append(run(redis_server, args.names, 0, max(3, args.repeat // 10)))
    finally:
        redis_server.stop()

    ok = True
    for r in results:
        label = f'--metrics_max_task_names={r["cap"]}'
        met = r['bytes'] < MAX_BYTES and r['p95'] < MAX_SECONDS
        if r['cap']:
            ok = ok and met
        print(
            f'{args.names:,} names, {label:<28} /metrics {r["bytes"] / 1e6:8.2f} MB, {r["lines"]:>9,} lines, '
            f'p50 {r["p50"] * 1000:7.1f} ms, p95 {r["p95"] * 1000:7.1f} ms ({r["runs"]} runs), '
            f'folded {r["folded"]:,.0f}'
            + (f'; target < 2 MB and p95 < 100 ms: {"met" if met else "MISSED"}' if r['cap'] else '')
        )
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
