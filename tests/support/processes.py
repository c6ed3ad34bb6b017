"""Starting and stopping the real processes tests use (workers, servers, private redis-servers), and
waiting for conditions by polling with a deadline (never sleeping as a stand-in for synchronisation).

Only processes started here are ever stopped, by PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout: float = 30.0, interval: float = 0.1, message: str = 'condition'):
    """Poll ``condition()`` until it returns something truthy; return that value or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception as exc:  # the thing being waited for may not exist yet
            last_error = exc
            value = None
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(
        f'Timed out after {timeout}s waiting for {message}' + (f' (last error: {last_error!r})' if last_error else '')
    )


class Process:
    """A child process with its output in a log file; ``stop()`` ends it (and its children) by PID."""

    def __init__(self, args: list[str], env: dict | None = None, cwd: str | Path = REPO, name: str = 'proc'):
        self.args = args
        self.name = name
        self.log_path = Path(tempfile.mkstemp(prefix=f'flowertest-{name}-', suffix='.log')[1])
        self._log = open(self.log_path, 'wb')
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.popen = subprocess.Popen(
            args, cwd=str(cwd), env=full_env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors='replace')

    def send_signal(self, signum) -> None:
        if self.alive():
            os.killpg(self.popen.pid, signum)

    def stop(self, timeout: float = 10.0, signum=signal.SIGTERM) -> int | None:
        if self.alive():
            try:
                os.killpg(self.popen.pid, signum)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._log.close()
        return self.popen.returncode


def start_worker(
    broker: str,
    hostname: str,
    backend: str | None = None,
    pool: str = 'prefork',
    concurrency: int = 2,
    queues: str | None = None,
    extra: list[str] | None = None,
    env: dict | None = None,
    task_events: bool = True,
) -> Process:
    """A worker of tests.support.celeryapp; ``task_events=False`` starts it without ``-E`` and with
    ``worker_send_task_events`` off (it still sends heartbeats, which count the tasks it ran)."""
    args = [
        sys.executable,
        '-m',
        'celery',
        '-A',
        'tests.support.celeryapp',
        'worker',
        *(['-E'] if task_events else []),
        '-l',
        'info',
        '-P',
        pool,
        '-c',
        str(concurrency),
        '-n',
        hostname,
        '--without-gossip',
        '--without-mingle',
    ]
    if queues:
        args += ['-Q', queues]
    args += extra or []
    env = {
        'FLOWER_TEST_BROKER': broker,
        'FLOWER_TEST_BACKEND': backend or '',
        **({} if task_events else {'FLOWER_TEST_TASK_EVENTS': '0'}),
        **(env or {}),
    }
    return Process(args, env=env, name=f'worker-{hostname}')


class Server(Process):
    """A ``python -m flower`` server on a free port, ready once /healthcheck answers."""

    def __init__(
        self,
        broker: str,
        args: list[str] | None = None,
        env: dict | None = None,
        app: str | None = 'tests.support.celeryapp',
        backend: str | None = None,
        port: int | None = None,
        cwd: str | Path = REPO,
        wait: bool = True,
    ):
        self.port = port or free_port()
        cmd = [sys.executable, '-m', 'flower']
        if app:
            cmd += ['-A', app]
        cmd += [f'--broker={broker}', f'--port={self.port}', '--address=127.0.0.1']
        cmd += args or []
        full_env = {
            'FLOWER_UNAUTHENTICATED_API': 'true',
            'FLOWER_TEST_BROKER': broker,
            'FLOWER_TEST_BACKEND': backend or '',
            'PYTHONPATH': str(REPO),
        }
        full_env.update(env or {})
        super().__init__(cmd, env=full_env, cwd=cwd, name='server')
        self.url = f'http://127.0.0.1:{self.port}'
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 20.0, prefix: str = '') -> None:
        def ready():
            if not self.alive():
                raise AssertionError(f'server exited with {self.popen.returncode}:\n{self.output()}')
            return requests.get(self.url + prefix + '/healthcheck', timeout=1).status_code == 200

        try:
            wait_for(ready, timeout, message='server /healthcheck')
        except AssertionError:
            raise AssertionError(f'server did not become ready:\n{self.output()}') from None

    def get(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault('timeout', 10)
        return requests.get(self.url + path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault('timeout', 30)
        return requests.post(self.url + path, **kwargs)


class PrivateRedis(Process):
    """A throw-away redis-server on a free port (for outage tests: this one may be killed)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix='flowertest-redis-')
        exe = shutil.which('redis-server') or '/usr/bin/redis-server'
        super().__init__(
            [
                exe,
                '--port',
                str(self.port),
                '--bind',
                '127.0.0.1',
                '--save',
                '',
                '--appendonly',
                'no',
                '--dir',
                self.dir,
            ],
            name=f'redis-{self.port}',
        )
        self.url = f'redis://127.0.0.1:{self.port}/0'
        wait_for(self.ping, 10, message=f'private redis on {self.port}')

    def ping(self) -> bool:
        import redis

        return redis.Redis(port=self.port, socket_timeout=0.5).ping()
