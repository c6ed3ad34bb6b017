"""``find`` over a real TaskStore: the same answers as ``matches`` task by task (on randomized queries), and
the indexes answering what they can without a scan."""

from __future__ import annotations

import random

import pytest

from flower.events.state import EventsState
from flower.search import QuerySyntaxError, find, matches, parse_query
from flower.search import engine
from flower.search.kwargs import PairSearch
from tests.support.events import event, task_events

NAMES = ['tasks.add', 'tasks.ADD_many', 'proj.mul', 'Proj.Mailer', 'billing.charge', 'x.y.zeta', 'tasks.sub']
WORKERS = ['celery@w1', 'celery@w2', 'celery@W3', 'worker@Big-Box', 'celery@w10']
KEYS = ['x', 'y', 'user', 'Mode', 'flag', 'ids']
WORDS = ['alpha', 'Beta', 'gamma delta', 'ÉCOLE', 'straße', 'it\'s', 'a"b', '(x)', 'OR', '-neg', 'none']
ERRORS = ['ValueError', 'KeyError', 'TimeoutError', 'CardDeclined', 'RuntimeError']


def _random_value(rng):
    kind = rng.randrange(7)
    if kind == 0:
        return rng.randrange(-20, 120)
    if kind == 1:
        return rng.choice(WORDS)
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return [rng.randrange(5) for _ in range(rng.randrange(3))]
    if kind == 4:
        return rng.choice([1.5, -0.0, 1e20])
    if kind == 5:
        return f'user{rng.randrange(30)}'
    return {'nested': rng.randrange(3)}


def build_store(seed=7, count=400):
    rng = random.Random(seed)
    state = EventsState(max_tasks_in_memory=count + 10)
    for i in range(count):
        uuid = f'{rng.getrandbits(64):016x}-{i:04d}'
        name = rng.choice(NAMES)
        host = rng.choice(WORKERS)
        args = repr(tuple(_random_value(rng) for _ in range(rng.randrange(3))))
        kwargs_dict = {rng.choice(KEYS): _random_value(rng) for _ in range(rng.randrange(4))}
        kwargs = repr(kwargs_dict)
        if rng.random() < 0.05:
            kwargs = kwargs[:10] + '… [truncated: 1,234 characters in all]'
        result = repr(_random_value(rng))
        outcome = rng.choice(['succeeded', 'succeeded', 'succeeded', 'failed', 'started'])
        for ev in task_events(
            name=name, hostname=host, args=args, kwargs=kwargs, result=result, uuid=uuid, outcome=outcome
        ):
            state.event(ev)
        roll = rng.random()
        if roll < 0.05:
            state.event(event('task-retried', host, uuid=uuid, exception='Retry()'))
        elif roll < 0.08:
            state.event(event('task-revoked', host, uuid=uuid))
        elif roll < 0.10:
            state.event(event('task-custom-thing', host, uuid=uuid))
        task = state.tasks[uuid]
        if rng.random() < 0.05:
            task.kwargs = kwargs_dict  # a record restored from an old state file holds a dict
    # failures with errors of their own, for exception: and traceback: (a generator of their own, so the draws
    # above stay as they were)
    errors = random.Random(seed + 1)
    for task in store_tasks(state):
        if task.exception is not None:
            kind, message = errors.choice(ERRORS), errors.choice(WORDS)
            task.exception = f'{kind}({message!r})'
            task.traceback = f'Traceback (most recent call last):\n  File "jobs.py", line 7\n{kind}: {message}'
    # tasks seen only as sent: no name, worker, args, result
    for i in range(5):
        state.event(event('task-sent', 'client@x', uuid=f'sent-only-{i}'))
    return state.tasks


def store_tasks(state):
    return list(state.tasks.values())


def _quoted(text):
    return '"' + text.replace('\\', '\\\\').replace('"', '\\"') + '"'


def _substring(rng, text, low=3, high=6):
    if text is None or len(text) < low:
        return None
    size = rng.randint(low, min(high, len(text)))
    start = rng.randrange(len(text) - size + 1)
    piece = text[start : start + size]
    return rng.choice([piece, piece.upper(), piece.lower(), piece.swapcase()])


def _field_text(task, field):
    if field == 'worker':
        return task.worker.hostname if task.worker is not None else None
    value = getattr(task, field)
    return value if value is None or isinstance(value, str) else repr(value)


def _leaf(rng, tasks):
    task = rng.choice(tasks)
    kind = rng.randrange(10)
    if kind == 0:
        state = rng.choice([task.state, 'SUCCESS', 'failure', 'Retry', 'CUSTOM-THING', 'bogus'])
        return f'state:{rng.choice([state, state.lower(), state.title()])}'
    if kind in (1, 2):
        field = rng.choice(['name', 'worker'])
        piece = _substring(rng, _field_text(task, field), 1, 6) or 'zzz'
        return f'{field}:{_quoted(piece)}'
    if kind == 3:
        field = rng.choice(['args', 'kwargs', 'result', 'exception', 'traceback'])
        piece = _substring(rng, _field_text(task, field)) or 'zzzz'
        return f'{field}:{_quoted(piece)}'
    if kind == 4:
        kwargs = task.kwargs if isinstance(task.kwargs, dict) else None
        if kwargs is None:
            try:
                import ast

                kwargs = ast.literal_eval(task.kwargs) if task.kwargs else None
            except Exception:  # noqa: BLE001
                kwargs = None
        if kwargs:
            key, value = rng.choice(list(kwargs.items()))
            shown = value if isinstance(value, str) else repr(value)
            if rng.random() < 0.3:
                shown = rng.choice(['5', 'true', 'none', "'user3'", '[1, 2]', 'alpha'])
            return 'kwargs:' + _quoted(f'{rng.choice([key, key.upper()])}={shown}')
        return 'kwargs:x=5'
    field = rng.choice(['uuid', 'name', 'state', 'worker', 'args', 'kwargs', 'result', 'exception'])
    piece = _substring(rng, _field_text(task, field))
    return _quoted(piece) if piece else rng.choice(['nothing-here', 'none', 'SUCCESS'])


def random_query(rng, tasks, depth=0):
    if depth >= 3 or rng.random() < 0.4:
        return _leaf(rng, tasks)
    parts = [random_query(rng, tasks, depth + 1) for _ in range(rng.randint(2, 3))]
    joiner = rng.choice([' ', ' AND ', ' OR '])
    text = joiner.join(parts)
    return f'({text})' if rng.random() < 0.5 else text


@pytest.fixture(scope='module')
def store():
    return build_store()


def brute_force(store, text):
    query = parse_query(text)
    return {uuid for uuid, task in store.items() if matches(task, query)}


def test_the_random_store_is_varied(store):
    # the property test below is only as good as this variety
    assert len(store) == 405
    assert {'SUCCESS', 'FAILURE', 'STARTED', 'RETRY', 'REVOKED', 'CUSTOM-THING', 'PENDING'} <= set(store.by_state)
    assert set(store.by_name) == set(NAMES)
    assert set(store.by_worker) == set(WORKERS)
    assert any(isinstance(task.kwargs, dict) for task in store.values())
    assert any(task.result is None for task in store.values())
    assert len({task.exception for task in store.values() if task.exception}) > 5


def test_find_agrees_with_matches_on_random_queries(store):
    rng = random.Random(20240501)
    tasks = list(store.values())
    checked = non_empty = 0
    for _ in range(1500):
        text = random_query(rng, tasks)
        expected = brute_force(store, text)
        assert find(store, text) == expected, text
        checked += 1
        non_empty += bool(expected) and len(expected) < len(store)
    assert checked == 1500
    assert non_empty > 600  # most queries select something, not nothing or everything


@pytest.mark.parametrize(
    'text',
    [
        'state:SUCCESS',
        'state:failure',
        'name:add',
        'name:TASKS',
        'worker:w1',
        'worker:big',
        'name:add AND state:SUCCESS',
        '(state:FAILURE OR state:RETRY) name:mul',
        'tasks',
        'celery',
        'success',
        'kwargs:x=5',
        'kwargs:user=user3',
        'kwargs:flag=true',
        'kwargs:ids=[1,2]',
        'kwargs:"x=1.5"',
        'args:alpha',
        'result:none',
        'kwargs:beta',
        'name:add kwargs:x=5',
        'state:success kwargs:mode=alpha',
        'none',
        'name:add OR args:gamma',
        '"gamma delta"',
        'alpha OR beta OR name:zeta',
        'state:PENDING',
        'sent-only',
        'exception:KeyError',
        'traceback:"jobs.py"',
        'keyerror',
        'timeout state:FAILURE',
        'exception:"(\'alpha\')"',
        'traceback:line',
        'exception:boom',
    ],
)
def test_find_agrees_with_matches_on_chosen_queries(store, text):
    assert find(store, text) == brute_force(store, text)


def test_empty_query_finds_none_meaning_everything(store):
    assert find(store, '') is None
    assert find(store, '   ') is None


def test_find_raises_query_syntax_errors(store):
    with pytest.raises(QuerySyntaxError) as info:
        find(store, 'ab')
    assert str(info.value) == 'Substring search terms must contain at least 3 characters at position 0.'


def test_find_accepts_a_parsed_query(store):
    assert find(store, parse_query('name:add')) == find(store, 'name:add')


def test_find_returns_a_new_set_each_time(store):
    first = find(store, 'state:SUCCESS')
    assert first == set(store.by_state['SUCCESS'])
    first.clear()
    assert find(store, 'state:SUCCESS') == set(store.by_state['SUCCESS'])
    assert len(store.by_state['SUCCESS']) > 100


def test_state_lookup_is_exact_per_key(store):
    assert find(store, 'state:success') == set(store.by_state['SUCCESS'])
    assert find(store, 'state:custom-thing') == set(store.by_state['CUSTOM-THING'])
    assert find(store, 'state:succ') == set()


def test_name_and_worker_union_the_matching_buckets(store):
    expected = set(store.by_name['tasks.add']) | set(store.by_name['tasks.ADD_many'])
    assert find(store, 'name:add') == expected
    expected = set(store.by_worker['celery@w1']) | set(store.by_worker['celery@w10'])
    assert find(store, 'worker:W1') == expected


def test_an_empty_store():
    empty = EventsState().tasks
    for text in ('state:SUCCESS', 'name:add', 'abc', 'args:abc', 'kwargs:x=5', 'abc OR state:x', 'abc name:x'):
        assert find(empty, text) == set()


def test_evicted_tasks_are_not_found():
    state = EventsState(max_tasks_in_memory=3)
    uuids = []
    for i in range(5):
        events = task_events(name='proj.evict', kwargs=f"{{'n': {i}}}", args=f'({i}, "unique-{i}")')
        uuids.append(events[0]['uuid'])
        for ev in events:
            state.event(ev)
    assert find(state.tasks, 'name:evict') == set(uuids[2:])
    assert find(state.tasks, 'unique') == set(uuids[2:])
    assert find(state.tasks, 'kwargs:n=0') == set()
    assert find(state.tasks, 'kwargs:n=4') == {uuids[4]}


# -- index use ---------------------------------------------------------------------------------------------


@pytest.fixture()
def no_scans(monkeypatch):
    """Make every way of reading all tasks fail, so a query that still works was answered by the indexes."""

    def forbidden(*args, **kwargs):
        raise AssertionError('scanned the store')

    monkeypatch.setattr(engine, '_scan_field', forbidden)
    monkeypatch.setattr(engine, '_scan_plain_fields', forbidden)
    monkeypatch.setattr(PairSearch, 'select', forbidden)


@pytest.mark.parametrize(
    'text',
    [
        'state:SUCCESS',
        'name:add',
        'worker:w3',
        'name:add AND state:SUCCESS',
        'name:add state:SUCCESS worker:w1',
        '(state:FAILURE OR state:RETRY) name:mul',
        'state:FAILURE OR name:zeta',
        'state:nothing-like-this',
        # a narrow index bucket is filtered task by task instead of scanning for the rest
        'name:zeta args:alpha',
        'name:zeta (args:alpha OR result:beta)',
    ],
)
def test_index_queries_do_not_scan(store, no_scans, text):
    assert find(store, text) == brute_force(store, text)


@pytest.fixture(scope='module')
def rare_store():
    """2000 tasks, four of them named proj.rare."""
    state = EventsState(max_tasks_in_memory=5000)
    for i in range(2000):
        name = 'proj.rare' if i % 500 == 0 else 'proj.common'
        for ev in task_events(name=name, kwargs=f"{{'x': {i % 10}}}", args=f'({i},)'):
            state.event(ev)
    return state.tasks


@pytest.mark.parametrize(
    'text, count',
    [
        ('name:rare kwargs:x=0', 4),
        ('name:rare args:"(500,)"', 1),
        ('kwargs:x=0 name:rare', 4),
        ('state:success name:rare', 4),
    ],
)
def test_a_rare_name_is_filtered_task_by_task(rare_store, no_scans, text, count):
    found = find(rare_store, text)
    assert len(found) == count
    assert found == brute_force(rare_store, text)


def test_the_no_scans_fixture_does_catch_scans(store, no_scans):
    with pytest.raises(AssertionError, match='scanned the store'):
        find(store, 'args:alpha')
    with pytest.raises(AssertionError, match='scanned the store'):
        find(store, 'kwargs:x=5')
    with pytest.raises(AssertionError, match='scanned the store'):
        find(store, 'alpha')


def test_and_materialises_the_smallest_operand_and_filters_with_the_others(rare_store, monkeypatch):
    selected = []
    real = engine._index_plan

    def spying(store_, field, wanted):
        plan = real(store_, field, wanted)
        inner = plan.select

        def select():
            selected.append((field, plan.size))
            return inner()

        plan.select = select
        return plan

    monkeypatch.setattr(engine, '_index_plan', spying)
    found = find(rare_store, 'state:SUCCESS name:rare')
    assert found == brute_force(rare_store, 'state:SUCCESS name:rare')
    assert len(found) == 4
    assert selected == [('name', 4)]  # the 2000-task SUCCESS bucket was never copied


def test_and_with_an_expensive_filter_materialises_it_instead(store, monkeypatch):
    calls = []
    real = PairSearch.select

    def counting(self, data):
        calls.append(self.pair)
        return real(self, data)

    monkeypatch.setattr(PairSearch, 'select', counting)
    # SUCCESS is most of the store: testing the pair on each would cost more than the bulk search
    assert find(store, 'state:SUCCESS kwargs:x=5') == brute_force(store, 'state:SUCCESS kwargs:x=5')
    assert calls == [('x', '5')]


def test_plain_term_uses_indexes_for_name_state_and_worker(store, monkeypatch):
    # with nothing found by the text scan, what remains must come from the indexes
    monkeypatch.setattr(engine, '_scan_plain_fields', lambda data, needle, caseless: set())
    assert find(store, 'zeta') == set(store.by_name['x.y.zeta'])
    assert find(store, 'big-box') == set(store.by_worker['worker@Big-Box'])
    assert find(store, 'revoked') == set(store.by_state['REVOKED'])


def test_search_is_not_on_the_event_path():
    import subprocess
    import sys

    code = (
        'import sys, flower.events.state, flower.events.store, flower.events.task; '
        'print("flower.search" in sys.modules)'
    )
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'False'


def test_unicode_facts_the_fast_paths_rely_on():
    """Scans skip case-folding for needles of ASCII non-letters, and the kwargs search reads whitespace and
    quotes in case-folded text with ``\\s``: both are sound only if folding never produces those characters
    from others and leaves them alone."""
    import re
    import sys

    space = re.compile(r'\s')
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        folded_char = char.casefold()
        assert bool(space.fullmatch(char)) == char.isspace(), hex(code)
        if folded_char == char:
            continue
        assert not char.isspace(), hex(code)
        for produced in folded_char:
            assert not (produced.isascii() and not produced.isalpha()), hex(code)
            assert not produced.isspace(), hex(code)


@pytest.mark.parametrize(
    'needle, caseless',
    [('123', True), ('(2, ', True), ('-_.:', True), ('abc', False), ('a1', False), ('é12', False), ('', True)],
)
def test_which_needles_skip_case_folding(needle, caseless):
    from flower.search.fields import is_caseless

    assert is_caseless(needle) is caseless
