"""Live updates in headless Chromium, against a real server and real workers: the tasks page, the workers page, a
worker's page and a task's page update themselves from the live channel with no reload and no polling request; when the channel is
refused the pages poll as before and say so; a dropped channel reconnects; and the channel works behind
--basic_auth the way the pages do."""

from __future__ import annotations

import re
import socket
import time
import uuid as uuidlib
from urllib.parse import quote

import pytest

from tests.browser.conftest import SCREENSHOTS
from tests.support.events import task_events
from tests.support.processes import Server, start_worker, wait_for
from tests.support.publish import publish_burst

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.redis]
LIVE = re.compile(r'/live$')
HOSTILE = '<img src=x onerror="window.__pwned=1">'


def _record_requests(page) -> list[str]:
    urls: list[str] = []
    page.on('request', lambda request: urls.append(request.url))
    return urls


def _requests_to(page, urls: list[str], fragment: str) -> list[str]:
    page.evaluate('0')  # a round trip: Playwright has delivered every request event the page made before it
    return [url for url in urls if fragment in url]


def _page_fetches(urls: list[str], path: str) -> list[str]:
    """Requests for the page at ``path`` itself (the workers page polls by fetching itself)."""
    return [url for url in urls if url.split('?')[0].endswith(path)]


def _screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f'{name}.png'), full_page=True)


def _go_live(page, url):
    page.goto(url)
    page.wait_for_selector('#live-status[data-state="live"]')
    assert page.inner_text('#live-status') == 'Live'
    page.evaluate('window.__sameDocument = true')  # gone if the page reloads


def test_a_task_appears_and_finishes_on_the_tasks_page_live_with_no_polling(cluster, open_page):
    watched = open_page()
    page = watched.page
    _go_live(page, cluster.url('/tasks'))
    page.wait_for_selector('#tasks-table tbody tr')
    requests = _record_requests(page)

    task = cluster.send('sleep', 3.2)  # runs longer than the page's 3 s polling period: a poll would be seen
    row = f'tr[id="task-{task.id}"]'
    page.wait_for_selector(f'{row} .state-badge[data-state="STARTED"]', timeout=15000)
    seen_started = time.time()
    page.wait_for_selector(f'{row} .state-badge[data-state="SUCCESS"]', timeout=15000)
    seen_succeeded = time.time()

    info = cluster.server.get(f'/api/task/info/{task.id}').json()
    assert seen_started - info['started'] < 2.0, 'STARTED was shown more than 2 s after the worker started it'
    assert seen_succeeded - info['succeeded'] < 2.0, 'SUCCESS was shown more than 2 s after the task finished'
    assert page.inner_text(f'{row} td.col-name') == 'tests.support.celeryapp.sleep'
    assert _requests_to(page, requests, '/tasks/datatable') == []  # pushed, not polled
    assert page.evaluate('window.__sameDocument') is True
    assert watched.problems() == []


def test_a_new_worker_appears_on_the_workers_page_and_goes_offline_live(cluster, open_page, processes):
    watched = open_page()
    page = watched.page
    _go_live(page, cluster.url('/workers'))
    online_before = int(page.inner_text('[data-stat="online"]'))
    requests = _record_requests(page)

    name = f'live-{uuidlib.uuid4().hex[:6]}@{socket.gethostname()}'
    worker = start_worker(cluster.redis_url, name, pool='solo', concurrency=1)
    processes.append(worker)
    row = f'#workers-table tr[id="{name}"]'
    page.wait_for_selector(f'{row} .badge.text-bg-success', timeout=40000)
    assert page.inner_text(f'{row} a.worker-link') == name
    wait_for(
        lambda: int(page.inner_text('[data-stat="online"]')) == online_before + 1,
        10,
        message='the online total to count the new worker',
    )

    # the pushed row is the server's own markup: its links, its classes, its columns
    assert page.get_attribute(f'{row} a.worker-link', 'href') == '/worker/' + quote(name, safe='')
    assert page.locator(f'{row} td').count() == 8
    _screenshot(page, 'live-workers')

    own_page = open_page()  # the worker's own page follows it too
    _go_live(own_page.page, cluster.url('/worker/' + quote(name, safe='')))
    assert own_page.page.inner_text('#worker-status') == 'Online'

    worker.stop()  # a warm shutdown sends worker-offline
    page.wait_for_selector(f'{row} .badge.text-bg-secondary', timeout=20000)
    assert page.inner_text(f'{row} .badge') == 'Offline'
    own_page.page.wait_for_selector('#worker-status[data-online="false"]', timeout=10000)
    assert own_page.page.inner_text('#worker-status') == 'Offline'
    # what it reported when inspected may be stale: the page fetches it again and shows it in place
    own_page.page.wait_for_selector('#worker-page[data-refreshed]', timeout=20000)
    _screenshot(own_page.page, 'live-worker')
    # the rows came with the page, and afterwards only over the channel: never fetched again
    assert _requests_to(page, requests, '/workers?json=1') == [] and _page_fetches(requests, '/workers') == []
    assert page.evaluate('window.__sameDocument') is True
    assert own_page.page.evaluate('window.__sameDocument') is True
    assert watched.problems() == [] and own_page.problems() == []


def test_the_page_of_a_running_task_flips_to_its_final_state(cluster, open_page):
    task = cluster.send('sleep', 3)
    cluster.wait_state(task.id, {'STARTED'})
    watched = open_page()
    page = watched.page
    _go_live(page, cluster.url(f'/task/{task.id}'))
    badge = '#task-page .page-meta .state-badge'
    assert page.get_attribute(badge, 'data-state') == 'STARTED'
    assert page.locator('#task-terminate').is_visible()

    page.wait_for_selector(f'{badge}[data-state="SUCCESS"]', timeout=15000)
    assert page.inner_text(badge) == 'SUCCESS'
    assert page.inner_text('[data-field="state"] .state-badge') == 'SUCCESS'
    assert page.inner_text('[data-field="result"] pre') == '3'
    assert page.inner_text('[data-field="runtime"] span').endswith(' s')
    assert page.locator('[data-field="succeeded"] time').count() == 1
    assert page.locator('#task-terminate').is_hidden() and page.locator('#task-revoke').is_hidden()
    assert page.get_attribute('#task-page', 'data-state') == 'SUCCESS'
    _screenshot(page, 'live-task')
    assert page.evaluate('window.__sameDocument') is True
    assert watched.problems() == []


def test_hostile_text_pushed_live_stays_text(cluster, open_page):
    task_id = str(uuidlib.uuid4())
    received, started, succeeded = task_events(
        name=f'live.{HOSTILE}',
        hostname=f'evil{HOSTILE}@replayed',
        uuid=task_id,
        args=repr((HOSTILE,)),
        result=repr(HOSTILE),
    )
    publish_burst(6379, [received, started], db=cluster.redis_db)
    watched = open_page()
    tasks_page = watched.page
    _go_live(tasks_page, cluster.url('/tasks'))
    task_page = open_page().page
    _go_live(task_page, cluster.url(f'/task/{task_id}'))
    assert task_page.locator('[data-field="result"]').count() == 0

    publish_burst(6379, [succeeded], db=cluster.redis_db)  # arrives on both pages over the channel only
    task_page.wait_for_selector('[data-field="result"] pre', timeout=10000)
    assert task_page.inner_text('[data-field="result"] pre') == repr(HOSTILE)
    assert task_page.inner_text('[data-field="worker"] a') == f'evil{HOSTILE}@replayed'
    assert task_page.inner_text('#task-name') == f'live.{HOSTILE}'
    row = f'tr[id="task-{task_id}"]'
    tasks_page.wait_for_selector(f'{row} .state-badge[data-state="SUCCESS"]', timeout=10000)
    assert tasks_page.inner_text(f'{row} td.col-name') == f'live.{HOSTILE}'
    for page in (tasks_page, task_page):
        assert page.locator('main img').count() == 0
        assert page.evaluate('window.__pwned') is None
        assert page.evaluate('window.__sameDocument') is True
    assert watched.problems() == []


def test_when_the_channel_is_refused_the_pages_poll_as_before_and_say_so(cluster, open_page):
    watched = open_page()
    page = watched.page
    page.route_web_socket(LIVE, lambda ws: ws.close())  # as a proxy that does not pass WebSockets
    page.goto(cluster.url('/tasks'))
    page.wait_for_selector('#live-status[data-state="polling"]')
    assert page.inner_text('#live-status') == 'Polling every 3 s'
    for _ in range(2):  # every 3 s, as before
        with page.expect_request(lambda request: '/tasks/datatable' in request.url, timeout=10000):
            pass
    task = cluster.send('add', 2, 40)
    page.wait_for_selector(f'tr[id="task-{task.id}"] .state-badge[data-state="SUCCESS"]', timeout=15000)

    page.goto(cluster.url('/workers'))
    page.wait_for_selector('#live-status[data-state="polling"]')
    for _ in range(2):  # every second, as before: the page fetches itself and swaps in the same fragments
        with page.expect_request(lambda request: _page_fetches([request.url], '/workers'), timeout=10000):
            pass
    assert watched.problems() == []


def test_a_dropped_channel_reconnects_and_stops_polling(cluster, open_page):
    watched = open_page()
    page = watched.page
    sockets = []

    def through(ws):
        ws.connect_to_server()
        sockets.append(ws)

    page.route_web_socket(LIVE, through)
    _go_live(page, cluster.url('/tasks'))
    page.wait_for_selector('#tasks-table tbody tr')
    sockets[-1].close()  # the connection drops (a restart, a network change)
    page.wait_for_selector('#live-status[data-state="reconnecting"]')
    page.wait_for_selector('#live-status[data-state="live"]', timeout=10000)
    assert len(sockets) == 2
    requests = _record_requests(page)
    # its row arrives over the new connection, and in the 3 s it runs (the polling period) nothing polls
    task = cluster.send('sleep', 3.2)
    page.wait_for_selector(f'tr[id="task-{task.id}"] .state-badge[data-state="SUCCESS"]', timeout=15000)
    assert _requests_to(page, requests, '/tasks/datatable') == []
    assert page.evaluate('window.__sameDocument') is True
    assert watched.problems() == []


def test_the_channel_works_behind_basic_auth_like_the_pages(cluster, browser, processes):
    server = Server(cluster.redis_url, args=['--basic_auth=viewer:s3cret', '--inspect_timeout=3000'])
    processes.append(server)
    wait_for(lambda: 'receiving events' in server.output(), 20, message='the server to subscribe')
    context = browser.new_context(http_credentials={'username': 'viewer', 'password': 's3cret'})
    try:
        page = context.new_page()
        page.goto(server.url + '/tasks')
        page.wait_for_selector('#live-status[data-state="live"]')
        requests = _record_requests(page)
        task = cluster.send('add', 20, 22)
        page.wait_for_selector(f'tr[id="task-{task.id}"] .state-badge[data-state="SUCCESS"]', timeout=15000)
        assert _requests_to(page, requests, '/tasks/datatable') == []
    finally:
        context.close()
