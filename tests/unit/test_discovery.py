"""WorkerDiscovery: which joins lead to an inspection, and how they are gathered."""

from __future__ import annotations

from types import SimpleNamespace

from flower.discovery import WorkerDiscovery


class FakeInspector:
    def __init__(self, workers=None):
        self.workers = workers or {}
        self.calls: list[str | None] = []

    def inspect(self, workername=None):
        self.calls.append(workername)


class Clock:
    def __init__(self):
        self.timers = []

    def call_later(self, delay, fn):
        self.timers.append((delay, fn))

    def run(self):
        timers, self.timers = self.timers, []
        for _, fn in timers:
            fn()


def worker(hostname, pid=None):
    return SimpleNamespace(hostname=hostname, pid=pid)


def test_a_worker_never_inspected_is_inspected_once_after_the_delay():
    inspector, clock = FakeInspector(), Clock()
    discovery = WorkerDiscovery(inspector, clock.call_later, delay=1.0)
    discovery.on_node_join(worker('a@h', 10))
    discovery.on_node_join(worker('a@h', 10))
    assert inspector.calls == [] and [delay for delay, _ in clock.timers] == [1.0]  # one timer for both joins
    clock.run()
    assert inspector.calls == ['a@h']


def test_a_known_worker_is_left_alone_unless_its_process_changed():
    inspector = FakeInspector({'a@h': {'stats': {'pid': 10}}, 'b@h': {'stats': {'pid': 20}}})
    clock = Clock()
    discovery = WorkerDiscovery(inspector, clock.call_later)
    discovery.on_node_join(worker('a@h', 10))  # same process: nothing new to learn
    discovery.on_node_join(worker('b@h', None))  # no PID in its events: cannot tell, keep what we have
    assert clock.timers == []
    discovery.on_node_join(worker('a@h', 11))  # restarted
    clock.run()
    assert inspector.calls == ['a@h']


def test_many_joins_at_once_cost_one_cluster_refresh():
    inspector, clock = FakeInspector(), Clock()
    discovery = WorkerDiscovery(inspector, clock.call_later, cluster_threshold=3)
    for i in range(10):
        discovery.on_node_join(worker(f'w{i}@h', i))
    clock.run()
    assert inspector.calls == [None]


def test_workers_answered_by_an_inspection_that_finished_meanwhile_are_skipped():
    inspector, clock = FakeInspector(), Clock()
    discovery = WorkerDiscovery(inspector, clock.call_later)
    discovery.on_node_join(worker('a@h', 1))
    discovery.on_node_join(worker('b@h', 2))
    inspector.workers['a@h'] = {'stats': {'pid': 1}}  # the start-up inspection got there first
    clock.run()
    assert inspector.calls == ['b@h']
