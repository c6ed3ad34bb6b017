"""flower.diagnosis: what the "why is this empty?" panel and GET /api/diagnosis say, from a state and the stream
health, without HTTP."""

from __future__ import annotations

import time

from flower.diagnosis import FINDING_CODES, SKEW_LIMIT, diagnose
from flower.events.state import EventsState
from flower.events.stream_health import StreamHealth
from tests.support.events import heartbeat, task_events, worker_online


def connected() -> StreamHealth:
    health = StreamHealth()
    health.connected()
    return health


def fed(*events) -> EventsState:
    state = EventsState()
    for ev in events:
        state.event(ev)
    return state


def codes(diagnosis) -> list[str]:
    return [finding.code for finding in diagnosis.findings]


def test_unreachable_broker_says_why_and_how_to_fix_it():
    health = StreamHealth()
    health.lost('connection refused (broker down or restarted): Error 111 connecting to 127.0.0.1:1', False)
    diagnosis = diagnose(fed(), health, broker='redis://127.0.0.1:1/0')
    assert codes(diagnosis) == ['broker_unreachable'] and not diagnosis.ok
    finding = diagnosis.findings[0]
    assert finding.severity == 'error'
    assert 'redis://127.0.0.1:1/0' in finding.detail
    assert 'Error 111 connecting to 127.0.0.1:1' in finding.detail and 'NOT READY' not in finding.detail
    assert '--broker' in finding.fix


def test_not_connected_yet_is_unreachable_too():
    assert codes(diagnose(fed(), StreamHealth())) == ['broker_unreachable']


def test_unreachable_broker_hides_the_findings_that_follow_from_it():
    health = StreamHealth()
    health.lost('connection reset', True)
    state = fed(worker_online(), heartbeat(processed=5))  # would be "no task events" with a connected broker
    assert codes(diagnose(state, health)) == ['broker_unreachable']


def test_connected_without_any_event():
    diagnosis = diagnose(fed(), connected(), broker='amqp://guest:**@localhost:5672//')
    assert codes(diagnosis) == ['no_events']
    assert 'amqp://guest:**@localhost:5672//' in diagnosis.findings[0].detail
    assert 'worker -E' in diagnosis.findings[0].fix


def test_no_stream_health_does_not_judge_the_broker():
    assert codes(diagnose(fed(), None)) == ['no_events']
    assert diagnose(fed(worker_online()), None).ok


def test_worker_that_ran_tasks_without_task_events():
    state = fed(
        worker_online('quiet@host'),
        heartbeat('quiet@host', processed=3),
        worker_online('loud@host'),
        *task_events(hostname='loud@host'),
        heartbeat('loud@host', processed=1),
    )
    diagnosis = diagnose(state, connected(), enable_events=False)
    assert codes(diagnosis) == ['no_task_events']
    finding = diagnosis.findings[0]
    assert finding.workers == ('quiet@host',) and finding.severity == 'warning'
    assert 'quiet@host has run tasks' in finding.detail and 'loud@host' not in finding.detail
    assert '--enable_events=false' in finding.detail
    assert '-E' in finding.fix and 'task_send_sent_event' in finding.fix
    assert '--enable_events=false' not in diagnose(state, connected(), enable_events=True).findings[0].detail


def test_an_idle_worker_is_not_silent():
    """A worker that ran nothing yet sends no task events either: nothing is wrong."""
    assert diagnose(fed(worker_online(), heartbeat(processed=0)), connected()).ok


def test_a_healthy_cluster_has_no_findings():
    state = fed(worker_online(), *task_events(), *task_events(outcome='failed'), heartbeat(processed=2))
    diagnosis = diagnose(state, connected())
    assert diagnosis.ok and diagnosis.as_json() == {'ok': True, 'findings': []}


def test_clock_skew_both_ways_and_within_the_limit():
    now = time.time()
    state = fed(
        heartbeat('behind@host', timestamp=now - 3600, local_received=now),
        heartbeat('ahead@host', timestamp=now + 120, local_received=now),
        heartbeat('fine@host', timestamp=now - SKEW_LIMIT / 2, local_received=now),
    )
    diagnosis = diagnose(state, connected(), now=now)
    assert codes(diagnosis) == ['clock_skew']
    finding = diagnosis.findings[0]
    assert finding.workers == ('ahead@host', 'behind@host')
    assert 'behind@host (3,600 s behind)' in finding.detail and 'ahead@host (120 s ahead)' in finding.detail
    assert 'fine@host' not in finding.detail and 'NTP' in finding.fix


def test_offline_workers_are_not_judged_for_skew():
    now = time.time()
    state = fed(heartbeat('gone@host', timestamp=now - 3600, local_received=now - 600))
    assert diagnose(state, connected(), now=now).ok


def test_json_shape_lists_workers_and_uses_documented_codes():
    state = fed(worker_online(), heartbeat(processed=2))
    data = diagnose(state, connected()).as_json()
    assert data['ok'] is False
    assert data['findings'] == [
        {
            'code': 'no_task_events',
            'severity': 'warning',
            'title': data['findings'][0]['title'],
            'detail': data['findings'][0]['detail'],
            'fix': data['findings'][0]['fix'],
            'workers': ['worker1@host'],
        }
    ]
    assert set(FINDING_CODES) == {'broker_unreachable', 'no_events', 'no_task_events', 'clock_skew'}


def test_many_workers_are_summarised():
    events = []
    for i in range(8):
        events += [worker_online(f'w{i}@host'), heartbeat(f'w{i}@host', processed=1)]
    finding = diagnose(fed(*events), connected()).findings[0]
    assert len(finding.workers) == 8 and 'and 3 more' in finding.detail


def test_tasks_run_before_this_server_listened_are_not_held_against_a_worker():
    """A server started next to a busy worker first hears a heartbeat counting tasks it could not see."""
    state = fed(heartbeat(processed=5))
    assert diagnose(state, connected()).ok
    state.event(heartbeat(processed=7))  # two more, and still no task event: they are missing
    assert codes(diagnose(state, connected())) == ['no_task_events']
    state.event(worker_online())  # a restart counts from 0 again
    state.event(heartbeat(processed=0))
    assert diagnose(state, connected()).ok
    state.event(heartbeat(processed=1))
    assert codes(diagnose(state, connected())) == ['no_task_events']
