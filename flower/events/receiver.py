"""The events thread: receives Celery events from the broker and hands them to the IOLoop in batches.

Runtime rules owned here:

* The thread only receives. On Redis it reads the raw bytes of the event subscription off the socket
  (:mod:`flower.events.redis_stream`), so Redis never has to buffer (and, at its limit, drop) events for
  us; on other brokers it takes message bodies from kombu. Either way it appends what it got to a queue and
  makes sure one IOLoop callback is scheduled.
* On the IOLoop thread that callback parses, decodes and applies what has piled up to
  :class:`~flower.events.state.EventsState`, so the state has one writer, and 10,000 events cost a few
  callbacks, not 10,000. A callback works for at most ``slice_seconds`` before yielding, so HTTP requests
  are served between slices even while a burst is worked off.
* When the broker goes away (or is not there at start) the server keeps serving: the thread retries after
  ``min_backoff`` seconds, doubling up to ``max_backoff`` (half a second), and starts afresh after every
  successful connection, so events flow again within about a second of the broker coming back. What the log
  says, and the readiness answer of ``/healthcheck?ready=1``, come from
  :class:`~flower.events.stream_health.StreamHealth` (one line when the stream is lost, one a minute while
  it stays down, one when it is back), with the real cause (refused, reset or closed by a broker that went
  down, or Redis cutting a slow subscriber off; see :mod:`flower.events.redis_stream`). When a subscription
  that was working breaks (events may have been missed), it is counted in
  ``flower_events_stream_interruptions_total``, and after reconnecting every worker is asked for a heartbeat
  and the inspector refreshed, so worker state is re-synced. :meth:`Events.stop` ends the thread within
  about a second.

What else happens around the stream is wired by the composition root (:mod:`flower.runtime`) through named
subscriptions (:class:`~flower.utils.signals.Signal`), never built here:

* ``on_applied(count)``: IOLoop thread, after each batch of events was applied (the live hub);
* ``on_reconnect()``: IOLoop thread, after the re-sync that follows a reconnect (the inspector's refresh); an
  awaitable a subscriber returns is awaited;
* ``on_starting(io_loop)``: IOLoop thread, in :meth:`Events.start` before the thread starts (persistence starts
  tracking changes there, so no applied event is missed);
* ``on_stopped()``: in :meth:`Events.stop` once the thread has ended (persistence makes its last save there).

``--persistent`` and ``--max_task_age`` are :mod:`flower.persistence`'s: the root attaches it to this object
(:func:`flower.persistence.attach_persistence`), which then answers Flower's :meth:`Events.save_state` and
:meth:`Events.load_state`. The receiver's own counters go to the metrics registry it is given.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Protocol

from celery.events import EventReceiver
from kombu.serialization import prepare_accept_content

from flower.events.decode import UndecodableMessage, decode_envelope
from flower.events.redis_stream import RedisEventStream, is_redis_transport
from flower.events.resp import ProtocolError, PubSubFrames
from flower.events.sanitize import UNDECODABLE
from flower.events.state import EventsState
from flower.events.stream_health import Backoff, StreamHealth, classify_failure
from flower.metrics import EventMetrics
from flower.utils.memory import release_free_memory
from flower.utils.signals import Signal
from flower.utils.thread_guard import call_on_loop

if TYPE_CHECKING:
    from tornado.ioloop import PeriodicCallback

logger = logging.getLogger(__name__)


class SavedState(Protocol):
    """What :class:`Events` asks of the persistence attached to it (see :mod:`flower.persistence.attach`)."""

    def save_state(self) -> bool: ...

    def load_state(self) -> EventsState | None: ...


# kinds of items on the hand-over queue
_RAW, _BODY, _RESET = 0, 1, 2

# How long our event queue keeps messages when we lag behind, on brokers with real queues (RabbitMQ).
# Celery's default (event_queue_ttl = 5 s) drops events after a 5-second lag; a monitor working off a
# burst lags longer than that.
QUEUE_MESSAGE_TTL = 300.0


class _KombuReceiver(EventReceiver):
    """celery's receiver, minus its per-event processing: message bodies go straight to ``sink``."""

    connect_max_retries = 0  # fail fast (1 would sleep 2 s before its retry); Events.run owns the retry policy

    def __init__(self, channel, sink, should_stop: threading.Event, **kwargs):
        super().__init__(channel, handlers={}, **kwargs)
        self._sink = sink
        self._should_stop = should_stop

    @property
    def should_stop(self):  # ConsumerMixin polls this between drains
        return self._should_stop.is_set()

    @should_stop.setter
    def should_stop(self, value):
        if value:
            self._should_stop.set()

    def _receive(self, body, message, now=time.time):
        self._sink(now(), body)


class Events(threading.Thread):
    """Flower's ``flower.events.Events``: a daemon thread owning the event capture, plus the periodic
    ``enable_events`` broadcast. ``state`` is the :class:`EventsState` the events are applied to."""

    events_enable_interval = 5000  # ms, as Flower
    min_backoff = 0.1  # seconds before the first retry after a failure (see flower.events.stream_health)
    max_backoff = 0.5  # longest wait between attempts: events flow again within ~0.5 s of the broker's return
    memory_release_interval = 30.0  # seconds between checks for freed memory to give back
    burst_events = 10000  # events applied since the last release that count as a burst
    slice_seconds = 0.02  # longest stretch of event work before the IOLoop serves requests again
    group_size = 64  # broker messages decoded and applied together (a task-multi message has ~24 events)
    max_backlog_bytes = 512 * 1024 * 1024  # raw bytes held here before we stop reading the socket

    def __init__(
        self,
        capp,
        io_loop=None,
        db=None,
        persistent=False,
        enable_events=True,
        state_save_interval=0,
        *,
        max_tasks_in_memory=10000,
        max_workers_in_memory=5000,
        runner=None,
        state: EventsState | None = None,
        raw_redis: bool = True,
        max_task_age: float | None = None,
        metrics: EventMetrics | None = None,
        **state_kwargs,
    ):
        super().__init__(name='flower-events', daemon=True)
        self.capp = capp
        self.io_loop = io_loop
        self.db = db
        self.persistent = persistent
        self.enable_events = enable_events
        self.state_save_interval = state_save_interval
        self.runner = runner
        self.raw_redis = raw_redis
        self.max_task_age = max_task_age  # what flower.persistence.attach_persistence reads, with db and persistent
        self.state = (
            state
            if state is not None
            else EventsState(
                max_tasks_in_memory=max_tasks_in_memory,
                max_workers_in_memory=max_workers_in_memory,
                metrics=metrics,
                **state_kwargs,
            )
        )
        #: the registry the receiver's counters are exported in (the state's, unless another one is given)
        self.metrics: EventMetrics = metrics if metrics is not None else self.state.metrics
        self.on_applied: Signal[[int]] = Signal('Events.on_applied')
        self.on_reconnect: Signal[[]] = Signal('Events.on_reconnect')
        self.on_starting: Signal[[object]] = Signal('Events.on_starting')
        self.on_stopped: Signal[[]] = Signal('Events.on_stopped')
        #: what answers save_state/load_state: set by flower.persistence.attach_persistence, else None
        self.persistence: SavedState | None = None
        self.connected = False
        self.connect_count = 0
        self.failures = 0
        self.interruptions = 0
        self.undecodable = 0
        self.last_error: str | None = None
        self.health = StreamHealth()  # the stream's state for the log and /healthcheck?ready=1
        self._backoff = Backoff(self.min_backoff, self.max_backoff)
        self._broker_went_away = False  # since the last connection (events thread only)
        self._resyncing = False  # IOLoop thread only
        self._pending: deque = deque()
        self._scheduled = False
        self._stopping = threading.Event()
        self._resubscribe = threading.Event()
        self._room = threading.Event()  # the raw backlog is below half its limit (see RedisEventStream)
        self._room.set()
        self._timer: PeriodicCallback | None = None
        self._trim_timer: PeriodicCallback | None = None
        self._applied_since_trim = 0
        self._last_trim = 0.0
        self._frames = PubSubFrames()
        self._payloads: deque = deque()  # (received_at, message bytes) split off raw chunks, not yet decoded
        self._discard_raw = False
        self._bytes_in = 0  # written by the events thread only
        self._bytes_out = 0  # written by the IOLoop thread only
        self._was_connected = False
        # what celery's own receiver accepts: the configured event serializer and JSON, never more
        self._accept = prepare_accept_content({capp.conf.event_serializer or 'json', 'json'})
        self._register_metrics()

    # -- lifecycle (IOLoop thread) -------------------------------------------------------------------------
    def start(self):
        if self.io_loop is None:
            from tornado.ioloop import IOLoop

            self.io_loop = IOLoop.current()
        self.on_starting.emit(self.io_loop)  # before the thread: every applied event is tracked for saving
        super().start()
        from tornado.ioloop import PeriodicCallback

        if self.enable_events:
            self._timer = PeriodicCallback(self._enable_events, self.events_enable_interval)
            self._timer.start()  # and once as soon as the stream is connected (_on_connected)
        self._trim_timer = PeriodicCallback(self._release_memory, self.memory_release_interval * 1000)
        self._trim_timer.start()

    def stop(self, timeout: float = 5.0):
        """Stop receiving; returns once the thread has ended (or ``timeout`` passed)."""
        timers = [timer for timer in (self._timer, self._trim_timer) if timer is not None]
        self._timer = self._trim_timer = None
        for timer in timers:
            call_on_loop(self.io_loop, timer.stop)  # an IOLoop timer: stopped on the loop's thread
        self._stopping.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)
        self.on_stopped.emit()  # the last save, after the last event was received

    @property
    def backlog(self) -> int:
        """Items (raw chunks, messages) received but not yet applied."""
        return len(self._pending) + len(self._payloads)

    @property
    def backlog_bytes(self) -> int:
        """Raw bytes received from the Redis subscription but not yet parsed."""
        return self._bytes_in - self._bytes_out

    def _register_metrics(self) -> None:
        metrics = self.metrics
        metrics.extra_counter(
            'flower_events_stream_interruptions',
            'Times a working event subscription was cut off (events may have been missed)',
            lambda: self.interruptions,
        )
        metrics.extra_counter(
            'flower_events_undecodable',
            'Messages on the event channel that could not be decoded and were dropped',
            lambda: self.undecodable,
        )
        metrics.extra_gauge(
            'flower_events_backlog_bytes',
            'Bytes received from the broker and not yet processed',
            lambda: self.backlog_bytes,
        )

    async def _enable_events(self):
        """Ask every worker to send events (so workers started without ``-E`` show up). Not while the event
        stream is down: the broker is not there to carry the request, and the stream's own log lines already
        say so (a warning every 5 s would bury them)."""
        if not self.health.is_connected or self._resyncing:
            return  # while re-syncing, _resync asks itself, after replacing stale connections
        await self.on_enable_events()

    async def on_enable_events(self):
        """Flower's hook, called every ``events_enable_interval`` ms (a subclass may override it): ask every
        worker to send events, off the IOLoop; a failure is a warning ``Failed to enable events: ...``."""
        await self._broadcast('enable_events', lambda: self.capp.control.enable_events(), 'Failed to enable events: %s')

    async def _broadcast(self, name, call, failure_message):
        try:
            if self.runner is not None:
                await self.runner.run(name, 'all workers', call)
            else:
                await self.io_loop.run_in_executor(None, call)
        except Exception as exc:
            logger.warning(failure_message, exc)

    async def _resync(self, broker_went_away: bool = False):
        """After a reconnect: have every worker send a heartbeat now, and refresh what else listens. When the
        broker itself went away, first replace the pooled connections to it (the periodic enable_events waits
        for that and is sent from here; a request using a pooled connection at that moment fails once, as it
        would have on the stale connection)."""
        self._resyncing = True
        try:
            if broker_went_away:
                await self._broadcast(
                    'drop stale connections',
                    self._drop_stale_broker_connections,
                    'Failed to close the connections to the old broker: %s',
                )
        finally:
            self._resyncing = False
        if self.enable_events:
            await self._enable_events()
        await self._broadcast(
            'heartbeat', lambda: self.capp.control.broadcast('heartbeat'), 'Failed to ask workers for a heartbeat: %s'
        )
        for result in self.on_reconnect.emit():
            try:
                if hasattr(result, '__await__'):
                    await result
            except Exception as exc:
                logger.warning('Re-sync after reconnect failed: %s', exc)

    def _drop_stale_broker_connections(self):
        """After the broker went down or restarted, the connections pooled for control commands lead to the
        old server, and the first command on each would fail ('Connection closed by server'): close them
        all, so each is opened afresh (the pools stay usable). Runs on the runner (closing may block)."""
        for pool in (self.capp.amqp.producer_pool, self.capp.pool):
            pool.force_close_all(close_pool=False)
            # kombu's force_close_all takes every resource out of the pool and puts none back (it is meant for a
            # pool that a forked child throws away): refill it, or once the connections in use at this moment
            # are released, later acquire(block=True) calls (every inspect and control command) wait forever
            pool.setup()

    # -- the thread ------------------------------------------------------------------------------------------
    def run(self):
        self._backoff = Backoff(self.min_backoff, self.max_backoff)  # the class attributes may be patched
        while not self._stopping.is_set():
            try:
                self._capture()
            except Exception as exc:
                if self._stopping.is_set():
                    break
                went_away, self.last_error = classify_failure(exc)
                self._broker_went_away = self._broker_went_away or went_away
                if self._was_connected:
                    # a working subscription broke: events sent until we are back are missed
                    self.interruptions += 1
                else:
                    self.failures += 1
                self.connected = False
                self.health.lost(self.last_error, self._was_connected)
                self._was_connected = False
                logger.debug('Event stream failure', exc_info=True)
                self._stopping.wait(self._backoff.next())
            else:
                if self._was_connected and not self._stopping.is_set():
                    self.health.lost('the event stream ended', True)
                self._was_connected = False
                self.connected = False
        logger.debug('Events thread stopped')

    def _capture(self):
        self._resubscribe.clear()
        if self.raw_redis and is_redis_transport(self.capp):
            stream = RedisEventStream(
                self.capp,
                self._hand_over_raw,
                self._on_connected,
                lambda: self._stopping.is_set() or self._resubscribe.is_set(),
                lambda: self.backlog_bytes,
                self._room,
                self.max_backlog_bytes,
            )
            stream.run()
            if self._resubscribe.is_set() and not self._stopping.is_set():
                raise ProtocolError('the event stream was out of step and had to be reopened')
            return
        with self.capp.connection_for_read() as conn:
            conn.ensure_connection(max_retries=0)  # fail fast: kombu would sleep 2 s before one retry
            receiver = _KombuReceiver(
                conn,
                self._hand_over_body,
                self._stopping,
                app=self.capp,
                queue_ttl=max(QUEUE_MESSAGE_TTL, self.capp.conf.event_queue_ttl or 0),
            )
            self._on_connected()
            for _ in receiver.consume(limit=None, timeout=None, wakeup=True):
                pass

    def _on_connected(self):
        """Events thread, once subscribed: log, start the parser afresh, and re-sync after a reconnect."""
        self.connected = True
        self._was_connected = True
        self.connect_count += 1
        self._backoff.reset()
        self._push((_RESET, 0.0, None))
        self.health.connected()  # logs, saying how long the stream was down
        if self.connect_count > 1:
            self.io_loop.add_callback(self._resync, self._broker_went_away)
        elif self.enable_events:
            self.io_loop.add_callback(self._enable_events)
        self._broker_went_away = False

    # -- hand-over (events thread) ---------------------------------------------------------------------------
    def _hand_over_raw(self, received_at: float, chunk: bytes):
        self._bytes_in += len(chunk)
        self._push((_RAW, received_at, chunk))

    def _hand_over_body(self, received_at: float, body):
        self._push((_BODY, received_at, body))

    def _push(self, item):
        self._pending.append(item)
        if not self._scheduled:
            self._scheduled = True
            self.io_loop.add_callback(self._drain)

    # -- applying (IOLoop thread) -----------------------------------------------------------------------------
    def _drain(self):
        """Work off what the events thread queued for at most ``slice_seconds``, then yield to the IOLoop
        (rescheduling itself) so HTTP requests are served between slices even during a burst.

        Raw chunks are only split into messages here (cheap); messages are decoded and applied a group at a
        time, so a 4 MB chunk of ``task-multi`` messages (100,000 events) never turns into one long stall or
        one big heap of decoded events.
        """
        self._scheduled = False
        try:
            self._work_off(time.perf_counter() + self.slice_seconds)
        finally:
            # whatever happened above, what is still queued gets its turn (a drain that died unscheduled
            # would stall every later event until the next network chunk)
            if (self._payloads or self._pending) and not self._scheduled:
                self._scheduled = True
                self.io_loop.add_callback(self._drain)

    def _work_off(self, deadline: float) -> None:
        payloads = self._payloads
        pending = self._pending
        while True:
            if payloads:
                group = [payloads.popleft() for _ in range(min(len(payloads), self.group_size))]
                self._apply(self._decode(group))
            elif pending:
                kind, received_at, data = pending.popleft()
                if kind == _BODY:
                    self._apply([(received_at, data)])
                elif kind == _RAW:
                    self._bytes_out += len(data)
                    if not self._room.is_set() and self.backlog_bytes < self.max_backlog_bytes // 2:
                        self._room.set()
                    if not self._discard_raw:
                        self._split_chunk(received_at, data)
                else:  # _RESET: a new connection starts here
                    self._frames.reset()
                    self._discard_raw = False
            else:
                if self._applied_since_trim >= self.burst_events:
                    self._release_memory()  # a burst was just worked off
                return
            if time.perf_counter() >= deadline:
                return

    def _release_memory(self):
        """After events came in and the backlog is worked off, hand the freed heap back to the OS (see
        :mod:`flower.utils.memory`); the resident size then follows what is kept, not the last burst. Right
        after a burst, and otherwise every ``memory_release_interval`` seconds, at most once a second."""
        now = time.monotonic()
        if self._applied_since_trim and not self._pending and not self._payloads and now - self._last_trim >= 1.0:
            self._applied_since_trim = 0
            self._last_trim = now
            release_free_memory()

    def _apply(self, messages: list) -> None:
        if messages:
            applied = self.state.apply_messages(messages)
            self._applied_since_trim += applied
            if self.on_applied:
                self.on_applied.emit(applied)  # a subscriber's failure is logged there and stops nothing

    def _split_chunk(self, received_at: float, chunk: bytes) -> None:
        try:
            frames = self._frames.feed(chunk)
        except (ProtocolError, ValueError) as exc:
            logger.error('Event stream out of step (%s); reopening the subscription', exc)
            self._discard_raw = True
            self._frames.reset()
            self._resubscribe.set()
            return
        self._payloads.extend((received_at, frame) for frame in frames)

    def _decode(self, group: list) -> list:
        accept = self._accept
        messages = []
        for received_at, payload in group:
            try:
                messages.append((received_at, decode_envelope(payload, accept)))
            except UndecodableMessage as exc:
                self.undecodable += 1
                self.state.quality.reject(UNDECODABLE, None, detail=str(exc)[:200])
        return messages

    def on_event(self, event):
        """Apply one event dict now (Flower's method; used by tests and tools that feed events directly)."""
        self.state.event(event)

    def load_state(self):
        """Flower's name: the state saved in ``--db``, read into a new :class:`EventsState` (same limits as
        this one), or ``None`` without ``--persistent`` or when nothing was saved (see
        :meth:`flower.persistence.Persistence.load_state`)."""
        return self.persistence.load_state() if self.persistence is not None else None

    def save_state(self) -> bool:
        """Flower's name: save now and wait for the write (IOLoop thread, or after the loop stopped).
        False without --persistent or when the write failed."""
        return self.persistence.save_state() if self.persistence is not None else False
