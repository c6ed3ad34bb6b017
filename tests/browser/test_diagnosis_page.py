"""The workers page in headless Chromium says why it is empty (issue 15 point 2) and its counts are those of the
lists they open (point 3), with screenshots in tests/screenshots/."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.support.processes import Server, free_port, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.parametrize('theme, width', [('light', 1280), ('dark', 375)])
def test_an_unreachable_broker_is_said_on_the_workers_page_instead_of_live(open_page, processes, theme, width):
    port = free_port()  # nothing listens there
    server = Server(f'redis://127.0.0.1:{port}/0')
    processes.append(server)
    wait_for(lambda: 'refused' in server.get('/api/diagnosis').text, 30, interval=0.3, message='the refusal')
    watched = open_page(width=width, theme=theme)
    page = watched.page
    page.goto(server.url + '/workers')
    finding = page.wait_for_selector('#diagnosis [data-diagnosis="broker_unreachable"]')
    assert 'connection refused' in finding.inner_text() and f'127.0.0.1:{port}' in finding.inner_text()
    assert 'Fix:' in finding.inner_text()
    # after the table's data arrived (the JS redraws the panel from it), the indicator still says what is wrong
    page.wait_for_selector('#workers-table tbody td.dt-empty')
    status = page.locator('#live-status')
    # the live channel says "Live" when its WebSocket opens; the page says what is wrong again within seconds
    page.wait_for_selector('#live-status[data-state="error"]', timeout=15000)
    assert status.inner_text().strip() == 'The broker cannot be reached'
    assert page.locator('#diagnosis').is_visible()
    assert page.evaluate('document.documentElement.scrollWidth - window.innerWidth') <= 1
    watched.screenshot(f'workers-broker-unreachable-{theme}-{width}')
    page.goto(server.url + '/tasks')
    assert page.wait_for_selector('#diagnosis [data-diagnosis="broker_unreachable"]').is_visible()
    watched.screenshot(f'tasks-broker-unreachable-{theme}-{width}')
    assert watched.problems() == []


@pytest.mark.redis
def test_a_healthy_cluster_shows_no_diagnosis_and_counts_that_match_their_lists(cluster, open_page):
    sent = [cluster.send('add', 1, 2), cluster.send('fail', 'boom'), cluster.send('retry_once', 3)]
    for result, state in zip(sent, ('SUCCESS', 'FAILURE', 'SUCCESS')):
        cluster.wait_state(result.id, {state})
    watched = open_page()
    page = watched.page
    page.goto(cluster.url('/workers'))
    page.wait_for_selector(f'#workers-table tr[id="{cluster.worker}"]')
    assert page.locator('#diagnosis').is_hidden()
    assert page.locator('#live-status').get_attribute('data-state') in ('live', 'polling', 'connecting')
    worker = quote(cluster.worker, safe='')
    # a locator, not an element: the live channel redraws the rows
    link = page.locator(f'#workers-table tr[id="{cluster.worker}"] a[href$="/tasks?worker={worker}"]').first
    shown = int(link.inner_text())
    assert shown >= 3
    watched.screenshot('workers-healthy-counts')
    link.click()  # the count opens its list, which says how many rows it has
    page.wait_for_selector('#tasks-table tbody tr[id^="task-"]')
    wait_for(
        lambda: f'of {shown} tasks' in page.inner_text('#tasks-table_info'),
        15,
        interval=0.3,
        message=f'the task list to show {shown} rows',
    )
    assert watched.problems() == []
