"""Page templates written for Flower 2.2, put in ``Flower(template_path=...)``, render on this server.

The templates in ``tests/fixtures/flower_templates/`` are ours, written in the style of Flower 2.2's: each uses
the variables, blocks (``title``, ``navbar``, ``container``, ``extra_scripts`` of ``base.html``), UI module
(``{% module Template("navbar.html", ...) %}``) and helpers (``format_count``, ``format_value``, ``task_link``,
``humanize``, ``reverse_url``, ``url_escape``) its namesake in Flower uses. A real worker runs real tasks;
the app runs in this process (``template_path`` is a tornado setting, given in Python as Flower's users do)
with its events thread on the test broker, and the assertions read the rendered bodies.
"""

from __future__ import annotations

import html
import re
import socket
import uuid as uuidlib
from pathlib import Path
from urllib.parse import quote

import pytest
import tornado.web

from flower.urls import handlers as flower_handlers
from flower.views import BaseHandler
from tests.conftest import celery_app_for
from tests.support.events import heartbeat, worker_online
from tests.support.inprocess import InProcessServer
from tests.support.processes import start_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis]

FLOWER_TEMPLATES = Path(__file__).resolve().parents[1] / 'fixtures' / 'flower_templates'
TASKS = 'tests.support.celeryapp'


class Exploding(BaseHandler):
    def get(self):
        raise ZeroDivisionError('the numbers did not add up')


class Cluster:
    def __init__(self, server, worker, worker_name, capp):
        self.server, self.worker, self.name, self.capp = server, worker, worker_name, capp

    def page(self, path, status=200):
        response = self.server.get(path)
        assert response.status_code == status, response.text[:2000]
        return response.text

    def run(self, task, *args, **kwargs):
        result = self.capp.send_task(f'{TASKS}.{task}', args=args, kwargs=kwargs)

        def finished():
            task = self.server.on_loop(self.server.app.events.state.tasks.get, result.id)
            return task is not None and task.state in ('SUCCESS', 'FAILURE')

        wait_for(finished, 60, interval=0.2, message=f'{task} {result.id} to finish')
        return result.id


@pytest.fixture(scope='module')
def cluster(redis_url):
    capp = celery_app_for(redis_url)
    routes = flower_handlers[:-1] + [tornado.web.url(r'/explode', Exploding)] + flower_handlers[-1:]
    server = InProcessServer(
        {
            'enable_events': True,
            'inspect_timeout': 3000,
            'natural_time': True,
            'tasks_columns': 'name,state,routing_key',
        },
        capp=capp,
        handlers=routes,
        template_path=str(FLOWER_TEMPLATES),
    )
    server.on_loop(server.app.start_background)
    name = f'tmpl-{uuidlib.uuid4().hex[:6]}@{socket.gethostname()}'
    worker = start_worker(redis_url, name, pool='threads', concurrency=2)
    try:
        workers = server.app.events.state.workers
        wait_for(
            lambda: server.on_loop(lambda: name in workers and workers[name].alive),
            60,
            interval=0.3,
            message='the worker online in events',
        )
        cluster = Cluster(server, worker, name, capp)
        cluster.ids = [cluster.run('add', 2, 2) for _ in range(3)] + [cluster.run('fail', 'on purpose')]
        yield cluster
    finally:
        worker.stop()
        server.stop()


def _cells(page: str, row_id: str) -> dict[str, str]:
    row = re.search(rf'<tr id="{re.escape(row_id)}">(.*?)</tr>', page, re.S)
    assert row, f'no row {row_id!r} in the page'
    return {
        cls: html.unescape(text.strip()) for cls, text in re.findall(r'<td class="([\w-]+)">(.*?)</td>', row[1], re.S)
    }


def _text(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert match, f'no #{element_id} in the page'
    return html.unescape(match[1].strip())


def test_a_flower_workers_template_gets_the_workers_keyed_by_name_with_their_counters(cluster):
    page = cluster.page('/workers')
    # the Flower-style page in our layout: its title as it wrote it, its navbar module with the tab active
    assert '<title>Workers · Flower</title>' in page
    assert re.search(r'class="nav-link active" href="/workers"\s+aria-current="page">Workers', page)
    assert '<h1 id="flower-style">Our cluster</h1>' in page and 'id="workers-table"' not in page
    cells = _cells(page, quote(cluster.name, safe=''))
    assert cells['name'] == cluster.name and cells['status'] == 'True'
    # every task the worker received was counted from its events, split by how they ended
    assert (cells['received'], cells['succeeded'], cells['failed']) == ('4', '3', '1')
    assert cells['active'] == '0'
    assert re.fullmatch(r'\[[0-9., ]+\]', cells['loadavg'])
    assert _text(page, 'broker') == cluster.capp.connection().as_uri()
    assert 'var autorefresh = 1;' in page
    assert 'flower ' in page.split('<footer')[1]  # our footer: the page was laid out by our base.html


def test_a_flower_worker_template_gets_the_worker_as_flower_does(cluster):
    page = cluster.page('/worker/' + quote(cluster.name, safe=''))
    assert f'<title>{html.escape(cluster.name)} · Flower</title>' in page
    assert _text(page, 'workername') == cluster.name
    assert 'id="worker-shutdown"' in page  # not read-only
    assert _text(page, 'pid') == str(cluster.worker.popen.pid)
    processed = dict(re.findall(r'<td class="task-name">(.*?)</td><td class="count">(.*?)</td>', page))
    assert processed[f'{TASKS}.add'] == '3' and processed[f'{TASKS}.fail'] == '1'
    registered = re.findall(r'<li>(.*?)</li>', page.split('id="registered"')[1].split('</ul>')[0])
    assert f'{TASKS}.add' in [item.strip() for item in registered]
    assert '<td class="queue">celery</td>' in page
    broker = dict(
        re.findall(
            r'<td class="key">(.*?)</td><td class="value">(.*?)</td>', page.split('id="broker"')[1].split('</table>')[0]
        )
    )
    assert broker['Transport'] == 'redis' and broker['Hostname'] == '127.0.0.1'
    rusage = dict(
        re.findall(
            r'<td class="key">(.*?)</td><td class="value">(.*?)</td>', page.split('id="rusage"')[1].split('</table>')[0]
        )
    )
    assert re.fullmatch(r'[0-9.]+ (ms|s|min [0-9]+ s)', rusage['utime'])  # humanize(type='duration')
    other = dict(
        re.findall(
            r'<td class="key">(.*?)</td><td class="value">(.*?)</td>', page.split('id="other"')[1].split('</table>')[0]
        )
    )
    assert 'uptime' in other and 'clock' in other


def test_a_flower_worker_template_renders_a_worker_not_inspected_yet(cluster):
    # a worker known only from its events (it never answers an inspection): Flower 404s, we show the page,
    # and every part of the reply Flower's template reads is there, empty
    ghost = f'ghost-{uuidlib.uuid4().hex[:6]}@nowhere'
    cluster.server.apply([worker_online(ghost), heartbeat(ghost)])
    page = cluster.page('/worker/' + quote(ghost, safe=''))
    assert _text(page, 'workername') == ghost
    assert '<td class="task-name">' not in page and '<td class="queue">' not in page
    assert 'value-missing' in page.split('id="pid"')[1][:80]


def test_a_flower_tasks_template_gets_its_columns_and_time_type(cluster):
    page = cluster.page('/tasks')
    assert '<title>Tasks · Flower</title>' in page
    assert re.search(r'class="nav-link active" href="/tasks"', page)
    assert '<input type="hidden" value="natural-time" id=\'time\'>' in page  # --natural_time, no Celery timezone
    assert re.findall(r'<th data-column="(\w+)">(.*?)</th>', page) == [
        ('name', 'Name'),
        ('state', 'State'),
        ('routing_key', 'Routing key'),
    ]


def test_a_flower_task_template_gets_the_task(cluster):
    succeeded, failed = cluster.ids[0], cluster.ids[-1]
    page = cluster.page(f'/task/{succeeded}')
    assert f'<title>{TASKS}.add {succeeded[:8]} · Flower</title>' in page
    assert _text(page, 'taskid') == succeeded
    assert _text(page, 'state') == 'SUCCESS'
    assert _text(page, 'args') == '(2, 2)' and _text(page, 'result') == '4'
    assert f'href="/tasks?name={TASKS}.add"' in page
    fields = {name: value.strip() for name, value in re.findall(r'<dd data-field="(\w+)">(.*?)</dd>', page, re.S)}
    assert fields['worker'] == f'<a href="/worker/{quote(cluster.name)}">{html.escape(cluster.name)}</a>'
    assert re.fullmatch(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} UTC', fields['received'])  # humanize(type='time')
    assert re.fullmatch(r'[0-9.]+ (ms|s)', fields['runtime'])  # humanize(type='duration')
    assert fields['root_id'] == (
        f'<a class="task-link" href="/task/{succeeded}" title="{succeeded}">{succeeded}</a>'
    )  # task_link
    assert 'id="task-revoke"' not in page and 'id="task-terminate"' not in page

    page = cluster.page(f'/task/{failed}')
    assert _text(page, 'state') == 'FAILURE'
    fields = {
        name: html.unescape(value.strip())
        for name, value in re.findall(r'<dd data-field="(\w+)">(.*?)</dd>', page, re.S)
    }
    assert fields['exception'] == "ValueError('on purpose')"
    assert 'ValueError: on purpose' in fields['traceback']


def test_a_flower_broker_template_gets_the_queues(cluster):
    page = cluster.page('/broker')
    assert '<title>Broker · Flower</title>' in page
    assert _text(page, 'broker-url') == cluster.capp.connection().as_uri()  # password masked
    cells = _cells(page, 'celery')
    assert cells['name'] == 'celery' and cells['messages'] == '0'
    # Redis has no "unacked" count: format_value marks it missing rather than the page failing
    assert '<td class="unacked"><span class="value-missing">' in page


def test_flower_error_templates_get_the_message_and_status(cluster):
    page = cluster.page('/task/no-such-task', status=404)
    assert _text(page, 'not-found') == "Unknown task 'no-such-task'"
    assert _text(cluster.page('/no/such/page', status=404), 'not-found') == 'Error, page not found'
    page = cluster.page('/explode', status=500)
    assert _text(page, 'error') == 'Error 500'
    assert 'ZeroDivisionError' not in page and 'id="error-trace"' not in page  # not in debug mode
