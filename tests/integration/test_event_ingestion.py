"""Events under load, through a real server on a private Redis: a shuffled stream with duplicates and
missing events ends in exactly the states and counts that were sent, and a burst far faster than the server
can apply loses nothing (Flower loses about half of such a burst to Redis's pub/sub buffer limit)."""

from __future__ import annotations

import random
import re
import signal
import time
from collections import Counter

import pytest
import redis

from tests.conftest import celery_app_for
from tests.support.events import event
from tests.support.processes import PrivateRedis, Server, start_worker, wait_for
from tests.support.publish import publish_burst

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def _metric_samples(server, name):
    text = server.get('/metrics').text
    samples = {}
    for labels, value in re.findall(rf'^{name}(?:\{{([^}}]*)\}})? (\S+)$', text, re.M):
        samples[tuple(sorted(re.findall(r'(\w+)="([^"]*)"', labels)))] = float(value)
    return samples


def _metric_total(server, name):
    return sum(_metric_samples(server, name).values())


def _generate(tasks: int, seed: int = 7):
    """Events for ``tasks`` lifecycles, shuffled within windows, with duplicates and some missing
    task-started events; returns (events, expected final state per task, expected counts)."""
    rng = random.Random(seed)
    t0 = time.time()
    events, expected = [], {}
    for i in range(tasks):
        uuid = f'00000000-0000-4000-8000-{i:012d}'
        host = f'w{i % 5}@load'
        name = f'load.task{i % 7}'
        t = t0 + i * 0.001
        lifecycle = [event('task-received', host, t, uuid=uuid, name=name, args=f'({i},)', kwargs='{}', retries=0)]
        if i % 11:
            lifecycle.append(event('task-started', host, t + 0.0001, uuid=uuid))
        if i % 4 == 0:
            lifecycle.append(event('task-failed', host, t + 0.0002, uuid=uuid, exception=f"E({i})", traceback='tb'))
            expected[uuid] = ('FAILURE', name, f'({i},)', None)
        else:
            lifecycle.append(event('task-succeeded', host, t + 0.0002, uuid=uuid, result=str(i), runtime=0.01))
            expected[uuid] = ('SUCCESS', name, f'({i},)', str(i))
        events.extend(lifecycle)
    # deliver out of order within windows of 50, and repeat about 5% of the events
    for start in range(0, len(events), 50):
        window = events[start : start + 50]
        rng.shuffle(window)
        events[start : start + 50] = window
    duplicates = [events[rng.randrange(len(events))] for _ in range(len(events) // 20)]
    for dup in duplicates:
        events.insert(rng.randrange(len(events)), dup)
    counts = Counter((ev['hostname'], ev['type']) for ev in events)
    return events, expected, counts


def test_shuffled_duplicated_stream_ends_in_the_sent_states(processes):
    redis_server = PrivateRedis()
    processes.append(redis_server)
    server = Server(redis_server.url, app=None, args=['--enable_events=false'])
    processes.append(server)
    wait_for(lambda: 'receiving events' in server.output(), 20, message='the subscription')

    events, expected, counts = _generate(16_500)
    assert len(events) > 50_000
    assert publish_burst(redis_server.port, events) == 1  # exactly one subscriber: the server
    wait_for(
        lambda: _metric_total(server, 'flower_events_total') >= len(events),
        120,
        interval=0.5,
        message=f'{len(events)} events to be applied',
    )
    assert _metric_total(server, 'flower_events_total') == len(events)

    tasks = server.get('/api/tasks', timeout=60).json()
    assert len(tasks) == len(expected)
    wrong = {
        uuid: (t['state'], t['name'], t['args'], t['result'])
        for uuid, t in tasks.items()
        if (t['state'], t['name'], t['args'], t['result']) != expected[uuid]
    }
    assert wrong == {}

    samples = _metric_samples(server, 'flower_events_total')
    by_worker_type = Counter()
    for labels, value in samples.items():
        labels = dict(labels)
        by_worker_type[(labels['worker'], labels['type'])] += value
    assert by_worker_type == counts
    assert _metric_total(server, 'flower_events_stream_interruptions_total') == 0

    # the per-worker counters the workers table shows agree with what was sent too
    rows = {row['hostname']: row for row in server.get('/workers', params={'json': 1}).json()['data']}
    for (host, type_), count in counts.items():
        assert rows[host][type_] == count, (host, type_)


def test_burst_of_150k_events_loses_nothing(processes):
    redis_server = PrivateRedis()
    processes.append(redis_server)
    server = Server(redis_server.url, app=None, args=['--enable_events=false', '--max_tasks=100000'])
    processes.append(server)
    wait_for(lambda: 'receiving events' in server.output(), 20, message='the subscription')
    t0 = time.time()
    events = []
    for i in range(50_000):
        uuid = f'burst-{i}'
        events.append(
            event('task-received', f'w{i % 4}@burst', t0, uuid=uuid, name='burst.task', args='()', kwargs='{}')
        )
        events.append(event('task-started', f'w{i % 4}@burst', t0, uuid=uuid))
        events.append(event('task-succeeded', f'w{i % 4}@burst', t0, uuid=uuid, result='None', runtime=0.001))
    started = time.monotonic()
    publish_burst(redis_server.port, events)
    published_in = time.monotonic() - started
    try:
        wait_for(
            lambda: _metric_total(server, 'flower_events_total') >= 150_000,
            180,
            interval=1,
            message='150,000 events to be applied',
        )
    except AssertionError:
        raise AssertionError(
            f"applied {_metric_total(server, 'flower_events_total')}, interruptions "
            f"{_metric_total(server, 'flower_events_stream_interruptions_total')}\n{server.output()[-3000:]}"
        )
    assert _metric_total(server, 'flower_events_total') == 150_000
    assert _metric_total(server, 'flower_events_stream_interruptions_total') == 0
    assert len(server.get('/api/tasks', params={'state': 'SUCCESS'}, timeout=60).json()) == 50_000
    print(f'150,000 events published in {published_in:.2f}s, all applied')


def test_a_subscription_cut_off_by_redis_is_reported_and_resynced(processes):
    """Redis closes a subscriber whose unread output passes its pub/sub limit. Freezing the server while a
    burst is published makes that happen for real: once thawed it must say so in the log and in
    ``flower_events_stream_interruptions_total``, subscribe again, and carry on with the worker online."""
    redis_server = PrivateRedis()
    processes.append(redis_server)
    redis.Redis(port=redis_server.port).config_set('client-output-buffer-limit', 'pubsub 256kb 128kb 1')
    worker = start_worker(redis_server.url, 'cutoff@%h', pool='solo', concurrency=1)
    processes.append(worker)
    server = Server(redis_server.url)
    processes.append(server)
    wait_for(
        lambda: any(server.get('/api/workers', params={'status': 1}).json().values()),
        60,
        interval=0.3,
        message='the worker to show as online',
    )

    t0 = time.time()
    events = [
        event('task-succeeded', 'w0@cutoff', t0, uuid=f'cut-{i}', result='x' * 200, runtime=0.001)
        for i in range(20_000)
    ]  # ~13 MB: far past the 256 KB limit
    server.send_signal(signal.SIGSTOP)
    try:
        publish_burst(redis_server.port, events)
    finally:
        server.send_signal(signal.SIGCONT)

    wait_for(lambda: 'Event stream interrupted' in server.output(), 30, message='the cut-off to be logged')
    assert 'pub/sub output buffer limit' in server.output()
    wait_for(lambda: 'Reconnected to the broker' in server.output(), 30, message='the server to subscribe again')
    assert _metric_total(server, 'flower_events_stream_interruptions_total') == 1

    app = celery_app_for(redis_server.url)
    result = app.send_task('tests.support.celeryapp.add', args=(20, 22))
    wait_for(
        lambda: server.get('/api/tasks').json().get(result.id, {}).get('state') == 'SUCCESS',
        60,
        interval=0.3,
        message='a task sent after the cut-off to arrive',
    )
    workers = server.get('/api/workers', params={'status': 1}).json()
    assert [name for name, online in workers.items() if online and name.startswith('cutoff@')]
