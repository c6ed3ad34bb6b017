"""The composition root (flower.runtime.build_runtime): what it builds, and that the parts are connected by
named subscriptions that work end to end (an event applied to the state reaches the discovery and the live hub;
a reconnect refreshes the inspector; the receiver's start and stop drive persistence)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from celery import Celery
from tornado.ioloop import IOLoop

from flower.events import Events
from flower.options import Options
from flower.runtime import Runtime, build_runtime
from tests.support.events import worker_online


class Timers:
    def __init__(self):
        self.calls = []

    def call_later(self, delay, fn):
        self.calls.append((delay, fn))


@pytest.fixture
def executor():
    pool = ThreadPoolExecutor(max_workers=2)
    yield pool
    pool.shutdown(wait=False)


def _build(executor, timers, **kwargs) -> Runtime:
    options = Options.from_object(None)
    capp = Celery('runtime', broker='memory://', set_as_current=False)
    return build_runtime(
        options,
        capp,
        executor=executor,
        call_later=timers.call_later,
        live_shapes=object(),
        diagnose=dict,
        **kwargs,
    )


def test_the_parts_are_built_once_and_share_the_runner_and_the_metrics_registry(executor):
    runtime = _build(executor, Timers())
    assert runtime.runner.executor is executor
    assert runtime.events.runner is runtime.runner and runtime.inspector.runner is runtime.runner
    # one registry: the state's counters, the receiver's and the queue-length gauge are all in it
    assert runtime.events.state.metrics is runtime.metrics and runtime.events.metrics is runtime.metrics
    text = runtime.metrics.render().decode()
    for family in ('flower_queue_length', 'flower_events_stream_interruptions', 'flower_events_rejected'):
        assert f'# HELP {family}' in text
    assert runtime.events.persistence is runtime.persistence
    assert runtime.persistence.saver is None and runtime.persistence.retention is None  # neither option set
    assert runtime.live.state is runtime.events.state and runtime.pool_changes.inspector is runtime.inspector


def test_the_subscriptions_are_named_and_made_by_the_root(executor):
    runtime = _build(executor, Timers())
    events = runtime.events
    assert events.state.on_node_join.subscribers == (runtime.discovery.on_node_join,)
    assert events.on_reconnect.subscribers == (runtime.inspector.inspect,)
    assert events.on_applied.subscribers == (runtime.live.on_events_applied,)
    assert events.on_starting.subscribers == (runtime.persistence.start,)
    assert events.on_stopped.subscribers == (runtime.persistence.stop,)


def test_a_worker_joining_reaches_the_discovery_through_the_state(executor):
    timers = Timers()
    runtime = _build(executor, timers)
    runtime.events.state.event(worker_online('new@h', pid=42))
    assert runtime.discovery.pending == {'new@h': 42}
    assert [delay for delay, _ in timers.calls] == [runtime.discovery.delay]  # gathered, inspected after the delay


def test_applied_events_reach_the_live_hub(executor):
    runtime = _build(executor, Timers())
    told = []
    # the subscription holds the hub's bound method: watch what it is called with
    runtime.events.on_applied.unsubscribe(runtime.live.on_events_applied)
    runtime.events.on_applied.subscribe(told.append)
    runtime.events._apply([(0.0, worker_online('a@h'))])
    assert told == [1]


def test_a_reconnect_refreshes_the_inspector(executor):
    runtime = _build(executor, Timers())
    refreshed = []

    async def inspect(workername=None):
        refreshed.append(workername)

    runtime.events.on_reconnect.unsubscribe(runtime.inspector.inspect)
    runtime.events.on_reconnect.subscribe(inspect)
    runtime.events.enable_events = False
    runtime.events.runner = None  # the heartbeat broadcast runs on the loop's default executor
    runtime.events.capp.control.broadcast = lambda *a, **kw: None  # no broker here to carry it
    asyncio.run(_resync_on_a_loop(runtime.events))
    assert refreshed == [None]


async def _resync_on_a_loop(events):
    events.io_loop = IOLoop.current()
    await events._resync()


def test_a_callers_own_events_is_adopted_with_its_registry_and_given_the_runner(executor, tmp_path):
    capp = Celery('mine', broker='memory://', set_as_current=False)
    mine = Events(capp, None, db=str(tmp_path / 'mine.db'), persistent=True, enable_events=False)
    runtime = _build(executor, Timers(), events=mine)
    assert runtime.events is mine and mine.runner is runtime.runner
    assert runtime.metrics is mine.state.metrics  # its own state's registry: /metrics shows what it counts
    assert 'flower_queue_length' in runtime.metrics.render().decode()
    assert runtime.persistence.saver is not None and runtime.persistence.saver.path.endswith('mine.db')
    assert mine.state.on_node_join.subscribers == (runtime.discovery.on_node_join,)
    runtime.persistence.stop()


def test_flower_keeps_its_public_names_for_the_parts_the_root_built():
    from flower.app import Flower

    capp = Celery('app', broker='memory://', set_as_current=False)
    mine = Events(capp, None, enable_events=False)
    app = Flower(capp=capp, events=mine)
    try:
        runtime = app.runtime
        assert app.events is mine is runtime.events and app.capp is capp is runtime.capp
        assert (app.inspector, app.executor, app.runner, app.live) == (
            runtime.inspector,
            runtime.executor,
            runtime.runner,
            runtime.live,
        )
        assert app.metrics is mine.state.metrics and app.persistence is mine.persistence
        assert mine.on_applied.subscribers == (app.live.on_events_applied,)
    finally:
        app.executor.shutdown(wait=False)
