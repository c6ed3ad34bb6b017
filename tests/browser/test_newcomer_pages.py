"""What a newcomer meets first, in headless Chromium against a real server and worker (issue 15): the Limits tab
of a task that already has a rate limit, and the navigation's documentation link."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from tests.support.processes import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.redis]
LIMITED = 'tests.support.celeryapp.limited'


def _registered(cluster):
    info = cluster.server.get('/api/workers', params={'workername': cluster.worker, 'refresh': 1}).json()
    return info[cluster.worker]['registered']


def test_the_limits_tab_changes_the_limit_of_a_task_that_already_has_one(cluster, open_page):
    # the worker reports the task with Celery's decoration: that is what the page used to post as a task name
    assert f'{LIMITED} [rate_limit=100/m]' in _registered(cluster)
    done = cluster.send('limited', 7)
    cluster.wait_state(done.id, {'SUCCESS'})
    watched = open_page()
    page = watched.page
    page.goto(cluster.url('/worker/' + quote(cluster.worker, safe='')) + '#limits')
    row = page.locator('#limits-table tr', has=page.locator(f'a:text-is("{LIMITED}")'))
    assert row.locator('.task-limits').inner_text() == 'rate_limit=100/m'  # the current limit, as information
    form = row.locator('form[data-api="task/rate-limit"]')
    assert form.get_attribute('data-path') == LIMITED
    form.locator('input[name="ratelimit"]').fill('50/m')
    form.locator('button').click()
    toast = page.wait_for_selector('.toast.toast-success')
    assert 'new rate limit set successfully' in toast.inner_text().lower()
    wait_for(
        lambda: f'{LIMITED} [rate_limit=50/m]' in _registered(cluster),
        30,
        interval=0.5,
        message='the worker to report the new rate limit',
    )
    watched.screenshot('worker-limits-rate-limited-task')

    row.locator(f'a:text-is("{LIMITED}")').click()  # the name opens the task list of that name
    page.wait_for_url(re.compile(r'/tasks\?name='))
    page.wait_for_selector(f'tr[id="task-{done.id}"]', timeout=30000)
    assert watched.problems() == []


def test_the_worker_page_shows_a_limit_changed_from_elsewhere_without_a_reload(cluster, open_page):
    watched = open_page()
    page = watched.page
    page.goto(cluster.url('/worker/' + quote(cluster.worker, safe='')) + '?reinspect=2#limits')
    page.evaluate('window.__sameDocument = true')
    limits = page.locator('#limits-table tr', has=page.locator(f'a:text-is("{LIMITED}")')).locator('.task-limits')
    assert limits.inner_text() != 'rate_limit=13/m'
    # changed with Celery's own control API, as the celery command line would: the page was not involved
    replies = cluster.app.control.rate_limit(LIMITED, '13/m', destination=[cluster.worker], reply=True, timeout=5)
    assert replies and 'ok' in list(replies[0].values())[0]
    page.wait_for_function(
        """name => [...document.querySelectorAll('#limits-table tr')].some(row =>
             row.querySelector(`a[href*="${encodeURIComponent(name)}"]`) &&
             row.querySelector('.task-limits') && row.querySelector('.task-limits').innerText === 'rate_limit=13/m')""",
        arg=LIMITED,
        timeout=30000,
    )
    assert page.evaluate('window.__sameDocument') is True  # refreshed in place, not reloaded
    assert watched.problems() == []


def test_the_docs_link_opens_this_servers_documentation(cluster, open_page):
    watched = open_page()
    page = watched.page
    page.goto(cluster.url('/workers'))
    docs_link = page.locator('#main-nav a.nav-link', has_text='Docs')
    assert docs_link.get_attribute('href') == '/docs' and docs_link.get_attribute('target') is None
    docs_link.click()
    page.wait_for_url(cluster.url('/docs'))
    assert page.inner_text('#doc-page h1') == 'Documentation'
    assert page.get_attribute('#main-nav a.nav-link.active', 'href') == '/docs'
    watched.screenshot('docs-index')

    page.click('#doc-page a:text-is("Configuration")')
    page.wait_for_url(cluster.url('/docs/configuration.md'))
    assert page.locator('#doc-page table.doc-table').count() >= 3
    assert page.locator('#doc-page td code', has_text='--url_prefix').count() >= 1
    page.click('#doc-page a[href="#--url_prefix"]')  # an anchor on the same page lands on its heading
    wait_for(
        lambda: abs(page.evaluate('document.getElementById("--url_prefix").getBoundingClientRect().top')) < 200,
        10,
        interval=0.1,
        message='the heading scrolled into view (smoothly)',
    )

    page.goto(cluster.url('/docs/benchmarks.md'))
    page.wait_for_load_state('networkidle')
    assert page.evaluate('document.querySelector("#doc-page img.doc-image").naturalWidth') > 100
    page.goto(cluster.url('/docs/dashboards.md'))
    watched.screenshot('docs-dashboards')
    assert 'exception:' in page.inner_text('#doc-page')
    assert watched.problems() == []


def test_a_failure_is_found_by_its_error_from_the_search_box(cluster, open_page):
    bad = cluster.send('fail', 'card declined')
    cluster.wait_state(bad.id, {'FAILURE'})
    watched = open_page()
    page = watched.page
    page.goto(cluster.url('/tasks'))
    page.wait_for_selector('#tasks-table tbody tr')
    page.click('#search-help-toggle')
    assert 'exception:' in page.inner_text('#search-help') and 'traceback:' in page.inner_text('#search-help')
    page.fill('#tasks-search', "exception:\"ValueError('card declined')\"")
    page.wait_for_selector(f'tr[id="task-{bad.id}"]', timeout=30000)
    wait_for(
        lambda: page.locator('#tasks-table tbody tr[id^="task-"]').count() == 1,
        15,
        interval=0.2,
        message='only the failure with that error',
    )
    watched.screenshot('tasks-search-exception')
    assert watched.problems() == []
