"""Inspector: replies merged per worker, concurrent refreshes coalesced, failures logged not raised,
broker URLs with passwords stripped, cache bounded. A stand-in control object answers instantly so the
coalescing can be counted exactly (the real broadcasts are exercised by the integration tests)."""

from __future__ import annotations

import asyncio
import threading

from flower.inspector import Inspector
from flower.runner import BlockingRunner


class FakeInspect:
    def __init__(self, control, destination):
        self.control = control
        self.destination = destination

    def __getattr__(self, method):
        def call(**kwargs):
            with self.control.lock:
                self.control.calls.append((method, tuple(self.destination or ())))
            self.control.gate.wait(5)
            if method == 'stats':
                return {
                    w: {'pool': {'max-concurrency': 2}, 'broker': {'hostname': 'h', 'alternates': ['amqp://u:p@x']}}
                    for w in self.control.workers
                    if not self.destination or w in self.destination
                }
            if method == 'conf':
                raise ConnectionError('broker went away')
            return {w: [method] for w in self.control.workers if not self.destination or w in self.destination}

        return call


class FakeControl:
    def __init__(self, workers):
        self.workers = workers
        self.calls = []
        self.lock = threading.Lock()
        self.gate = threading.Event()

    def inspect(self, timeout, destination):
        return FakeInspect(self, destination)


class FakeApp:
    def __init__(self, workers):
        self.control = FakeControl(workers)


def run(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


async def refresh(inspector, workername=None):
    return await inspector.inspect(workername)


def test_refresh_merges_coalesces_and_strips_alternates():
    app = FakeApp(['a@h', 'b@h'])
    inspector = Inspector(app, BlockingRunner(max_concurrency=8), timeout=0.1)

    async def scenario():
        first = inspector.inspect()
        second = inspector.inspect()  # joins the running cluster refresh
        single = inspector.inspect('a@h')  # satisfied by the cluster refresh too
        assert first is second is single
        app.control.gate.set()
        return await first

    answered = run(scenario())
    assert answered == ['a@h', 'b@h']
    methods = sorted(m for m, _ in app.control.calls)
    assert methods == ['active_queues', 'conf', 'registered', 'stats']  # one round, cluster-wide methods only
    info = inspector.workers['a@h']
    assert info['stats']['broker'] == {'hostname': 'h'}
    assert info['registered'] == ['registered'] and 'conf' not in info and 'timestamp' in info
    assert 'failed' not in inspector.workers  # the failing method did not raise
    assert 'broker went away' in inspector.last_error


def test_single_worker_refresh_fetches_task_lists():
    app = FakeApp(['a@h', 'b@h'])
    app.control.gate.set()
    inspector = Inspector(app, BlockingRunner(max_concurrency=8), timeout=0.1)
    assert run(refresh(inspector, 'b@h')) == ['b@h']
    assert {m for m, dest in app.control.calls} == set(Inspector.inspect_methods)
    assert all(dest == ('b@h',) for _, dest in app.control.calls)
    assert inspector.workers['b@h']['active'] == ['active']


def test_cache_is_bounded():
    app = FakeApp([f'w{i}@h' for i in range(5)])
    app.control.gate.set()
    inspector = Inspector(app, BlockingRunner(max_concurrency=8), timeout=0.1, max_workers=3)
    run(refresh(inspector))
    assert len(inspector.workers) == 3
