"""The dashboards' fragments (flower.views.modules): the first page load renders them as UIModules, and the live
channel's pages push the very same HTML, so an update swaps in exactly what a reload would show. Checked on a
real in-process server (its template loader, its options, --url_prefix), with hostile text in the events."""

from __future__ import annotations

import re

import pytest

from tests.support.events import heartbeat, task_events, worker_online
from tests.support.inprocess import InProcessServer

HOSTILE = '<img src=x onerror=alert(1)>'


@pytest.fixture(params=['', '/flower'])
def server(request):
    options = {'inspect_timeout': 100}
    if request.param:
        options['url_prefix'] = request.param
    server = InProcessServer(options)
    server.prefix = request.param
    yield server
    server.stop()


def pushed(server, page: str, key) -> dict:
    """What the live channel would push for that view now, rendered on the IOLoop as the hub renders it."""
    return server.on_loop(lambda: server.app.live.pages[page].render(key).data)


def test_the_first_load_and_the_live_channel_render_the_same_fragments(server):
    worker = f'{HOSTILE}@host'
    parent = task_events(uuid='parent-1', name=f'tasks.{HOSTILE}', hostname=worker, outcome='none')
    child = task_events(uuid='child-1', hostname=worker)
    child[0]['parent_id'] = 'parent-1'
    server.apply([worker_online(worker), heartbeat(worker, loadavg=[0.5, 0.25, 0.125]), *parent, *child])
    prefix = server.prefix

    workers_page = server.get(f'{prefix}/workers').text
    fragments = pushed(server, 'workers', None)['fragments']
    assert set(fragments) == {'diagnosis', 'workers-summary', 'workers-rows', 'workers-totals', 'workers-empty'}
    for element_id, html in fragments.items():
        assert html.strip() in workers_page, element_id
    rows = fragments['workers-rows']
    assert f'href="{prefix}/worker/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%40host"' in rows
    assert '&lt;img src=x onerror=alert(1)&gt;@host' in rows and HOSTILE not in rows
    assert '<td class="wide loadavg">0.50  0.25  0.12</td>' in rows

    task_page = server.get(f'{prefix}/task/parent-1').text
    data = pushed(server, 'task', 'parent-1')
    assert data['state'] == 'STARTED'
    for element_id, html in data['fragments'].items():
        assert html.strip() in task_page, element_id
    everything = ''.join(data['fragments'].values())
    assert HOSTILE not in everything and '&lt;img src=x onerror=alert(1)&gt;' in everything
    assert f'href="{prefix}/task/child-1"' in data['fragments']['task-fields']

    worker_page = server.get(f'{prefix}/worker/{worker.replace("<", "%3C").replace(">", "%3E")}').text
    fragments = pushed(server, 'worker', worker)['fragments']
    assert set(fragments) == {'worker-status', 'worker-heartbeat'}
    for element_id, html in fragments.items():
        assert html.strip() in worker_page, element_id
    assert 'data-online="true"' in fragments['worker-status']


def test_fragments_carry_no_script_and_no_inline_handler_or_style(server):
    worker = 'w1@host'
    server.apply([worker_online(worker), heartbeat(worker), *task_events(uuid='t-1', hostname=worker)])
    every = [
        *pushed(server, 'workers', None)['fragments'].values(),
        *pushed(server, 'worker', worker)['fragments'].values(),
        *pushed(server, 'task', 't-1')['fragments'].values(),
    ]
    for html in every:
        assert not re.search(r'<script|\son[a-z]+=|\sstyle=|javascript:', html, re.I), html


def test_the_workers_page_loads_its_rows_once(server):
    server.apply([worker_online('w1@host'), heartbeat('w1@host')])
    page = server.get(f'{server.prefix}/workers').text
    assert re.search(r'<tr id="w1@host"', page)  # in the page as served
    assert 'data-fl-source' not in page and '?json=1' not in page  # nothing for DataTables to fetch them again
    assert server.get(f'{server.prefix}/workers?json=1').json()['data'][0]['hostname'] == 'w1@host'  # still served
