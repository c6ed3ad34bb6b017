#!/usr/bin/env python3
"""Live updates under load: 100 WebSocket clients on a mix of pages while 5,000 events/s stream in.

Starts a private redis-server and this server (``python -m flower``) on free ports, connects ``--clients``
clients to ``/live`` (tornado's ``websocket_connect``) watching a mix of pages (the tasks page as it opens, its
second page, a search, a sort by runtime, the workers table, single workers, single tasks), then runs
``bench/publisher.py --mode live --rate <rate> --format multi`` for ``--duration`` seconds and samples, every
second, what the server applied (``flower_events_total``), its backlog (``flower_events_backlog_bytes``), its
CPU (``/proc/<pid>/stat``) and what every client received. With ``--baseline`` it first runs the same stream
with no client connected, so the CPU the live updates cost can be read off.

It prints numbers, it does not judge them: events applied per second, the backlog over time, messages and bytes
per client per second (max and mean; the most any client got in any one second, from the server's own send
times), the smallest gap between two messages to one client, and the server's CPU. Everything it starts
listens on 127.0.0.1 and is stopped by its own PID at the end.

Usage::

    python bench/live_clients.py                        # 100 clients, 5,000 events/s, 30 s
    python bench/live_clients.py --clients 200 --rate 10000 --duration 20 --baseline --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient
from tornado.websocket import websocket_connect

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
from publisher import task_uuid  # noqa: E402 - the publisher's deterministic task ids

SEED = 7
STAMP = re.compile(r'"t":([0-9.]+)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Run:
    """One private Redis and one server, started and stopped by PID."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.redis_port, self.port = free_port(), free_port()
        self.redis = subprocess.Popen(
            [
                shutil.which('redis-server') or 'redis-server',
                '--port',
                str(self.redis_port),
                '--bind',
                '127.0.0.1',
                '--save',
                '',
                '--appendonly',
                'no',
                '--dir',
                str(workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.broker = f'redis://127.0.0.1:{self.redis_port}/0'
        self.log_path = workdir / f'server-{self.port}.log'
        self.log = open(self.log_path, 'wb')
        self.server = subprocess.Popen(
            [
                sys.executable,
                '-m',
                'flower',
                f'--broker={self.broker}',
                f'--port={self.port}',
                '--address=127.0.0.1',
                '--max_tasks=10000',
            ],
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED='1'),
        )
        deadline = time.monotonic() + 30
        while b'receiving events' not in self.log_path.read_bytes():
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('the server did not start:\n' + self.log_path.read_text()[-2000:])
            time.sleep(0.1)

    def publisher(self, rate: int, duration: float) -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                str(BENCH / 'publisher.py'),
                '--broker',
                self.broker,
                '--mode',
                'live',
                '--format',
                'multi',
                '--rate',
                str(rate),
                '--duration',
                str(duration),
                '--events',
                str(10**9),
                '--seed',
                str(SEED),
                '--workers',
                '10',
            ],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        stop(self.server)
        stop(self.redis)
        self.log.close()


def page_mix(count: int) -> list[dict]:
    """The pages the clients watch, in proportions a team watching a busy cluster might have open."""
    kinds = [
        (0.40, lambda i: {'page': 'tasks', 'sort': 'received', 'dir': 'desc', 'start': 0, 'length': 15}),
        (0.10, lambda i: {'page': 'tasks', 'sort': 'received', 'dir': 'desc', 'start': 15, 'length': 15}),
        (0.10, lambda i: {'page': 'tasks', 'search': 'state:FAILURE', 'sort': 'received', 'dir': 'desc', 'length': 15}),
        (0.05, lambda i: {'page': 'tasks', 'sort': 'runtime', 'dir': 'desc', 'length': 50}),
        (0.15, lambda i: {'page': 'workers'}),
        (0.10, lambda i: {'page': 'worker', 'name': f'worker{i % 10}@bench'}),
        (0.10, lambda i: {'page': 'task', 'id': task_uuid(SEED, 1000 + i)}),
    ]
    watches = []
    for share, make in kinds:
        watches += [make(i) for i in range(round(share * count))]
    while len(watches) < count:
        watches.append(kinds[0][1](0))
    return watches[:count]


def describe(watch: dict) -> str:
    if watch['page'] != 'tasks':
        return watch['page']
    if watch.get('search'):
        return 'tasks (search)'
    if watch.get('sort') == 'runtime':
        return 'tasks (by runtime)'
    return 'tasks (page 2)' if watch.get('start') else 'tasks (page 1)'


async def sample_metrics(http: AsyncHTTPClient, port: int) -> tuple[float, float]:
    """(task events applied so far, backlog bytes) from /metrics."""
    body = (await http.fetch(f'http://127.0.0.1:{port}/metrics', request_timeout=10)).body.decode()
    applied = backlog = 0.0
    for line in body.splitlines():
        if line.startswith('flower_events_total{'):
            applied += float(line.rsplit(' ', 1)[1])
        elif line.startswith('flower_events_backlog_bytes '):
            backlog = float(line.rsplit(' ', 1)[1])
    return applied, backlog


async def measure(run: Run, clients: int, rate: int, duration: float) -> dict:
    http = AsyncHTTPClient()
    watches = page_mix(clients)
    received: list[list[tuple[float, int]]] = [[] for _ in watches]  # per client: (server send time, bytes)
    sockets = []
    for index, watch in enumerate(watches):
        ws = await websocket_connect(f'ws://127.0.0.1:{run.port}/live')
        await ws.write_message(json.dumps({'type': 'watch', 'seq': 1, **watch}))
        sockets.append(ws)

    async def read(index, ws):
        while True:
            message = await ws.read_message()
            if message is None:
                return
            stamp = STAMP.search(message[:80])
            received[index].append((float(stamp.group(1)) if stamp else 0.0, len(message)))

    readers = [asyncio.ensure_future(read(i, ws)) for i, ws in enumerate(sockets)]

    publisher = run.publisher(rate, duration)
    t0 = time.monotonic()
    cpu0 = cpu_seconds(run.server.pid)
    applied0, _ = await sample_metrics(http, run.port)
    samples = []  # (seconds since start, applied/s in that second, backlog bytes, server cores)
    last = (t0, applied0, cpu0)
    settle_deadline = t0 + duration + 60
    while True:
        await asyncio.sleep(1.0)
        now, cpu = time.monotonic(), cpu_seconds(run.server.pid)
        applied, backlog = await sample_metrics(http, run.port)
        span = now - last[0]
        samples.append((round(now - t0, 1), (applied - last[1]) / span, backlog, (cpu - last[2]) / span))
        last = (now, applied, cpu)
        if publisher.poll() is not None and backlog == 0 and samples[-1][1] == 0:
            break
        if now > settle_deadline:
            break
    stop(publisher)
    wall = last[0] - t0
    for ws in sockets:
        ws.close()
    await asyncio.gather(*readers, return_exceptions=True)

    publishing = [s for s in samples if s[0] <= duration + 0.5]
    result = {
        'clients': clients,
        'rate': rate,
        'duration_s': duration,
        'events_applied': int(last[1] - applied0),
        'events_applied_per_s_mean': round(statistics.mean(s[1] for s in publishing), 1) if publishing else 0,
        'events_applied_per_s_min_max': [round(min(s[1] for s in publishing)), round(max(s[1] for s in publishing))]
        if publishing
        else None,
        'backlog_bytes_max': int(max(s[2] for s in samples)) if samples else 0,
        'backlog_bytes_end': int(samples[-1][2]) if samples else 0,
        'server_cpu_cores_mean': round(statistics.mean(s[3] for s in publishing), 3) if publishing else 0,
        'server_cpu_cores_max': round(max(s[3] for s in publishing), 3) if publishing else 0,
        'wall_s': round(wall, 1),
        'series': [
            {'t': s[0], 'applied_per_s': round(s[1]), 'backlog_bytes': int(s[2]), 'cpu_cores': round(s[3], 3)}
            for s in samples
        ],
    }
    if clients:
        per_client = []
        for watch, messages in zip(watches, received):
            stamps = [stamp for stamp, _ in messages]
            gaps = [b - a for a, b in zip(stamps, stamps[1:])]
            busiest = max((sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps), default=0)
            per_client.append(
                {
                    'page': describe(watch),
                    'messages': len(messages),
                    'per_s': len(messages) / wall,
                    'bytes_per_s': sum(n for _, n in messages) / wall,
                    'most_in_one_second': busiest,
                    'min_gap_s': min(gaps) if gaps else None,
                }
            )
        rates = [c['per_s'] for c in per_client]
        result.update(
            {
                'messages_per_client_per_s_max': round(max(rates), 2),
                'messages_per_client_per_s_mean': round(statistics.mean(rates), 2),
                'most_messages_to_one_client_in_one_second': max(c['most_in_one_second'] for c in per_client),
                'smallest_gap_between_messages_s': round(
                    min((c['min_gap_s'] for c in per_client if c['min_gap_s'] is not None), default=0), 3
                ),
                'bytes_per_client_per_s_mean': round(statistics.mean(c['bytes_per_s'] for c in per_client)),
                'clients_that_got_nothing': sum(1 for c in per_client if not c['messages']),
                'by_page': {},
            }
        )
        for page in sorted({c['page'] for c in per_client}):
            group = [c for c in per_client if c['page'] == page]
            result['by_page'][page] = {
                'clients': len(group),
                'messages_per_s_mean': round(statistics.mean(c['per_s'] for c in group), 2),
                'kib_per_s_mean': round(statistics.mean(c['bytes_per_s'] for c in group) / 1024, 1),
            }
        metrics = (await http.fetch(f'http://127.0.0.1:{run.port}/metrics')).body.decode()
        dropped = re.search(r'^flower_live_dropped_clients_total (\S+)', metrics, re.M)
        result['clients_dropped'] = int(float(dropped.group(1))) if dropped else None
    return result


def report(label: str, result: dict) -> None:
    print(f'\n== {label}: {result["clients"]} clients, {result["rate"]} events/s for {result["duration_s"]:g} s ==')
    print(
        f'events applied           {result["events_applied"]} in {result["wall_s"]} s; per second while '
        f'publishing: mean {result["events_applied_per_s_mean"]}, min/max {result["events_applied_per_s_min_max"]}'
    )
    print(f'backlog (bytes)          max {result["backlog_bytes_max"]}, at the end {result["backlog_bytes_end"]}')
    print(f'server CPU (cores)       mean {result["server_cpu_cores_mean"]}, max {result["server_cpu_cores_max"]}')
    print('backlog over time        ' + ' '.join(f'{s["t"]:g}s:{s["backlog_bytes"]}' for s in result['series']))
    if result['clients']:
        print(
            f'messages/client/s        max {result["messages_per_client_per_s_max"]}, '
            f'mean {result["messages_per_client_per_s_mean"]}; most to one client in any second '
            f'{result["most_messages_to_one_client_in_one_second"]}; smallest gap '
            f'{result["smallest_gap_between_messages_s"]} s'
        )
        print(
            f'bytes/client/s           mean {result["bytes_per_client_per_s_mean"]}; clients that got nothing '
            f'{result["clients_that_got_nothing"]}; dropped {result["clients_dropped"]}'
        )
        for page, numbers in result['by_page'].items():
            print(
                f'  {page:<20} {numbers["clients"]:>4} clients  {numbers["messages_per_s_mean"]:>5} msg/s  '
                f'{numbers["kib_per_s_mean"]:>7} KiB/s each'
            )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--clients', type=int, default=100)
    parser.add_argument('--rate', type=int, default=5000, help='task events per second')
    parser.add_argument('--duration', type=float, default=30.0, help='seconds of publishing')
    parser.add_argument('--baseline', action='store_true', help='first run the same stream with no client')
    parser.add_argument('--json', help='also write the numbers to this file')
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix='flower-live-bench-') as tmp:
        plans = ([('without clients', 0)] if args.baseline else []) + [('with clients', args.clients)]
        for label, clients in plans:
            run = Run(Path(tmp))
            try:
                results[label] = asyncio.run(measure(run, clients, args.rate, args.duration))
            finally:
                run.stop()
            report(label, results[label])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
