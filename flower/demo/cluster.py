"""The demo's processes and folder: creates the folder, starts the workers and the producer, watches them,
keeps the folder within its budget, and on :meth:`DemoCluster.stop` ends every process it started and
removes the folder.

Children run in sessions of their own, so a Ctrl-C in the terminal reaches only ``flower demo``, which then
stops them after the server: each worker's process group (the worker and its pool) gets SIGKILL, the
producer SIGTERM (and its group SIGKILL if it is still there ``grace`` seconds later). Each child also watches
its parent (:mod:`flower.demo.lifeline`) and ends itself if ``flower demo`` dies without stopping it.

Threads: :meth:`start` and :meth:`stop` run on the main thread; one housekeeping thread checks the children and
runs the :class:`~flower.demo.janitor.Janitor` once a second until :meth:`stop`.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import flower
from flower.demo.janitor import SWEEP_INTERVAL, Janitor
from flower.demo.layout import DEFAULT_QUEUE, FOLDER_ENV, FOLDER_PREFIX, PARENT_ENV, REPORTS_QUEUE, Layout

logger = logging.getLogger(__name__)

MB = 1024 * 1024


@dataclass(frozen=True)
class DemoSettings:
    workers: int = 2
    concurrency: int = 2
    pool: str = 'prefork'
    rate: float = 5.0
    max_folder_mb: int = 100
    log_level: str = 'info'


@dataclass
class Child:
    name: str
    kind: str  # 'worker' or 'producer'
    popen: subprocess.Popen
    output: Path
    reported_exit: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.output.read_text(errors='replace')
        except OSError:
            return ''
        return '\n'.join(text.splitlines()[-lines:])


class DemoCluster:
    def __init__(self, settings: DemoSettings, temp_dir: str | None = None):
        self.settings = settings
        self.temp_dir = temp_dir
        self.layout: Layout | None = None
        self.children: list[Child] = []
        self.janitor: Janitor | None = None
        self._stopping = threading.Event()
        self._housekeeper: threading.Thread | None = None
        self._logs: list = []

    # -- start ---------------------------------------------------------------------------------------------
    def start(self) -> Layout:
        """Create the folder and start the workers and the producer (returns at once; they boot meanwhile).
        On failure whatever was started is stopped before the exception propagates."""
        try:
            root = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=self.temp_dir))
            self.layout = Layout(root)
            self.layout.create()
            self._record()
            # every process of the demo, this one included (flower.demo.tasks reads it), finds the folder here
            os.environ[FOLDER_ENV] = str(root)
            os.environ[PARENT_ENV] = str(os.getpid())
            for number in range(1, self.settings.workers + 1):
                self._start_worker(number)
            if self.settings.rate > 0:
                self._start_producer()
            self._record()
            self.janitor = Janitor(self.layout, self.settings.max_folder_mb * MB)
            self._housekeeper = threading.Thread(
                target=self._housekeep, args=(self.janitor,), name='flower-demo-housekeeping', daemon=True
            )
            self._housekeeper.start()
        except BaseException:
            self.stop(grace=2.0)
            raise
        return self.layout

    @property
    def _layout(self) -> Layout:
        """The folder, for the steps of :meth:`start` that run once it is created."""
        if self.layout is None:
            raise RuntimeError('the demo folder is not created yet')
        return self.layout

    def _worker_queues(self, number: int) -> str:
        # every worker takes the default queue; the last one also takes the slow reports, as a dedicated
        # worker would in a real deployment
        return f'{DEFAULT_QUEUE},{REPORTS_QUEUE}' if number == self.settings.workers else DEFAULT_QUEUE

    def _start_worker(self, number: int) -> None:
        name = f'demo{number}'
        s = self.settings
        args = [
            sys.executable,
            '-m',
            'celery',
            '-A',
            'flower.demo.tasks',
            'worker',
            '-E',
            '-n',
            f'{name}@%h',
            '-P',
            s.pool,
            '-c',
            str(s.concurrency),
            '-Q',
            self._worker_queues(number),
            '-l',
            s.log_level,
            f'--logfile={self._layout.logs / (name + ".log")}',
            '--without-gossip',
            '--without-mingle',
        ]
        self._spawn(name, args, kind='worker')

    def _start_producer(self) -> None:
        self._spawn(
            'producer',
            [sys.executable, '-m', 'flower.demo.producer', f'--rate={self.settings.rate:g}'],
            kind='producer',
        )

    def _spawn(self, name: str, args: list[str], kind: str) -> None:
        output_path = self._layout.logs / f'{name}.out'
        output = open(output_path, 'ab')  # appending: the janitor may empty it in place
        self._logs.append(output)
        env = dict(os.environ)
        # the children import flower.demo from wherever this flower is, installed or not
        package_root = str(Path(flower.__file__).resolve().parents[1])
        env['PYTHONPATH'] = os.pathsep.join(filter(None, [package_root, env.get('PYTHONPATH')]))
        env['PYTHONUNBUFFERED'] = '1'
        popen = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        self.children.append(Child(name, kind, popen, output_path))
        logger.info('Started %s (PID %d)', name, popen.pid)

    def _record(self) -> None:
        self._layout.write_state(os.getpid(), {child.name: child.pid for child in self.children})

    # -- while running -------------------------------------------------------------------------------------
    def _housekeep(self, janitor: Janitor) -> None:
        while not self._stopping.wait(SWEEP_INTERVAL):
            self._check_children()
            try:
                janitor.sweep()
            except Exception:  # keep sweeping: one failed listing must not end the disk bound
                logger.exception('Sweeping the demo folder failed')

    def _check_children(self) -> None:
        for child in self.children:
            if not child.reported_exit and not child.alive():
                child.reported_exit = True
                if self._stopping.is_set():
                    continue
                logger.error(
                    '%s (PID %d) exited with code %s; the demo goes on without it. Its last output:\n%s',
                    child.name,
                    child.pid,
                    child.popen.returncode,
                    child.tail(),
                )

    # -- stop ----------------------------------------------------------------------------------------------
    def stop(self, grace: float = 5.0) -> None:
        """End every process this demo started and remove its folder; safe to call more than once."""
        self._stopping.set()
        if self._housekeeper is not None and self._housekeeper is not threading.current_thread():
            self._housekeeper.join(5.0)
        for child in self.children:
            if child.kind == 'worker':
                # Killed outright, with its pool processes. A warm shutdown buys nothing here (the server that
                # would show the worker going offline has stopped, the folder is about to go) and Celery's
                # takes 7-8 s on a polled broker, idle or not.
                _kill_group(child.popen)
            else:
                _signal(child.popen, signal.SIGTERM)  # the producer stops within a moment
        started = time.monotonic()
        deadline = started + grace
        for child in self.children:
            try:
                child.popen.wait(max(0.0, deadline - time.monotonic()))
                logger.debug(
                    '%s stopped (exit code %s) after %.1f s',
                    child.name,
                    child.popen.returncode,
                    time.monotonic() - started,
                )
            except subprocess.TimeoutExpired:
                logger.warning('%s (PID %d) did not stop within %g s; killing it', child.name, child.pid, grace)
                _kill_group(child.popen)
                try:
                    child.popen.wait(5.0)
                except subprocess.TimeoutExpired:
                    logger.error('%s (PID %d) is still running after SIGKILL', child.name, child.pid)
        for output in self._logs:
            output.close()
        self._logs.clear()
        if self.layout is not None and self.layout.root.exists():
            shutil.rmtree(self.layout.root, ignore_errors=True)
            if self.layout.root.exists():
                logger.error('Could not remove the demo folder %s', self.layout.root)
            else:
                logger.info('Removed %s', self.layout.root)

    def hurry(self) -> None:
        """Kill the children now (another Ctrl-C while stopping)."""
        for child in self.children:
            _kill_group(child.popen)


def _signal(popen: subprocess.Popen, signum: int) -> None:
    if popen.poll() is None:
        try:
            popen.send_signal(signum)
        except ProcessLookupError:
            pass


def _kill_group(popen: subprocess.Popen) -> None:
    """SIGKILL the process group a child leads (it was started in a session of its own). Only while the child
    has not been reaped: until then its PID, and so the group id, cannot belong to anyone else."""
    if popen.poll() is not None:
        return  # exited and reaped: its PID may be someone else's by now
    try:
        os.killpg(popen.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# -- folders of demos that did not get to clean up --------------------------------------------------------


def remove_stale_folders(temp_dir: str | None = None) -> list[Path]:
    """Remove ``flower-demo-*`` folders (ours, in the temporary directory) whose demo and children are all
    gone: a demo killed with SIGKILL cannot remove its own. A folder whose owner cannot be told is left."""
    removed: list[Path] = []
    base = Path(temp_dir or tempfile.gettempdir())
    try:
        candidates = [path for path in base.iterdir() if path.name.startswith(FOLDER_PREFIX)]
    except OSError:
        return removed
    for path in candidates:
        try:
            if not path.is_dir() or path.is_symlink() or path.stat().st_uid != os.getuid():
                continue
        except OSError:
            continue
        state = Layout(path).read_state()
        if state is None:
            continue
        pids = [state.get('pid'), *dict(state.get('children') or {}).values()]
        if not all(isinstance(pid, int) and pid > 0 for pid in pids) or any(_pid_alive(pid) for pid in pids):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process now has that PID: not provably dead, keep the folder
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """An orphan that exited waits as a zombie until init reaps it (some container inits never do); it runs
    nothing. Linux tells through /proc; elsewhere a zombie counts as alive and its folder waits a while."""
    try:
        with open(f'/proc/{pid}/stat', 'rb') as file:
            fields = file.read().rpartition(b')')[2].split()
    except OSError:
        return False
    return bool(fields) and fields[0] == b'Z'
