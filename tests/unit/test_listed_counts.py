"""The workers page's counts (flower.queries.listed_counts, kept with the task indexes) equal the number of rows
the task list shows for the same filters, through retries, a task moving to another worker, eviction and a
reloaded store."""

from __future__ import annotations

import time

from flower.views.workers import worker_rows
from flower.events.state import EventsState
from flower.queries import COUNTED_STATES, TaskFilter, listed_counts, select_tasks
from tests.support.events import event, heartbeat, task_events


def listed_by_query(state: EventsState, worker: str | None) -> dict[str, int]:
    counts = {'all': select_tasks(state.tasks, TaskFilter(workername=worker)).filtered}
    for wanted in COUNTED_STATES:
        counts[wanted] = select_tasks(state.tasks, TaskFilter(workername=worker, state=wanted)).filtered
    return counts


def assert_counts_match_lists(state: EventsState) -> None:
    for worker in [None, *state.tasks.by_worker]:
        assert listed_counts(state.tasks, worker) == listed_by_query(state, worker), worker


def retried(uuid: str, hostname: str, t: float) -> list[dict]:
    return [
        event('task-received', hostname, t, uuid=uuid, name='tasks.flaky', args='()', kwargs='{}', retries=0),
        event('task-started', hostname, t + 0.001, uuid=uuid),
        event('task-retried', hostname, t + 0.002, uuid=uuid, exception="IOError('again')"),
    ]


def build(max_tasks: int = 1000) -> EventsState:
    state = EventsState(max_tasks_in_memory=max_tasks)
    t = time.time() - 100
    evs = [heartbeat('w1@h'), heartbeat('w2@h')]
    evs += task_events(uuid='ok1', hostname='w1@h', start=t)
    evs += task_events(uuid='bad1', hostname='w1@h', outcome='failed', start=t + 1)
    evs += task_events(uuid='ok2', hostname='w2@h', start=t + 2)
    # retried on w1, then received again by w2 (the retry is the same task, one row) and succeeds there
    evs += retried('moved', 'w1@h', t + 3)
    evs += task_events(uuid='moved', hostname='w2@h', start=t + 10)
    evs += retried('waiting', 'w2@h', t + 11)  # still waiting for its retry
    evs += [
        event('task-received', 'w1@h', t + 12, uuid='running', name='tasks.slow', args='()', kwargs='{}'),
        event('task-started', 'w1@h', t + 12.001, uuid='running'),
    ]
    evs += [event('task-sent', 'client@h', t + 13, uuid='queued', name='tasks.later')]  # no worker yet
    for ev in evs:
        state.event(ev)
    return state


def test_counts_equal_the_rows_of_the_lists_they_link_to():
    state = build()
    assert listed_counts(state.tasks, 'w1@h') == {'all': 3, 'STARTED': 1, 'SUCCESS': 1, 'FAILURE': 1, 'RETRY': 0}
    assert listed_counts(state.tasks, 'w2@h') == {'all': 3, 'STARTED': 0, 'SUCCESS': 2, 'FAILURE': 0, 'RETRY': 1}
    assert listed_counts(state.tasks) == {'all': 7, 'STARTED': 1, 'SUCCESS': 3, 'FAILURE': 1, 'RETRY': 1}
    assert_counts_match_lists(state)
    # Flower's event counters count receipts: w1 received 'moved' once, w2 once more after the retry
    assert state.counter['w1@h']['task-received'] == 4


def test_counts_follow_eviction_and_a_reloaded_store():
    state = build(max_tasks=3)
    assert len(state.tasks) == 3
    assert_counts_match_lists(state)
    again = EventsState()
    again.tasks.load(list(build().tasks.oldest_first()))
    assert_counts_match_lists(again)
    again.tasks.clear()
    assert listed_counts(again.tasks, 'w1@h') == {'all': 0, 'STARTED': 0, 'SUCCESS': 0, 'FAILURE': 0, 'RETRY': 0}
    assert not again.tasks.worker_states


def test_a_worker_filter_matches_case_insensitively_as_the_list_does():
    state = build()
    assert listed_counts(state.tasks, 'W1@H') == listed_counts(state.tasks, 'w1@h') == listed_by_query(state, 'W1@H')
    assert listed_counts(state.tasks, 'nobody@h')['all'] == 0


def test_worker_rows_carry_the_counts():
    rows = {row['hostname']: row for row in worker_rows(build())}
    assert rows['w2@h']['listed'] == {'all': 3, 'STARTED': 0, 'SUCCESS': 2, 'FAILURE': 0, 'RETRY': 1}
    assert rows['w2@h']['task-received'] == 3  # Flower's counters are still there for API clients
