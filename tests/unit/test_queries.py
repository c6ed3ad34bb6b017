"""Task listing: index-backed filters, ordering with None first, paging, date windows, bad parameters."""

from __future__ import annotations

import time

import pytest

from flower.events.state import EventsState
from flower.queries import BadQuery, TaskFilter, parse_received_bound, parse_sort, select_tasks
from tests.support.events import event, task_events


@pytest.fixture
def state():
    state = EventsState()
    t = time.time() - 100
    specs = [
        ('a', 'tasks.add', 'w1@h', 'succeeded'),
        ('b', 'tasks.mul', 'w2@h', 'failed'),
        ('c', 'tasks.add', 'w2@h', 'succeeded'),
        ('d', 'tasks.div', 'w1@h', 'failed'),
    ]
    for i, (uuid, name, host, outcome) in enumerate(specs):
        for ev in task_events(uuid=uuid, name=name, hostname=host, outcome=outcome, start=t + i * 10):
            state.event(ev)
    state.event(event('task-sent', 'client@h', t + 50, uuid='e', name='tasks.later'))  # only sent
    return state


def uuids(page):
    return [task.uuid for task in page.tasks]


def test_default_order_is_most_recently_updated_first(state):
    page = select_tasks(state.tasks)
    assert uuids(page) == ['e', 'd', 'c', 'b', 'a']
    assert (page.filtered, page.total) == (5, 5)


def test_exact_filters_are_case_insensitive_and_combine(state):
    assert uuids(select_tasks(state.tasks, TaskFilter(state='failure'))) == ['d', 'b']
    assert uuids(select_tasks(state.tasks, TaskFilter(taskname='TASKS.ADD'))) == ['c', 'a']
    assert uuids(select_tasks(state.tasks, TaskFilter(workername='w2@H', state='SUCCESS'))) == ['c']
    assert uuids(select_tasks(state.tasks, TaskFilter(workername='nobody'))) == []


def test_paging_counts(state):
    page = select_tasks(state.tasks, TaskFilter(state='SUCCESS'), offset=1, limit=5)
    assert uuids(page) == ['a'] and page.filtered == 2 and page.total == 5
    assert uuids(select_tasks(state.tasks, offset=-3, limit=2)) == ['e', 'd']


def test_sorting_puts_missing_values_first_and_is_stable(state):
    by_received = select_tasks(state.tasks, sort_by='received')
    assert uuids(by_received) == ['e', 'a', 'b', 'c', 'd']  # 'e' was never received
    assert uuids(select_tasks(state.tasks, sort_by='received', reverse=True)) == ['d', 'c', 'b', 'a', 'e']
    by_name = select_tasks(state.tasks, sort_by='name')
    assert [t.name for t in by_name.tasks] == ['tasks.add', 'tasks.add', 'tasks.div', 'tasks.later', 'tasks.mul']
    # a partial selection (first page of a large pool) gives the same order as the full sort
    full = uuids(select_tasks(state.tasks, sort_by='worker', reverse=True))
    assert uuids(select_tasks(state.tasks, sort_by='worker', reverse=True, limit=1)) == full[:1]


def test_partial_selection_matches_full_sort_on_large_pools():
    state = EventsState()
    t = time.time()
    for i in range(400):
        for ev in task_events(uuid=f'u{i:03d}', name=f'n{i % 9}', start=t + i):
            state.event(ev)
    for reverse in (False, True):
        full = uuids(select_tasks(state.tasks, sort_by='name', reverse=reverse))
        assert uuids(select_tasks(state.tasks, sort_by='name', reverse=reverse, offset=10, limit=20)) == full[10:30]


def test_received_window(state):
    t = state.tasks['c'].received
    page = select_tasks(state.tasks, TaskFilter(received_start=t - 1, received_end=t + 1))
    assert uuids(page) == ['c']


def test_bad_parameters():
    with pytest.raises(BadQuery, match="Invalid sort_by 'foo'"):
        parse_sort('foo')
    assert parse_sort('-started') == ('started', True)
    with pytest.raises(BadQuery, match="Invalid received_start 'yesterday'"):
        parse_received_bound('yesterday', 'received_start')
    assert parse_received_bound('2024-01-31 13:45', 'x') == time.mktime((2024, 1, 31, 13, 45, 0, 0, 0, -1))
    with pytest.raises(BadQuery, match='Invalid limit'):
        select_tasks(EventsState().tasks, limit=-1)


def test_indexed_orders_agree_with_brute_force_under_churn():
    """Random lifecycles, retries (received twice), duplicates and evictions: every indexed order lists
    exactly the live tasks, each once, in key order, with missing values first ascending / last descending."""
    import random

    rng = random.Random(3)
    state = EventsState(max_tasks_in_memory=300)
    t = time.time()
    for i in range(1500):
        uuid = f'u{rng.randrange(900)}'  # ids repeat: updates, retries, duplicates
        kind = rng.choice(['received', 'started', 'succeeded', 'failed', 'sent'])
        ts = t + rng.random() * 1000
        fields = {'name': f'n{rng.randrange(5)}', 'args': '()', 'kwargs': '{}'} if kind in ('received', 'sent') else {}
        if kind == 'succeeded':
            fields['runtime'] = rng.random()
        state.event(event(f'task-{kind}', f'w{rng.randrange(3)}@h', ts, uuid=uuid, **fields))
    store = state.tasks
    live = set(store.keys())
    for column in ('received', 'started', 'runtime', 'name', 'state', 'worker'):
        for reverse in (False, True):
            page = select_tasks(store, sort_by=column, reverse=reverse)
            got = [t.uuid for t in page.tasks]
            assert len(got) == len(set(got)) == len(live), column
            assert set(got) == live
            values = [
                t.worker.hostname
                if column == 'worker' and t.worker
                else getattr(t, column)
                if column != 'worker'
                else None
                for t in page.tasks
            ]
            missing = [v for v in values if v is None]
            present = [v for v in values if v is not None]
            assert present == sorted(present, reverse=reverse), column
            if missing:
                expected_missing_at = slice(0, len(missing)) if not reverse else slice(len(values) - len(missing), None)
                assert all(v is None for v in values[expected_missing_at]), column
            # paging through gives the same sequence
            paged = []
            for offset in range(0, len(live), 37):
                paged += [
                    t.uuid for t in select_tasks(store, sort_by=column, reverse=reverse, offset=offset, limit=37).tasks
                ]
            assert paged == got, column


def test_sorted_blocks_split_trim_and_rebuild_like_a_plain_sort(monkeypatch):
    """Small blocks so a few hundred tasks exercise splits, trimming of evicted entries and rebuilds."""
    import random

    from flower.events.store import SortedField

    monkeypatch.setattr(SortedField, 'BLOCK', 4)
    rng = random.Random(11)
    state = EventsState(max_tasks_in_memory=120)
    t = time.time()
    for i in range(2000):
        uuid = f'u{rng.randrange(400)}'
        ts = t + rng.choice([i, -i, rng.random() * 5000])  # ascending, descending and random arrival
        state.event(event(rng.choice(['task-received', 'task-started']), 'w@h', ts, uuid=uuid, name='n'))
        if rng.random() < 0.3:
            state.event(event('task-succeeded', 'w@h', ts, uuid=uuid, result='1', runtime=rng.random()))
    store = state.tasks
    for column in ('received', 'started', 'runtime'):
        index = store.sorted_fields[column]
        assert all(len(values) <= 2 * SortedField.BLOCK for values, _ in index.blocks)
        assert index.maxes == [values[-1] for values, _ in index.blocks]
        for reverse in (False, True):
            got = [(getattr(task, column), task.uuid) for task in store.sorted_by(column, reverse)]
            expected = sorted(
                ((getattr(task, column), task.uuid) for task in store.values() if getattr(task, column) is not None),
                key=lambda pair: pair[0],
                reverse=reverse,
            )
            assert [v for v, _ in got] == [v for v, _ in expected], column
            assert {u for _, u in got} == {u for _, u in expected}
