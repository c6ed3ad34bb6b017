"""Runtime rule 10 for task names: the first --metrics_max_task_names names keep their own ``task`` label, the
rest are counted under ``__other__``, and flower_metrics_task_names_folded says how many were folded."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from flower.events.state import EventsState
from flower.metrics import OVERFLOW_TASK, EventMetrics
from flower.options import OptionError, resolve
from tests.support.events import event, task_events


def _families(metrics):
    return {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}


def _events_by_task(fams):
    totals: dict[str, float] = {}
    for sample in fams['flower_events'].samples:
        if sample.name == 'flower_events_total':
            totals[sample.labels['task']] = totals.get(sample.labels['task'], 0) + sample.value
    return totals


def _folded(fams):
    return fams['flower_metrics_task_names_folded'].samples[0].value


def test_names_past_the_cap_are_counted_under_other_in_every_task_family():
    state = EventsState(metrics=EventMetrics([0.1, 1.0], max_task_names=3))
    for i, name in enumerate(['a', 'b', 'c', 'd', 'e', 'f', 'd']):
        for ev in task_events(name=name, hostname='w@h', uuid=f't{i}', runtime=0.5):
            state.event(ev)
    fams = _families(state.metrics)
    # three events per task (received, started, succeeded); d twice
    assert _events_by_task(fams) == {'a': 3, 'b': 3, 'c': 3, OVERFLOW_TASK: 12}
    assert _folded(fams) == 3  # d, e, f: d seen twice is one name
    for family in (
        'flower_task_runtime_seconds',
        'flower_task_prefetch_time_seconds',
        'flower_worker_prefetched_tasks',
    ):
        assert {s.labels['task'] for s in fams[family].samples if 'task' in s.labels} == {
            'a',
            'b',
            'c',
            OVERFLOW_TASK,
        }, family
    runtime_count = {
        s.labels['task']: s.value
        for s in fams['flower_task_runtime_seconds'].samples
        if s.name == 'flower_task_runtime_seconds_count'
    }
    assert runtime_count == {'a': 1, 'b': 1, 'c': 1, OVERFLOW_TASK: 4}  # totals are unchanged by folding


def test_the_first_names_keep_their_label_for_good():
    metrics = EventMetrics(max_task_names=2)
    for name in ['x', 'y', 'z1', 'z2', 'x', 'y', 'z3']:
        metrics.count_event('w@h', 'task-received', name)
    assert metrics.task_label('x') == 'x' and metrics.task_label('y') == 'y'
    assert metrics.task_label('z1') == OVERFLOW_TASK
    metrics.forget_workers(['w@h'])  # a worker leaving does not give its task names' places away
    assert metrics.task_label('new') == OVERFLOW_TASK
    fams = _families(metrics)
    assert _folded(fams) == 4


def test_zero_means_no_cap():
    metrics = EventMetrics(max_task_names=0)
    for i in range(2000):
        metrics.count_event('w@h', 'task-received', f'task{i}')
    fams = _families(metrics)
    assert len(_events_by_task(fams)) == 2000 and OVERFLOW_TASK not in _events_by_task(fams)
    assert _folded(fams) == 0


def test_100000_distinct_names_make_a_small_scrape():
    state = EventsState(metrics=EventMetrics(max_task_names=500), max_tasks_in_memory=1000)
    for i in range(100_000):
        state.event(
            event(
                'task-received',
                f'w{i % 4}@h',
                uuid=f'u{i}',
                name=f'app.generated_{i}',
                args='()',
                kwargs='{}',
                retries=0,
            )
        )
    text = state.metrics.render()
    assert len(text) < 2_000_000, len(text)
    fams = _families(state.metrics)
    by_task = _events_by_task(fams)
    assert len(by_task) == 501 and by_task[OVERFLOW_TASK] == 99_500
    assert sum(by_task.values()) == 100_000
    assert _folded(fams) == 99_500


@pytest.mark.parametrize(
    'argv, expected', [([], 500), (['--metrics_max_task_names=0'], 0), (['--metrics_max_task_names=20'], 20)]
)
def test_the_option(tmp_path, argv, expected):
    assert resolve(argv, {}, cwd=str(tmp_path)).options.metrics_max_task_names == expected


def test_a_negative_cap_is_refused(tmp_path):
    with pytest.raises(OptionError, match=r"'--metrics_max_task_names' must be 0 \(no cap\) or more"):
        resolve(['--metrics_max_task_names=-1'], {}, cwd=str(tmp_path))


def test_the_app_passes_the_option_to_its_metrics():
    from celery import Celery

    from flower.app import Flower
    from flower.options import Options

    app = Flower(capp=Celery('cap', broker='memory://'), options=Options({'metrics_max_task_names': 7}))
    assert app.events.state.metrics.max_task_names == 7
