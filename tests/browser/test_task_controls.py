"""The task and worker pages' controls in headless Chromium against a real server and worker (issue 15 points 8,
10, 13 and 14): Retry withheld with the API's reason where the arguments were cut, the truncation notice, the
links between a retried task and its original, Terminate confirmed first, and every control showing its effect in
place (no reload: the confirming toast stays)."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from tests.support.processes import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.redis]


def _open(watched, url):
    page = watched.page
    page.goto(url)
    page.wait_for_selector('#live-status[data-state="live"]')
    page.evaluate('window.__sameDocument = true')  # gone if the page reloads
    return page


def test_retry_is_withheld_with_the_reason_and_the_truncation_notice_says_who_cut_what(cluster, open_page):
    cut = cluster.send('fail', 'x' * 50000)  # Celery cuts the repr to 1,031 characters, the server keeps 1,024
    cluster.wait_state(cut.id, {'FAILURE'})
    refused = cluster.server.post(f'/api/task/retry/{cut.id}')
    assert refused.status_code == 409
    watched = open_page()
    page = _open(watched, cluster.url(f'/task/{cut.id}'))
    assert not page.locator('#task-retry').is_visible()
    assert page.locator('#retry-refusal').is_visible()
    assert page.inner_text('#retry-refusal-reason') == refused.text
    note = page.inner_text('[data-field="args"] .truncated-note')
    assert note.startswith('1,024 characters kept. Celery shortened this value to 1,031 characters')
    assert 'in all' not in page.inner_text('#task-fields')
    watched.screenshot('task-retry-withheld-truncated-args')
    assert watched.problems() == []


def test_retry_refreshes_the_page_in_place_and_the_tasks_link_to_each_other(cluster, open_page):
    original = cluster.send('fail', 'again')
    cluster.wait_state(original.id, {'FAILURE'})
    watched = open_page()
    page = _open(watched, cluster.url(f'/task/{original.id}'))
    page.click('#task-retry')
    toast = page.wait_for_selector('.toast.toast-success')
    # no event of the original says it was retried: the row comes from the page's own refresh
    row = page.wait_for_selector('[data-field="retried_as"]')
    new_id = re.search(r"as '([^']+)'", toast.inner_text()).group(1)
    assert 'Retried as' in row.inner_text() and new_id in row.inner_text()
    assert page.evaluate('window.__sameDocument') is True  # no reload: the confirming toast was not lost
    watched.screenshot('task-retried-links-to-new')

    page.click(f'[data-field="retried_as"] a[href$="{new_id}"]')
    page.wait_for_url(re.compile(re.escape(new_id)))
    cluster.wait_state(new_id, {'FAILURE'})
    assert original.id in page.inner_text('[data-field="retry_of"]')
    watched.screenshot('task-retry-of-original')
    assert watched.problems() == []


def test_terminate_asks_first_and_the_task_page_shows_the_result_without_a_reload(cluster, open_page):
    running = cluster.send('sleep', 60)
    cluster.wait_state(running.id, {'STARTED'})
    watched = open_page()
    page = _open(watched, cluster.url(f'/task/{running.id}'))
    page.click('#task-terminate')
    dialog = page.wait_for_selector('#terminate-dialog.show')
    assert 'Terminate this task?' in dialog.inner_text()
    watched.screenshot('task-terminate-confirmation')
    page.click('#terminate-dialog .btn-outline-secondary')
    page.wait_for_selector('#terminate-dialog', state='hidden')
    assert cluster.server.get(f'/api/task/info/{running.id}').json()['state'] == 'STARTED'  # cancel did nothing

    page.click('#task-terminate')
    page.wait_for_selector('#terminate-dialog.show')
    page.click('#terminate-dialog [data-action="terminate"]')
    toast = page.wait_for_selector('.toast.toast-success')
    assert f"Revoked '{running.id}'" in toast.inner_text()
    page.wait_for_selector('#task-state[data-state="REVOKED"]', timeout=30000)
    assert page.evaluate('window.__sameDocument') is True  # no reload: the confirming toast was not lost
    assert not page.locator('#task-terminate').is_visible()
    watched.screenshot('task-terminated-in-place')
    assert watched.problems() == []


def test_the_worker_page_reads_as_people_read_it(cluster, open_page):
    scheduled = cluster.app.send_task('tests.support.celeryapp.add', args=(1, 2), countdown=300)
    try:
        wait_for(
            lambda: any(
                entry['request']['id'] == scheduled.id
                for entry in cluster.server.get('/api/workers', params={'workername': cluster.worker, 'refresh': 1})
                .json()[cluster.worker]
                .get('scheduled')
                or ()
            ),
            30,
            interval=0.5,
            message='the countdown task scheduled',
        )
        watched = open_page()
        page = _open(watched, cluster.url('/worker/' + quote(cluster.worker, safe='')) + '#tasks')
        eta = page.locator('#scheduled-table time').first
        assert re.fullmatch(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} \w+', eta.inner_text())
        assert 'T' in eta.get_attribute('title')
        watched.screenshot('worker-scheduled-eta')
        name = page.locator('#scheduled-table td.request-name').first  # a line or two, not letter by letter
        lines = name.evaluate(
            'td => { const r = document.createRange(); r.selectNodeContents(td); return r.getClientRects().length; }'
        )
        assert lines <= 2, lines
        table = page.locator('#scheduled-table')
        assert table.evaluate('t => t.scrollWidth <= t.parentElement.clientWidth + 1')  # nothing cut off on the right
        page.click('#tab-system')
        page.wait_for_selector('#pane-system.show.active')
        wait_for(
            lambda: page.evaluate("getComputedStyle(document.getElementById('pane-system')).opacity") == '1',
            10,
            interval=0.1,
            message='the System tab faded in',
        )  # (wait_for_function: CSP forbids its eval)
        utime = page.locator('#system-table td[data-key="utime"]')
        assert re.fullmatch(r'[\d.]+ (ms|s)|\d+ min \d+ s', utime.inner_text())
        assert utime.get_attribute('title').endswith(' s')
        watched.screenshot('worker-system-usage')
        assert watched.problems() == []
    finally:
        cluster.server.post(f'/api/task/revoke/{scheduled.id}')
