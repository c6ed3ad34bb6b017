"""The events thread's reconnect policy (runtime rule 6), its outage log lines and the readiness answer."""

from __future__ import annotations

import errno
import logging
import threading

import pytest
from celery import Celery
from kombu.exceptions import OperationalError

from flower.events import Events
from flower.events.redis_stream import BrokerGone, StreamCutOff
from flower.events.stream_health import Backoff, StreamHealth, broker_went_away, describe_failure


def test_backoff_starts_under_a_second_doubles_and_is_capped():
    backoff = Backoff(0.1, 1.0)
    assert [backoff.next() for _ in range(8)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]


def test_backoff_starts_afresh_after_a_reset():
    backoff = Backoff(0.1, 1.0)
    for _ in range(10):
        backoff.next()
    backoff.reset()
    assert backoff.next() == 0.1


def test_backoff_refuses_a_cap_below_the_first_wait():
    with pytest.raises(ValueError, match='first <= cap'):
        Backoff(2.0, 1.0)


def test_the_events_thread_retries_quickly_with_a_capped_backoff_reset_by_each_connection():
    """Events.run with a broker that fails 12 times, connects once, then fails again: the waits between
    attempts start under a second, never pass the cap, and start over after the connection."""
    events = Events(Celery('t', broker='memory://'), enable_events=False)
    waits = _run_attempts(events, ['fail'] * 12 + ['connect'] + ['fail'] * 3)
    assert waits[:5] == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert max(waits) == events.max_backoff == 0.5
    assert len(waits) == 16
    assert waits[12:] == [0.1, 0.2, 0.4, 0.5]  # reset by the connection
    assert events.interruptions == 1 and events.failures == 15
    assert events.last_error.startswith('connection refused (broker down or restarted)')
    assert not events.health.is_connected


class _NoLoop:
    def add_callback(self, *args):
        pass


class _Clock:
    def __init__(self):
        self.now = 1_700_000_000.0

    def __call__(self):
        return self.now


def test_one_line_when_lost_one_a_minute_while_down_and_one_when_back(caplog):
    clock = _Clock()
    health = StreamHealth(clock=clock, monotonic=clock)
    health.connected()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger='flower.events.receiver'):
        for _ in range(45 * 10):  # 45 s of attempts ten times a second
            health.lost('connection refused (broker down or restarted): Error 111', was_receiving=True)
            clock.now += 0.1
        clock.now += 20
        health.lost('connection refused (broker down or restarted): Error 111', was_receiving=False)
        health.connected()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 3, lines
    assert lines[0].startswith('Event stream interrupted: connection refused (broker down or restarted)')
    assert lines[1].startswith('Event stream still down after 65.0 s: connection refused')
    assert lines[2] == 'Reconnected to the broker after 65.0 s down; receiving events again'


def test_a_broker_missing_at_start_is_reported_once_and_its_arrival_says_how_long(caplog):
    clock = _Clock()
    health = StreamHealth(clock=clock, monotonic=clock)
    with caplog.at_level(logging.INFO, logger='flower.events.receiver'):
        for _ in range(30):
            health.lost('connection refused (broker down or restarted)', was_receiving=False)
            clock.now += 0.5
        health.connected()
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        'Event stream down: cannot connect to the broker: connection refused (broker down or '
        'restarted). Retrying until it answers.',
        'Connected to the broker after 15.0 s; receiving events',
    ]


def test_readiness_fails_before_the_first_connection_and_while_down():
    clock = _Clock()
    health = StreamHealth(clock=clock, monotonic=clock)
    assert health.readiness() == (
        False,
        'NOT READY: event stream down since 2023-11-14T22:13:20Z: not connected to the broker yet',
    )
    health.connected()
    assert health.readiness() == (True, 'OK')
    clock.now += 60
    health.lost('connection refused (broker down or restarted)', was_receiving=True)
    clock.now += 30
    health.lost('connection reset by the broker (broker down or restarted)', was_receiving=False)
    ready, why = health.readiness()
    assert not ready
    # down since the loss, not since the last attempt; the latest cause
    assert why == (
        'NOT READY: event stream down since 2023-11-14T22:14:20Z: connection reset by the broker '
        '(broker down or restarted)'
    )


@pytest.mark.parametrize(
    'exc, expected',
    [
        (OperationalError('Error 111 connecting to 127.0.0.1:6390. Connection refused.'), 'connection refused ('),
        (ConnectionRefusedError(errno.ECONNREFUSED, 'Connection refused'), 'connection refused ('),
        (ConnectionResetError(errno.ECONNRESET, 'Connection reset by peer'), 'connection reset by the broker ('),
        (OSError(errno.EPIPE, 'Broken pipe'), 'connection reset by the broker ('),
        (
            type('ConnectionForced', (Exception,), {})(
                "(0, 0): (320) CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"
            ),
            'connection closed by the broker (',
        ),
        (
            StreamCutOff('Redis, still running, closed the event subscription: pub/sub output buffer limit'),
            'Redis, still running, closed',
        ),
        (BrokerGone('connection closed by the broker: Redis restarted'), 'connection closed by the broker: Redis'),
        (ValueError('something else'), 'something else'),
    ],
)
def test_the_cause_is_named(exc, expected):
    assert describe_failure(exc).startswith(expected)


def test_a_wrapped_socket_error_is_found_in_the_chain():
    try:
        try:
            raise ConnectionRefusedError(errno.ECONNREFUSED, 'Connection refused')
        except OSError as inner:
            raise OperationalError('could not connect') from inner
    except OperationalError as outer:
        assert describe_failure(outer) == 'connection refused (broker down or restarted): could not connect'


def test_readiness_is_read_whole_while_the_events_thread_writes():
    clock = _Clock()
    health = StreamHealth(clock=clock, monotonic=clock)
    stop = threading.Event()

    def flap():
        while not stop.is_set():
            health.lost('down', was_receiving=True)
            health.connected()

    thread = threading.Thread(target=flap)
    thread.start()
    try:
        for _ in range(2000):
            ready, why = health.readiness()
            assert (ready and why == 'OK') or (not ready and why.endswith(': down'))
    finally:
        stop.set()
        thread.join()


class _FakeRedisConnection:
    """What _why_lost needs of a redis-py connection: connect, INFO, disconnect."""

    def __init__(self, run_id=None, refuse=False):
        self.run_id = run_id
        self.refuse = refuse
        self.socket_connect_timeout = self.socket_timeout = None

    def connect(self):
        if self.refuse:
            raise ConnectionRefusedError(errno.ECONNREFUSED, 'Connection refused')

    def send_command(self, *args):
        pass

    def read_response(self):
        return f'# Server\r\nredis_version:7.0.15\r\nrun_id:{self.run_id}\r\ntcp_port:6379\r\n'.encode()

    def disconnect(self):
        pass


@pytest.mark.parametrize(
    'probe, expected_type, words',
    [
        (_FakeRedisConnection(refuse=True), BrokerGone, 'broker down or restarted'),
        (_FakeRedisConnection(run_id='b' * 40), BrokerGone, 'Redis restarted'),
        (_FakeRedisConnection(run_id='a' * 40), StreamCutOff, 'pub/sub output buffer limit'),
    ],
)
def test_a_closed_subscription_is_told_apart_by_asking_the_server(probe, expected_type, words):
    from flower.events.redis_stream import _why_lost

    lost = _why_lost(ConnectionError('Redis closed the connection'), 'a' * 40, lambda: probe)
    assert type(lost) is expected_type
    assert words in str(lost)
    assert probe.socket_connect_timeout == 1.0  # a dead host does not hold the events thread long
    assert broker_went_away(lost) is (expected_type is BrokerGone)


def test_the_receivers_backoff_is_its_configured_cap_and_follows_a_changed_one():
    """The cap the events thread uses is ``Events.max_backoff`` (half a second, runtime rule 6), read when the
    thread runs, so a subclass's or a patched value is the one in force."""
    events = Events(Celery('t', broker='memory://'), enable_events=False)
    assert (Events.min_backoff, Events.max_backoff) == (0.1, 0.5)
    assert (events._backoff.first, events._backoff.cap) == (0.1, 0.5)

    class Patient(Events):
        max_backoff = 2.0

    patient = Patient(Celery('t', broker='memory://'), enable_events=False)
    waits = _run_attempts(patient, ['fail'] * 10)
    assert waits == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0, 2.0, 2.0]
    assert patient._backoff.cap == 2.0


def _run_attempts(events, steps: list[str]) -> list[float]:
    """Run the events thread's loop (on this thread) with a broker whose connection attempts go as ``steps``
    say ('fail': refused; 'connect': connects, then the connection is reset), then stop; returns the waits."""
    events.io_loop = _NoLoop()
    waits: list[float] = []
    attempts = iter(steps)

    def capture():
        step = next(attempts, 'stop')
        if step == 'connect':
            events._on_connected()
            raise ConnectionResetError(errno.ECONNRESET, 'Connection reset by peer')
        if step == 'stop':
            events._stopping.set()
            return
        raise OperationalError('Error 111 connecting to 127.0.0.1:1. Connection refused.')

    events._capture = capture
    events._stopping.wait = lambda delay: waits.append(delay)
    events.run()
    return waits
