"""BlockingRunner: what becomes a 503, what a 500, and how many calls run at once."""

from __future__ import annotations

import asyncio
import threading

import pytest

from flower.runner import BlockingRunner, BrokerUnavailable, OperationFailed


def run(coro):
    return asyncio.run(coro)


def refused_backend():
    try:
        raise ConnectionRefusedError(111, 'Connection refused')
    except ConnectionRefusedError as exc:
        raise RuntimeError(
            'Retry limit exceeded while trying to reconnect to the Celery redis result store backend.'
        ) from exc


def test_a_result_and_a_plain_failure():
    runner = BlockingRunner(max_concurrency=2)
    assert run(runner.run('add', 'x', lambda a, b: a + b, 2, 3)) == 5
    with pytest.raises(OperationFailed, match=r"^send task failed: bad value$"):
        run(runner.run('send task', 'x', lambda: (_ for _ in ()).throw(ValueError('bad value'))))


def test_connection_errors_are_unavailable_even_when_wrapped():
    runner = BlockingRunner(max_concurrency=2)
    with pytest.raises(BrokerUnavailable) as info:
        run(runner.run('inspect', 'all', lambda: (_ for _ in ()).throw(ConnectionRefusedError('refused'))))
    assert info.value.message == 'Broker or result backend unavailable'
    with pytest.raises(BrokerUnavailable) as info:
        run(runner.run('apply', 'x', refused_backend))
    assert 'Retry limit exceeded' in info.value.detail and 'Connection refused' in info.value.detail


def test_a_call_over_its_time_limit_is_unavailable():
    release = threading.Event()
    runner = BlockingRunner(max_concurrency=1)
    try:
        with pytest.raises(BrokerUnavailable) as info:
            run(runner.run('broadcast', 'all', release.wait, 10, timeout=0.05))
        assert 'timed out' in info.value.detail
    finally:
        release.set()


def test_no_more_than_max_concurrency_calls_run_at_once():
    runner = BlockingRunner(max_concurrency=2)
    lock = threading.Lock()
    running, most = [0], [0]
    gate = threading.Barrier(2, timeout=5)  # two must be able to run together

    def call():
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            gate.wait()
        except threading.BrokenBarrierError:
            pass
        with lock:
            running[0] -= 1
        return True

    async def main():
        return await asyncio.gather(*(runner.run('call', str(i), call) for i in range(6)))

    assert run(main()) == [True] * 6
    assert most[0] == 2
