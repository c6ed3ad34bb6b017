"""The dashboard pages as HTML, from a real server watching a real worker (and replayed events for the values a
real worker would not send): rows, cells, links, filters, 404s, and escaping of hostile text everywhere.

One server and one worker serve the whole module (starting them is most of the cost); tests that need other
options start a server of their own on the same broker, which sees the same events."""

from __future__ import annotations

import html
import re
import socket
import time
import uuid as uuidlib
from urllib.parse import quote, quote_plus

import pytest

from tests.conftest import celery_app_for
from tests.support.events import heartbeat, task_events, worker_online
from tests.support.processes import REPO, Server, start_worker, wait_for
from tests.support.publish import publish_burst

pytestmark = [pytest.mark.slow, pytest.mark.redis]
TASKS = 'tests.support.celeryapp'
HOSTILE_WORKER = '<script>alert("w")</script>@"evil\'host'
HOSTILE_NAME = 'evil.<img src=x onerror=alert(1)>'
HOSTILE_ARGS = "('<img src=x onerror=alert(2)>', \"'quoted\\\"\")"
HOSTILE_KWARGS = "{'html': '<script>alert(3)</script>'}"
HOSTILE_RESULT = "'\"><svg onload=alert(4)>'"
PAYLOAD_MARKERS = ('<script>alert', '<img src=x', '<svg onload')


class Cluster:
    def __init__(self, redis_url, redis_db, server, worker_name):
        self.redis_url = redis_url
        self.redis_db = redis_db
        self.server = server
        self.worker = worker_name
        self.app = celery_app_for(redis_url)

    def send(self, task, *args, **kwargs):
        return self.app.send_task(f'{TASKS}.{task}', args=args, kwargs=kwargs)

    def wait_state(self, task_id, states, timeout=60):
        def reached():
            info = self.server.get(f'/api/task/info/{task_id}')
            return info.status_code == 200 and info.json()['state'] in states and info.json()

        return wait_for(reached, timeout, interval=0.2, message=f'task {task_id} in {states}')

    def publish(self, events):
        assert publish_burst(6379, events, db=self.redis_db) >= 1


@pytest.fixture(scope='module')
def cluster(redis_url, redis_db):
    started = []
    try:
        # the server first: its start-up inspection then misses the worker, which is what
        # test_worker_seen_in_events_is_inspected_for_its_page needs
        server = Server(redis_url, args=['--inspect_timeout=3000'])
        started.append(server)
        worker_name = f'pages-{uuidlib.uuid4().hex[:6]}@{socket.gethostname()}'
        started.append(start_worker(redis_url, worker_name, pool='prefork', concurrency=2))
        wait_for(
            lambda: server.get('/api/workers', params={'status': 1}).json().get(worker_name),
            60,
            interval=0.3,
            message='the worker online in events',
        )
        yield Cluster(redis_url, redis_db, server, worker_name)
    finally:
        for proc in reversed(started):
            proc.stop()


def _subscribed(server):
    wait_for(lambda: 'receiving events' in server.output(), 20, message='the server to subscribe to events')
    return server


def _worker_path(name):
    return '/worker/' + quote(name, safe='')


def _assert_no_payload(text):
    for marker in PAYLOAD_MARKERS:
        assert marker not in text, f'{marker!r} reached the page unescaped'


# -- workers ---------------------------------------------------------------------------------------------------
def test_worker_seen_in_events_is_inspected_for_its_page(cluster):
    server = cluster.server
    assert cluster.worker not in server.get('/api/workers').json()  # never inspected yet
    page = server.get(_worker_path(cluster.worker))
    assert page.status_code == 200
    assert f'<h1 class="page-title text-break" id="workername">{cluster.worker}</h1>' in page.text
    assert 'did not answer the inspection' not in page.text
    pool = re.search(r'<table class="table kv-table mb-0" id="pool-table">(.*?)</table>', page.text, re.S).group(1)
    assert re.search(r'Max concurrency</th><td data-key="max-concurrency">2</td>', pool)
    assert cluster.worker in server.get('/api/workers').json()


def test_workers_page_rows_cards_and_links(cluster):
    server = cluster.server
    done = cluster.send('add', 1, 2)
    cluster.wait_state(done.id, {'SUCCESS'})
    failed = cluster.send('fail', 'nope')
    cluster.wait_state(failed.id, {'FAILURE'})
    for path in ('/', '/workers'):
        page = server.get(path)
        assert page.status_code == 200
        assert '<title>Workers · Flower</title>' in page.text
        row = re.search(rf'<tr id="{re.escape(cluster.worker)}" class="">(.*?)</tr>', page.text, re.S)
        assert row, 'the worker has a row'
        cells = row.group(1)
        assert f'href="{_worker_path(cluster.worker)}"' in cells
        assert 'Online' in cells
        quoted = re.escape(html.escape(quote_plus(cluster.worker)))
        assert re.search(rf'\?state=FAILURE&amp;worker={quoted}">([1-9]\d*)</a>', cells)
        assert re.search(rf'\?state=SUCCESS&amp;worker={quoted}">([1-9]\d*)</a>', cells)
        assert 'href="/tasks?state=FAILURE" data-total="failed"' in page.text  # footer totals link to lists
        assert re.search(r'data-stat="online">[1-9]', page.text)
    data = server.get('/workers', params={'json': 1}).json()['data']
    row = next(r for r in data if r['hostname'] == cluster.worker)
    assert row['status'] is True
    assert row['task-received'] >= 2 and row['task-failed'] >= 1 and row['task-succeeded'] >= 1
    assert server.get('/workers', params={'refresh': 1}).status_code == 200
    assert server.get('/workers', params={'refresh': 'maybe'}).status_code == 400
    assert 'data-fl-autorefresh="3"' in server.get('/workers', params={'autorefresh': 3}).text
    assert 'data-fl-autorefresh="2.5"' in server.get('/workers', params={'autorefresh': '2.5'}).text


def test_worker_page_tabs_lists_and_limit(cluster):
    server = cluster.server
    running = cluster.send('sleep', 4)
    cluster.wait_state(running.id, {'STARTED'})
    page = server.get(_worker_path(cluster.worker)).text
    for tab in ('pool', 'broker', 'queues', 'tasks', 'limits', 'config', 'system', 'other'):
        assert f'id="pane-{tab}"' in page
    assert f'{TASKS}.add</a>' in page  # the registered tasks, with their limit forms
    assert f'data-api="task/rate-limit" data-path="{TASKS}.add"' in page
    # a task with a rate limit of its own: its name without Celery's decoration, the limit shown beside it
    assert f'data-api="task/rate-limit" data-path="{TASKS}.limited"' in page
    assert re.search(rf'{TASKS}\.limited</a>\s*<span class="task-limits[^"]*"[^>]*>rate_limit=100/m</span>', page)
    decorated = server.get('/tasks', params={'name': f'{TASKS}.limited [rate_limit=100/m]'}).text
    assert f'data-fl-name="{TASKS}.limited"' in decorated
    assert re.search(r'<td class="fw-semibold">celery</td>', page)  # its queue
    assert f'href="/task/{running.id}">{running.id}</a>' in page  # the active task
    assert 'https://docs.celeryq.dev/en/stable/userguide/configuration.html#' in page
    assert 'data-api="worker/pool/grow"' in page and 'data-action="shutdown"' in page
    assert 'name="n" min="1" max="10"' in page  # the form offers what --max_pool_step allows

    limited = server.get(_worker_path(cluster.worker), params={'limit': 1}).text
    registered = re.search(r'id="limits-table">(.*?)</table>', limited, re.S).group(1)
    assert registered.count('<tr>') == 2  # the header row and one task
    assert re.search(r'Showing 1 of \d+ tasks', limited)
    assert server.get(_worker_path(cluster.worker), params={'limit': -1}).status_code == 400
    assert server.get(_worker_path(cluster.worker), params={'limit': 'x'}).status_code == 400


def test_the_documentation_is_served_by_the_server(cluster):
    server = cluster.server
    assert 'href="/docs"' in server.get('/workers').text and 'readthedocs' not in server.get('/workers').text
    index = server.get('/docs')
    assert index.status_code == 200 and '<h1 id="documentation">Documentation</h1>' in index.text
    assert 'href="/docs/configuration.md"' in index.text and 'href="/api/openapi.json"' in index.text
    page = server.get('/docs/configuration.md')
    assert page.status_code == 200 and '<h3 id="--url_prefix">--url_prefix</h3>' in page.text
    image = server.get('/docs/benchmarks.png')
    assert image.headers['Content-Type'] == 'image/png' and image.content.startswith(b'\x89PNG')
    missing = server.get('/docs/nope.md')
    assert missing.status_code == 404 and 'No documentation page &#x27;nope.md&#x27;' in missing.text
    for outside in ('/docs/../README.md', '/docs/%2e%2e%2fREADME.md', '/docs/.hidden.md', '/docs/nope'):
        assert server.get(outside).status_code == 404, outside
    typed = server.get('/docs/troubleshooting', allow_redirects=False)  # as a person types it
    assert typed.status_code == 301 and typed.headers['Location'] == '/docs/troubleshooting.md'


def test_unknown_pages_are_404_pages_naming_what_was_asked(cluster):
    server = cluster.server
    for path, message in (
        ('/worker/nobody@nowhere', "Unknown worker &#x27;nobody@nowhere&#x27;"),
        ('/task/no-such-task', "Unknown task &#x27;no-such-task&#x27;"),
        ('/no/such/page', 'Error, page not found'),
    ):
        page = server.get(path)
        assert page.status_code == 404
        assert page.headers['Content-Type'].startswith('text/html')
        assert message in page.text
        assert 'href="/tasks"' in page.text  # a way back
    hostile = server.get('/task/<script>alert(1)</script>')
    assert hostile.status_code == 404
    assert '&lt;script&gt;alert(1)&lt;/script&gt;' in hostile.text
    _assert_no_payload(hostile.text)


# -- tasks ----------------------------------------------------------------------------------------------------
def test_tasks_page_shell_and_filters(cluster):
    server = cluster.server
    page = server.get('/tasks').text
    assert 'data-fl-columns="name,uuid,state,received,runtime,worker"' in page
    assert 'data-fl-source="/tasks/datatable"' in page
    for label in ('All', 'Started', 'Succeeded', 'Failed', 'Retried'):
        assert f'>{label}</button>' in page
    assert re.findall(r'<th scope="col" data-fl-slug="(\w+)"', page) == [
        'name',
        'uuid',
        'state',
        'received',
        'runtime',
        'worker',
    ]
    assert 'data-fl-timezone="UTC"' in page and 'data-fl-time-format="absolute"' in page

    filtered = server.get('/tasks', params={'state': 'failure', 'worker': '<b>x</b>"', 'name': f'{TASKS}.fail'}).text
    assert 'data-fl-state="FAILURE"' in filtered
    assert 'data-state-filter="FAILURE" aria-pressed="true"' in filtered
    assert 'data-fl-worker="&lt;b&gt;x&lt;/b&gt;&quot;"' in filtered
    assert f'<span class="chip-value">{TASKS}.fail</span>' in filtered
    assert '<b>x</b>' not in filtered


def _datatable(
    server,
    method='get',
    columns=('name', 'uuid', 'state', 'received', 'runtime', 'worker'),
    order=3,
    direction='desc',
    search='',
    start=0,
    length=15,
    **extra,
):
    params = {
        'draw': 7,
        'start': start,
        'length': length,
        'search[value]': search,
        'order[0][column]': order,
        'order[0][dir]': direction,
    }
    params.update({f'columns[{i}][data]': c for i, c in enumerate(columns)})
    params.update(extra)
    if method == 'post':
        return server.post('/tasks/datatable', data=params)
    return server.get('/tasks/datatable', params=params)


def test_failures_are_found_by_their_error(cluster):
    """A real failing task: its exception is searched by plain terms and ``exception:``, its traceback by
    ``traceback:``, on the tasks page and in the API."""
    server = cluster.server
    marker = uuidlib.uuid4().hex[:8]
    bad = cluster.send('fail', f'card {marker} declined')
    good = cluster.send('echo', f'ValueError card {marker} declined')  # the same words, in its arguments only
    cluster.wait_state(bad.id, {'FAILURE'})
    cluster.wait_state(good.id, {'SUCCESS'})

    def found(search):
        rows = _datatable(server, search=search, length=1000).json()['data']
        api = server.get('/api/tasks', params={'search': search}).json()
        assert {row['uuid'] for row in rows} == set(api), search
        return set(api)

    assert found(f'"ValueError(\'card {marker}"') == {bad.id}  # the exception's text, as a plain term
    assert found(f'exception:ValueError exception:{marker}') == {bad.id}
    assert found(f'exception:{marker}') == {bad.id}
    assert found(f'args:{marker}') == {bad.id, good.id}
    assert found(f'traceback:celeryapp.py {marker}') == {bad.id}  # the file the error was raised in
    assert found(f'exception:celeryapp.py {marker}') == set()  # ... is in the traceback, not the exception
    info = server.get(f'/api/task/info/{bad.id}').json()
    assert 'ValueError' in info['exception'] and 'celeryapp.py' in info['traceback']
    help_text = re.search(r'id="search-help">(.*?)</div>\s*</div>', server.get('/tasks').text, re.S).group(1)
    assert '<code>exception:</code>' in help_text and '<code>traceback:</code>' in help_text


def test_datatable_pages_sorts_filters_and_searches(cluster):
    server = cluster.server
    ids = [cluster.send('add', i, i).id for i in range(6)]
    bad = cluster.send('fail', 'datatable')
    for task_id in ids:
        cluster.wait_state(task_id, {'SUCCESS'})
    cluster.wait_state(bad.id, {'FAILURE'})

    for method in ('get', 'post'):
        answer = _datatable(server, method, length=3)
        assert answer.status_code == 200
        data = answer.json()
        assert data['draw'] == 7
        assert len(data['data']) == 3
        assert data['recordsTotal'] == data['recordsFiltered'] >= 7
        received = [row['received'] for row in data['data']]
        assert received == sorted(received, reverse=True)
        assert set(data['data'][0]) >= {'uuid', 'name', 'state', 'args', 'kwargs', 'result', 'received', 'worker'}
        assert all(row['worker'] == cluster.worker for row in data['data'])
        # each row carries the text its time and runtime cells show, formatted as the task's page formats them
        for row in data['data']:
            received = row['display']['received']
            assert re.fullmatch(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} UTC', received['text'])
            assert received['title'] == f"{received['text']} ({row['received']})"
            if row['state'] == 'SUCCESS':
                assert re.fullmatch(r'[\d.]+ (ms|s)', row['display']['runtime']['text'])
                assert row['display']['runtime']['title'] == f"{row['runtime']} s"

    second = _datatable(server, start=3, length=3).json()['data']
    first = _datatable(server, start=0, length=3).json()['data']
    assert not {r['uuid'] for r in first} & {r['uuid'] for r in second}

    by_name = _datatable(server, order=0, direction='asc', length=100).json()['data']
    names = [row['name'] for row in by_name]
    assert names == sorted(names)
    by_runtime = _datatable(server, columns=('runtime',), order=0, direction='desc', length=100).json()['data']
    runtimes = [row['runtime'] for row in by_runtime if row['runtime'] is not None]
    assert runtimes == sorted(runtimes, reverse=True)

    failures = _datatable(server, search=f'state:FAILURE name:{TASKS}.fail', length=100).json()
    assert failures['recordsFiltered'] >= 1
    assert bad.id in {row['uuid'] for row in failures['data']}
    assert {row['state'] for row in failures['data']} == {'FAILURE'}
    by_args = _datatable(server, search=f'args:"({ids[3]}"', length=100).json()
    assert by_args['recordsFiltered'] == 0  # an id is not an argument
    exact = _datatable(server, state='FAILURE', worker=cluster.worker.upper(), name=f'{TASKS}.fail', length=100).json()
    assert bad.id in {row['uuid'] for row in exact['data']}
    assert {row['name'] for row in exact['data']} == {f'{TASKS}.fail'}

    error = _datatable(server, search='ab').json()
    assert error['data'] == [] and error['recordsFiltered'] == 0 and error['recordsTotal'] >= 7
    assert error['searchError'] == 'Substring search terms must contain at least 3 characters at position 0.'


@pytest.mark.parametrize(
    'params, message',
    [
        ({'start': 'abc'}, "Invalid argument 'abc' of type 'int'"),
        ({'length': '1.5'}, "Invalid argument '1.5' of type 'int'"),
        ({'draw': None}, 'Missing argument draw'),
        ({'order[0][column]': None}, 'Missing argument order[0][column]'),
        ({'start': -5}, "Invalid argument 'start': must be 0 or more"),
        ({'columns[3][data]': 'secret_attr'}, "Invalid sort column 'secret_attr'"),
    ],
)
def test_datatable_bad_parameters_are_400_with_a_message(cluster, params, message):
    base = {
        'draw': 1,
        'start': 0,
        'length': 15,
        'order[0][column]': 3,
        'order[0][dir]': 'desc',
        'columns[3][data]': 'received',
    }
    base.update(params)
    answer = cluster.server.get('/tasks/datatable', params={k: v for k, v in base.items() if v is not None})
    assert answer.status_code == 400
    assert message in answer.text
    assert answer.headers['Content-Type'].startswith('text/plain')


def _offered(page: str) -> set[str]:
    """The task page's action buttons that are shown (the others are there, hidden, for the live updates)."""
    return {
        match.group(2)
        for match in re.finditer(r'<button class="([^"]*)"[^>]*id="(task-\w+)"', page)
        if 'd-none' not in match.group(1).split()
    }


def test_task_page_fields_links_controls_and_escaping(cluster):
    server = cluster.server
    failed = cluster.send('fail', '<script>alert("tb")</script>')
    cluster.wait_state(failed.id, {'FAILURE'})
    page = server.get(f'/task/{failed.id}').text
    assert f'<title>Task {TASKS}.fail · Flower</title>' in page
    assert f'<code class="uuid" id="task-uuid">{failed.id}</code>' in page
    assert 'data-state="FAILURE">FAILURE</span>' in page
    assert f'href="{_worker_path(cluster.worker)}">{cluster.worker}</a>' in page
    assert 'ValueError: &lt;script&gt;alert(&quot;tb&quot;)&lt;/script&gt;' in page  # the traceback, as text
    assert 'data-copy-target="#value-traceback"' in page
    assert _offered(page) == {'task-retry'}  # a failed task can be sent again
    for label in ('Arguments', 'Received', 'Started', 'Failed', 'Worker', 'Exception', 'Traceback'):
        assert f'<th scope="row">{label}</th>' in page
    _assert_no_payload(page)

    running = cluster.send('sleep', 3)
    cluster.wait_state(running.id, {'STARTED'})
    page = server.get(f'/task/{running.id}').text
    assert _offered(page) == {'task-revoke', 'task-terminate'}


def test_task_page_links_parent_root_and_children(cluster):
    parent, child = str(uuidlib.uuid4()), str(uuidlib.uuid4())
    host = 'family@replayed'
    start = time.time()
    events = [worker_online(host)]
    events += task_events(name='family.parent', hostname=host, uuid=parent, start=start)
    child_events = task_events(name='family.child', hostname=host, uuid=child, start=start + 0.01)
    child_events[0].update(parent_id=parent, root_id=parent)  # the task-received event carries the family
    events += child_events
    cluster.publish(events)
    server = cluster.server
    wait_for(lambda: server.get(f'/api/task/info/{child}').status_code == 200, 20, message='the child task')
    child_page = server.get(f'/task/{child}').text
    assert re.search(
        rf'<tr data-field="parent_id">.*?href="/task/{parent}">{parent}</a>.*?family\.parent · SUCCESS',
        child_page,
        re.S,
    )
    assert re.search(rf'<tr data-field="root_id">.*?href="/task/{parent}"', child_page, re.S)
    parent_page = server.get(f'/task/{parent}').text
    assert re.search(rf'<tr data-field="children">.*?href="/task/{child}">{child}</a>', parent_page, re.S)


def test_hostile_values_from_events_are_text_on_every_page(cluster):
    task_id = str(uuidlib.uuid4())
    events = [worker_online(HOSTILE_WORKER), heartbeat(HOSTILE_WORKER, active=1)]
    events += task_events(
        name=HOSTILE_NAME,
        hostname=HOSTILE_WORKER,
        args=HOSTILE_ARGS,
        kwargs=HOSTILE_KWARGS,
        result=HOSTILE_RESULT,
        uuid=task_id,
    )
    cluster.publish(events)
    server = cluster.server
    wait_for(lambda: server.get(f'/api/task/info/{task_id}').status_code == 200, 20, message='the hostile task')

    workers = server.get('/workers').text
    assert html.escape(HOSTILE_WORKER) in workers
    assert f'href="{_worker_path(HOSTILE_WORKER)}"' in workers
    _assert_no_payload(workers)

    task_page = server.get(f'/task/{task_id}').text
    for value in (HOSTILE_NAME, HOSTILE_ARGS, HOSTILE_KWARGS, HOSTILE_RESULT, HOSTILE_WORKER):
        assert html.escape(value) in task_page, value
    _assert_no_payload(task_page)

    worker_page = server.get(_worker_path(HOSTILE_WORKER))
    assert worker_page.status_code == 200  # known from events, even though nobody answers inspect
    assert 'did not answer the inspection' in worker_page.text
    assert html.escape(HOSTILE_WORKER) in worker_page.text
    _assert_no_payload(worker_page.text)

    tasks_page = server.get('/tasks', params={'worker': HOSTILE_WORKER, 'name': HOSTILE_NAME}).text
    _assert_no_payload(tasks_page)
    # the table's data is JSON (the page's script renders it as text); the values arrive exactly as sent
    rows = _datatable(server, search=f'name:"{HOSTILE_NAME[:12]}"', length=100).json()['data']
    row = next(r for r in rows if r['uuid'] == task_id)
    assert (row['name'], row['args'], row['kwargs'], row['result'], row['worker']) == (
        HOSTILE_NAME,
        HOSTILE_ARGS,
        HOSTILE_KWARGS,
        HOSTILE_RESULT,
        HOSTILE_WORKER,
    )


# -- broker -----------------------------------------------------------------------------------------------------
def test_broker_page_lists_the_queues(cluster):
    page = cluster.server.get('/broker')
    assert page.status_code == 200
    assert re.search(rf'id="broker-url">redis://(:\*\*@)?127\.0\.0\.1:6379/{cluster.redis_db}</code>', page.text)
    row = re.search(r'<th scope="row" class="text-break">celery</th>(.*?)</tr>', page.text, re.S)
    assert row, page.text
    assert re.search(r'data-key="messages">\d+</td>', row.group(1))


def test_broker_page_for_an_unsupported_transport_says_so(processes, tmp_path):
    server = Server('memory://', app=None, args=['--enable_events=false'])
    processes.append(server)
    page = server.get('/broker')
    assert page.status_code == 404  # as Flower's page
    assert "&#x27;memory&#x27; broker is not supported" in page.text
    assert 'id="queue-table"' not in page.text
    # the API says "not implemented" (Flower: 404, as if the route were missing)
    answer = server.get('/api/queues/length')
    assert (answer.status_code, answer.text) == (501, "'memory' broker is not supported")


# -- options ----------------------------------------------------------------------------------------------------
def test_url_prefix_reaches_links_static_files_and_scripts(cluster, processes):
    server = Server(cluster.redis_url, args=['--url_prefix=/flower/', '--inspect_timeout=3000'], wait=False)
    processes.append(server)
    server.wait_ready(prefix='/flower')
    assert server.get('/healthcheck').status_code == 404  # only the prefixed paths exist
    _subscribed(server)
    done = cluster.send('add', 5, 5)
    wait_for(lambda: server.get(f'/flower/api/task/info/{done.id}').status_code == 200, 30, message='the task')
    wait_for(lambda: cluster.worker in server.get('/flower/workers').text, 30, message='the worker row')

    home = server.get('/flower/')
    assert home.status_code == 200
    assert 'data-url-prefix="/flower"' in home.text
    assert 'href="/flower/tasks"' in home.text and 'href="/flower/broker"' in home.text
    assert f'href="/flower{_worker_path(cluster.worker)}"' in home.text
    # the rows are in the page, with the prefix in their links; nothing re-fetches them
    assert f'href="/flower/tasks?worker={quote(cluster.worker, safe="")}"' in home.text.replace('&amp;', '&')
    assert 'data-fl-source' not in home.text
    static = re.findall(r'(?:src|href)="(/[^"]*static/[^"]+)"', home.text)
    assert static and all(re.match(r'/flower/static/\S+\?v=[0-9a-f]+$', url) for url in static)
    for url in static:
        assert server.get(url).status_code == 200, url
    assert 'data-fl-source="/flower/tasks/datatable"' in server.get('/flower/tasks').text
    task_page = server.get(f'/flower/task/{done.id}').text
    assert f'href="/flower{_worker_path(cluster.worker)}"' in task_page
    assert 'href="/flower/tasks">Tasks</a> / Task' in task_page
    assert server.get(f'/flower{_worker_path(cluster.worker)}').status_code == 200
    assert (
        server.get(
            '/flower/tasks/datatable', params={'draw': 1, 'start': 0, 'length': 5, 'order[0][column]': 0}
        ).status_code
        == 200
    )
    assert 'href="/flower/tasks"' in server.get('/flower/nowhere').text  # the 404 page too
    assert server.get('/tasks').status_code == 404  # the unprefixed paths are gone
    docs = server.get('/flower/docs').text  # the documentation links stay under the prefix
    assert 'href="/flower/docs"' in home.text and 'href="/flower/docs/configuration.md"' in docs
    assert server.get('/flower/docs/api', allow_redirects=False).headers['Location'] == '/flower/docs/api.md'


def test_format_task_columns_and_the_apps_timezone(cluster, processes, tmp_path):
    (tmp_path / 'tokyoapp.py').write_text('from tests.support.celeryapp import app\napp.conf.timezone = "Asia/Tokyo"\n')
    conf = tmp_path / 'flowerconfig.py'
    conf.write_text(
        'def format_task(task):\n'
        '    task.kwargs = task.result = "<hidden by the hook>"\n'
        '    return task\n'
        'tasks_columns = "name,state,kwargs,nonsense,worker"\n'
    )
    server = Server(
        cluster.redis_url, app='tokyoapp', args=[f'--conf={conf}'], env={'PYTHONPATH': f'{tmp_path}:{REPO}'}
    )
    processes.append(server)
    _subscribed(server)
    done = cluster.send('echo', 1, secret='s3cret')
    wait_for(
        lambda: server.get(f'/api/task/info/{done.id}').json()['state'] == 'SUCCESS',
        30,
        message='the task in the new server',
    )

    tasks_page = server.get('/tasks').text
    assert 'data-fl-columns="name,state,kwargs,worker"' in tasks_page  # unknown slugs are left out
    assert 'data-fl-timezone="Asia/Tokyo"' in tasks_page
    assert 'responsive-columns' not in tasks_page  # a chosen list is shown as given
    rows = _datatable(server, columns=('name', 'state', 'kwargs', 'worker'), order=0, length=100).json()['data']
    row = next(r for r in rows if r['uuid'] == done.id)
    assert row['kwargs'] == '<hidden by the hook>'
    # the table's times are in the Celery app's timezone, as on the task's page
    assert re.fullmatch(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} JST', row['display']['received']['text'])
    assert re.fullmatch(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} JST', row['display']['started']['text'])
    page = server.get(f'/task/{done.id}').text
    assert '&lt;hidden by the hook&gt;' in page and 's3cret' not in page
    assert re.search(
        r'<time data-timestamp="[\d.]+" title="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} JST</time>', page
    )
    # the API is not formatted (as in Flower)
    assert 's3cret' in server.get(f'/api/task/info/{done.id}').json()['kwargs']


def test_natural_time_and_read_only(cluster, processes):
    server = Server(cluster.redis_url, args=['--natural_time', '--read_only', '--inspect_timeout=3000'])
    processes.append(server)
    _subscribed(server)
    failed = cluster.send('fail', 'read-only')
    wait_for(
        lambda: server.get(f'/api/task/info/{failed.id}').json()['state'] == 'FAILURE',
        30,
        message='the failure in the new server',
    )
    assert 'data-fl-time-format="natural"' in server.get('/tasks').text
    rows = _datatable(server, length=100).json()['data']
    row = next(r for r in rows if r['uuid'] == failed.id)
    assert re.fullmatch(r'\d+ seconds? ago|now', row['display']['received']['text'])
    assert re.fullmatch(r'[^"]+ UTC \([\d.]+\)', row['display']['received']['title'])
    page = server.get(f'/task/{failed.id}').text
    assert re.search(r'<time data-timestamp="[\d.]+" title="[^"]+ UTC \([\d.]+\)">(\d+ seconds? ago|now)</time>', page)
    assert 'data-read-only="true"' in page
    assert 'data-action="retry"' not in page and 'id="task-revoke"' not in page
    wait_for(lambda: server.get(_worker_path(cluster.worker)).status_code == 200, 30, message='the worker page')
    worker_page = server.get(_worker_path(cluster.worker)).text
    assert 'class="api-form' not in worker_page and 'data-action="shutdown"' not in worker_page
    assert 'Actions</button>' not in worker_page


def test_huge_arguments_are_cut_in_the_table_and_whole_on_the_task_page(cluster, processes):
    server = Server(cluster.redis_url, args=['--task_args_max_length=0', '--enable_events=false'])
    processes.append(server)
    _subscribed(server)
    huge = '(' + repr('x' * (10 * 1024 * 1024)) + ',)'
    task_id = str(uuidlib.uuid4())
    cluster.publish(task_events(name='huge.args', hostname='huge@replayed', args=huge, uuid=task_id))
    wait_for(
        lambda: server.get(f'/api/task/info/{task_id}', timeout=30).status_code == 200,
        60,
        interval=0.5,
        message='the huge task',
    )

    started = time.monotonic()
    rows = _datatable(server, columns=('name', 'args'), order=0, length=100, search='name:huge.args').json()['data']
    assert time.monotonic() - started < 5
    row = next(r for r in rows if r['uuid'] == task_id)
    assert len(row['args']) <= 201 and row['args'].endswith('…')
    page = server.get(f'/task/{task_id}', timeout=60).text
    assert html.escape(huge) in page
    assert 'class="truncated-note"' not in page

    # with the default --task_args_max_length the page says the stored value is only the start
    long_id = str(uuidlib.uuid4())
    cluster.publish(task_events(name='long.args', hostname='huge@replayed', args='(' + 'y' * 5000 + ',)', uuid=long_id))
    wait_for(lambda: cluster.server.get(f'/api/task/info/{long_id}').status_code == 200, 20, message='the long task')
    page = cluster.server.get(f'/task/{long_id}').text
    assert '1,024 of 5,003 characters kept: --task_args_max_length cut the rest when it was stored.' in page
    assert 'y' * 5000 not in page
