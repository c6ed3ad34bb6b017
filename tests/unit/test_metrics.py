"""The /metrics text: Flower's six families with their names, help, types, labels and buckets, in the
format prometheus_client writes (checked by parsing it with prometheus_client's own parser)."""

from __future__ import annotations

import time

import math

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from flower.events.state import EventsState
from flower.metrics import EventMetrics, format_value
from tests.support.events import event, heartbeat, task_events, worker_online


def families(metrics):
    return {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}


def test_number_format_matches_prometheus_client():
    for value in (0, 1, 1.5, 0.005, 1e-9, 123456789.0, 1234567.891, 10**12, math.inf, -math.inf, 3):
        assert format_value(value) == floatToGoString(value)


def test_families_labels_and_values():
    state = EventsState(metrics=EventMetrics([0.1, 1.0]))
    for ev in [worker_online('w@h'), heartbeat('w@h', active=2)] + task_events(hostname='w@h', runtime=0.5):
        state.event(ev)
    fams = families(state.metrics)
    events = {
        (s.labels['worker'], s.labels['type'], s.labels['task']): s.value
        for s in fams['flower_events'].samples
        if s.name == 'flower_events_total'
    }
    assert events == {
        ('w@h', 'task-received', 'tasks.add'): 1,
        ('w@h', 'task-started', 'tasks.add'): 1,
        ('w@h', 'task-succeeded', 'tasks.add'): 1,
    }
    assert fams['flower_events'].type == 'counter'
    assert fams['flower_events'].documentation == 'Number of events'
    buckets = {
        s.labels['le']: s.value for s in fams['flower_task_runtime_seconds'].samples if s.name.endswith('_bucket')
    }
    assert buckets == {'0.1': 0, '1.0': 1, '+Inf': 1}
    assert fams['flower_task_runtime_seconds'].type == 'histogram'
    online = fams['flower_worker_online'].samples
    assert [(s.labels, s.value) for s in online] == [({'worker': 'w@h'}, 1.0)]
    executing = fams['flower_worker_number_of_currently_executing_tasks'].samples
    assert executing[0].value == 2
    assert {
        'flower_task_prefetch_time_seconds',
        'flower_worker_prefetched_tasks',
        'process_cpu_seconds',
        'python_info',
    } <= set(fams)


def test_label_values_are_escaped():
    metrics = EventMetrics()
    metrics.count_event('w"\\\n@h', 'task-received', 'a"b')
    fams = families(metrics)
    sample = [s for s in fams['flower_events'].samples if s.name == 'flower_events_total'][0]
    assert sample.labels == {'worker': 'w"\\\n@h', 'type': 'task-received', 'task': 'a"b'}


def test_forget_workers_removes_every_label_set():
    state = EventsState()
    for ev in (
        [worker_online('gone@h'), heartbeat('gone@h', active=1)]
        + task_events(hostname='gone@h')
        + task_events(hostname='stay@h')
    ):
        state.event(ev)
    removed = state.metrics.forget_workers(['gone@h'])
    assert removed > 0
    text = state.metrics.render().decode()
    assert 'gone@h' not in text and 'stay@h' in text


def test_empty_metrics_render_headers_only():
    fams = families(EventMetrics())
    assert fams['flower_events'].samples == []
    assert fams['flower_worker_online'].samples == []


def test_offline_event_sets_zero():
    state = EventsState()
    state.event(worker_online('w@h'))
    state.event(event('worker-offline', 'w@h'))
    assert families(state.metrics)['flower_worker_online'].samples[0].value == 0.0


def test_a_worker_whose_heartbeats_stopped_is_reported_offline_until_it_beats_again():
    from flower.cluster import expire_silent_workers
    from flower.events.state import EventsState
    from tests.support.events import event

    state = EventsState()
    now = time.time()
    state.event(event('worker-heartbeat', 'killed@h', now - 60, freq=2.0, active=0, local_received=now - 60))
    state.event(event('worker-heartbeat', 'busy@h', now, freq=2.0, active=1, local_received=now))
    assert state.metrics.online == {'killed@h': 1.0, 'busy@h': 1.0}  # as the events left them
    assert expire_silent_workers(state) == ['killed@h']
    assert state.metrics.online == {'killed@h': 0.0, 'busy@h': 1.0}
    assert b'flower_worker_online{worker="killed@h"} 0.0' in state.metrics.render()
    state.event(event('worker-heartbeat', 'killed@h', now, freq=2.0, active=0, local_received=now))
    assert state.metrics.online['killed@h'] == 1.0 and expire_silent_workers(state) == []
