"""A revoke sent through this server shows at once (``revoked_pending``) on a task that stays RECEIVED until
its ETA, and the mark goes when the worker reports the task-revoked event; a finished, unknown or started
(without terminate) task is not marked. The mark is in the API's task JSON and the tasks table's rows and
survives the copy ``format_task`` works on."""

from __future__ import annotations

import copy
import re
import time
from types import SimpleNamespace

from flower.api.tasks import task_as_dict
from flower.events.state import EventsState
from flower.views.live_pages import LivePages
from flower.views.tasks import task_row
from tests.support.events import event, task_events


def scheduled(state, uuid='eta-1'):
    state.event(
        event(
            'task-received',
            'w@h',
            uuid=uuid,
            name='app.later',
            args='()',
            kwargs='{}',
            retries=0,
            eta='2030-01-01T00:00:00+00:00',
            expires=None,
            root_id=uuid,
            parent_id=None,
        )
    )
    return state.tasks[uuid]


def test_a_scheduled_task_is_marked_until_the_worker_reports_revoked():
    state = EventsState()
    task = scheduled(state)
    log = state.subscribe_changes()
    assert state.mark_revoked_pending('eta-1', now=123.0) is True
    assert task.state == 'RECEIVED' and task.revoked_pending == 123.0
    assert 'eta-1' in log.take()[0]  # live pages and persistence are told
    assert task_as_dict(task)['revoked_pending'] is True
    assert task_row(task)['revoked_pending'] is True
    assert copy.copy(task).revoked_pending == 123.0  # what format_task is given
    state.event(event('task-revoked', 'w@h', uuid='eta-1', terminated=False, signum=None, expired=False))
    assert task.state == 'REVOKED' and task.revoked_pending is None
    assert 'revoked_pending' not in task_as_dict(task) and 'revoked_pending' not in task_row(task)


def test_finished_unknown_and_running_tasks_are_not_marked():
    state = EventsState()
    done = task_events(uuid='done-1')
    for e in done:
        state.event(e)
    assert state.mark_revoked_pending('done-1') is False
    assert state.mark_revoked_pending('never-seen') is False
    for e in task_events(uuid='run-1', outcome='running')[:2]:
        state.event(e)
    assert state.tasks['run-1'].state == 'STARTED'
    assert state.mark_revoked_pending('run-1') is False  # a plain revoke does not stop a running task
    assert state.mark_revoked_pending('run-1', terminate=True) is True
    assert 'revoked_pending' not in task_as_dict(state.tasks['done-1'])


def test_the_live_task_page_carries_the_mark():
    state = EventsState()
    app = SimpleNamespace(
        options=SimpleNamespace(format_task=None, url_prefix=''),
        capp=SimpleNamespace(conf=SimpleNamespace(task_serializer='json', timezone=None)),
        events=SimpleNamespace(state=state),
    )
    task = scheduled(state)
    page = LivePages(app, lambda: 'natural')['task']
    badges = page.render(task.uuid).data['fragments']['task-badges']
    assert re.search(r'id="revoked-pending"[^>]* hidden>', badges)
    state.mark_revoked_pending('eta-1', now=time.time())
    badges = page.render(task.uuid).data['fragments']['task-badges']
    assert 'id="revoked-pending"' in badges and not re.search(r'id="revoked-pending"[^>]* hidden>', badges)
