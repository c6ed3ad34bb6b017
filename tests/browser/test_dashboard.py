"""The dashboard in headless Chromium against a real server and worker: every page loads cleanly in both themes
and on a phone, the tasks table updates itself, searches and links, the worker controls change the worker, and
hostile text from events stays text."""

from __future__ import annotations

import re
import uuid as uuidlib
from urllib.parse import quote

import pytest

from tests.support.events import heartbeat, task_events, worker_online
from tests.support.processes import Server, wait_for
from tests.support.publish import publish_burst

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.redis]
XSS_ARG = '<img src=x onerror="window.__pwned=1;alert(1)">'


def _worker_path(name):
    return '/worker/' + quote(name, safe='')


@pytest.fixture(scope='module')
def finished_tasks(cluster):
    ok = cluster.send('add', 20, 22)
    bad = cluster.send('fail', 'browser')
    cluster.wait_state(ok.id, {'SUCCESS'})
    cluster.wait_state(bad.id, {'FAILURE'})
    return ok.id, bad.id


def _pages(cluster, finished_tasks):
    ok, bad = finished_tasks
    return [
        ('workers', '/workers'),
        ('worker', _worker_path(cluster.worker)),
        ('tasks', '/tasks'),
        ('task-success', f'/task/{ok}'),
        ('task-failure', f'/task/{bad}'),
        ('broker', '/broker'),
        ('docs', '/docs'),
        ('docs-configuration', '/docs/configuration'),
        ('docs-troubleshooting', '/docs/troubleshooting'),
        ('not-found', '/task/no-such-task'),
    ]


@pytest.mark.parametrize('theme, width', [('light', 1280), ('dark', 1280), ('light', 375), ('dark', 375)])
def test_every_page_loads_cleanly_in_both_themes_and_on_a_phone(cluster, finished_tasks, open_page, theme, width):
    watched = open_page(width=width, theme=theme)
    page = watched.page
    for name, path in _pages(cluster, finished_tasks):
        response = page.goto(cluster.url(path))
        assert response.status == (404 if name == 'not-found' else 200), path
        page.wait_for_load_state('networkidle')
        assert page.evaluate('document.documentElement.getAttribute("data-bs-theme")') == theme
        if name in ('workers', 'tasks'):
            page.wait_for_selector('table.dataTable tbody tr')  # the script built the table
        overflow = page.evaluate('document.documentElement.scrollWidth - window.innerWidth')
        assert overflow <= 1, f'{path} is {overflow}px wider than a {width}px screen'
        watched.screenshot(f'{name}-{theme}-{width}')
        problems = watched.problems(allow_document_404=page.url if name == 'not-found' else None)
        assert problems == [], f'{path}: {problems}'


def test_the_theme_menu_switches_and_is_remembered(cluster, open_page):
    watched = open_page(theme='auto')
    page = watched.page
    page.goto(cluster.url('/tasks'))
    assert page.evaluate('document.documentElement.getAttribute("data-bs-theme")') == 'light'
    page.click('#theme-menu')
    page.click('[data-theme-choice="dark"]')
    assert page.evaluate('document.documentElement.getAttribute("data-bs-theme")') == 'dark'
    page.goto(cluster.url('/workers'))
    assert page.evaluate('document.documentElement.getAttribute("data-bs-theme")') == 'dark'
    assert page.get_attribute('[data-theme-choice="dark"]', 'aria-pressed') == 'true'
    assert watched.problems() == []


def test_a_new_task_appears_on_the_tasks_page_without_a_reload(cluster, open_page):
    watched = open_page()
    page = watched.page
    page.goto(cluster.url('/tasks'))
    page.wait_for_selector('#tasks-table tbody tr')
    page.evaluate('window.__sameDocument = true')
    task = cluster.send('add', 1000, 1)
    page.wait_for_selector(f'tr[id="task-{task.id}"]', timeout=30000)
    # a locator, not an element handle: live updates may redraw the row at any moment
    assert f'{task.id}' in page.locator(f'tr[id="task-{task.id}"]').inner_text()
    page.wait_for_selector(f'tr[id="task-{task.id}"] .state-badge[data-state="SUCCESS"]', timeout=30000)
    assert page.evaluate('window.__sameDocument') is True  # no reload happened
    assert watched.problems() == []


def test_typing_a_search_filters_the_table_and_shows_syntax_errors_inline(cluster, finished_tasks, open_page):
    watched = open_page()
    page = watched.page
    page.goto(cluster.url('/tasks'))
    page.wait_for_selector('#tasks-table tbody tr')
    page.fill('#tasks-search', 'state:FAILURE name:fail')

    def only_failures():
        states = page.eval_on_selector_all('#tasks-table tbody .state-badge', 'els => els.map(e => e.textContent)')
        return states and set(states) == {'FAILURE'}

    wait_for(only_failures, 15, interval=0.2, message='the table to show only failures')
    assert 'search=state%3AFAILURE+name%3Afail' in page.url  # the filter is in the address, to share

    page.fill('#tasks-search', 'ab')
    error = page.wait_for_selector('#search-error:not(.d-none)')
    assert 'at least 3 characters at position 0' in error.inner_text()
    page.fill('#tasks-search', '')
    page.wait_for_selector('#search-error.d-none', state='attached')
    wait_for(
        lambda: (
            len(set(page.eval_on_selector_all('#tasks-table tbody .state-badge', 'els => els.map(e => e.textContent)')))
            > 1
        ),
        15,
        message='every state back',
    )
    page.click('[data-state-filter="SUCCESS"]')
    wait_for(
        lambda: (
            set(page.eval_on_selector_all('#tasks-table tbody .state-badge', 'els => els.map(e => e.textContent)'))
            == {'SUCCESS'}
        ),
        15,
        message='the Succeeded filter',
    )
    assert watched.problems() == []


def test_clicking_a_task_opens_its_page(cluster, finished_tasks, open_page):
    watched = open_page()
    page = watched.page
    ok, _ = finished_tasks
    page.goto(cluster.url('/tasks?search=' + ok))
    # a locator re-finds the link if a live update redraws the row before the click (an element handle would
    # be detached from the page by then)
    page.locator(f'tr[id="task-{ok}"] a.task-link').click()
    page.wait_for_url(re.compile(rf'/task/{ok}$'))
    assert page.inner_text('#task-name') == 'tests.support.celeryapp.add'
    assert page.inner_text('[data-field="result"] pre') == '42'
    page.click('[data-field="worker"] a')
    page.wait_for_url(re.compile(re.escape(_worker_path(cluster.worker)) + '$'))
    assert watched.problems() == []


def _processes(cluster):
    info = cluster.server.get('/api/workers', params={'workername': cluster.worker, 'refresh': 1}).json()
    return len(info[cluster.worker]['stats']['pool']['processes'])


def test_growing_the_pool_from_the_worker_page_changes_the_worker(cluster, open_page):
    before = _processes(cluster)
    watched = open_page()
    page = watched.page
    page.goto(cluster.url(_worker_path(cluster.worker)))
    page.evaluate('window.__sameDocument = true')  # gone if the page reloads
    page.fill('#pool-size', '1')
    page.click('#pool-grow')
    toast = page.wait_for_selector('.toast.toast-success')
    assert f"Growing '{cluster.worker}' worker's pool by 1" in toast.inner_text()
    # the page shows what changed in place (no "reload it" notice, no reload): the toast stays
    page.wait_for_selector('#worker-page[data-refreshed]')
    assert page.evaluate('window.__sameDocument') is True and page.locator('#stale-notice').count() == 0
    wait_for(lambda: _processes(cluster) == before + 1, 30, interval=0.5, message='one more pool process')

    page.click('#pool-shrink')  # and back, through the same form
    page.wait_for_selector('.toast.toast-success >> text=Shrinking')
    wait_for(lambda: _processes(cluster) == before, 30, interval=0.5, message='the pool back to its size')

    page.click('#tab-limits')  # the open tab is kept in the address
    assert page.url.endswith('#limits')
    assert watched.problems() == []


def _queues(cluster):
    info = cluster.server.get('/api/workers', params={'workername': cluster.worker, 'refresh': 1}).json()
    return {queue['name'] for queue in info[cluster.worker]['active_queues']}


def test_adding_and_cancelling_a_consumer_from_the_worker_page(cluster, open_page):
    queue = f'browser-extra-{uuidlib.uuid4().hex[:6]}'
    watched = open_page()
    page = watched.page
    page.goto(cluster.url(_worker_path(cluster.worker)) + '#queues')
    page.fill('#add-queue', queue)
    page.click('#add-consumer-form button[type="submit"]')
    page.wait_for_selector(f'.toast.toast-success >> text={queue}')
    wait_for(lambda: queue in _queues(cluster), 30, interval=0.5, message='the new queue consumed')

    page.reload()
    row = page.locator('#queues-table tr', has=page.locator('td.fw-semibold', has_text=queue))
    row.locator('button', has_text='Stop consuming').click()
    page.wait_for_selector(f'.toast.toast-success >> text=no longer consuming from {queue}')
    wait_for(lambda: queue not in _queues(cluster), 30, interval=0.5, message='the queue dropped')
    assert watched.problems() == []


def test_retrying_a_failed_task_from_its_page(cluster, finished_tasks, open_page):
    _, failed = finished_tasks
    watched = open_page()
    page = watched.page
    page.goto(cluster.url(f'/task/{failed}'))
    page.click('#task-retry')
    toast = page.wait_for_selector('.toast.toast-success')
    assert f"Retried '{failed}' as" in toast.inner_text()
    new_id = re.search(r"as '([0-9a-f-]{36})'", toast.inner_text()).group(1)
    cluster.wait_state(new_id, {'FAILURE'})
    page.click('.toast.toast-success a')
    page.wait_for_url(re.compile(rf'/task/{new_id}$'))
    assert 'browser' in page.inner_text('#value-args')  # the same arguments (sent as a list)
    assert watched.problems() == []


def test_a_failing_control_shows_an_error_toast(cluster, open_page):
    watched = open_page()
    page = watched.page
    page.goto(cluster.url(_worker_path(cluster.worker)) + '#limits')
    form = page.locator('form[data-api="task/rate-limit"][data-path="tests.support.celeryapp.add"]')
    form.locator('input[name="ratelimit"]').fill('fast please')
    form.locator('button').click()
    toast = page.wait_for_selector('.toast.toast-error')
    assert 'rate' in toast.inner_text().lower()
    assert watched.problems(failed_request=cluster.url('/api/task/rate-limit/tests.support.celeryapp.add')) == []


def test_hostile_text_in_args_and_names_fires_no_script(cluster, open_page, processes):
    server = Server(cluster.redis_url, args=['--tasks_columns=all', '--inspect_timeout=3000'])
    processes.append(server)
    wait_for(lambda: 'receiving events' in server.output(), 20, message='the second server to subscribe')
    task = cluster.send('echo', XSS_ARG, note='<script>window.__pwned=2</script>')
    cluster.wait_state(task.id, {'SUCCESS'}, server=server)
    hostile_worker = 'evil<img src=x onerror="window.__pwned=3">@replayed'
    replayed = str(uuidlib.uuid4())
    events = [worker_online(hostile_worker), heartbeat(hostile_worker)]
    events += task_events(
        name='<img src=x onerror="window.__pwned=4">', hostname=hostile_worker, uuid=replayed, args=f'({XSS_ARG!r},)'
    )
    assert publish_burst(6379, events, db=cluster.redis_db) >= 1
    wait_for(lambda: server.get(f'/api/task/info/{replayed}').status_code == 200, 20, message='the replayed task')

    watched = open_page()
    page = watched.page
    page.goto(server.url + '/tasks?search=onerror')
    page.wait_for_selector(f'tr[id="task-{task.id}"]')
    page.wait_for_selector(f'tr[id="task-{replayed}"]')
    args_cell = page.inner_text(f'tr[id="task-{task.id}"] td.col-args')
    assert XSS_ARG in args_cell
    assert page.inner_text(f'tr[id="task-{replayed}"] td.col-name') == '<img src=x onerror="window.__pwned=4">'
    assert page.locator('#tasks-table img').count() == 0
    assert page.locator('#tasks-table script').count() == 0
    assert page.evaluate('window.__pwned') is None  # each page is checked before the next one replaces it

    page.goto(server.url + f'/task/{task.id}')
    assert XSS_ARG in page.inner_text('#value-args')
    assert '<script>window.__pwned=2</script>' in page.inner_text('#value-kwargs')
    assert page.locator('main img').count() == 0
    assert page.evaluate('window.__pwned') is None

    page.goto(server.url + '/workers')
    page.wait_for_selector('#workers-table a.worker-link')  # a worker row, not DataTables' "Loading..." row
    assert page.locator('#workers-table a.worker-link', has_text=hostile_worker).count() == 1
    assert page.locator('#workers-table img').count() == 0
    assert page.evaluate('window.__pwned') is None
    page.goto(server.url + _worker_path(hostile_worker))
    assert page.inner_text('#workername') == hostile_worker

    assert page.evaluate('window.__pwned') is None
    assert watched.problems() == []
    watched.screenshot('hostile-task-args')
