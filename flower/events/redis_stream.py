"""Reading the Redis broker's event channel straight off the socket (the events thread's fast path).

Celery workers publish events on Redis pub/sub, which has no queue: a subscriber that reads slower than the
workers publish builds up an output buffer in Redis, and at its limit (32 MB by default) Redis cuts the
subscriber off and the events in between are gone. Flower reads through kombu at a few thousand events/s
and loses most of a large burst this way.

So this reader does nothing but ``recv`` large chunks from the subscribed socket and hand the bytes over:
the socket is drained at memory speed, the backlog waits in this process (bounded by ``max_backlog_bytes``)
instead of in Redis, and the parsing and decoding (:mod:`flower.events.resp`, :mod:`flower.events.decode`)
happen on the IOLoop thread with the rest of the event work.

The connection is made by kombu's own Redis channel (same URL, credentials, TLS, unix socket, Sentinel and
``global_keyprefix`` handling as the workers), and the topics are kombu's own subscription topics for a queue
bound to the event exchange, so this sees exactly what celery's receiver would.

Why a subscription ended matters to whoever reads the log: a closed socket (end of stream, or a reset) looks
the same whether Redis cut a slow subscriber off (its ``client-output-buffer-limit pubsub``: events were lost
because we read too slowly) or Redis itself died or restarted (killed, crashed, upgraded: nothing we could
have done). So when a working subscription ends, :meth:`RedisEventStream.run` asks the server: a new
connection that is refused means Redis is down; one that reaches a server with a different ``run_id`` than the
one we subscribed to means Redis restarted; the same ``run_id`` means the running server closed our
subscription (:class:`StreamCutOff`). Either way it raises a :class:`StreamLost` whose message says which.

Runs on the events thread. Raises on any connection failure; :class:`flower.events.receiver.Events` owns
reconnecting.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from typing import Any, Callable

from celery.events.event import get_exchange
from kombu import Queue
from kombu.utils.uuid import uuid

logger = logging.getLogger(__name__)

# Read in large gulps: every recv re-acquires the GIL, which can take a switch interval (5 ms) while the
# IOLoop is busy, so the bytes per recv set how fast the socket can be emptied during a burst.
RECV_SIZE = 4 * 1024 * 1024


# How long the check after a lost subscription may take (a down Redis refuses at once; a dead host does not)
PROBE_TIMEOUT = 1.0


class StreamLost(ConnectionError):
    """A working subscription ended; the message says why (see the module docstring)."""


class StreamCutOff(StreamLost):
    """Redis, still running, closed the subscription (typically its pub/sub output buffer limit was reached)."""


class BrokerGone(StreamLost):
    """The subscription ended because Redis went down or restarted."""


class _EndOfStream(ConnectionError):
    """The socket was closed by the other end (``recv`` returned no bytes)."""


def is_redis_transport(capp) -> bool:
    try:
        return capp.connection_for_read().transport.driver_type == 'redis'
    except Exception:  # an unknown transport name: let kombu's receiver report it
        return False


class RedisEventStream:
    """One subscription: :meth:`run` connects, subscribes and reads until stopped or cut off."""

    def __init__(
        self,
        capp,
        on_chunk: Callable[[float, bytes], None],
        on_connected: Callable[[], None],
        should_stop: Callable[[], bool],
        backlog: Callable[[], int],
        room: threading.Event,
        max_backlog_bytes: int,
    ):
        self.capp = capp
        self.on_chunk = on_chunk
        self.on_connected = on_connected
        self.should_stop = should_stop
        self.backlog = backlog
        self.room = room  # set by the consumer while the backlog is below half the limit
        self.max_backlog_bytes = max_backlog_bytes
        self.bytes_received = 0
        self.paused_seconds = 0.0

    def _topics(self, channel) -> list[str]:
        """kombu's subscription topics for a queue bound to the event exchange on this channel."""
        conf = self.capp.conf
        exchange = get_exchange(channel.connection.client, name=conf.event_exchange)
        queue = Queue(
            f'{conf.event_queue_prefix}.{uuid()}',
            exchange=exchange,
            routing_key='#',
            auto_delete=True,
            durable=False,
            expires=conf.event_queue_expires,
            message_ttl=conf.event_queue_ttl,
        )
        queue(channel).declare()
        try:
            topics = list(channel._get_subscribe_topics(queue.name))
        except (AttributeError, KeyError):  # an older kombu: its documented topic layout
            routing = '/*' if getattr(channel, 'fanout_patterns', False) else ''
            topics = [f'{channel.keyprefix_fanout}{exchange.name}{routing}']
        prefix = getattr(channel, 'global_keyprefix', '') or ''
        return [prefix + topic for topic in topics]

    def run(self) -> None:
        with self.capp.connection_for_read() as conn:
            conn.ensure_connection(max_retries=0)  # fail fast: kombu would sleep 2 s before one retry
            channel = conn.default_channel
            topics = self._topics(channel)
            redis_conn = channel.pool.make_connection()
            try:
                redis_conn.connect()
                run_id = _server_run_id(redis_conn)  # before subscribing: nothing else is on the wire yet
                # Send PSUBSCRIBE without redis-py's reply parser: it would buffer bytes past the reply
                # (the first events) where the raw reads below could not see them.
                redis_conn.send_command('PSUBSCRIBE', *topics)
                sock = redis_conn._sock
                sock.settimeout(1.0)
                logger.debug('Subscribed to %s', ', '.join(topics))
                self.on_connected()
                try:
                    self._read(sock)
                except OSError as exc:  # the end of the stream, a reset, a broken pipe
                    if self.should_stop():
                        return
                    raise _why_lost(exc, run_id, channel.pool.make_connection) from exc
            finally:
                try:
                    redis_conn.disconnect()
                except Exception:  # already broken; nothing more to release
                    pass

    def _read(self, sock: socket.socket) -> None:
        buffer = bytearray(RECV_SIZE)
        view = memoryview(buffer)
        recv_into = sock.recv_into
        should_stop = self.should_stop
        while not should_stop():
            if self.backlog() > self.max_backlog_bytes:
                # Too much is waiting here already: stop reading and let Redis hold (and, at its limit, drop)
                # the rest rather than grow without bound.
                started = time.monotonic()
                self.room.clear()
                while self.backlog() > self.max_backlog_bytes // 2 and not should_stop():
                    self.room.wait(1.0)
                self.paused_seconds += time.monotonic() - started
                continue
            try:
                size = recv_into(buffer)
            except socket.timeout:
                continue
            if not size:
                raise _EndOfStream('Redis closed the connection')
            self.bytes_received += size
            self.on_chunk(time.time(), view[:size].tobytes())


def _server_run_id(redis_conn) -> str | None:
    """The ``run_id`` of the Redis server on this connection (new at every start of redis-server), or None
    where INFO is not allowed (a restricted ACL user, a proxy)."""
    try:
        redis_conn.send_command('INFO', 'server')
        reply = redis_conn.read_response()
    except Exception as exc:  # redis.ResponseError (NOPERM) and the like: we can still subscribe
        if isinstance(exc, OSError):
            raise
        return None
    text = reply.decode('utf-8', 'replace') if isinstance(reply, bytes) else str(reply)
    match = re.search(r'^run_id:(\w+)', text, re.MULTILINE)
    return match.group(1) if match else None


def _why_lost(exc: OSError, run_id: str | None, make_connection: Callable[[], Any]) -> StreamLost:
    """Ask Redis why our subscription ended (see the module docstring)."""
    how = 'reset' if isinstance(exc, ConnectionResetError) else 'closed'
    probe = make_connection()
    probe.socket_connect_timeout = probe.socket_timeout = PROBE_TIMEOUT
    try:
        probe.connect()
        now = _server_run_id(probe)
    except Exception as probe_exc:  # refused, timed out, reset: the server is not there
        reason = str(probe_exc) or type(probe_exc).__name__
        return BrokerGone(
            f'connection {how} by the broker, which does not answer any more (broker down or restarted): {reason}'
        )
    finally:
        try:
            probe.disconnect()
        except Exception:  # nothing to release
            pass
    if run_id is not None and now is not None and now != run_id:
        return BrokerGone(f'connection {how} by the broker: Redis restarted (broker down or restarted)')
    return StreamCutOff(
        f'Redis, still running, {how} the event subscription: most likely its pub/sub output '
        'buffer limit (client-output-buffer-limit pubsub) was reached because events arrived '
        'faster than they were read'
    )
