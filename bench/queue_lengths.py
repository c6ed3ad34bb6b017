"""How fast this server answers ``/api/queues/length`` for 10,000 Redis queues with 4 priority steps each, and
how fast its Redis adapter reads them (issue 7's target: ``/api/queues/length`` under a second).

Starts a private redis-server on a free port (killed by PID at the end, whatever happens), fills it with
``--queues`` queues, each with a few messages spread over kombu's priority lists (step 0 always, steps 3, 6
and 9 for some), then times ``RedisQueueBroker.queues(all names)`` — one connection, one pipelined round
trip — and then ``GET /api/queues/length`` on this server started with those queues in its Celery app's
``task_queues`` (the whole path: queue names, the broker call, the JSON); it prints p50/p95 of each and exits
with 1 when a p95 misses the target. Every answer is checked against the expected counts. With ``--llen`` it
also times the plain pipelined-LLEN fallback (the path taken when a server refuses Lua scripts), for
information.

    python bench/queue_lengths.py [--queues 10000] [--repeat 20] [--server-repeat 10] [--no-server] [--llen]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from flower.brokers import broker_for  # noqa: E402
from flower.brokers.redis_broker import PRIORITY_STEPS, SEP  # noqa: E402
from tests.support.processes import PrivateRedis, Server  # noqa: E402 - started and stopped by PID

TARGET_SECONDS = 1.0


def fill(port: int, count: int) -> tuple[list[str], list[int]]:
    """Queue i gets 1 + i % 3 messages at step 0 and one more on each of steps 3/6/9 where i allows."""
    import redis

    client = redis.Redis(port=port)
    names = [f'bench.queue.{i:05d}' for i in range(count)]
    expected = []
    pipe = client.pipeline(transaction=False)
    for i, name in enumerate(names):
        total = 1 + i % 3
        pipe.rpush(name, *['m'] * total)
        for step in PRIORITY_STEPS[1:]:
            if (i + step) % 2:
                pipe.rpush(f'{name}{SEP}{step}', 'm')
                total += 1
        expected.append(total)
        if len(pipe) > 5000:
            pipe.execute()
    pipe.execute()
    return names, expected


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def measure(broker, names: list[str], expected: list[int], repeat: int) -> list[float]:
    await broker.queues(names)  # warm-up: imports, first connection
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = await broker.queues(names)
        samples.append(time.perf_counter() - started)
        if [q['messages'] for q in answer] != expected:
            raise SystemExit('wrong counts: the benchmark measured a broken adapter')
    return samples


def report(label: str, samples: list[float]) -> bool:
    p50, p95 = percentile(samples, 50), percentile(samples, 95)
    ok = p95 < TARGET_SECONDS
    print(
        f'{label:<34} p50 {p50 * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   '
        f'({len(samples)} runs; target p95 < {TARGET_SECONDS:.0f} s: {"met" if ok else "MISSED"})'
    )
    return ok


APP_MODULE = """from celery import Celery
from kombu import Queue

app = Celery('benchqueues')
app.conf.task_queues = [Queue(f'bench.queue.{i:05d}') for i in range({count})]
app.conf.task_default_queue = 'bench.queue.00000'
"""


def measure_endpoint(port: int, names: list[str], expected: list[int], repeat: int, folder: str) -> list[float]:
    """Time ``GET /api/queues/length`` on this server (``python -m flower``) with the queues configured in
    its Celery app's ``task_queues``: name union, the broker call and 10,000 entries of JSON. The server
    keeps an answer for 2 s, so the requests are spaced past that: each one is a fresh broker call."""
    with open(os.path.join(folder, 'benchqueues.py'), 'w') as module:
        module.write(APP_MODULE.replace('{count}', str(len(names))))
    server = Server(
        f'redis://127.0.0.1:{port}/0',
        app='benchqueues',
        cwd=folder,
        args=['--queue_length_interval=0', '--enable_events=false'],
        env={'PYTHONPATH': os.pathsep.join([folder, str(REPO)])},
    )
    wanted = dict(zip(names, expected))
    try:
        samples = []
        for run in range(repeat + 1):
            started = time.perf_counter()
            answer = server.get('/api/queues/length', timeout=30).json()
            elapsed = time.perf_counter() - started
            got = {q['name']: q['messages'] for q in answer['active_queues']}
            if got != wanted:
                raise SystemExit(f'wrong answer from the endpoint ({len(got)} queues)')
            if run:  # the first one warms up (imports, connection)
                samples.append(elapsed)
            time.sleep(2.1)  # past the server's 2 s cache, so the next request is a real broker call
        return samples
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--queues', type=int, default=10_000)
    parser.add_argument('--repeat', type=int, default=20)
    parser.add_argument('--llen', action='store_true', help='also time the pipelined-LLEN fallback')
    parser.add_argument('--no-server', action='store_true', help='skip timing the HTTP endpoint')
    parser.add_argument(
        '--server-repeat', type=int, default=10, help='requests to the endpoint (2.1 s apart, past its cache)'
    )
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix='flower-bench-queues-')
    redis_server = PrivateRedis()
    port = redis_server.port
    try:
        names, expected = fill(port, args.queues)
        print(
            f'{args.queues} queues x {len(PRIORITY_STEPS)} priority steps, {sum(expected)} messages, '
            f'private redis-server on 127.0.0.1:{port}'
        )
        broker = broker_for(f'redis://127.0.0.1:{port}/0')
        ok = report('queues(all names) [script]', asyncio.run(measure(broker, names, expected, args.repeat)))
        if not args.no_server:
            ok = (
                report(
                    'GET /api/queues/length (server)',
                    measure_endpoint(port, names, expected, args.server_repeat, folder),
                )
                and ok
            )
        if args.llen:  # for information: the exit status is about the normal (script) path
            fallback = broker_for(f'redis://127.0.0.1:{port}/0')
            fallback.use_script = False
            report('queues(all names) [LLEN fallback]', asyncio.run(measure(fallback, names, expected, args.repeat)))
        return 0 if ok else 1
    finally:
        redis_server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
