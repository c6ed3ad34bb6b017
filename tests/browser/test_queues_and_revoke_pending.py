"""Issue 15 points 6 and 7 in headless Chromium against a real server and worker: the broker page shows a
queue with messages and no consumer and says where the numbers were read; Revoke on a scheduled task shows a
*revoke pending* badge at once on the task page (through the live channel, no reload) and in the tasks table."""

from __future__ import annotations

import uuid

import pytest

from tests.support.processes import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.redis]
ADD = 'tests.support.celeryapp.add'


def test_the_broker_page_shows_a_queue_nobody_consumes(cluster, open_page):
    orphan = f'orphan-{uuid.uuid4().hex[:6]}'
    for i in range(3):
        cluster.app.send_task(ADD, args=(i, i), queue=orphan)
    watched = open_page()
    page = watched.page

    def shown():
        page.goto(cluster.url('/broker'))
        row = page.locator('#queue-table tbody tr', has=page.locator(f'th:text-is("{orphan}")'))
        return row.count() == 1 and row.locator('td[data-key="messages"]').inner_text() == '3'

    wait_for(shown, 30, interval=1, message='the broker page to list the queue nobody consumes')
    assert page.inner_text('#queue-source') == 'Read from Redis'
    watched.screenshot('broker-queue-without-consumer')
    assert watched.problems() == []


@pytest.mark.parametrize('theme, width', [('light', 1280), ('dark', 375)])
def test_revoking_a_scheduled_task_shows_revoke_pending_at_once(cluster, open_page, theme, width):
    task_id = cluster.app.send_task(ADD, args=(1, 1), countdown=300).id
    cluster.wait_state(task_id, {'RECEIVED'})
    watched = open_page(width=width, theme=theme)
    page = watched.page
    page.goto(cluster.url(f'/task/{task_id}'))
    assert page.locator('#revoked-pending').is_hidden()
    page.click('#task-revoke')
    page.wait_for_selector('#revoked-pending:not([hidden])', timeout=15000)
    assert page.inner_text('.page-meta .state-badge') == 'RECEIVED'
    assert page.inner_text('#revoked-pending') == 'revoke pending'
    watched.screenshot(f'task-revoke-pending-{theme}-{width}')

    page.goto(cluster.url('/tasks'))
    row = page.wait_for_selector(f'tr[id="task-{task_id}"]', timeout=30000)
    assert 'revoke pending' in row.inner_text()
    assert page.evaluate('document.documentElement.scrollWidth - window.innerWidth') <= 1
    watched.screenshot(f'tasks-revoke-pending-{theme}-{width}')
    assert watched.problems() == []
