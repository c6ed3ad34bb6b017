"""``flower demo``: the whole demo as a subprocess (live cluster, clean stop, no orphans after a crash, bounded
folder under load), and its parts in-process (options, janitor rules, transport, stale folders).

Each demo runs with ``TMPDIR`` pointing at the test's own ``tmp_path``, so its ``flower-demo-*`` folder is
found there and never mixed up with another session's.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from flower.demo.cli import DEMO_OPTIONS, DemoOptionError, parse
from flower.demo.cluster import remove_stale_folders
from flower.demo.janitor import MB, Janitor
from flower.demo.layout import Layout
from tests.support.processes import REPO, Process, free_port, wait_for

TRANSPORT = 'flower.demo.transport:Transport'
LOG_CAP_PER_PROCESS = 2 * MB  # a .log of at most 1 MB plus its .log.1 (see flower.demo.janitor)


# -- running the demo ---------------------------------------------------------------------------------------


class Demo(Process):
    """``python -m flower demo`` on a free port, its folder under ``tmp_path``."""

    def __init__(self, tmp_path: Path, *args: str, api_open: bool = True):
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self.tmp_path = tmp_path
        # api_open=False: as a user starts it, so the demo makes a login of its own
        env = {
            'FLOWER_UNAUTHENTICATED_API': 'true' if api_open else '',
            'TMPDIR': str(tmp_path),
            'PYTHONPATH': str(REPO),
        }
        super().__init__(
            [sys.executable, '-m', 'flower', 'demo', f'--port={self.port}', '--address=127.0.0.1', *args],
            env=env,
            name='demo',
        )
        self.folder = wait_for(self._folder, 30, message=f'the demo folder to be announced:\n{self.output()}')
        wait_for(self._healthy, 30, message='the demo server to answer /healthcheck')

    def _folder(self) -> Path | None:
        if not self.alive():
            raise AssertionError(f'flower demo exited with {self.popen.returncode}:\n{self.output()}')
        match = re.search(r'Demo folder: (\S+)', self.output())
        return Path(match.group(1)) if match else None

    def _healthy(self) -> bool:
        if not self.alive():
            raise AssertionError(f'flower demo exited with {self.popen.returncode}:\n{self.output()}')
        return requests.get(self.url + '/healthcheck', timeout=2).text == 'OK'

    def get(self, path: str, **params):
        response = requests.get(self.url + path, params=params, timeout=10)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        return response

    def tasks_in(self, state: str) -> dict:
        return self.get('/api/tasks', state=state).json()

    def event_counts(self) -> Counter:
        """``flower_events_total`` summed per event type, and per (type, task name)."""
        counts: Counter = Counter()
        pattern = re.compile(r'^flower_events_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$', re.MULTILINE)
        for match in pattern.finditer(self.get('/metrics').text):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group('labels')))
            counts[labels['type']] += float(match.group('value'))
            counts[labels['type'], labels.get('task')] += float(match.group('value'))
        return counts


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, their pool processes, ...), from one ``ps`` listing."""
    listing = subprocess.run(['ps', '-A', '-o', 'pid=,ppid='], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in listing.splitlines():
        child, parent = map(int, line.split())
        children.setdefault(parent, []).append(child)
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (an exited process its new parent has not reaped yet is gone for our purpose)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = subprocess.run(
        ['ps', '-o', 'stat=', '-p', str(pid)], capture_output=True, text=True, check=False
    ).stdout.strip()
    return bool(state) and not state.startswith('Z')


def disk_usage(folder: Path) -> int:
    """Bytes the folder's files take on disk (allocated blocks), tolerating files that vanish meanwhile."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


# -- the whole demo --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_shows_a_live_cluster_and_sigint_stops_every_process(tmp_path):
    started = time.monotonic()
    demo = Demo(tmp_path)
    try:
        deadline = started + 30
        # each state is polled until seen: a retried task shows RETRY only until its countdown is over
        seen: dict[str, dict] = {}

        def cluster_is_live():
            workers = demo.get('/api/workers', status=1).json()
            if any(workers.values()):
                seen['workers'] = workers
            for state in ('SUCCESS', 'FAILURE', 'RETRY'):
                if state not in seen:
                    tasks = demo.tasks_in(state)
                    if tasks:
                        seen[state] = tasks
            return {'workers', 'SUCCESS', 'FAILURE', 'RETRY'} <= seen.keys()

        wait_for(
            cluster_is_live,
            max(1.0, deadline - time.monotonic()),
            interval=0.05,
            message=f'an online worker and SUCCESS/FAILURE/RETRY tasks (seen: {sorted(seen)})',
        )
        assert {name.split('@', 1)[0] for name in seen['workers']} <= {'demo1', 'demo2'}
        assert all(task['state'] == 'SUCCESS' for task in seen['SUCCESS'].values())
        assert {task['name'] for task in seen['FAILURE'].values()} <= {'shop.payments.charge', 'shop.inventory.sync'}
        assert any(
            'CardDeclined' in (task.get('exception') or '') or 'WarehouseUnavailable' in (task.get('exception') or '')
            for task in seen['FAILURE'].values()
        )
        assert {task['name'] for task in seen['RETRY'].values()} == {'shop.inventory.sync'}

        # /metrics counts what the API shows; read after the API, so it can only have counted more since
        succeeded_in_api = len(demo.tasks_in('SUCCESS'))
        counts = demo.event_counts()
        assert counts['task-succeeded'] >= succeeded_in_api > 0
        assert counts['task-failed', 'shop.payments.charge'] + counts['task-failed', 'shop.inventory.sync'] >= 1
        assert counts['task-retried', 'shop.inventory.sync'] >= 1
        assert counts['task-sent'] >= counts['task-received'] > 0

        state = json.loads((demo.folder / 'demo.json').read_text())
        assert state['pid'] == demo.pid and set(state['children']) == {'demo1', 'demo2', 'producer'}
        children = descendants(demo.pid)
        assert set(state['children'].values()) <= children
        assert len(children) >= 3 + 2 * 2, children  # 2 workers with 2 pool processes each, and the producer

        os.kill(demo.pid, signal.SIGINT)
        assert demo.popen.wait(30) == 0, demo.output()
        wait_for(
            lambda: not any(running(pid) for pid in children),
            10,
            message=f'every child of the demo to exit: {sorted(p for p in children if running(p))}',
        )
        assert not demo.folder.exists(), sorted(demo.folder.rglob('*'))[:20]
        assert 'Traceback' not in demo.output(), demo.output()
    finally:
        demo.stop()


@pytest.mark.slow
def test_a_demo_started_as_a_user_does_prints_a_login_that_works_its_controls(tmp_path):
    """Without authentication the API is closed and every control answered 401; the demo makes a login for the
    run, says so at start, and the dashboard's controls (the REST API) work with it."""
    # (a worker that has just started on a busy machine may take more than the default second to answer)
    demo = Demo(tmp_path, '--workers=1', '--rate=2', '--inspect_timeout=5000', api_open=False)
    try:
        login = wait_for(
            lambda: re.search(r"Log in as user '(\w+)' with password '([\w-]+)'", demo.output()),
            10,
            message='the login to be printed',
        )
        auth = login.group(1), login.group(2)
        assert login.group(2) not in ' '.join(demo.args)  # not in the process's command line, for ps to show
        assert 'NO AUTHENTICATION IS CONFIGURED' not in demo.output()
        closed = requests.get(demo.url + '/api/workers', timeout=10)
        assert closed.status_code == 401
        workers = wait_for(
            lambda: [
                name
                for name, info in requests.get(demo.url + '/api/workers', params={'refresh': 1}, auth=auth, timeout=30)
                .json()
                .items()
                if 'stats' in info
            ],
            60,
            interval=0.5,
            message='the demo worker to answer inspect',
        )
        response = requests.post(
            demo.url + '/api/task/rate-limit/shop.orders.confirm',
            auth=auth,
            timeout=30,
            data={'workername': workers[0], 'ratelimit': '30/m'},
        )
        assert response.status_code == 200, response.text
        assert response.json() == {'message': 'new rate limit set successfully'}
        page = requests.get(demo.url + '/workers', auth=auth, timeout=10)
        assert page.status_code == 200 and 'demo1@' in page.text
    finally:
        demo.stop(timeout=60, signum=signal.SIGINT)


@pytest.mark.slow
def test_sigterm_stops_the_demo_too(tmp_path):
    demo = Demo(tmp_path, '--workers=1', '--rate=2')
    try:
        wait_for(lambda: any(demo.get('/api/workers', status=1).json().values()), 30, message='a worker online')
        children = descendants(demo.pid)
        assert children
        os.kill(demo.pid, signal.SIGTERM)
        assert demo.popen.wait(30) == 0, demo.output()
        wait_for(lambda: not any(running(pid) for pid in children), 10, message='every child to exit')
        assert not demo.folder.exists()
    finally:
        demo.stop()


@pytest.mark.slow
def test_children_end_themselves_when_the_demo_is_killed(tmp_path):
    demo = Demo(tmp_path, '--workers=1', '--rate=2')
    try:
        # the lifeline starts with the worker; by the time it is online it watches its parent
        wait_for(lambda: any(demo.get('/api/workers', status=1).json().values()), 30, message='a worker online')
        children = descendants(demo.pid)
        assert len(children) >= 2, children
        os.kill(demo.pid, signal.SIGKILL)
        demo.popen.wait(10)
        # a worker shuts down warm (7-8 s on this broker); the lifeline kills its group after 30 s at the latest
        wait_for(
            lambda: not any(running(pid) for pid in children),
            45,
            message=f'orphans to exit: {sorted(p for p in children if running(p))}',
        )
        # it was each child's lifeline that stopped it
        for log in ('demo1.log', 'producer.out'):
            assert f'flower demo (PID {demo.pid}) is gone; stopping' in (demo.folder / 'logs' / log).read_text()
        # the folder a killed demo could not remove is removed by the next demo (here: the function it calls)
        assert demo.folder.exists()
        assert remove_stale_folders(str(tmp_path)) == [demo.folder]
        assert not demo.folder.exists()
    finally:
        demo.stop()


def folder_bound_run(tmp_path: Path, seconds: float, deadline: float = 120.0) -> str:
    """The demo at a high rate with the smallest budget (10 MB), its folder's disk use sampled every second for
    at least ``seconds``, and then until the budget has had to be enforced (at most ``deadline`` seconds in
    all). The bound, as documented: the budget for messages and results, plus 2 MB of logs per process, plus
    one sweep interval's writes (1 s; 3 MB allowed here, several times what the demo writes in a second on this
    machine). Returns the report line; an assertion fails when a bound is broken. ``seconds`` of 90 or more
    also checks the janitor's 60-s rule on the real folder (bench/demo_folder_soak.py runs that soak)."""
    budget = 10 * MB
    processes = 2 + 1  # workers and producer
    bound = budget + processes * LOG_CAP_PER_PROCESS + 3 * MB
    demo = Demo(tmp_path, '--workers=2', '--pool=threads', '--concurrency=16', '--rate=300', '--max_folder_mb=10')
    try:
        samples = []
        started = time.monotonic()

        def finished_tasks() -> float:
            counts = demo.event_counts()
            return counts['task-succeeded'] + counts['task-failed']

        def enforced() -> bool:
            # a result file per finished task would not have fitted, and the demo said it was at its budget
            return finished_tasks() * 4096 > 2 * budget and 'Demo folder at its budget of 10 MB' in demo.output()

        while True:
            assert demo.alive(), demo.output()
            samples.append(disk_usage(demo.folder))
            elapsed = time.monotonic() - started
            if elapsed >= seconds and len(samples) % 5 == 0 and enforced():  # asked every 5th sample
                break
            assert elapsed < deadline, f'the budget was not reached within {deadline:.0f} s: {samples[-1] / MB:.1f} MB'
            time.sleep(1.0)  # the sampling period of the measurement, not a wait for anything
        finished = finished_tasks()
        results_on_disk = len(os.listdir(demo.folder / 'results'))
        peak = max(samples)
        report = (
            f'{time.monotonic() - started:.0f} s: peak {peak / MB:.1f} MB, bound {bound / MB:.1f} MB, '
            f'{finished:.0f} tasks finished, {results_on_disk} result files left; samples (MB): '
            f'{[round(s / MB, 1) for s in samples[::10]]}'
        )
        assert peak <= bound, report
        # the bound had to be enforced: result files are only deleted by the budget before their 5-minute expiry
        assert finished * 4096 > 2 * budget, report
        assert results_on_disk < 0.8 * finished, report
        assert 'Demo folder at its budget of 10 MB' in demo.output()
        if seconds >= 90:
            # nothing but task messages outlives the janitor's 60-s rule for long (the sweep runs every second)
            cutoff = time.time() - 90
            stale = []
            for entry in os.scandir(demo.folder / 'data'):
                try:
                    if entry.stat().st_mtime < cutoff and not entry.name.endswith(('.celery.msg', '.reports.msg')):
                        stale.append(entry.name)
                except FileNotFoundError:  # taken by a reader meanwhile
                    pass
            assert not stale, stale[:10]
        return report
    finally:
        demo.stop()


@pytest.mark.slow
def test_folder_stays_within_its_bound_under_load(tmp_path):
    """The bound held from the start until the budget has had to be enforced (at least 20 s). The two-minute
    soak, which also sees the janitor's 60-s rule at work on the real folder, is bench/demo_folder_soak.py; the
    rule itself is tested below with a clock of the test's own."""
    print(folder_bound_run(tmp_path, seconds=20))


# -- options ---------------------------------------------------------------------------------------------------


def run_demo_command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, '-m', 'flower', 'demo', *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )


@pytest.mark.parametrize(
    'args, message',
    [
        (['--wrkers=2'], "Unknown option '--wrkers' (did you mean '--workers'?)"),
        (['--no_such_thing'], "Unknown option '--no_such_thing'"),
        (['--rate=fast'], "Invalid value 'fast' for option '--rate'"),
        (['--rate=5000'], "for option '--rate': expected 0 to 1000"),
        (['--workers=0'], "Invalid value 0 for option '--workers': expected 1 to 16"),
        (['--pool=gevent'], "Invalid value 'gevent' for option '--pool': expected one of prefork, threads, solo"),
        (['--concurrency'], "Option '--concurrency' requires a value"),
        (['--max_folder_mb=1'], "for option '--max_folder_mb': expected 10 to 100000"),
        (['--port=70000'], "Invalid value 70000 for option '--port'"),
        (['-A', 'proj'], 'flower demo runs its own Celery app and broker; it does not take --app'),
        (['--broker=redis://'], 'it does not take --broker'),
    ],
)
def test_bad_options_are_refused_with_a_message_that_names_them(args, message):
    result = run_demo_command(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert 'Traceback' not in result.stderr


def test_help_lists_every_demo_option_and_docs_describe_them():
    result = run_demo_command('--help')
    assert result.returncode == 0, result.stderr
    docs = (REPO / 'docs' / 'demo.md').read_text()
    for option in DEMO_OPTIONS.values():
        assert f'{option.flag}=' in result.stdout
        assert f'`{option.flag}' in docs, f'{option.flag} is not documented in docs/demo.md'


def test_the_demo_makes_a_login_only_when_the_user_gave_none(monkeypatch):
    from flower.demo.cli import with_demo_login
    from flower.options import resolve

    monkeypatch.delenv('FLOWER_UNAUTHENTICATED_API', raising=False)
    argv, login = with_demo_login(['--port=1'], resolve(['--port=1'], environ={}).options)
    assert login[0] == 'demo' and len(login[1]) >= 16 and argv == ['--port=1', f'--basic_auth=demo:{login[1]}']
    assert resolve(argv, environ={}).options.basic_auth == [f'demo:{login[1]}']
    assert with_demo_login(['--port=1'], resolve(['--port=1'], environ={}).options)[1] != login  # new each run
    for given, environ in (
        (['--basic_auth=me:pw'], {}),
        (['--auth=.*@example.com'], {}),
        ([], {'FLOWER_BASIC_AUTH': 'me:pw'}),
    ):
        assert with_demo_login(given, resolve(given, environ=environ).options) == (given, None)
    monkeypatch.setenv('FLOWER_UNAUTHENTICATED_API', 'true')  # the user opened the API: that is their choice
    assert with_demo_login([], resolve([], environ={}).options) == ([], None)


def test_demo_options_are_taken_out_and_the_rest_is_left_for_the_server():
    command = parse(['--workers', '3', '--port=8080', '--rate=0.5', '--basic_auth=a:b', '--max-folder-mb=50'])
    assert (command.settings.workers, command.settings.rate, command.settings.max_folder_mb) == (3, 0.5, 50)
    assert command.flower_argv == ['--port=8080', '--basic_auth=a:b']
    with pytest.raises(DemoOptionError, match="'--rate'"):
        parse(['--rate=nan'])


# -- the janitor's rules (a folder laid out like a demo's, a fixed clock) ----------------------------------------


def write(path: Path, size: int, age: float, now: float) -> Path:
    path.write_bytes(b'x' * size)
    os.utime(path, (now - age, now - age))
    return path


def message_name(queue: str, stamp: int = 1) -> str:
    return f'{stamp}_{os.urandom(8).hex()}.{queue}.msg'


@pytest.fixture
def layout(tmp_path):
    layout = Layout(tmp_path / 'flower-demo-test')
    layout.create()
    return layout


def test_janitor_removes_stale_messages_of_other_queues_but_keeps_task_messages(layout):
    now = time.time()
    stale_event = write(layout.data / message_name('celeryev.4f1c'), 300, 61, now)
    fresh_event = write(layout.data / message_name('celeryev.4f1c'), 300, 5, now)
    stale_reply = write(layout.data / message_name('a1b2.reply.celery.pidbox'), 300, 120, now)
    old_task = write(layout.data / message_name('celery'), 300, 600, now)
    old_report = write(layout.data / message_name('reports'), 300, 600, now)
    dead_write = write(layout.data / ('.' + message_name('celery') + '.tmp'), 300, 61, now)
    janitor = Janitor(layout, budget=100 * MB, clock=lambda: now)
    report = janitor.sweep()
    assert report.stale_messages == 3
    assert not stale_event.exists() and not stale_reply.exists() and not dead_write.exists()
    assert fresh_event.exists() and old_task.exists() and old_report.exists()


def test_janitor_expires_results_and_then_holds_the_budget_oldest_first(layout):
    now = time.time()
    expired = write(layout.results / 'celery-task-meta-expired', 100, 301, now)
    results = [write(layout.results / f'celery-task-meta-{i:03d}', 64 * 1024, 200 - i, now) for i in range(100)]
    tasks = [write(layout.data / message_name('celery', i), 64 * 1024, 10 - i * 0.01, now) for i in range(20)]
    janitor = Janitor(layout, budget=5 * MB, clock=lambda: now)
    report = janitor.sweep()
    assert report.expired_results == 1 and not expired.exists()
    assert report.bytes_before > 5 * MB >= report.bytes_after
    kept = [path for path in results if path.exists()]
    assert kept and kept == results[-len(kept) :], 'the oldest results go first'
    assert all(path.exists() for path in tasks), 'task messages go only when results are not enough'
    assert disk_usage(layout.root) <= 5 * MB

    # messages alone over the budget: the oldest task messages go, as a last resort
    janitor = Janitor(layout, budget=512 * 1024, clock=lambda: now)
    janitor.sweep()
    assert not any(path.exists() for path in results)
    kept_tasks = [path for path in tasks if path.exists()]
    assert kept_tasks and kept_tasks == tasks[-len(kept_tasks) :]
    assert disk_usage(layout.data) <= 512 * 1024


def test_janitor_rotates_logs(layout):
    now = time.time()
    log = write(layout.logs / 'demo1.log', 2 * MB, 0, now)
    out = write(layout.logs / 'demo1.out', 2 * MB, 0, now)
    small = write(layout.logs / 'producer.out', 100, 0, now)
    Janitor(layout, budget=100 * MB, clock=lambda: now).sweep()
    assert not log.exists() and (layout.logs / 'demo1.log.1').stat().st_size == 2 * MB
    assert out.stat().st_size == 0
    assert small.stat().st_size == 100


# -- the transport ---------------------------------------------------------------------------------------------


def test_transport_never_hands_out_a_half_written_message(layout):
    """kombu's own filesystem transport creates the file before writing it, and a consumer listing the folder
    in between gets an empty message (a worker died of it within seconds). Here a writer and two readers race
    over large messages; every message arrives once and whole."""
    from kombu import Connection

    options = {
        'data_folder_in': str(layout.data),
        'data_folder_out': str(layout.data),
        'control_folder': str(layout.control),
        'polling_interval': 0.01,
    }
    total, body = 400, 'x' * 200_000
    received, errors = [], []
    stop = threading.Event()

    def read():
        with Connection('filesystem://', transport=TRANSPORT, transport_options=options) as conn:
            queue = conn.SimpleQueue('race')
            while len(received) < total and not errors and not stop.is_set():
                try:
                    message = queue.get(timeout=0.5)
                except queue.Empty:
                    continue
                except Exception as exc:  # the failure this test is about
                    errors.append(exc)
                    return
                if message.payload['body'] != body:
                    errors.append(f"message {message.payload['n']} arrived cut")
                received.append(message.payload['n'])
                message.ack()

    with Connection('filesystem://', transport=TRANSPORT, transport_options=options) as conn:
        queue = conn.SimpleQueue('race')
        # kombu keeps one record of declared bindings per process, so the readers' threads skip binding; the
        # queue is bound here, before they start, as a separate consumer process would have done
        queue.queue.declare()
        readers = [threading.Thread(target=read, daemon=True) for _ in range(2)]
        try:
            for reader in readers:
                reader.start()
            for n in range(total):
                queue.put({'n': n, 'body': body})
            for reader in readers:
                reader.join(60)
        finally:
            stop.set()  # a failing run must not leave threads polling
    assert not errors, errors
    assert sorted(received) == list(range(total))
    assert not [name for name in os.listdir(layout.data) if name.endswith(('.msg', '.tmp', '.claimed'))]
    with Connection('filesystem://', transport=TRANSPORT, transport_options=options) as conn:
        assert conn.as_uri() == 'filesystem://'


def test_a_binding_table_is_whole_from_the_moment_it_exists(layout):
    """The demo transport writes a new exchange's binding table aside and links it into place (kombu creates it
    empty and writes it afterwards, and a publisher reading it in between failed); binding another queue still
    adds to the table, and no staging file is left behind."""
    from kombu import Connection, Exchange, Queue

    options = {
        'data_folder_in': str(layout.data),
        'data_folder_out': str(layout.data),
        'control_folder': str(layout.control),
    }
    exchange = Exchange('orders', type='direct')
    with Connection('filesystem://', transport=TRANSPORT, transport_options=options) as conn:
        channel = conn.default_channel
        Queue('confirm', exchange, routing_key='confirm')(channel).declare()
        assert json.loads((layout.control / 'orders.exchange').read_text()) == [['confirm', '', 'confirm']]
        Queue('charge', exchange, routing_key='charge')(channel).declare()
        table = json.loads((layout.control / 'orders.exchange').read_text())
    assert sorted(map(tuple, table)) == [('charge', '', 'charge'), ('confirm', '', 'confirm')]
    assert os.listdir(layout.control) == ['orders.exchange']  # no staging file left behind


# -- folders left by killed demos --------------------------------------------------------------------------------


def test_only_folders_of_demos_whose_processes_are_all_gone_are_removed(tmp_path):
    finished = subprocess.run(
        [sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True, check=True
    )
    dead_pid = int(finished.stdout)
    dead = Layout(tmp_path / 'flower-demo-dead')
    dead.create()
    dead.write_state(dead_pid, {'demo1': dead_pid})
    live = Layout(tmp_path / 'flower-demo-live')
    live.create()
    live.write_state(dead_pid, {'demo1': os.getpid()})  # a child still runs
    unknown = tmp_path / 'flower-demo-unknown'  # no demo.json: whose it is cannot be told
    unknown.mkdir()
    other = tmp_path / 'not-a-demo'
    other.mkdir()
    assert remove_stale_folders(str(tmp_path)) == [dead.root]
    assert live.root.exists() and unknown.exists() and other.exists()
