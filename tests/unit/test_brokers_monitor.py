"""QueueLengthMonitor with a fake broker that counts its calls: the TTL cache, one shared in-flight fetch,
cached failures, and the background refresh that feeds the gauge. The fake clock drives the TTL; waiting
on the loop is polling with a deadline, never a sleep standing in for synchronisation."""

from __future__ import annotations

import asyncio

import pytest

from flower.brokers import BrokerError, BrokerUnreachable, QueueBroker, QueueLengthMonitor


class FakeBroker(QueueBroker):
    transport = 'fake'

    def __init__(self):
        self.calls: list[list[str]] = []
        self.messages: dict[str, int] = {}
        self.error: BrokerError | None = None
        self.gate: asyncio.Event | None = None  # when set, queues() waits for it (to hold a fetch in flight)
        self.closed = 0

    @property
    def location(self) -> str:
        return 'fake://'

    async def queues(self, names):
        self.calls.append(list(names))
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return [{'name': name, 'messages': self.messages.get(name, 0)} for name in names]

    async def close(self):
        self.closed += 1


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


async def eventually(condition, timeout: float = 5.0, message: str = 'condition'):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f'timed out waiting for {message}')
        await asyncio.sleep(0.005)


def make(ttl=2.0, names=('a', 'b')):
    broker, clock = FakeBroker(), FakeClock()
    return broker, clock, QueueLengthMonitor(broker, lambda: list(names), ttl=ttl, clock=clock)


def test_second_call_within_ttl_does_not_reach_the_broker():
    broker, clock, monitor = make()
    broker.messages = {'a': 3}

    async def scenario():
        first = await monitor.lengths(['a', 'b'])
        broker.messages = {'a': 99}
        clock.now += 1.9
        second = await monitor.lengths(['a', 'b'])
        clock.now += 0.2  # past the TTL
        third = await monitor.lengths(['a', 'b'])
        return first, second, third

    first, second, third = asyncio.run(scenario())
    assert first == second == [{'name': 'a', 'messages': 3}, {'name': 'b', 'messages': 0}]
    assert third[0] == {'name': 'a', 'messages': 99}
    assert len(broker.calls) == 2


def test_different_name_lists_are_cached_apart():
    broker, clock, monitor = make()

    async def scenario():
        await monitor.lengths(['a'])
        await monitor.lengths(['b'])
        await monitor.lengths(['a'])
        await monitor.lengths()  # the provider's names: ('a', 'b')

    asyncio.run(scenario())
    assert broker.calls == [['a'], ['b'], ['a', 'b']]


def test_concurrent_callers_share_one_in_flight_fetch():
    broker, clock, monitor = make()
    broker.messages = {'a': 7}

    async def scenario():
        broker.gate = asyncio.Event()
        waiters = [asyncio.ensure_future(monitor.lengths(['a'])) for _ in range(50)]
        # The waiters all run before the fetch task they created does, so once the broker is entered every
        # waiter is already awaiting that one fetch.
        await eventually(lambda: broker.calls, message='the fetch to start')
        broker.gate.set()
        return await asyncio.gather(*waiters)

    answers = asyncio.run(scenario())
    assert len(broker.calls) == 1
    assert all(answer == [{'name': 'a', 'messages': 7}] for answer in answers)


def test_a_caller_giving_up_does_not_cancel_the_fetch_others_await():
    broker, clock, monitor = make()

    async def scenario():
        broker.gate = asyncio.Event()
        quitter = asyncio.ensure_future(monitor.lengths(['a']))
        patient = asyncio.ensure_future(monitor.lengths(['a']))
        await eventually(lambda: broker.calls, message='the fetch to start')
        quitter.cancel()
        broker.gate.set()
        return await patient, quitter

    answer, quitter = asyncio.run(scenario())
    assert answer == [{'name': 'a', 'messages': 0}] and quitter.cancelled()
    assert len(broker.calls) == 1


def test_failures_are_cached_for_the_ttl_too():
    broker, clock, monitor = make()
    broker.error = BrokerUnreachable('Redis at redis://x:6379/0 could not be reached: refused')

    async def scenario():
        errors = []
        for _ in range(3):
            with pytest.raises(BrokerUnreachable) as info:
                await monitor.lengths(['a'])
            errors.append(str(info.value))
        clock.now += 2.5
        broker.error = None
        return errors, await monitor.lengths(['a'])

    errors, recovered = asyncio.run(scenario())
    assert errors == ['Redis at redis://x:6379/0 could not be reached: refused'] * 3
    assert recovered == [{'name': 'a', 'messages': 0}]
    assert len(broker.calls) == 2  # one per TTL, failing or not


def test_answers_are_copies():
    broker, clock, monitor = make()

    async def scenario():
        first = await monitor.lengths(['a'])
        first[0]['messages'] = 'tampered'
        first.append({'name': 'extra'})
        return await monitor.lengths(['a'])

    assert asyncio.run(scenario()) == [{'name': 'a', 'messages': 0}]


def test_async_names_provider():
    broker = FakeBroker()

    async def names():
        return ['x', 'y']

    monitor = QueueLengthMonitor(broker, names)
    assert [q['name'] for q in asyncio.run(monitor.lengths())] == ['x', 'y']


def test_background_refresh_follows_the_broker_and_keeps_the_last_numbers_on_error():
    broker = FakeBroker()
    monitor = QueueLengthMonitor(broker, lambda: ['a'], ttl=0.0)  # real clock; TTL 0: every refresh fetches

    def messages():
        return [q['messages'] for q in monitor.last_lengths().queues]

    async def scenario():
        assert monitor.last_lengths().taken_at is None and not monitor.running
        monitor.start(0.01)
        assert monitor.running
        await eventually(lambda: messages() == [0], message='the first refresh')
        broker.messages = {'a': 5}
        await eventually(lambda: messages() == [5], message='the gauge to see 5 messages')
        taken_at = monitor.last_lengths().taken_at
        broker.error = BrokerUnreachable('gone')
        await eventually(lambda: monitor.last_error is not None, message='the error to show')
        snapshot = monitor.last_lengths()
        assert str(snapshot.error) == 'gone' and messages() == [5] and snapshot.taken_at >= taken_at
        broker.error = None
        broker.messages = {'a': 0}
        await eventually(lambda: monitor.last_error is None and messages() == [0], message='recovery')
        await monitor.close()
        assert not monitor.running and broker.closed == 1

    asyncio.run(scenario())


def test_refresh_survives_an_unexpected_error():
    broker = FakeBroker()
    names = iter([RuntimeError('provider broke'), ['a']])

    def provider():
        value = next(names)
        if isinstance(value, Exception):
            raise value
        return value

    monitor = QueueLengthMonitor(broker, provider)

    async def scenario():
        first = await monitor.refresh()
        second = await monitor.refresh()
        return first, second

    first, second = asyncio.run(scenario())
    assert isinstance(first.error, RuntimeError) and first.queues == []
    assert second.error is None and second.queues == [{'name': 'a', 'messages': 0}]


def test_start_needs_a_positive_interval_and_is_idempotent():
    broker, clock, monitor = make()

    async def scenario():
        with pytest.raises(ValueError):
            monitor.start(0)
        monitor.start(60)
        task = monitor._refresher
        monitor.start(60)
        assert monitor._refresher is task
        await eventually(lambda: monitor.last_lengths().taken_at is not None, message='the first refresh')
        await monitor.stop()
        await monitor.stop()  # stopping twice is fine
        assert not monitor.running

    asyncio.run(scenario())
    assert len(broker.calls) == 1
