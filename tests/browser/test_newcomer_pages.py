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
    wait_for(lambda: f'{LIMITED} [rate_limit=50/m]' in _registered(cluster), 30, interval=0.5,
             message='the worker to report the new rate limit')
    watched.screenshot('worker-limits-rate-limited-task')

    row.locator(f'a:text-is("{LIMITED}")').click()  # the name opens the task list of that name
    page.wait_for_url(re.compile(r'/tasks\?name='))
    page.wait_for_selector(f'tr[id="task-{done.id}"]', timeout=30000)
    assert watched.problems() == []
