"""Runtime rule 1 (the events state, its counters, task store and search indexes, and the inspector cache are
written only on the IOLoop thread) as a check: with ``FLOWER_THREAD_GUARD=1`` (set by tests/conftest.py) a
write from another thread is refused, logged and recorded, naming the writer and the thread; without it there
is no guard at all. Also: ``Flower.stop()`` from two threads at once does its work once."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from celery import Celery

from flower.events.state import EventsState
from flower.inspector import Inspector
from flower.persistence import TaskRetention
from flower.runner import BlockingRunner
from flower.utils import thread_guard
from flower.utils.thread_guard import ThreadViolation, call_on_loop
from tests.support.events import task_events
from tests.unit.test_inspector import FakeApp, refresh, run


def _on_thread(fn, name='intruder'):
    """Run ``fn`` on a new thread; returns what it raised (or None)."""
    box = {}

    def target():
        try:
            fn()
        except BaseException as exc:  # handed back to the test
            box['error'] = exc

    thread = threading.Thread(target=target, name=name)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    return box.get('error')


def test_the_tests_run_with_the_guard_on():
    assert thread_guard.enabled()
    assert EventsState().thread_guard is not None
    assert Inspector(FakeApp([]), BlockingRunner(max_concurrency=1)).thread_guard is not None


def test_off_unless_the_environment_asks(monkeypatch):
    monkeypatch.delenv('FLOWER_THREAD_GUARD')
    state = EventsState()
    assert state.thread_guard is None and state.tasks.thread_guard is None
    assert Inspector(FakeApp([]), BlockingRunner(max_concurrency=1)).thread_guard is None
    # and with it off a write from another thread is not checked (production pays nothing)
    assert _on_thread(lambda: state.apply_messages([(1.0, e) for e in task_events(uuid='t')])) is None
    assert state.tasks['t'].state == 'SUCCESS'


@pytest.mark.parametrize('value, on', [('1', True), ('true', True), ('0', False), ('', False)])
def test_the_environment_values(monkeypatch, value, on):
    monkeypatch.setenv('FLOWER_THREAD_GUARD', value)
    assert thread_guard.enabled() is on


def test_a_batch_applied_from_another_thread_is_refused_and_named(caplog):
    state = EventsState()
    state.apply_messages([(1.0, e) for e in task_events(uuid='mine')])  # the owner: fine
    caplog.set_level(logging.ERROR, logger='flower.utils.thread_guard')
    error = _on_thread(lambda: state.apply_messages([(1.0, e) for e in task_events(uuid='theirs')]))
    assert isinstance(error, ThreadViolation)
    assert str(error) == (
        "EventsState.apply_messages writes the events state on thread 'intruder', but only its "
        "owner thread 'MainThread' (the IOLoop) may (runtime rule 1)"
    )
    assert state.thread_guard.violations == [str(error)]
    assert [r.getMessage() for r in caplog.records] == [f'Thread guard: {error}']
    assert 'theirs' not in state.tasks and state.event_count == 3  # nothing of the refused batch applied


@pytest.mark.parametrize(
    'writer, write',
    [
        ('EventsState.event', lambda state: state.event(task_events(uuid='x')[0])),
        ('EventsState.mark_revoked_pending', lambda state: state.mark_revoked_pending('pending')),
        ('TaskStore.pop', lambda state: TaskRetention(state, 1).expire(now=1e12)),  # retention evicts
        ('TaskStore.set_limit', lambda state: state.tasks.set_limit(0)),
        ('TaskStore.clear', lambda state: state.tasks.clear()),
    ],
)
def test_every_writer_entry_point_checks(writer, write):
    state = EventsState()
    state.apply_messages([(1.0, task_events(uuid='pending')[0])])
    error = _on_thread(lambda: write(state))
    assert isinstance(error, ThreadViolation) and str(error).startswith(f'{writer} writes the events state')
    assert list(state.tasks.keys()) == ['pending'] and state.tasks['pending'].revoked_pending is None


def test_a_claim_moves_the_ownership_to_the_ioloop_thread():
    state = EventsState()
    _on_thread(state.thread_guard.claim, name='ioloop')
    assert state.thread_guard.owner_name == 'ioloop'
    with pytest.raises(ThreadViolation, match="on thread 'MainThread', but only its owner thread 'ioloop'"):
        state.event(task_events(uuid='x')[0])


def test_the_inspector_cache_is_merged_only_on_its_owner_thread():
    app = FakeApp(['a@h'])
    app.control.gate.set()
    inspector = Inspector(app, BlockingRunner(max_concurrency=8), timeout=0.1)
    error = _on_thread(lambda: run(refresh(inspector)))  # a refresh on some other thread's loop
    assert isinstance(error, ThreadViolation) and str(error).startswith(
        'Inspector refresh writes the inspector cache on thread \'intruder\''
    )
    assert inspector.workers == {}
    assert run(refresh(inspector)) == ['a@h']  # on the owner's thread it merges
    error = _on_thread(lambda: inspector.forget('a@h'))
    assert isinstance(error, ThreadViolation) and list(inspector.workers) == ['a@h']


def test_call_on_loop_runs_now_without_a_running_loop_and_queues_from_another_thread():
    import asyncio

    from tornado.ioloop import IOLoop

    ran = []
    call_on_loop(None, ran.append, 'no loop')
    assert ran == ['no loop']
    started = threading.Event()
    threads = {}

    def serve():
        asyncio.set_event_loop(asyncio.new_event_loop())
        threads['io_loop'] = IOLoop.current()
        threads['io_loop'].add_callback(started.set)
        threads['io_loop'].start()

    server = threading.Thread(target=serve, name='ioloop')
    server.start()
    assert started.wait(10)
    io_loop = threads['io_loop']
    done = threading.Event()
    call_on_loop(io_loop, lambda: (ran.append(threading.current_thread().name), done.set()))
    assert done.wait(10) and ran == ['no loop', 'ioloop']
    io_loop.add_callback(io_loop.stop)
    server.join(10)
    assert not server.is_alive()


def test_flower_stop_from_two_threads_at_once_does_its_work_once():
    from flower.app import Flower
    from flower.options import Options

    class SlowToCheck(Flower):
        """Widens the window between reading and setting ``_stopped``: without a lock both threads read
        "not stopped" and both do the work."""

        def __getattribute__(self, name):
            try:
                return super().__getattribute__(name)
            finally:
                if name == '_stopped':  # read (or found missing); the other thread may read it now too
                    time.sleep(0.05)

    app = SlowToCheck(capp=Celery('stop', broker='memory://'), options=Options({'cookie_secret': 'x' * 40}))
    calls = []
    events_stop = app.events.stop
    app.events.stop = lambda: (calls.append('events'), events_stop(timeout=1))[1]
    runner_shutdown = app.runner.shutdown
    app.runner.shutdown = lambda: (calls.append('runner'), runner_shutdown())[1]
    barrier = threading.Barrier(2)

    def stop():
        barrier.wait(5)
        app.stop()

    threads = [threading.Thread(target=stop) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    assert calls == ['events', 'runner'] and app.started is False
    app.stop()  # and once more, later: nothing
    assert calls == ['events', 'runner']
