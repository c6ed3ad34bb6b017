"""Is the event stream up? The reconnect back-off, the outage log lines, and the readiness answer.

Runtime rule 6 (the events thread reconnects with capped back-off) is owned here and in
:meth:`flower.events.receiver.Events.run`:

* :class:`Backoff`: the first retry comes after ``first`` seconds (a fraction of a second), each failed attempt
  doubles the wait up to ``cap`` (:class:`~flower.events.receiver.Events` uses half a second, so events flow
  again within about a second of the broker coming back), and every successful connection starts it afresh.
* :class:`StreamHealth`: what the log says about the stream, without flooding it: one line when the stream is
  lost (or cannot be opened at start), then at most one line a minute while it stays down, and one line when
  it is back, saying how long it was down. It also answers readiness (``/healthcheck?ready=1``): ready only
  while the stream is connected, including not before the first connection.
* :func:`describe_failure`: the cause in words, from the exception: connection refused, reset or closed by
  the broker (down or restarted), the server cutting a slow subscriber off, or the error's own text.

Threads: the events thread calls :meth:`StreamHealth.lost` and :meth:`StreamHealth.connected`; the IOLoop
thread reads :meth:`StreamHealth.readiness`. The state they share is one tuple replaced whole, so a reader
always sees a consistent (connected, since, cause).
"""

from __future__ import annotations

import errno
import logging
import time
from datetime import datetime, timezone
from typing import Callable

from flower.events.redis_stream import BrokerGone, StreamLost

logger = logging.getLogger('flower.events.receiver')

# errno values meaning "the broker is not there (any more)"
_REFUSED = {errno.ECONNREFUSED}
_RESET = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED}
_DOWN_WORDS = 'broker down or restarted'


class Backoff:
    """Seconds to wait before the next connection attempt: ``first``, doubling per failure, at most ``cap``."""

    def __init__(self, first: float = 0.1, cap: float = 1.0):
        if not 0 < first <= cap:
            raise ValueError(f'back-off must satisfy 0 < first <= cap (got first={first}, cap={cap})')
        self.first = first
        self.cap = cap
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        """After a successful connection: the next failure is retried quickly again."""
        self._next = self.first


def describe_failure(exc: BaseException) -> str:
    """Why the stream could not be opened or was lost, in words for the log and the readiness answer."""
    return classify_failure(exc)[1]


def broker_went_away(exc: BaseException) -> bool:
    """True when the broker itself was down or restarted (its other connections in this process are stale
    too), False for anything else, such as Redis cutting a slow subscriber off."""
    return classify_failure(exc)[0]


def classify_failure(exc: BaseException) -> tuple[bool, str]:
    """``(the broker went away, the cause in words)``.

    The exception chain is searched because kombu and redis-py wrap the socket error (``OperationalError``
    from ``redis.ConnectionError`` from ``ConnectionRefusedError``); an exception that already says what
    happened (a :class:`~flower.events.redis_stream.StreamLost`) speaks for itself."""
    detail = (str(exc) or type(exc).__name__).rstrip('.')
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StreamLost):
            return isinstance(current, BrokerGone), str(current).rstrip('.')
        code = getattr(current, 'errno', None)
        if isinstance(current, ConnectionRefusedError) or code in _REFUSED:
            return True, f'connection refused ({_DOWN_WORDS}): {detail}'
        if isinstance(current, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)) or code in _RESET:
            return True, f'connection reset by the broker ({_DOWN_WORDS}): {detail}'
        if type(current).__name__ == 'ConnectionForced':  # AMQP: RabbitMQ closed us (shutdown, restart)
            return True, f'connection closed by the broker ({_DOWN_WORDS}): {detail}'
        current = current.__cause__ or current.__context__
    lowered = detail.lower()
    if 'connection refused' in lowered:  # a library that kept only the text (e.g. "Error 111 connecting ...")
        return True, f'connection refused ({_DOWN_WORDS}): {detail}'
    if 'connection reset' in lowered or 'connection closed' in lowered or 'closed by server' in lowered:
        return True, f'connection closed by the broker ({_DOWN_WORDS}): {detail}'
    return False, detail


def _seconds(value: float) -> str:
    return f'{value:.1f} s' if value < 120 else f'{value / 60:.1f} min'


class StreamHealth:
    """The event stream's state, its log lines and the readiness answer (see the module docstring)."""

    log_every = 60.0  # seconds between "still down" lines

    def __init__(self, clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._monotonic = monotonic
        # (connected, since (Unix time), cause): replaced whole, read by the IOLoop thread
        self._state: tuple[bool, float, str] = (False, clock(), 'not connected to the broker yet')
        self._down_started = monotonic()  # events thread only, like the fields below
        self._last_line: float | None = None  # monotonic time of the last outage line; None while up
        self._connections = 0

    @property
    def is_connected(self) -> bool:
        return self._state[0]

    @property
    def cause(self) -> str:
        return self._state[2]

    def connected(self) -> None:
        """The stream is (again) subscribed: one line, with how long it was down when it was."""
        self._connections += 1
        down_for = self._monotonic() - self._down_started
        was_reported = self._last_line is not None
        self._state = (True, self._clock(), '')
        self._last_line = None
        if self._connections == 1:
            if was_reported:
                logger.info('Connected to the broker after %s; receiving events', _seconds(down_for))
            else:
                logger.info('Connected to the broker; receiving events')
        else:
            logger.info('Reconnected to the broker after %s down; receiving events again', _seconds(down_for))

    def lost(self, cause: str, was_receiving: bool) -> None:
        """A connection attempt failed or a working stream broke. Logs the first failure of an outage, then
        at most one line every ``log_every`` seconds while it lasts."""
        now = self._monotonic()
        connected, since, _ = self._state
        if connected:
            since, self._down_started = self._clock(), now
        self._state = (False, since, cause)
        if self._last_line is None:
            self._last_line = now
            if was_receiving:
                logger.error(
                    'Event stream interrupted: %s. Events sent until it is back are missed; reconnecting.', cause
                )
            else:
                logger.error('Event stream down: cannot connect to the broker: %s. Retrying until it answers.', cause)
        elif now - self._last_line >= self.log_every:
            self._last_line = now
            logger.warning('Event stream still down after %s: %s', _seconds(now - self._down_started), cause)

    def readiness(self) -> tuple[bool, str]:
        """``(True, 'OK')`` while the stream is connected, else ``(False, why)`` for a readiness probe."""
        connected, since, cause = self._state
        if connected:
            return True, 'OK'
        when = datetime.fromtimestamp(since, timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
        return False, f'NOT READY: event stream down since {when}: {cause}'
