"""Memory over a long steady stream at --max_tasks: does this server's RSS stop growing once it is full?

Starts a private redis-server and this server with ``--max_tasks=N``, then has ``bench/publisher.py`` (live
mode, real celery dispatchers in their own process) send task events at a steady rate for ``--minutes``.
Every ``--sample`` seconds it prints the server's RSS, the tasks in state and the events applied. Once the
state is full (N tasks) RSS should level off: the summary compares the RSS when the state first filled with
the RSS at the end and prints the growth per hour.

    python bench/soak.py --minutes 30 --rate 2000 --max-tasks 20000

Prints numbers; it is not a test. Everything it starts is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.processes import PrivateRedis, Server  # noqa: E402


def rss_mib(pid: int) -> float:
    with open(f'/proc/{pid}/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def applied_events(server: Server) -> float:
    text = server.get('/metrics', timeout=30).text
    return sum(float(v) for v in re.findall(r'^flower_events_total\{[^}]*\} (\S+)$', text, re.M))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--minutes', type=float, default=30.0)
    parser.add_argument('--rate', type=float, default=2000.0, help='task events per second')
    parser.add_argument('--max-tasks', type=int, default=20000)
    parser.add_argument('--sample', type=float, default=30.0, help='seconds between samples')
    parser.add_argument('--format', choices=('single', 'multi'), default='single')
    args = parser.parse_args()

    redis_server = PrivateRedis()
    server = Server(redis_server.url, app=None, args=[f'--max_tasks={args.max_tasks}', '--enable_events=false'])
    duration = args.minutes * 60
    publisher = subprocess.Popen(
        [
            sys.executable,
            str(REPO / 'bench' / 'publisher.py'),
            '--broker',
            redis_server.url,
            '--mode',
            'live',
            '--rate',
            str(args.rate),
            '--duration',
            str(duration),
            '--events',
            str(int(args.rate * duration * 2)),
            '--format',
            args.format,
            '--batch',
            '64',
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    samples = []
    started = time.monotonic()
    full_at = None
    try:
        print(f'{"minutes":>8} {"RSS MiB":>9} {"tasks":>8} {"applied":>10}')
        while publisher.poll() is None:
            time.sleep(args.sample)
            tasks = len(server.get('/api/tasks', params={'limit': args.max_tasks + 1}, timeout=60).json())
            sample = {
                'minutes': round((time.monotonic() - started) / 60, 2),
                'rss_mib': round(rss_mib(server.pid), 1),
                'tasks': tasks,
                'applied': applied_events(server),
            }
            samples.append(sample)
            if full_at is None and tasks >= args.max_tasks:
                full_at = len(samples) - 1
            print(f'{sample["minutes"]:8.2f} {sample["rss_mib"]:9.1f} {tasks:8d} {sample["applied"]:10.0f}', flush=True)
    finally:
        if publisher.poll() is None:
            publisher.terminate()
        out, _ = publisher.communicate(timeout=30)
        server.stop()
        redis_server.stop()
    result = [line for line in out.splitlines() if line.startswith('result ')]
    summary = {'samples': samples, 'publisher': json.loads(result[-1][7:]) if result else None}
    if full_at is not None and len(samples) > full_at + 1:
        first, last = samples[full_at], samples[-1]
        hours = (last['minutes'] - first['minutes']) / 60
        growth = last['rss_mib'] - first['rss_mib']
        summary.update(
            full_rss_mib=first['rss_mib'],
            end_rss_mib=last['rss_mib'],
            growth_mib=round(growth, 1),
            growth_mib_per_hour=round(growth / hours, 1) if hours else None,
        )
        print(
            f'\nstate full at {first["minutes"]} min with {first["rss_mib"]} MiB; at the end {last["rss_mib"]} '
            f'MiB after {last["minutes"]} min: {growth:+.1f} MiB ({summary["growth_mib_per_hour"]} MiB/hour)'
        )
    else:
        print('\nthe state never filled up: raise --minutes or --rate, or lower --max-tasks')
    out_dir = REPO / 'bench' / 'results'
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / 'soak.json').write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == '__main__':
    os.environ.setdefault('FLOWER_UNAUTHENTICATED_API', 'true')
    sys.exit(main())
