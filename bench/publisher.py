"""Publish a synthetic but real Celery event stream to a Redis broker, from its own process.

The events are made by celery's own ``EventDispatcher`` (one per simulated worker, hostnames
``worker<i>@bench``) and serialized by kombu, so the bytes on the wire are what a real worker sends:

* ``--format single``: one event per broker message, as a solo/threads worker sends them;
* ``--format multi``: prefork's batched format: the dispatchers buffer the ``task`` group
  (``buffer_group=['task']``, celery's default ``buffer_limit`` of 24) and flush it as one ``task-multi``
  message whose body is the list of events. Worker events (online, heartbeat) are never buffered.

Each task goes through a lifecycle on one worker: ``task-received``, ``task-started``, then
``task-succeeded`` (90%), ``task-failed`` with an exception and a traceback (5%), or ``task-retried``
followed by ``task-started`` and ``task-succeeded`` (5%). The lifecycles of ``--inflight`` tasks are
interleaved. args, kwargs and results are small reprs (20-60 characters). Each worker sends
``worker-online`` first and a ``worker-heartbeat`` every ``--heartbeat-interval`` seconds.

The stream stops after ``--tasks`` complete lifecycles or ``--events`` task events, whichever comes first
(``--duration`` also stops a send early). Task ids are deterministic from ``--seed`` and the task index;
``--first-task`` lets consecutive streams create new tasks instead of updating old ones. ``--label-grid``
assigns task ``i`` to worker ``i % workers`` and name ``(i // workers) % names``, so ``workers x names``
tasks cover every (worker, task name) label pair.

Two ways to send:

* ``--mode live`` (default): dispatch and send as it goes, through kombu's ``Producer.batch`` (a Redis
  pipeline of up to ``--batch`` messages; ``--batch 0`` sends each message on its own, like a worker).
  kombu spends ~60 us of Python per message here (~16,000 single events/s on this machine, more than
  one core), so a live publisher competes with the server for the CPU.
* ``--mode replay``: first render the whole task stream with the same dispatchers (kombu's Redis transport
  is handed a recorder instead of a Redis client, so the recorded ``PUBLISH`` commands are byte for byte
  what it would have sent; ``--cache FILE`` keeps them for the next run), then, with the clock running,
  write them to Redis over a plain socket: ~1 us per message, so the publisher needs almost no CPU.
  Worker events are still made live during the send, so heartbeats carry current timestamps; task events
  carry the timestamps of the render (seconds to a minute old, which no server treats differently).

Pacing: ``--rate`` (task events/s, or ``max``). Flow control: with ``--window W`` the publisher reads lines
``applied <n>`` from stdin (the task events the server has applied since this stream started, as the
caller measured them) and never lets ``sent - applied`` exceed ``W``: the server is kept busy with a
bounded backlog, which is how ``run.py`` measures a sustained rate without tripping Redis's pubsub
output-buffer limit.

Output (stdout): with ``--progress S``, a line ``progress <time.monotonic()> <task events sent>`` every S
seconds; at the end one line ``result {json}``. A send ends when Redis has answered every ``PUBLISH``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import random
import socket
import sys
import threading
import time
from array import array
from urllib.parse import urlparse

from celery import Celery

SUCCEED, FAIL = 0.90, 0.05  # the rest retries once, then succeeds

WORDS = ("order", "invoice", "user", "report", "image", "email", "payment", "sync", "export", "cache")
EXCEPTIONS = (
    "ValueError(\"invalid literal for int() with base 10: 'abc'\")",
    "KeyError('customer_id')",
    "TimeoutError('upstream did not answer in 30s')",
    "ConnectionError('Connection refused')",
)
STREAM_KEYS = ("format", "tasks", "events", "workers", "names", "first_task", "seed", "inflight", "label_grid")


def task_uuid(seed: int, index: int) -> str:
    """A valid-looking, deterministic version-4 UUID for task ``index`` of run ``seed``."""
    return "%08x-%04x-4%03x-a%03x-%012x" % (
        seed & 0xFFFFFFFF,
        (index >> 48) & 0xFFFF,
        (index >> 36) & 0xFFF,
        (index >> 24) & 0xFFF,
        index & 0xFFFFFFFFFFFF,
    )


class Lifecycles:
    """Yields ``(worker index, event type, fields)`` for interleaved task lifecycles."""

    def __init__(self, a, rng: random.Random):
        self.a = a
        self.rng = rng
        self.names = [f"bench.tasks.{WORDS[j % len(WORDS)]}_{j}" for j in range(a.names)]
        self.next_index = a.first_task
        self.end_index = a.first_task + a.tasks if a.tasks else None
        self.completed = 0

    def _lifecycle(self, index: int):
        r, a = self.rng, self.a
        if a.label_grid:
            worker, name = index % a.workers, self.names[(index // a.workers) % a.names]
        else:
            worker, name = r.randrange(a.workers), self.names[r.randrange(a.names)]
        uuid = task_uuid(a.seed, index)
        word = r.choice(WORDS)
        args = "(%d, '%s-%06d', %s)" % (
            r.randrange(10**6),
            word,
            r.randrange(10**6),
            r.choice(("True", "False", "None")),
        )
        kwargs = "{'priority': %d, 'source': '%s'}" % (r.randrange(10), r.choice(WORDS))
        events = [
            (
                "task-received",
                dict(
                    uuid=uuid,
                    name=name,
                    args=args,
                    kwargs=kwargs,
                    root_id=uuid,
                    parent_id=None,
                    retries=0,
                    eta=None,
                    expires=None,
                ),
            ),
            ("task-started", dict(uuid=uuid)),
        ]
        x = r.random()
        if x < SUCCEED:
            events.append(self._succeeded(uuid))
        elif x < SUCCEED + FAIL:
            events.append(("task-failed", self._failure(uuid)))
        else:
            events.append(("task-retried", self._failure(uuid)))
            events.append(("task-started", dict(uuid=uuid)))
            events.append(self._succeeded(uuid))
        events.reverse()  # consumed with pop()
        return [worker, events]

    def _succeeded(self, uuid):
        r = self.rng
        result = "{'id': %d, 'status': '%s', 'rows': %d}" % (
            r.randrange(10**6),
            r.choice(("ok", "done", "skipped")),
            r.randrange(10**4),
        )
        return ("task-succeeded", dict(uuid=uuid, result=result, runtime=round(r.uniform(0.005, 2.5), 6)))

    def _failure(self, uuid):
        exc = self.rng.choice(EXCEPTIONS)
        tb = (
            'Traceback (most recent call last):\n  File "/app/tasks.py", line %d, in run\n'
            '    return handler(payload)\n%s\n' % (self.rng.randrange(20, 400), exc)
        )
        return dict(uuid=uuid, exception=exc, traceback=tb)

    def __iter__(self):
        r, inflight, sent, max_events = self.rng, [], 0, self.a.events
        while not max_events or sent < max_events:
            if (self.end_index is None or self.next_index < self.end_index) and len(inflight) < self.a.inflight:
                inflight.append(self._lifecycle(self.next_index))
                self.next_index += 1
            if not inflight:
                return
            # Mostly advance the oldest task, so lifecycles overlap like a busy worker pool's do.
            i = r.randrange(len(inflight)) if r.random() < 0.5 else 0
            worker, events = inflight[i]
            etype, fields = events.pop()
            if not events:
                inflight.pop(i)
                self.completed += 1
            sent += 1
            yield worker, etype, fields


def heartbeat_fields(rng: random.Random, processed: int) -> dict:
    return dict(
        freq=2.0,
        sw_ident="py-celery",
        sw_ver="5.7.0",
        sw_sys="Linux",
        active=rng.randrange(8),
        processed=processed,
        loadavg=[round(rng.uniform(0, 2), 2) for _ in range(3)],
    )


class Recorder:
    """Stands in for the Redis client of kombu's Redis transport and keeps each PUBLISH as RESP bytes."""

    def __init__(self):
        self.out: list[bytes] = []

    def publish(self, topic, payload):
        t = topic.encode() if isinstance(topic, str) else topic
        p = payload.encode() if isinstance(payload, str) else payload
        self.out.append(b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(t), t, len(p), p))

    def take(self) -> list[bytes]:
        out, self.out = self.out, []
        return out


class Workers:
    """One celery EventDispatcher per simulated worker, all publishing through one producer."""

    def __init__(self, app, conn, a, rng, recorder: Recorder | None):
        buffer_group = ["task"] if a.format == "multi" else None
        self.rng = rng
        self.dispatchers = [
            app.events.Dispatcher(conn, hostname=f"worker{i}@bench", buffer_group=buffer_group)
            for i in range(a.workers)
        ]
        self.producer = self.dispatchers[0].producer
        for d in self.dispatchers[1:]:
            d.producer = self.producer
        self.limit = self.dispatchers[0].buffer_limit
        self.multi = a.format == "multi"
        self.buffered = [0] * a.workers
        self.processed = [0] * a.workers
        self.recorder = recorder
        if recorder is not None:
            # kombu's Redis channel publishes fanout messages with ``conn_or_acquire().publish(topic, body)``.
            self.producer.channel.conn_or_acquire = lambda client=None: contextlib.nullcontext(recorder)

    def send_task_event(self, worker: int, etype: str, fields: dict) -> int:
        """Dispatch one task event; return how many events the message(s) it caused carried (0 if buffered)."""
        self.dispatchers[worker].send(etype, **fields)
        if etype in ("task-succeeded", "task-failed"):
            self.processed[worker] += 1
        if not self.multi:
            return 1
        self.buffered[worker] += 1
        if self.buffered[worker] >= self.limit:  # the dispatcher flushed its buffer as one task-multi message
            n, self.buffered[worker] = self.buffered[worker], 0
            return n
        return 0

    def flush(self) -> list[int]:
        """Flush the task buffers; return the event count of each message sent."""
        counts = []
        for i, d in enumerate(self.dispatchers):
            if self.buffered[i]:
                d.flush()
                counts.append(self.buffered[i])
                self.buffered[i] = 0
        return counts

    def send_worker_events(self, etype: str) -> int:
        for i, d in enumerate(self.dispatchers):
            d.send(etype, **heartbeat_fields(self.rng, self.processed[i]))
        return len(self.dispatchers)

    def close(self):
        for d in self.dispatchers:
            d.close()


class Credit:
    """The task events the server has applied, as reported on stdin by the caller (``applied <n>``)."""

    def __init__(self):
        self.applied = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in sys.stdin:
            parts = line.split()
            if len(parts) == 2 and parts[0] == "applied":
                self.applied = int(parts[1])


def stream_params(a) -> dict:
    return {k: getattr(a, k) for k in STREAM_KEYS}


def render(a, app, conn) -> dict:
    """Make the task stream with real dispatchers into memory: RESP commands and events per message."""
    recorder = Recorder()
    rng = random.Random(a.seed * 1_000_003 + a.first_task)
    workers = Workers(app, conn, a, rng, recorder)
    lifecycles = Lifecycles(a, rng)
    messages: list[bytes] = []
    counts = array("H")
    for worker, etype, fields in lifecycles:
        n = workers.send_task_event(worker, etype, fields)
        if n:
            got = recorder.take()
            if len(got) != 1:
                raise SystemExit(
                    "publisher: kombu's Redis transport did not publish through the recorder; "
                    "use --mode live with this kombu version"
                )
            messages += got
            counts.append(n)
    for n in workers.flush():
        counts.append(n)
    messages += recorder.take()
    workers.close()
    assert len(messages) == len(counts)
    return dict(
        params=stream_params(a),
        messages=messages,
        counts=counts,
        tasks_started=lifecycles.next_index - a.first_task,
        tasks_completed=lifecycles.completed,
        next_task=lifecycles.next_index,
    )


def load_or_render(a, app, conn) -> dict:
    if a.cache and os.path.exists(a.cache):
        with open(a.cache, "rb") as f:
            stream = pickle.load(f)
        if stream.get("params") == stream_params(a):
            if not os.path.exists(a.cache + ".json"):
                with open(a.cache + ".json", "w") as f:
                    json.dump(stream["params"], f, sort_keys=True)
            return stream
    t = time.monotonic()
    stream = render(a, app, conn)
    nbytes = sum(map(len, stream["messages"]))
    print(
        "rendered %d task events in %d messages (%.1f MB) in %.1f s"
        % (sum(stream["counts"]), len(stream["messages"]), nbytes / 1e6, time.monotonic() - t),
        file=sys.stderr,
    )
    if a.cache:
        os.makedirs(os.path.dirname(os.path.abspath(a.cache)), exist_ok=True)
        tmp = a.cache + ".tmp"
        with open(tmp, "wb") as f:
            pickle.dump(stream, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, a.cache)
        with open(a.cache + ".json", "w") as f:  # lets callers check the cache without loading it
            json.dump(stream["params"], f, sort_keys=True)
    return stream


class ReplySink:
    """Reads Redis's replies to our PUBLISH commands (one line each) so we know when it has taken them all."""

    def __init__(self, sock):
        self.sock = sock
        self.replies = 0
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            data = self.sock.recv(1 << 20)
            if not data:
                break
            if b"-" in data[:1] or b"\r\n-" in data:
                print("publisher: Redis error: %r" % data[:200], file=sys.stderr)
            with self.cond:
                self.replies += data.count(b"\n")
                self.cond.notify_all()

    def wait_for(self, n: int, timeout: float = 120):
        with self.cond:
            self.cond.wait_for(lambda: self.replies >= n, timeout)


def replay(a, app, conn, stream: dict, rate, credit) -> dict:
    url = urlparse(a.broker)
    sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sink = ReplySink(sock)
    recorder = Recorder()
    rng = random.Random(a.seed)
    workers = Workers(app, conn, a, rng, recorder)  # worker events only, made live
    messages, counts = stream["messages"], stream["counts"]
    total_msgs = len(messages)
    out = sys.stdout
    written = worker_events = sent = i = 0

    def send_worker_events(etype):
        nonlocal written, worker_events
        worker_events += workers.send_worker_events(etype)
        batch = recorder.take()
        sock.sendall(b"".join(batch))
        written += len(batch)

    if not a.no_online:
        send_worker_events("worker-online")
    t0 = time.monotonic()
    deadline = t0 + a.duration if a.duration else None
    next_hb = t0 + a.heartbeat_interval if a.heartbeat_interval else None
    next_progress = t0 + a.progress if a.progress else None
    chunk = max(1, a.batch)
    while i < total_msgs:
        now = time.monotonic()
        if deadline and now >= deadline:
            break
        if next_hb and now >= next_hb:
            next_hb += a.heartbeat_interval
            send_worker_events("worker-heartbeat")
        if next_progress and now >= next_progress:
            next_progress += a.progress
            out.write("progress %.4f %d\n" % (now, sent))
            out.flush()
        allowed = total = None
        if rate:
            allowed = rate * (now - t0) + chunk - sent
        if credit is not None:
            room = a.window - (sent - credit.applied)
            allowed = room if allowed is None else min(allowed, room)
        j, total = i, 0
        limit = chunk if allowed is None else min(chunk, int(allowed))
        while j < total_msgs and j - i < limit:
            total += counts[j]
            j += 1
            if allowed is not None and total >= allowed:
                break
        if j == i:
            time.sleep(0.001)
            continue
        sock.sendall(b"".join(messages[i:j]))
        written += j - i
        sent += total
        i = j
    sink.wait_for(written)
    elapsed = time.monotonic() - t0
    if next_progress:
        out.write("progress %.4f %d\n" % (time.monotonic(), sent))
    workers.close()
    sock.close()
    return dict(
        task_events=sent,
        worker_events=worker_events,
        messages=written,
        seconds=round(elapsed, 4),
        events_per_s=round(sent / elapsed, 1) if elapsed else None,
        tasks_started=stream["tasks_started"],
        next_task=stream["next_task"],
        complete=i == total_msgs,
    )


def live(a, app, conn, rate, credit) -> dict:
    rng = random.Random(a.seed * 1_000_003 + a.first_task)
    workers = Workers(app, conn, a, rng, None)
    batch_ctx = workers.producer.batch(max_size=a.batch) if a.batch > 1 else None
    batch = batch_ctx.__enter__() if batch_ctx else None
    lifecycles = Lifecycles(a, rng)
    out = sys.stdout
    messages = worker_events = sent = 0
    if not a.no_online:
        worker_events += workers.send_worker_events("worker-online")
        messages += worker_events
    t0 = time.monotonic()
    deadline = t0 + a.duration if a.duration else None
    next_hb = t0 + a.heartbeat_interval if a.heartbeat_interval else None
    next_progress = t0 + a.progress if a.progress else None
    flushed = 0  # task events that left in a message
    stopped_early = False
    for worker, etype, fields in lifecycles:
        n = workers.send_task_event(worker, etype, fields)
        sent += 1
        if n:
            messages += 1
            flushed += n
        if sent & 63:
            continue
        if batch is not None:
            batch.flush()
        now = time.monotonic()
        if deadline and now >= deadline:
            stopped_early = True
            break
        while rate and flushed / rate > now - t0:
            time.sleep(min(0.002, flushed / rate - (now - t0)))
            now = time.monotonic()
        while credit is not None and flushed - credit.applied > a.window:
            time.sleep(0.002)
            now = time.monotonic()
        if next_hb and now >= next_hb:
            next_hb += a.heartbeat_interval
            n = workers.send_worker_events("worker-heartbeat")
            worker_events += n
            messages += n
        if next_progress and now >= next_progress:
            next_progress += a.progress
            out.write("progress %.4f %d\n" % (now, flushed))
            out.flush()
    for n in workers.flush():
        messages += 1
        flushed += n
    if batch_ctx is not None:
        batch_ctx.__exit__(None, None, None)
    elapsed = time.monotonic() - t0
    if next_progress:
        out.write("progress %.4f %d\n" % (time.monotonic(), flushed))
    workers.close()
    return dict(
        task_events=flushed,
        worker_events=worker_events,
        messages=messages,
        seconds=round(elapsed, 4),
        events_per_s=round(flushed / elapsed, 1) if elapsed else None,
        tasks_started=lifecycles.next_index - a.first_task,
        next_task=lifecycles.next_index,
        complete=not stopped_early,
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--broker", required=True, help="e.g. redis://127.0.0.1:6390/0")
    p.add_argument("--format", choices=("single", "multi"), default="single")
    p.add_argument("--tasks", type=int, default=0, help="stop after this many complete task lifecycles")
    p.add_argument("--events", type=int, default=0, help="stop after this many task events")
    p.add_argument("--duration", type=float, default=0, help="stop sending after this many seconds")
    p.add_argument("--rate", default="max", help="target task events/s, or 'max' (default)")
    p.add_argument("--workers", type=int, default=10, help="number of simulated workers (default 10)")
    p.add_argument("--names", type=int, default=10, help="number of distinct task names (default 10)")
    p.add_argument("--first-task", type=int, default=0, help="index of the first task (ids continue from it)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--inflight", type=int, default=32, help="task lifecycles interleaved at a time")
    p.add_argument("--label-grid", action="store_true", help="cover every (worker, name) pair in order")
    p.add_argument("--heartbeat-interval", type=float, default=2.0, help="seconds; 0 = no heartbeats")
    p.add_argument("--no-online", action="store_true", help="do not send worker-online first")
    p.add_argument("--mode", choices=("live", "replay"), default="live")
    p.add_argument("--cache", help="replay mode: file to load the rendered stream from / save it to")
    p.add_argument("--render-only", action="store_true", help="replay mode: render (and cache) and exit")
    p.add_argument(
        "--batch",
        type=int,
        default=64,
        help="messages per Redis write (live: kombu Producer.batch; 0/1 = one round trip per "
        "message, as a worker does)",
    )
    p.add_argument(
        "--window",
        type=int,
        default=0,
        help="flow control: keep sent - applied <= WINDOW, reading 'applied <n>' lines on stdin",
    )
    p.add_argument("--progress", type=float, default=0, help="print progress every this many seconds")
    a = p.parse_args(argv)
    if not (a.tasks or a.events):
        p.error("give --tasks and/or --events")
    rate = None if a.rate == "max" else float(a.rate)

    app = Celery("bench_publisher", broker=a.broker)
    conn = app.connection_for_write()
    conn.ensure_connection(max_retries=3)
    if a.mode == "replay":
        stream = load_or_render(a, app, conn)
        if a.render_only:
            print(
                "result "
                + json.dumps(
                    dict(
                        rendered=len(stream["messages"]),
                        task_events=sum(stream["counts"]),
                        next_task=stream["next_task"],
                    )
                ),
                flush=True,
            )
            return 0
        credit = Credit() if a.window else None
        result = replay(a, app, conn, stream, rate, credit)
    else:
        credit = Credit() if a.window else None
        result = live(a, app, conn, rate, credit)
    conn.release()
    result.update(format=a.format, mode=a.mode)
    print("result " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
