#!/usr/bin/env python3
"""Benchmark this server against Flower 2.2.0, side by side, in one run on this machine.

For each server (``ours``: ``python -m flower`` from this repository; ``flower22``: Flower 2.2.0 from PyPI in
``bench/.venv-flower22``) it starts a private Redis on a free port, starts the server on a free port pointed
at it, feeds it the same pre-rendered Celery event streams (``bench/publisher.py``, a separate process) and
measures start-up, sustained ingestion, loss, memory per retained task and query latency. It prints a
table per server and the ratios ours/flower, and writes ``bench/results/latest.json`` (then, when
matplotlib is there, ``bench/results/benchmarks.png``). See ``bench/README.md`` for what each number means.

Usage (after ``bash bench/setup_flower22.sh``)::

    python3 bench/run.py --quick          # a few minutes
    python3 bench/run.py                  # full: 10k / 50k / 100k tasks in state
    python3 bench/run.py --servers flower22 --quick

Only the standard library is used here, so the harness itself stays light; run it with the Python that has
this project's dependencies (it is also the one that runs ``ours`` unless ``--ours-python`` says otherwise).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import http.client
import json
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
STREAMS = RESULTS / "streams"
LOGS = RESULTS / "logs"
TOOLS_PY = BENCH / ".venv-tools" / "bin" / "python"
FLOWER22_CELERY = BENCH / ".venv-flower22" / "bin" / "celery"
PUBLISHER = BENCH / "publisher.py"

PROFILES = {
    "quick": dict(sizes=[10_000, 25_000], sustained_seconds=5, query_reps=15, metrics_reps=5, paced_seconds=8),
    "full": dict(
        sizes=[10_000, 50_000, 100_000], sustained_seconds=10, query_reps=40, metrics_reps=10, paced_seconds=15
    ),
}
# Flow-control backlog bound, in task events: ~23 MB of Redis messages in either format (single events are
# ~775 bytes on the wire, task-multi ~410 bytes per event), under the 32 MB pubsub limit.
WINDOW = {"single": 30_000, "multi": 60_000}
MAX_RATE = {"single": 50_000, "multi": 100_000}  # events/s the sustained streams have room for
POLL = 0.2  # seconds between reads of the applied-event counter
COLUMNS = ["name", "uuid", "state", "received", "runtime", "worker"]  # Flower's default tasks_columns


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen | None, timeout: float = 10) -> None:
    """Stop one process we started: SIGTERM, then SIGKILL; by its own pid only."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def proc_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    hz = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = v
    # irq/softirq left out: loopback networking of our own processes lands there, attributed to no process.
    return (user + nice + system) / hz, steal / hz


class CpuAccount:
    """CPU used during a phase by the server, its Redis, our children (the publisher), this harness, and
    everything else on the machine (other users' work: it slows the server down, so we report it)."""

    def __init__(self, server: "Server", redis: "PrivateRedis"):
        self.server, self.redis = server, redis
        self.t0 = time.monotonic()
        self.machine0, self.steal0 = machine_cpu()
        self.server0, self.redis0 = server.cpu_s(), proc_cpu_s(redis.proc.pid)
        self.children0 = self._children()
        self.self0 = self._self()

    @staticmethod
    def _children() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    @staticmethod
    def _self() -> float:
        t = os.times()
        return t.user + t.system

    def result(self) -> dict:
        wall = time.monotonic() - self.t0
        machine, steal = machine_cpu()
        server = self.server.cpu_s() - self.server0
        redis = proc_cpu_s(self.redis.proc.pid) - self.redis0
        publisher = self._children() - self.children0
        harness = self._self() - self.self0
        other = max(0.0, (machine - self.machine0) - server - redis - publisher - harness)
        return dict(
            wall_s=round(wall, 2),
            server_cpu_s=round(server, 2),
            redis_cpu_s=round(redis, 2),
            publisher_cpu_s=round(publisher, 2),
            harness_cpu_s=round(harness, 2),
            other_cpu_cores=round(other / wall, 2) if wall else None,
            steal_cores=round((steal - self.steal0) / wall, 2) if wall else None,
        )


def wait_quiet(server: "Server", redis: "PrivateRedis", max_wait: float, threshold: float = 0.3) -> float:
    """Wait (up to max_wait s) until other work on the machine uses less than `threshold` cores; return it."""
    deadline = time.monotonic() + max_wait
    while True:
        acct = CpuAccount(server, redis)
        time.sleep(0.5)
        other = acct.result()["other_cpu_cores"] or 0.0
        if other < threshold or time.monotonic() >= deadline:
            return other
        log(f"  machine busy with other work ({other:.2f} cores); waiting for it to calm down")
        time.sleep(2)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class LogWatch:
    """Counts lines matching a pattern appended to a log file since the last mark."""

    def __init__(self, path: Path, pattern: str):
        self.path, self.re, self.offset = path, re.compile(pattern, re.I), 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def new_matches(self) -> list[str]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            text = f.read().decode(errors="replace")
        return [line for line in text.splitlines() if self.re.search(line)]


# --------------------------------------------------------------------------------------------- processes


class PrivateRedis:
    """A throw-away redis-server on a free port with default client-output-buffer limits (pubsub 32mb hard)."""

    def __init__(self, tag: str):
        self.port = free_port()
        self.logfile = LOGS / f"redis-{tag}.log"
        self.workdir = RESULTS / "redis-tmp"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(self.logfile),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {tail(self.logfile)}")
            time.sleep(0.05)
        # Redis logs each subscriber it cuts off at the pubsub output-buffer limit.
        self.cutoffs = LogWatch(self.logfile, r"output buffer limits|closed ASAP")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        stop_process(self.proc)


class StartError(RuntimeError):
    pass


class Server:
    """One server process under test, started by us, with its log in bench/results/logs/."""

    # Lines in a server's log that say it lost its broker connection or noticed missed events.
    ALERT = r"disconnect|reconnect|connection (was )?(lost|closed|reset)|Failed to capture|missed|dropped|lost \d"

    def __init__(self, kind: str, args):
        self.kind, self.args = kind, args
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.logfile: Path | None = None
        self.alerts: LogWatch | None = None

    def command(self, broker: str, max_tasks: int) -> tuple[list[str], Path]:
        common = [f"--port={self.port}", "--address=127.0.0.1", f"--max_tasks={max_tasks}"]
        if self.kind == "flower22":
            # Flower 2.2 has no console script of its own; it runs as a celery sub-command. Its working
            # directory must not be the repository, or `import flower` would find our package.
            return [str(FLOWER22_CELERY), f"--broker={broker}", "flower", *common], RESULTS
        return [self.args.ours_python, "-m", "flower", f"--broker={broker}", *common], REPO

    def start(self, broker: str, max_tasks: int, tag: str) -> float:
        """Start the server; return seconds from process start to the first 200 from /healthcheck."""
        self.port = free_port()
        self.logfile = LOGS / f"{self.kind}-{tag}.log"
        cmd, cwd = self.command(broker, max_tasks)
        env = dict(os.environ, FLOWER_UNAUTHENTICATED_API="true", PYTHONUNBUFFERED="1")
        with open(self.logfile, "wb") as logf:
            logf.write(("$ " + " ".join(cmd) + "\n").encode())
            logf.flush()
            t0 = time.monotonic()
            self.proc = subprocess.Popen(
                cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT
            )
        self.alerts = LogWatch(self.logfile, self.ALERT)
        deadline = t0 + self.args.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise StartError(
                    f"{self.kind} exited with code {self.proc.returncode} before answering "
                    f"/healthcheck; log {self.logfile}:\n{tail(self.logfile)}"
                )
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthcheck")
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return time.monotonic() - t0
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise StartError(
                    f"{self.kind} did not answer /healthcheck with 200 within "
                    f"{self.args.start_timeout:.0f}s; log {self.logfile}:\n{tail(self.logfile)}"
                )
            time.sleep(0.01)

    def client(self, timeout: float = 300) -> "Http":
        return Http(self.port, timeout)

    def rss_kib(self) -> int:
        return proc_rss_kib(self.proc.pid)

    def cpu_s(self) -> float:
        return proc_cpu_s(self.proc.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        stop_process(self.proc)


class Http:
    """A keep-alive HTTP/1.1 client for one thread."""

    def __init__(self, port: int, timeout: float):
        self.port, self.timeout, self.conn = port, timeout, None

    def get(self, path: str) -> tuple[int, bytes, float]:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            t0 = time.perf_counter()
            try:
                self.conn.request("GET", path)
                resp = self.conn.getresponse()
                body = resp.read()
                return resp.status, body, time.perf_counter() - t0
            except (http.client.HTTPException, ConnectionError) as exc:
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise RuntimeError(f"GET {path}: {exc!r}") from exc


def applied_task_events(client: Http) -> int:
    """Task events the server has applied: the sum of the ``flower_events_total`` samples in /metrics."""
    status, body, _ = client.get("/metrics")
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    total = 0.0
    for line in body.split(b"\n"):
        if line.startswith(b"flower_events_total{"):
            total += float(line.rsplit(b" ", 1)[1])
    return int(total)


# --------------------------------------------------------------------------------------------- streams


class Stream:
    """A pre-rendered event stream (see publisher.py --mode replay), cached in bench/results/streams/."""

    def __init__(
        self,
        name: str,
        fmt: str,
        *,
        first_task: int,
        tasks: int = 0,
        events: int = 0,
        workers: int = 10,
        names: int = 10,
        label_grid: bool = False,
    ):
        self.name, self.format = name, fmt
        self.opts = dict(
            format=fmt,
            tasks=tasks,
            events=events,
            workers=workers,
            names=names,
            first_task=first_task,
            seed=1,
            label_grid=label_grid,
        )
        key = hashlib.sha1(json.dumps(self.opts, sort_keys=True).encode()).hexdigest()[:10]
        self.cache = STREAMS / f"{name}-{key}.pkl"

    def publisher_params(self) -> dict:
        """The stream parameters as publisher.py records them next to its cache."""
        return dict(self.opts, inflight=32)

    def args(self) -> list[str]:
        o = self.opts
        a = [
            "--mode",
            "replay",
            "--cache",
            str(self.cache),
            "--format",
            o["format"],
            "--workers",
            str(o["workers"]),
            "--names",
            str(o["names"]),
            "--first-task",
            str(o["first_task"]),
            "--seed",
            str(o["seed"]),
        ]
        if o["tasks"]:
            a += ["--tasks", str(o["tasks"])]
        if o["events"]:
            a += ["--events", str(o["events"])]
        if o["label_grid"]:
            a.append("--label-grid")
        return a


class Publisher:
    """Runs publisher.py in its own process; collects its progress lines; feeds it flow-control credit."""

    def __init__(
        self,
        stream: Stream,
        broker: str,
        rate="max",
        window: int = 0,
        progress: float = 0.1,
        extra: list[str] | None = None,
    ):
        cmd = [
            str(TOOLS_PY),
            str(PUBLISHER),
            "--broker",
            broker,
            *stream.args(),
            "--rate",
            str(rate),
            "--progress",
            str(progress),
            *(extra or []),
        ]
        if window:
            cmd += ["--window", str(window)]
        self.progress: list[tuple[float, int]] = []
        self.result: dict | None = None
        self.stderr_path = LOGS / f"publisher-{stream.name}.err"
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            cmd,
            cwd=RESULTS,
            stdin=subprocess.PIPE if window else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            parts = line.split(None, 1)
            if not parts:
                continue
            if parts[0] == "progress":
                t, n = parts[1].split()
                self.progress.append((float(t), int(n)))
            elif parts[0] == "result":
                self.result = json.loads(parts[1])

    def credit(self, applied: int) -> None:
        if self.proc.stdin is not None and self.proc.poll() is None:
            try:
                self.proc.stdin.write(f"applied {applied}\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass

    def done(self) -> bool:
        return self.proc.poll() is not None

    def wait(self) -> dict:
        self.proc.wait()
        self.reader.join(10)
        self._stderr.close()
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        if self.proc.returncode != 0 or self.result is None:
            raise RuntimeError(f"publisher failed ({self.proc.returncode}): {tail(self.stderr_path)}")
        return self.result

    def sent_at(self, t: float) -> int:
        """Task events the publisher had sent by monotonic time t (its progress lines, every 0.1 s)."""
        sent = 0
        for pt, n in self.progress:
            if pt > t:
                break
            sent = n
        return sent


def render_streams(streams: list[Stream], broker: str) -> None:
    STREAMS.mkdir(parents=True, exist_ok=True)
    for s in streams:
        sidecar = Path(str(s.cache) + ".json")
        if s.cache.exists() and sidecar.exists() and json.loads(sidecar.read_text()) == s.publisher_params():
            continue
        log(f"rendering stream {s.name} ({s.opts}) ...")
        t = time.monotonic()
        subprocess.run(
            [str(TOOLS_PY), str(PUBLISHER), "--broker", broker, *s.args(), "--render-only"],
            cwd=RESULTS,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        log(f"  rendered in {time.monotonic() - t:.1f}s")


# --------------------------------------------------------------------------------------------- measurements


def run_stream(
    server: Server,
    redis: PrivateRedis,
    stream: Stream,
    *,
    rate="max",
    window: int = 0,
    duration: float = 0,
    during=None,
    poll: float = POLL,
    stall: float = 6.0,
    drain_timeout: float = 900,
) -> dict:
    """Send one stream to the server and follow its applied-event counter until it has drained.

    ``window``: flow control (see publisher.py). ``during``: an object with start()/stop() run alongside.
    Returns published/applied/lost counts, the sustained rate and its window, backlog, CPU and loss signals.
    """
    client = server.client()
    other_before = wait_quiet(server, redis, server.args.quiet_wait) if server.args.quiet_wait else None
    base = applied_task_events(client)
    redis.cutoffs.mark()
    server.alerts.mark()
    t_begin = time.monotonic()
    acct = CpuAccount(server, redis)
    pub = Publisher(
        stream, redis.url, rate=rate, window=window, extra=["--duration", str(duration)] if duration else None
    )
    samples: list[tuple[float, int]] = []
    poll_seconds: list[float] = []
    if during:
        during.start()
    try:
        while True:
            t0 = time.monotonic()
            value = applied_task_events(client) - base
            t1 = time.monotonic()
            samples.append((t1, value))
            poll_seconds.append(t1 - t0)
            pub.credit(value)
            if pub.done():
                break
            time.sleep(max(0.0, poll - (t1 - t0)))
        result = pub.wait()
        published = result["task_events"]
        t_published = time.monotonic()
        backlog_at_publish_end = published - value
        last_change = t_published
        while (
            value < published
            and time.monotonic() - last_change < stall
            and time.monotonic() - t_published < drain_timeout
            and server.alive()
        ):
            time.sleep(poll)
            new = applied_task_events(client) - base
            samples.append((time.monotonic(), new))
            if new != value:
                value, last_change = new, time.monotonic()
    finally:
        if during:
            during.stop()
    cpu_info = acct.result()
    cpu = cpu_info["server_cpu_s"]
    t_drained = next((t for t, v in samples if v >= value), samples[-1][0])
    out = dict(
        stream=stream.name,
        format=stream.format,
        rate_target=rate,
        window=window,
        published=published,
        applied=value,
        lost=published - value,
        publish_seconds=result["seconds"],
        publisher_rate=result["events_per_s"],
        seconds_to_drain=round(t_drained - t_begin, 2),
        cpu_us_per_event=round(cpu / value * 1e6, 1) if value else None,
        cpu=cpu_info,
        other_cores_before=other_before,
        redis_cutoffs=len(redis.cutoffs.new_matches()),
        server_alert_lines=server.alerts.new_matches()[:5],
        poll_ms_p50=round(1000 * percentile(poll_seconds, 0.5), 1),
        poll_ms_max=round(1000 * max(poll_seconds), 1),
        backlog_at_publish_end=backlog_at_publish_end,
    )
    out.update(sustained_rate(samples, pub, published, window))
    # [seconds since start, applied, sent] at each poll: for plots and for checking the saturation claim.
    out["timeline"] = [[round(t - t_begin, 3), v, pub.sent_at(t)] for t, v in samples]
    return out


def sustained_rate(samples, pub: Publisher, published: int, window: int) -> dict:
    """Applied events/s between the samples where 10% and 90% of what it finally applied had been applied.

    The server was the bottleneck ("saturated") when the publisher was ahead of it by a real backlog over that
    window: with flow control, a median backlog of at least a tenth of the window; without, 2% of the stream.
    """
    final = samples[-1][1] if samples else 0
    if final <= 0:
        return dict(rate=None)
    lo = next(((t, v) for t, v in samples if v >= 0.1 * final), None)
    hi = next(((t, v) for t, v in samples if v >= 0.9 * final), None)
    if lo is None or hi is None or hi[0] <= lo[0]:
        # Too few samples (a very fast drain) or heavy loss: fall back to first/last movement.
        moving = [(t, v) for t, v in samples if v > 0]
        if len(moving) < 2 or moving[-1][0] <= moving[0][0]:
            return dict(rate=None, rate_note="drained between two polls: too fast to time")
        lo, hi = moving[0], moving[-1]
    rate = (hi[1] - lo[1]) / (hi[0] - lo[0])
    backlog = [pub.sent_at(t) - v for t, v in samples if lo[0] <= t <= hi[0]]
    med = statistics.median(backlog) if backlog else 0
    threshold = 0.1 * window if window else 0.02 * published
    return dict(
        rate=round(rate, 1),
        window_s=round(hi[0] - lo[0], 2),
        backlog_median=int(med),
        backlog_max=int(max(backlog)) if backlog else 0,
        limited_by="server" if med >= threshold else "publisher",
    )


def measure_latency(client: Http, path: str, reps: int, check=None) -> dict:
    status, body, _ = client.get(path)  # warm-up, and the body we check
    if status != 200:
        return dict(status=status, error=body[:200].decode(errors="replace"))
    info = dict(status=status, bytes=len(body))
    if check:
        info.update(check(body))
    times = []
    for _ in range(reps):
        status, body, dt = client.get(path)
        times.append(dt)
    info.update(
        n=reps,
        p50_ms=round(1000 * percentile(times, 0.5), 2),
        p95_ms=round(1000 * percentile(times, 0.95), 2),
        max_ms=round(1000 * max(times), 2),
    )
    return info


def datatable_path(order_column: int, direction: str = "desc", search: str = "") -> str:
    params = [
        ("draw", "1"),
        ("start", "0"),
        ("length", "15"),
        ("search[value]", search),
        ("order[0][column]", str(order_column)),
        ("order[0][dir]", direction),
    ]
    params += [(f"columns[{i}][data]", c) for i, c in enumerate(COLUMNS)]
    return "/tasks/datatable?" + urlencode(params)


def check_datatable(body: bytes) -> dict:
    d = json.loads(body)
    return dict(
        rows=len(d.get("data", [])),
        records_total=d.get("recordsTotal"),
        records_filtered=d.get("recordsFiltered"),
        search_error=d.get("searchError"),
    )


def check_api_tasks(body: bytes) -> dict:
    return dict(rows=len(json.loads(body)))


def check_metrics(body: bytes) -> dict:
    lines = [ln for ln in body.split(b"\n") if ln and not ln.startswith(b"#")]
    return dict(samples=len(lines), events_total_samples=sum(ln.startswith(b"flower_events_total{") for ln in lines))


QUERIES = {
    "api_tasks_limit100": ("/api/tasks?limit=100", check_api_tasks),
    "datatable_default": (datatable_path(COLUMNS.index("received")), check_datatable),
    "datatable_sort_name": (datatable_path(COLUMNS.index("name")), check_datatable),
    "datatable_search": (datatable_path(COLUMNS.index("received"), search="state:SUCCESS"), check_datatable),
}


class QueryLoad:
    """A dashboard-like reader: one query every ``period`` seconds, cycling through QUERIES, in a thread."""

    def __init__(self, server: Server, period: float, names: list[str]):
        self.server, self.period, self.names = server, period, names
        self.latencies: dict[str, list[float]] = {k: [] for k in names}
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        client = self.server.client()
        names = self.names or ["api_tasks_limit100"]
        i = 0
        while not self._stop.is_set():
            t0 = time.monotonic()
            name = names[i % len(names)]
            try:
                status, _, dt = client.get(QUERIES[name][0])
                if status == 200:
                    self.latencies[name].append(dt)
                else:
                    self.errors += 1
            except RuntimeError:
                self.errors += 1
            i += 1
            self._stop.wait(max(0.0, self.period - (time.monotonic() - t0)))

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(120)

    def summary(self) -> dict:
        out = {"period_s": self.period, "errors": self.errors}
        for name, vals in self.latencies.items():
            if vals:
                out[name] = dict(
                    n=len(vals),
                    p50_ms=round(1000 * percentile(vals, 0.5), 1),
                    p95_ms=round(1000 * percentile(vals, 0.95), 1),
                )
        return out


def settle_rss(server: Server, seconds: float = 1.0) -> int:
    time.sleep(seconds)
    return server.rss_kib()


# --------------------------------------------------------------------------------------------- the plan


def make_streams(p: dict, args) -> dict[str, Stream]:
    s = {}
    for n in p["sizes"]:
        s[f"fill{n}"] = Stream(f"fill{n}", "multi", tasks=n, first_task=0)
    # Sustained streams are cut after `sustained_seconds` of sending; they hold enough events for a server
    # ingesting MAX_RATE events/s (beyond that the run reports the rate as publisher-limited).
    secs = p["sustained_seconds"]
    for fmt, first in (("single", 10_000_000), ("multi", 20_000_000)):
        ev = MAX_RATE[fmt] * secs
        s[f"sustained_{fmt}"] = Stream(f"sustained-{fmt}-{ev}", fmt, events=ev, first_task=first)
    ev = MAX_RATE["single"] * secs
    s["with_queries"] = Stream(f"with-queries-{ev}", "single", events=ev, first_task=30_000_000)
    pe = int(args.paced_rate * p["paced_seconds"])
    s["paced"] = Stream(f"paced-{pe}", "single", events=pe, first_task=40_000_000)
    s["labels"] = Stream(
        "labels-200x50", "single", tasks=200 * 50, workers=200, names=50, label_grid=True, first_task=50_000_000
    )
    s["burst_single"] = Stream(
        f"burst-single-{args.burst_events}", "single", events=args.burst_events, first_task=60_000_000
    )
    s["burst_multi"] = Stream(
        f"burst-multi-{args.burst_events}", "multi", events=args.burst_events, first_task=70_000_000
    )
    return s


def bench_size(server: Server, n: int, streams: dict, p: dict, args, is_largest: bool) -> dict:
    redis = PrivateRedis(f"{server.kind}-{n}")
    out: dict = {"tasks": n}
    try:
        out["startup_s"] = round(server.start(redis.url, n, tag=str(n)), 3)
        out["rss_start_kib"] = settle_rss(server)
        log(f"[{server.kind} {n}] up in {out['startup_s']}s, RSS {out['rss_start_kib'] / 1024:.0f} MiB; filling")
        out["fill"] = run_stream(server, redis, streams[f"fill{n}"], window=WINDOW["multi"])
        if out["fill"]["applied"] == 0:
            raise RuntimeError("the server applied no task events: /metrics has no flower_events_total samples")
        out["rss_filled_kib"] = settle_rss(server)
        out["rss_per_task_kib"] = round((out["rss_filled_kib"] - out["rss_start_kib"]) / n, 3)
        log(
            f"[{server.kind} {n}] filled at {out['fill']['rate']}/s; RSS {out['rss_filled_kib'] / 1024:.0f} MiB "
            f"= {out['rss_per_task_kib']} KiB/task"
        )
        out["sustained"] = {}
        for fmt in ("single", "multi"):
            r = run_stream(
                server, redis, streams[f"sustained_{fmt}"], window=WINDOW[fmt], duration=p["sustained_seconds"]
            )
            out["sustained"][fmt] = r
            log(
                f"[{server.kind} {n}] sustained {fmt}: {r['rate']}/s ({r['limited_by']}-limited), "
                f"lost {r['lost']}, {r['cpu_us_per_event']} us CPU/event, other load "
                f"{r['cpu']['other_cpu_cores']} cores"
            )
        out["rss_after_churn_kib"] = settle_rss(server)
        # Steady state at --max_tasks: the state has been turned over by the sustained streams' new tasks.
        out["rss_per_task_steady_kib"] = round((out["rss_after_churn_kib"] - out["rss_start_kib"]) / n, 3)
        if is_largest:
            client = server.client()
            out["queries"] = {}
            for name, (path, check) in QUERIES.items():
                out["queries"][name] = m = measure_latency(client, path, p["query_reps"], check)
                log(
                    f"[{server.kind} {n}] {name}: "
                    + (f"p50 {m['p50_ms']} ms, p95 {m['p95_ms']} ms" if "p50_ms" in m else f"HTTP {m['status']}")
                )
            # Only the endpoints this server serves: a 404 would be a free query.
            served = [k for k, v in out["queries"].items() if v.get("status") == 200]
            load = QueryLoad(server, args.query_period, served)
            r = run_stream(
                server,
                redis,
                streams["with_queries"],
                window=WINDOW["single"],
                during=load,
                duration=p["sustained_seconds"],
            )
            r["queries"] = load.summary()
            out["ingest_with_queries"] = r
            log(f"[{server.kind} {n}] ingestion while queries run: {r['rate']}/s, lost {r['lost']}")
            r = run_stream(server, redis, streams["paced"], rate=args.paced_rate)
            # Kept up: nothing lost, and less than one second of events behind when the publisher stopped.
            r["kept_up"] = r["lost"] == 0 and r["backlog_at_publish_end"] <= args.paced_rate
            out["paced"] = r
            log(
                f"[{server.kind} {n}] paced {args.paced_rate:.0f}/s publisher: applied {r['rate']}/s, "
                f"{r['backlog_at_publish_end']} behind when it stopped, lost {r['lost']}, "
                f"Redis cut-offs {r['redis_cutoffs']}: {'kept up' if r['kept_up'] else 'did NOT keep up'}"
            )
            # /metrics grows to ~250k samples with these labels: poll it rarely while they are made.
            out["labels_stream"] = run_stream(
                server, redis, streams["labels"], window=WINDOW["single"], poll=2.0, stall=15
            )
            out["queries"]["metrics_200x50"] = m = measure_latency(
                server.client(), "/metrics", p["metrics_reps"], check_metrics
            )
            log(
                f"[{server.kind} {n}] /metrics 200x50: "
                + (
                    f"p50 {m['p50_ms']} ms, p95 {m['p95_ms']} ms, {m['samples']} samples"
                    if "p50_ms" in m
                    else f"HTTP {m['status']}"
                )
            )
        out["rss_end_kib"] = server.rss_kib()
    finally:
        server.stop()
        redis.stop()
    return out


def bench_burst(server: Server, streams: dict, sizes: list[int], args) -> dict:
    redis = PrivateRedis(f"{server.kind}-burst")
    out: dict = {}
    try:
        out["startup_s"] = round(server.start(redis.url, max(sizes), tag="burst"), 3)
        time.sleep(1)
        for fmt in ("single", "multi"):
            r = run_stream(server, redis, streams[f"burst_{fmt}"], rate=args.burst_rate)
            out[fmt] = r
            log(
                f"[{server.kind} burst {fmt}] {r['published']} events at {r['publisher_rate']:.0f}/s: lost {r['lost']}, "
                f"Redis cut-offs {r['redis_cutoffs']}, server log alerts {len(r['server_alert_lines'])}"
            )
    finally:
        server.stop()
        redis.stop()
    return out


def bench_server(kind: str, streams: dict, p: dict, args) -> dict:
    server = Server(kind, args)
    res: dict = {"ok": True, "sizes": {}}
    try:
        for n in p["sizes"]:
            res["sizes"][str(n)] = bench_size(server, n, streams, p, args, n == max(p["sizes"]))
        if not args.no_burst:
            res["burst"] = bench_burst(server, streams, p["sizes"], args)
    except StartError as exc:
        res.update(ok=False, error=str(exc))
        log(f"[{kind}] COULD NOT START:\n{exc}")
    except Exception as exc:  # keep the other server's numbers
        res.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        log(f"[{kind}] FAILED: {exc!r}")
    finally:
        server.stop()
    starts = [s["startup_s"] for s in res["sizes"].values() if "startup_s" in s]
    if "burst" in res and "startup_s" in res["burst"]:
        starts.append(res["burst"]["startup_s"])
    res["startup_s"] = starts
    res["startup_s_median"] = statistics.median(starts) if starts else None
    return res


# --------------------------------------------------------------------------------------------- report


def iter_streams(res: dict):
    """Every run_stream result in one server's results."""
    for s in res.get("sizes", {}).values():
        for key in ("fill", "ingest_with_queries", "paced", "labels_stream"):
            if key in s:
                yield s[key]
        yield from s.get("sustained", {}).values()
    for r in res.get("burst", {}).values():
        if isinstance(r, dict):
            yield r


def flat_numbers(res: dict, p: dict) -> dict[str, tuple[float | None, str]]:
    """The headline numbers of one server: name -> (value, 'higher'|'lower' is better)."""
    out: dict[str, tuple[float | None, str]] = {}
    if not res.get("sizes"):
        return out
    out["startup s (median)"] = (res.get("startup_s_median"), "lower")
    for n, s in res["sizes"].items():
        k = f"{int(n) // 1000}k"
        if "rss_per_task_kib" in s:
            out[f"RSS per task KiB @{k}"] = (s["rss_per_task_kib"], "lower")
            out[f"RSS MiB @{k}"] = (round(s["rss_filled_kib"] / 1024, 1), "lower")
        if "rss_per_task_steady_kib" in s:
            out[f"RSS per task KiB, steady @{k}"] = (s["rss_per_task_steady_kib"], "lower")
            out[f"RSS MiB, steady @{k}"] = (round(s["rss_after_churn_kib"] / 1024, 1), "lower")
        for fmt, r in s.get("sustained", {}).items():
            out[f"sustained {fmt} ev/s @{k}"] = (r["rate"], "higher")
            out[f"lost in sustained {fmt} @{k}"] = (r["lost"], "lower")
        for name, q in s.get("queries", {}).items():
            if "p50_ms" in q:
                out[f"{name} p50 ms @{k}"] = (q["p50_ms"], "lower")
                out[f"{name} p95 ms @{k}"] = (q["p95_ms"], "lower")
            else:
                out[f"{name} @{k}"] = (None, f"HTTP {q.get('status')}")
        if "ingest_with_queries" in s:
            out[f"ingestion ev/s while querying @{k}"] = (s["ingest_with_queries"]["rate"], "higher")
            for name, q in s["ingest_with_queries"].get("queries", {}).items():
                if isinstance(q, dict):
                    out[f"{name} p50 ms while ingesting @{k}"] = (q["p50_ms"], "lower")
        if "paced" in s:
            r = s["paced"]
            out[f"paced {r['rate_target']}/s: applied ev/s @{k}"] = (r["rate"], "higher")
            out[f"paced {r['rate_target']}/s: lost @{k}"] = (r["lost"], "lower")
            out[f"paced {r['rate_target']}/s: behind at end @{k}"] = (r["backlog_at_publish_end"], "lower")
            out[f"paced {r['rate_target']}/s: kept up (1=yes) @{k}"] = (int(r["kept_up"]), "higher")
    others = [r["cpu"]["other_cpu_cores"] for r in iter_streams(res) if r.get("cpu")]
    if others:
        out["max other load during a stream (cores)"] = (max(others), "lower")
    for fmt, r in res.get("burst", {}).items():
        if isinstance(r, dict):
            out[f"burst {r['published']} {fmt}: lost"] = (r["lost"], "lower")
            out[f"burst {fmt}: Redis cut-offs"] = (r["redis_cutoffs"], "lower")
            out[f"burst {fmt}: server log lines about it"] = (len(r["server_alert_lines"]), "higher")
    return out


# The targets, as ratios ours/flower (None: a count that must be 0).
# (checked at the largest size of the run; the issue states them at 100k tasks)
TARGETS = [
    (r"sustained (single|multi) ev/s @{k}$", ">=", 3.0),
    (r"RSS per task KiB(, steady)? @{k}$", "<=", 0.25),
    (r"(datatable_\w+|api_tasks_limit100) p95 ms @{k}$", "<=", 0.1),
    (r"metrics_200x50 p50 ms @{k}$", "<=", 0.5),
    (r"startup s", "<=", 1.0),
]


def fmt_num(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{int(v):,}"


def report(results: dict, p: dict) -> dict:
    servers = results["servers"]
    nums = {k: flat_numbers(v, p) for k, v in servers.items()}
    for kind, res in servers.items():
        print(f"\n=== {kind} ===")
        if not res.get("ok"):
            print(f"  ERROR: {res.get('error', '').splitlines()[0] if res.get('error') else '?'}")
        for name, (v, better) in nums[kind].items():
            print(f"  {name:<48} {fmt_num(v):>14}" + ("" if better in ("higher", "lower") else f"  ({better})"))
    ratios = {}
    largest = f"{max(p['sizes']) // 1000}k"
    if "ours" in nums and "flower22" in nums:
        print("\n=== ours / flower22 ===")
        print(f"  {'number':<48} {'ours':>12} {'flower22':>12} {'ratio':>8}  target")
        for name, (fv, better) in nums["flower22"].items():
            ov = nums["ours"].get(name, (None, better))[0]
            ratio = round(ov / fv, 3) if isinstance(ov, (int, float)) and isinstance(fv, (int, float)) and fv else None
            ratios[name] = ratio
            target = ""
            for pat, op, val in TARGETS:
                if re.search(pat.format(k=largest), name) and ratio is not None:
                    ok = ratio >= val if op == ">=" else ratio <= val
                    target = f"{op} {val}x: {'met' if ok else 'NOT met'}"
            if name.startswith("lost") or ": lost" in name:
                target = "0: " + ("met" if ov == 0 else "NOT met") if ov is not None else ""
            print(f"  {name:<48} {fmt_num(ov):>12} {fmt_num(fv):>12} {fmt_num(ratio):>8}  {target}")
        if not servers["ours"].get("ok"):
            print(f"\n  NOTE: ours did not run to the end: {servers['ours'].get('error', '').splitlines()[0]}")
    return ratios


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes; a few minutes in all")
    ap.add_argument("--servers", default="ours,flower22", help="comma-separated: ours, flower22")
    ap.add_argument("--sizes", help="override the tasks-in-state sizes, e.g. 10000,50000,100000")
    ap.add_argument("--ours-python", default=sys.executable, help="Python that runs `-m flower` for ours")
    ap.add_argument("--start-timeout", type=float, default=30)
    ap.add_argument("--paced-rate", type=float, default=20_000, help="events/s of the open-loop paced test")
    ap.add_argument("--burst-events", type=int, default=150_000)
    ap.add_argument("--burst-rate", default="50000", help="events/s of the burst, or 'max'")
    ap.add_argument("--query-period", type=float, default=0.5, help="seconds between queries while ingesting")
    ap.add_argument("--no-burst", action="store_true")
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=10,
        help="before each stream, wait up to this many seconds for other work on the machine to "
        "drop below 0.3 cores (0 = don't wait)",
    )
    ap.add_argument("--output", default=str(RESULTS / "latest.json"))
    ap.add_argument("--no-chart", action="store_true")
    ap.add_argument("--report", metavar="JSON", help="only print the tables of an earlier run's JSON")
    args = ap.parse_args()

    if args.report:
        data = json.loads(Path(args.report).read_text())
        report(data, data["meta"]["profile_settings"])
        return 0

    # An installed package has its bytecode compiled (pip does it, and Flower 2.2's venv has it); a checkout
    # run with PYTHONDONTWRITEBYTECODE=1 would compile every module at each start and the start-up time would
    # measure the compiler. Compile ours once, as an install would.
    subprocess.run([args.ours_python, "-m", "compileall", "-q", str(REPO / "flower")], check=False)

    profile = "quick" if args.quick else "full"
    p = dict(PROFILES[profile])
    if args.sizes:
        p["sizes"] = [int(x) for x in args.sizes.split(",")]
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    for need, what in ((TOOLS_PY, "bench/.venv-tools"), (FLOWER22_CELERY, "bench/.venv-flower22")):
        if not need.exists() and (what.endswith("tools") or "flower22" in kinds):
            print(f"{what} is missing: run `bash bench/setup_flower22.sh` first", file=sys.stderr)
            return 2
    for d in (RESULTS, STREAMS, LOGS):
        d.mkdir(parents=True, exist_ok=True)

    streams = make_streams(p, args)
    log(f"profile {profile}: sizes {p['sizes']}, servers {kinds}")
    redis = PrivateRedis("render")
    try:
        render_streams(list(streams.values()), redis.url)
    finally:
        redis.stop()

    results = {
        "meta": dict(
            profile=profile,
            profile_settings=p,
            started=datetime.datetime.now().isoformat(timespec="seconds"),
            command=" ".join([Path(sys.executable).name] + sys.argv),
            machine=dict(
                cpus=os.cpu_count(),
                platform=platform.platform(),
                python=platform.python_version(),
                mem_gib=round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            ),
            window=WINDOW,
            poll_s=POLL,
            paced_rate=args.paced_rate,
            burst_events=args.burst_events,
            burst_rate=args.burst_rate,
            query_period_s=args.query_period,
            redis=subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip(),
        ),
        "servers": {},
    }
    for kind in kinds:
        log(f"===== {kind} =====")
        results["servers"][kind] = bench_server(kind, streams, p, args)
    results["meta"]["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    results["ratios_ours_over_flower22"] = report(results, p)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")
    if not args.no_chart:
        chart_py = TOOLS_PY if TOOLS_PY.exists() else Path(sys.executable)
        r = subprocess.run([str(chart_py), str(BENCH / "chart.py"), str(out)], capture_output=True, text=True)
        print(r.stdout.strip() or r.stderr.strip()[-500:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
