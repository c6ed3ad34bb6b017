"""Flower 2.2's importable names outside options/command/handlers, used as code written for Flower uses them:
``flower.utils.tasks``, ``flower.utils.search``, ``flower.utils.blocking``, ``flower.inspector.Inspector``'s
argument order, ``flower.events`` (``PrometheusMetrics``, ``get_prometheus_metrics``,
``Events.on_enable_events``) and prometheus_client's ``labels()`` API on ``state.metrics``."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from types import SimpleNamespace
from unittest import mock

import pytest
from kombu.exceptions import OperationalError
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from tornado.ioloop import IOLoop

from flower.events import Events, EventsState, PrometheusMetrics, get_prometheus_metrics
from flower.inspector import Inspector
from flower.metrics import EventMetrics, user_collectors_text
from flower.runner import BlockingRunner, BrokerUnavailable, OperationFailed
from flower.search import QuerySyntaxError
from flower.utils import blocking, search, tasks
from tests.support.events import event, heartbeat, task_events, worker_online


def run(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


def minute(ts: float) -> str:
    return time.strftime('%Y-%m-%d %H:%M', time.localtime(ts))


@pytest.fixture
def filled():
    """A state fed with task lifecycles: 9 tasks over 3 workers and 2 task names, some failed, one minute
    apart each, plus one task that was only received."""
    state = EventsState(max_tasks_in_memory=1000)
    t0 = (int(time.time()) // 60) * 60 - 3600 + 5  # 5 s into a minute: minute(t0 + k * 60) is 5 s earlier
    for i in range(9):
        name = 'tasks.add' if i % 2 else 'tasks.Mul'
        outcome = 'failed' if i % 3 == 0 else 'succeeded'
        for ev in task_events(
            name=name,
            hostname=f'w{i % 3}@h',
            args=f'({i}, {i})',
            kwargs=f"{{'user': 'u{i}'}}",
            result=str(2 * i),
            uuid=f'task-{i}',
            start=t0 + i * 60,
            outcome=outcome,
        ):
            state.event(ev)
    state.event(event('task-received', 'w0@h', t0 + 600, uuid='pending', name='tasks.add', args='()', kwargs='{}'))
    return SimpleNamespace(state=state, t0=t0)


# -- flower.utils.tasks ----------------------------------------------------------------------------------------


def test_iter_tasks_yields_uuid_and_the_task_newest_first(filled):
    pairs = list(tasks.iter_tasks(filled))
    assert [uuid for uuid, _ in pairs] == ['pending'] + [f'task-{i}' for i in range(8, -1, -1)]
    assert all(task is filled.state.tasks[uuid] for uuid, task in pairs)
    # the state itself is accepted where Flower passes the Events object
    assert [u for u, _ in tasks.iter_tasks(filled.state, limit=2)] == ['pending', 'task-8']


def test_iter_tasks_filters_pages_and_sorts(filled):
    def ids(**kwargs):
        return [uuid for uuid, _ in tasks.iter_tasks(filled, **kwargs)]

    assert ids(limit=3, offset=2) == ['task-7', 'task-6', 'task-5']
    assert ids(type='TASKS.MUL') == ['task-8', 'task-6', 'task-4', 'task-2', 'task-0']  # exact, any case
    assert ids(worker='w1@h') == ['task-7', 'task-4', 'task-1']
    assert ids(state='failure') == ['task-6', 'task-3', 'task-0']
    assert ids(worker='w0@h', state='FAILURE', type='tasks.Mul') == ['task-6', 'task-0']
    assert ids(sort_by='received', limit=2) == ['task-0', 'task-1']
    assert ids(sort_by='-received', limit=2) == ['pending', 'task-8']
    assert ids(sort_by='started')[0] == 'pending'  # no start time sorts first, as in Flower
    assert ids(sort_by='name') == [
        'task-8',
        'task-6',
        'task-4',
        'task-2',
        'task-0',  # 'tasks.Mul' < 'tasks.add'
        'pending',
        'task-7',
        'task-5',
        'task-3',
        'task-1',
    ]
    assert ids(search='args:"(4, 4)"') == ['task-4']
    assert ids(search='kwargs:user=u5 OR args:"(8, 8)"') == ['task-8', 'task-5']
    t0 = filled.t0
    assert ids(received_start=minute(t0 + 8 * 60), received_end=minute(t0 + 11 * 60)) == ['pending', 'task-8']
    assert ids(received_end=minute(t0 + 10 * 60)) == [f'task-{i}' for i in range(8, -1, -1)]  # inclusive bounds
    assert ids(started_start=minute(t0 + 8 * 60)) == ['task-8']  # Flower 2.0's started bounds still work
    assert ids(started_end=minute(t0 + 60), sort_by='started') == ['task-0']


def test_iter_tasks_bad_input_raises_value_errors(filled):
    with pytest.raises(ValueError, match="Invalid sort_by 'colour'"):
        list(tasks.iter_tasks(filled, sort_by='colour'))
    with pytest.raises(ValueError, match='received_start'):
        list(tasks.iter_tasks(filled, received_start='yesterday'))
    with pytest.raises(QuerySyntaxError, match='position'):
        list(tasks.iter_tasks(filled, search='(state:SUCCESS'))
    assert issubclass(QuerySyntaxError, ValueError)


def test_search_tasks_returns_a_search_page(filled):
    page = tasks.search_tasks(filled, state='SUCCESS', limit=2)
    assert isinstance(page, search.SearchPage)
    assert page.task_ids == ['task-8', 'task-7'] and page.filtered_count == 6 and page.total_count == 10
    page = tasks.search_tasks(filled, sort_by='received', descending=True, limit=1, offset=1)
    assert page.task_ids == ['task-8'] and page.filtered_count == 10
    assert tasks.SORT_KEYS == {'name', 'state', 'received', 'started'}


def test_get_task_by_id_and_as_dict(filled):
    task = tasks.get_task_by_id(filled, 'task-3')
    assert task is filled.state.tasks['task-3']
    assert tasks.get_task_by_id(filled, 'nope') is None
    data = tasks.as_dict(task)
    assert data['uuid'] == 'task-3' and data['state'] == 'FAILURE' and data['args'] == '(3, 3)'
    assert data['exception'] == "ValueError('boom')"


# -- flower.utils.search ---------------------------------------------------------------------------------------


def test_parse_query_gives_flowers_tree_shapes():
    assert search.parse_query('') == search.MatchAll() == search.parse_query(None)
    tree = search.parse_query('state:SUCCESS OR (name:add worker:w1)')
    assert isinstance(tree, search.Or)
    assert tree.children[0] == search.Term('state', 'success')
    assert tree.children[1] == search.And((search.Term('name', 'add'), search.Term('worker', 'w1')))
    with pytest.raises(search.QuerySyntaxError) as caught:
        search.parse_query('name:add OR')
    assert caught.value.position is not None
    assert search.MAX_QUERY_LENGTH == 2048 and search.MIN_SUBSTRING_LENGTH == 3 and 'state' in search.EXACT_FIELDS


def test_state_search_engine_answers_from_the_live_store(filled):
    engine = filled.state.search_engine
    assert engine is filled.state.search_engine
    assert engine.matching_ids('state:FAILURE') == {'task-0', 'task-3', 'task-6'}
    assert engine.matching_ids('state:FAILURE', candidates={'task-3', 'task-4'}) == {'task-3'}
    page = engine.search(filled.state.tasks, 'tasks.add', worker='W1@H', limit=1)
    assert page == search.SearchPage(['task-7'], 2, 10)
    page = engine.search(filled.state.tasks, sort_by='received', descending=True, offset=1, limit=2)
    assert page.task_ids == ['task-8', 'task-7']
    # a task arriving later is found without any rebuild (the store indexes it)
    for ev in task_events(uuid='late', args='(99, 99)'):
        filled.state.event(ev)
    assert engine.matching_ids('args:"(99"') == {'late'}


def test_standalone_search_engine_indexes_what_it_is_given(filled):
    engine = search.TaskSearchEngine()
    engine.rebuild(filled.state.tasks.items())
    assert len(engine.documents) == 10
    engine.remove('task-0')
    assert engine.matching_ids('state:FAILURE') == {'task-3', 'task-6'}
    # only tasks both indexed and in the given map count
    subset = {uuid: filled.state.tasks[uuid] for uuid in ('task-0', 'task-3', 'task-4')}
    page = engine.search(subset, 'state:failure')
    assert page == search.SearchPage(['task-3'], 1, 3)
    task = filled.state.tasks['task-4']
    engine.upsert(task)
    assert engine.matching_ids('kwargs:user=u4') == {'task-4'}


def test_flower_2_0_prefix_search_helpers(filled):
    terms = search.parse_search_terms(
        'args:2 args:"3, 4" kwargs:user=bob state:FAILURE state:RETRY result:"a b" kwargs:broken free'
    )
    assert terms == {
        'args': ['2', '3, 4'],
        'kwargs': {'user': 'bob'},
        'state': ['FAILURE', 'RETRY'],
        'result': 'a b',
        'any': 'free',
    }
    assert search.parse_search_terms('') == {} and search.parse_search_terms(None) == {}
    task3, task4 = filled.state.tasks['task-3'], filled.state.tasks['task-4']
    assert search.satisfies_search_terms(task3, {})
    assert search.satisfies_search_terms(task3, {'state': ['FAILURE']})
    assert not search.satisfies_search_terms(task4, {'state': ['FAILURE']})
    # any one condition is enough (2.0's meaning), and matching is case-sensitive
    assert search.satisfies_search_terms(task4, {'state': ['FAILURE'], 'result': '8'})
    assert search.satisfies_search_terms(task4, {'any': 'Mul'}) and not search.satisfies_search_terms(
        task4, {'any': 'mul'}
    )
    assert search.satisfies_search_terms(task4, {'kwargs': {'user': 'u4'}})
    assert not search.satisfies_search_terms(task4, {'kwargs': {'user': 'u4', 'other': 'x'}})
    assert search.satisfies_search_terms(task4, {'args': ['(4', '4)']})
    assert not search.satisfies_search_terms(task4, {'args': ['(4', '5)']})

    assert search.stringified_dict_contains_value('user', 'bob', "{'user': 'bob', 'n': 5}")
    assert search.stringified_dict_contains_value('n', 5, "{'user': 'bob', 'n': 5}")
    assert search.stringified_dict_contains_value('ids', [1, 2], "{'ids': [1, 2]}")
    assert not search.stringified_dict_contains_value('user', 'bo', "{'user': 'bob'}")
    assert not search.stringified_dict_contains_value('user', 'bob', '') is True
    # not a Python literal (a repr of an object): read from the text
    assert search.stringified_dict_contains_value('user', 'bob', "{'user': 'bob', 'obj': <Foo at 0x1>}")
    assert search.preprocess_search_value('"quoted"') == 'quoted' and search.preprocess_search_value(None) == ''
    assert search.task_args_contains_search_args('(1, "x")', ['1', 'x'])
    assert not search.task_args_contains_search_args(None, ['1'])


# -- flower.utils.blocking -------------------------------------------------------------------------------------


class BackendDown(Exception):
    pass


def test_blocking_operation_runner_returns_maps_failures_and_passes_every_keyword():
    runner = blocking.BlockingOperationRunner()
    assert runner.max_concurrency == blocking.BlockingOperationRunner.max_blocking_operations == 5

    def echo(*args, **kwargs):
        return args, kwargs

    # ``timeout`` is the function's, as in Flower (our runner has a parameter of that name)
    assert run(runner.run('echo', 't', echo, 1, 2, timeout=3)) == ((1, 2), {'timeout': 3})

    def down():
        raise BackendDown('backend went away')

    with pytest.raises(BrokerUnavailable) as caught:
        run(runner.run('get', 't', down, connection_errors=(BackendDown,)))
    assert caught.value.message == 'Broker or result backend unavailable'
    with pytest.raises(OperationFailed, match='backend went away'):
        run(runner.run('get', 't', down))
    with pytest.raises(BrokerUnavailable):
        run(runner.run('get', 't', mock.Mock(side_effect=OperationalError('refused'))))
    assert OperationalError in blocking.CONNECTION_ERRORS


def test_blocking_operation_runner_bounds_concurrency():
    runner = blocking.BlockingOperationRunner(max_concurrency=2)
    lock, release = threading.Lock(), threading.Event()
    counts = {'now': 0, 'max': 0}

    def work():
        with lock:
            counts['now'] += 1
            counts['max'] = max(counts['max'], counts['now'])
        release.wait(10)
        with lock:
            counts['now'] -= 1
        return True

    async def scenario():
        calls = [asyncio.ensure_future(runner.run('work', str(i), work)) for i in range(5)]
        deadline = time.monotonic() + 10
        while counts['now'] < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # give a third call the chance to start, were the bound not kept
        seen = counts['max']
        release.set()
        return seen, await asyncio.gather(*calls)

    seen, results = run(scenario())
    assert seen == 2 and results == [True] * 5


def test_app_blocking_runner_shares_the_apps_runner():
    from celery import Celery

    from flower.app import Flower
    from flower.options import Options

    app = Flower(capp=Celery('surface', broker='memory://'), options=Options({'enable_events': False}))
    try:
        assert isinstance(app.blocking_runner, blocking.BlockingOperationRunner)
        assert app.blocking_runner is app.blocking_runner
        assert app.blocking_runner.runner is app.runner and app.blocking_runner.executor is app.executor
        assert run(app.blocking_runner.run('sum', 'x', sum, [1, 2, 3])) == 6
    finally:
        app.runner.shutdown()


# -- flower.inspector.Inspector ------------------------------------------------------------------------------


class _Replies:
    def __init__(self):
        self.calls = []

    def inspect(self, timeout, destination):
        calls = self.calls

        class Inspect:
            def __getattr__(self, method):
                def call(**kwargs):
                    calls.append((method, timeout, destination))
                    return {'a@h': {'method': method}}

                return call

        return Inspect()


def test_inspector_takes_flowers_argument_order():
    loop = IOLoop.current(instance=False)
    capp = SimpleNamespace(control=_Replies())
    inspector = Inspector(loop, capp, 0.25)
    assert inspector.io_loop is loop and inspector.capp is capp and inspector.timeout == 0.25
    assert inspector.runner.max_concurrency == len(Inspector.inspect_methods) == Inspector.max_concurrency
    assert Inspector(loop, capp, 1.0, 3).runner.max_concurrency == 3

    async def refresh():
        return await inspector.inspect('a@h')

    assert run(refresh()) == ['a@h']
    assert {m for m, _, _ in capp.control.calls} == set(Inspector.inspect_methods)
    assert all(t == 0.25 and d == ['a@h'] for _, t, d in capp.control.calls)
    assert inspector.workers['a@h']['registered'] == {'method': 'registered'}
    assert inspector.methods_to_inspect(None) == ('stats', 'active_queues', 'registered', 'conf')
    assert inspector.methods_to_inspect('a@h') == Inspector.inspect_methods


def test_inspector_still_accepts_the_older_order():
    capp, runner = SimpleNamespace(control=_Replies()), BlockingRunner(max_concurrency=2)
    inspector = Inspector(capp, runner, timeout=0.5, max_workers=7)
    assert inspector.capp is capp and inspector.runner is runner and inspector.io_loop is None
    assert inspector.timeout == 0.5 and inspector.max_workers == 7
    keyword = Inspector(None, capp, 0.5, runner=runner)
    assert keyword.capp is capp and keyword.runner is runner


# -- flower.events: metrics ----------------------------------------------------------------------------------


def _text(metrics) -> str:
    return metrics.render().decode()


def test_state_metrics_families_take_prometheus_clients_labels_api():
    state = EventsState()
    metrics = state.metrics
    assert isinstance(metrics, PrometheusMetrics) and get_prometheus_metrics() is metrics
    metrics.events.labels('w@h', 'task-custom', 'my.task').inc()
    metrics.events.labels(worker='w@h', type='task-custom', task='my.task').inc(2)
    assert metrics.events.labels('w@h', 'task-custom', 'my.task').get() == 3
    assert 'flower_events_total{task="my.task",type="task-custom",worker="w@h"} 3.0' in _text(metrics)
    metrics.events.labels('w@h', 'task-custom', 'my.task').inc()  # the cached sample line is refreshed
    assert 'flower_events_total{task="my.task",type="task-custom",worker="w@h"} 4.0' in _text(metrics)

    metrics.worker_online.labels('w@h').set(1)
    metrics.worker_number_of_currently_executing_tasks.labels('w@h').set(5)
    prefetched = metrics.number_of_prefetched_tasks.labels('w@h', 'my.task')
    prefetched.inc(3)
    prefetched.dec()
    metrics.prefetch_time.labels('w@h', 'my.task').set(0.5)
    metrics.runtime.labels('w@h', 'my.task').observe(0.3)
    metrics.runtime.labels('w@h', 'my.task').observe(20)
    text = _text(metrics)
    assert 'flower_worker_online{worker="w@h"} 1.0' in text
    assert 'flower_worker_number_of_currently_executing_tasks{worker="w@h"} 5.0' in text
    assert 'flower_worker_prefetched_tasks{task="my.task",worker="w@h"} 2.0' in text
    assert 'flower_task_prefetch_time_seconds{task="my.task",worker="w@h"} 0.5' in text
    assert 'flower_task_runtime_seconds_bucket{task="my.task",worker="w@h",le="0.5"} 1.0' in text
    assert 'flower_task_runtime_seconds_bucket{task="my.task",worker="w@h",le="+Inf"} 2.0' in text
    assert 'flower_task_runtime_seconds_count{task="my.task",worker="w@h"} 2.0' in text
    assert metrics.runtime.labels('w@h', 'my.task').get() == pytest.approx(20.3)
    # what the events set is the same numbers
    assert metrics.online['w@h'] == 1.0 and metrics.worker_online is metrics.online
    assert dict(metrics.prefetched) == {('w@h', 'my.task'): 2.0}
    assert set(metrics.events._metrics) == {('w@h', 'task-custom', 'my.task')}

    with pytest.raises(ValueError, match='Incorrect label count'):
        metrics.events.labels('w@h')
    with pytest.raises(ValueError, match='Incorrect label names'):
        metrics.worker_online.labels(host='w@h')
    with pytest.raises(ValueError):
        metrics.events.labels('w@h', 'x', 'y').inc(-1)
    metrics.number_of_prefetched_tasks.remove('w@h', 'my.task')
    assert 'flower_worker_prefetched_tasks{' not in _text(metrics)


def test_labels_respect_the_task_name_cap():
    metrics = EventMetrics(max_task_names=1)
    metrics.events.labels('w', 'task-received', 'first').inc()
    metrics.events.labels('w', 'task-received', 'second').inc()
    assert set(metrics.events) == {('w', 'task-received', 'first'), ('w', 'task-received', '__other__')}


def test_observe_task_observe_worker_and_remove_workers_as_flower():
    metrics = PrometheusMetrics()
    assert metrics.bounds[0] == 0.005 and metrics.bounds[-1] == float('inf')  # Prometheus' default buckets
    task = SimpleNamespace(name='t', eta=None, received=100.0, started=None)
    metrics.observe_task('w@h', {'type': 'task-received', 'name': 't'}, task)
    assert metrics.prefetched[('w@h', 't')] == 1
    task.started = 100.5
    metrics.observe_task('w@h', {'type': 'task-started'}, task)
    assert metrics.prefetched[('w@h', 't')] == 0 and metrics.prefetch_time[('w@h', 't')] == 0.5
    metrics.observe_task('w@h', {'type': 'task-succeeded', 'runtime': 0.2}, task)
    assert metrics.prefetch_time[('w@h', 't')] == 0 and metrics.runtime[('w@h', 't')].count == 1
    assert metrics.events[('w@h', 'task-succeeded', 't')][0] == 1
    metrics.observe_worker('w@h', {'type': 'worker-heartbeat', 'active': 4})
    assert metrics.online['w@h'] == 1.0 and metrics.executing['w@h'] == 4
    metrics.observe_worker('w@h', {'type': 'worker-offline'})
    assert metrics.online['w@h'] == 0.0
    metrics.observe_worker('x@h', {'type': 'worker-online'})
    assert metrics.remove_workers(['w@h', 'never@h']) == 1
    assert metrics.workers() == {'x@h'}


def test_get_prometheus_metrics_is_the_latest_states():
    first = EventsState().metrics
    assert get_prometheus_metrics() is first
    second = EventsState().metrics
    assert get_prometheus_metrics() is second


def test_metrics_follow_real_events():
    state = EventsState()
    for ev in [worker_online('w@h'), heartbeat('w@h', active=2)] + task_events(hostname='w@h', uuid='t1'):
        state.event(ev)
    events = state.metrics.events
    assert events.labels('w@h', 'task-succeeded', 'tasks.add').get() == 1
    assert state.metrics.worker_number_of_currently_executing_tasks.labels('w@h').get() == 2


# -- /metrics and collectors in prometheus_client's default registry -------------------------------------------


class _Broken:
    def describe(self):
        return []

    def collect(self):
        raise RuntimeError('collector broke')


class _Clash:
    def describe(self):
        return []

    def collect(self):
        yield CounterMetricFamily('flower_events', 'an impostor', value=99)
        yield GaugeMetricFamily('process_cpu_seconds', 'another impostor', value=1)
        yield GaugeMetricFamily('myext_up', 'Whether my extension is up', value=1)


def test_render_adds_user_collectors_of_the_default_registry(caplog):
    counter = Counter('surface_test_jobs', 'Jobs run by a test extension', ['kind'])
    broken, clash = _Broken(), _Clash()
    REGISTRY.register(broken)
    REGISTRY.register(clash)
    try:
        counter.labels('nightly').inc(3)
        state = EventsState()
        state.event(worker_online('w@h'))
        with caplog.at_level(logging.WARNING, logger='flower.metrics'):
            text = _text(state.metrics)
            again = _text(state.metrics)
        assert 'surface_test_jobs_total{kind="nightly"} 3.0' in text
        assert 'myext_up 1.0' in text
        assert 'impostor' not in text and 'flower_events_total 99' not in text
        assert text.count('# TYPE flower_events_total counter') == 1
        assert text.count('# TYPE process_cpu_seconds_total counter') == 1
        assert text.count('# HELP python_info') == 1  # prometheus_client's own default collectors: once
        assert 'flower_worker_online{worker="w@h"} 1.0' in again and 'surface_test_jobs_total' in again
        failures = [r for r in caplog.records if 'collector broke' in r.getMessage()]
        assert len(failures) == 1  # once, not on every scrape
        assert any("'flower_events'" in r.getMessage() for r in caplog.records)
    finally:
        for collector in (counter, broken, clash):
            REGISTRY.unregister(collector)
    assert 'surface_test_jobs' not in _text(EventsState().metrics)


def test_user_collectors_text_isolates_each_collector():
    registry = CollectorRegistry()
    good = Counter('good_things', 'Good things', registry=registry)
    good.inc()
    registry.register(_Broken())
    text = user_collectors_text(frozenset(), registry).decode()
    assert re.search(r'^good_things_total 1\.0$', text, re.M)


# -- flower.events.Events.on_enable_events -------------------------------------------------------------------


def test_on_enable_events_asks_the_workers_and_survives_a_broker_error(caplog):
    capp = mock.MagicMock()
    capp.conf.event_serializer = 'json'
    events = Events(capp, io_loop=None, enable_events=True, runner=BlockingRunner(max_concurrency=1))
    run(events.on_enable_events())
    capp.control.enable_events.assert_called_once_with()
    capp.control.enable_events.side_effect = OperationalError('broker down')
    with caplog.at_level(logging.WARNING):
        run(events.on_enable_events())
    assert 'Failed to enable events' in caplog.text and 'broker down' in caplog.text


def test_a_subclass_overriding_on_enable_events_is_what_the_timer_calls():
    calls = []

    class Mine(Events):
        async def on_enable_events(self):
            calls.append('mine')

    capp = mock.MagicMock()
    capp.conf.event_serializer = 'json'
    events = Mine(capp, io_loop=None)
    events.health.connected()  # the periodic call only asks while the stream is connected
    run(events._enable_events())
    assert calls == ['mine']
