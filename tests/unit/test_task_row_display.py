"""Issue 17, one formatter per view: the tasks table's rows carry the text their time and runtime cells show,
formatted by the functions the task's page uses (``row_display``), and the task page's field rows are rendered
once per content (``Fragments.render_fields``), natural times included."""

from __future__ import annotations

import re
import time
from types import SimpleNamespace

import pytest

from flower.events.state import EventsState
from flower.live import LiveHub
from flower.utils.template import natural_time_key
from flower.views.live_pages import LivePages
from flower.views.modules import Fragments, render_task_fields
from flower.views.tasks import Field, row_display, task_fields, task_row
from tests.support.events import task_events
from tests.unit.test_live_hub import TASKS_PAGE, FakeLoop, connect, feed

# 2026-12-03 14:20:00.250 UTC
RECEIVED = 1796307600.25


def finished(state: EventsState | None = None, uuid: str = 't-1', start: float = RECEIVED, runtime: float = 0.25):
    state = state or EventsState()
    for one in task_events(uuid=uuid, start=start, runtime=runtime):
        state.event(one)
    return state, state.tasks[uuid]


# -- the row's text -------------------------------------------------------------------------------------------
def test_a_row_keeps_every_field_and_adds_the_text_of_its_times_and_runtime():
    _, task = finished()
    row = task_row(task)
    assert set(row) == set(task.as_dict()) | {'display'}
    assert row['received'] == RECEIVED and row['runtime'] == 0.25  # the raw values stay (API clients, sorting)
    assert row['display'] == {
        'received': {
            'text': '2026-12-03 14:20:00.250000 UTC',
            'title': f'2026-12-03 14:20:00.250000 UTC ({RECEIVED})',
        },
        'started': {
            'text': '2026-12-03 14:20:00.251000 UTC',
            'title': f'2026-12-03 14:20:00.251000 UTC ({RECEIVED + 0.001})',
        },
        'runtime': {'text': '250.0 ms', 'title': '0.25 s'},
    }


def test_the_rows_times_are_in_the_pages_timezone():
    _, task = finished()
    display = task_row(task, 'time-Asia/Tokyo')['display']
    assert display['received']['text'] == '2026-12-03 23:20:00.250000 JST'
    assert display['received']['title'] == f'2026-12-03 23:20:00.250000 JST ({RECEIVED})'
    assert task_row(task, 'time-Europe/Paris')['display']['started']['text'] == '2026-12-03 15:20:00.251000 CET'


def test_natural_times_say_how_long_ago_within_a_day_and_the_full_time_before():
    _, recent = finished(uuid='recent', start=time.time() - 300)
    display = task_row(recent, 'natural-time')['display']
    assert display['received']['text'] == '5 minutes ago'
    assert re.fullmatch(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} UTC \([\d.]+\)', display['received']['title'])
    _, old = finished(uuid='old', start=RECEIVED - 3 * 86400)
    assert task_row(old, 'natural-time-Asia/Tokyo')['display']['received']['text'] == ('2026-11-30 23:20:00.250000 JST')


@pytest.mark.parametrize(
    'runtime, text',
    [
        (0.004, '4.00 ms'),
        (0.25, '250.0 ms'),
        (3.5, '3.50 s'),
        (192, '3 min 12 s'),
        (7300, '2 h 1 min'),
        (3 * 86400 + 4 * 3600 + 59, '3 d 4 h'),
    ],
)
def test_runtimes_read_as_on_the_task_page(runtime, text):
    assert row_display({'runtime': runtime})['runtime'] == {'text': text, 'title': f'{runtime} s'}


def test_eta_and_expires_as_reported_iso_text_are_shown_as_times_with_the_text_as_tooltip():
    display = row_display({'eta': '2026-12-03T14:20:00+00:00', 'expires': '', 'revoked': None}, 'time-Asia/Tokyo')
    assert display == {
        'eta': {'text': '2026-12-03 23:20:00.000000 JST', 'title': '2026-12-03T14:20:00+00:00'},
    }  # no value, no text: the table shows its "none" mark


def test_the_datatable_and_the_live_channel_send_the_same_rows():
    state, _ = finished()
    app = SimpleNamespace(
        options=SimpleNamespace(format_task=None, url_prefix=''),
        capp=SimpleNamespace(conf=SimpleNamespace(task_serializer='json', timezone='Asia/Tokyo')),
        events=SimpleNamespace(state=state),
    )
    page = LivePages(app, lambda: 'time-Asia/Tokyo')['tasks']
    rows = page.render(page.key(TASKS_PAGE)).data['rows']
    assert rows == [task_row(state.tasks['t-1'], 'time-Asia/Tokyo')]
    assert rows[0]['display']['received']['text'].endswith(' JST')


# -- natural times do not go stale on a quiet page -------------------------------------------------------------
def hub_for(time_type: str):
    loop = FakeLoop()
    state = EventsState(max_tasks_in_memory=100)
    app = SimpleNamespace(
        options=SimpleNamespace(format_task=None, purge_offline_workers=None, url_prefix=''),
        capp=SimpleNamespace(conf=SimpleNamespace(task_serializer='json', timezone=None)),
        events=SimpleNamespace(state=state),
    )
    return loop, state, LiveHub(state, LivePages(app, lambda: time_type), loop=loop)


def test_natural_time_tasks_and_task_views_are_recomputed_without_events_absolute_ones_are_not():
    for time_type, refreshed in (('natural-time', True), ('time', False)):
        loop, state, hub = hub_for(time_type)
        feed(state, hub, task_events(uuid='t-1', start=time.time() - 30))
        conn = connect(hub, loop, TASKS_PAGE)
        page = connect(hub, loop, {'page': 'task', 'id': 't-1'})
        loop.advance(0.6)
        assert hub.views_computed == 2
        assert conn.last['data']['rows'][0]['display']['received']['text'].endswith('ago') is refreshed
        assert bool(re.search(r'>\d+ seconds ago</time>', page.last['data']['fragments']['task-fields'])) is refreshed
        loop.advance(hub.refresh_interval + 0.1)  # no event in between
        assert hub.views_computed == (4 if refreshed else 2), time_type
        hub.stop()


# -- the task page's field rows ----------------------------------------------------------------------------------
def fragments(time_type: str = 'time') -> Fragments:
    return Fragments(SimpleNamespace(options=SimpleNamespace(url_prefix='/fl'), capp=None), lambda: time_type)


def test_a_field_row_is_rendered_once_per_content_and_a_cached_row_is_what_a_fresh_render_gives():
    state, task = finished()
    fields = task_fields(task)
    cached = fragments()
    first = render_task_fields(cached, fields, state.tasks)
    rendered = cached._fields.copy()
    assert len(rendered) == len([f for f in fields if f.name not in ('name', 'uuid')])
    assert render_task_fields(cached, fields, state.tasks) == first
    assert cached._fields == rendered  # nothing rendered again
    assert '<tr data-field="name"' not in first and '<tr data-field="state"' in first
    assert 'title="0.25 s">250.0 ms</span>' in first
    assert '2026-12-03 14:20:00.250000 UTC</time>' in first
    assert '<a class="worker-link" href="/fl/worker/worker1%40host">worker1@host</a>' in first
    assert first == render_task_fields(fragments(), fields, state.tasks)


def test_a_related_tasks_row_follows_that_tasks_state():
    state, _ = finished(uuid='parent')
    for one in task_events(uuid='child', start=RECEIVED + 1, outcome='running'):
        state.event(one)
    field = Field('children', 'Children', 'tasks', ['child'])
    cached = fragments()
    assert 'tasks.add · STARTED' in cached.render_fields([field], state.tasks)
    for one in task_events(uuid='child', start=RECEIVED + 1)[2:]:
        state.event(one)
    assert 'tasks.add · SUCCESS' in cached.render_fields([field], state.tasks)


def test_a_natural_time_row_is_keyed_by_how_long_ago_so_it_never_goes_stale():
    now = 1_000_000.0
    assert natural_time_key(now - 5.2, now) == natural_time_key(now - 5.9, now) != natural_time_key(now - 6.1, now)
    assert natural_time_key(now - 125, now) == natural_time_key(now - 170, now) != natural_time_key(now - 185, now)
    assert natural_time_key(now - 7300, now) == natural_time_key(now - 10000, now) != natural_time_key(now - 11000, now)
    assert natural_time_key(now + 30, now) != natural_time_key(now - 30, now)  # "in 30 seconds" / "30 seconds ago"
    assert natural_time_key(now - 2 * 86400, now) is None  # the full time, which does not change
    assert natural_time_key('2026-12-03T14:20:00+00:00', 1796307600.0 + 90) == (False, 60, 1)

    cached = fragments('natural-time')
    field = Field('received', 'Received', 'time', time.time() - 3)
    html = cached.render_fields([field], {})
    assert re.search(r'>\d seconds ago</time>', html)
    later = Field('received', 'Received', 'time', field.value - 120)  # what the same row says two minutes on
    assert re.search(r'>2 minutes ago</time>', cached.render_fields([later], {}))


def test_equal_values_of_other_types_are_other_rows():
    cached = fragments()
    texts = [
        re.search(r'<td>\s*(.*?)\s*</td>', cached.render_fields([Field('retries', 'Retries', 'text', value)], {}))[1]
        for value in (1, 1.0, True)
    ]
    assert texts == ['1', '1.0', 'True']


def test_a_field_whose_value_cannot_be_a_key_is_rendered_every_time():
    cached = fragments()
    field = Field('kwargs', 'Keyword arguments', 'code', {'set by': 'a format_task hook'})
    html = cached.render_fields([field], {})
    assert '{&#x27;set by&#x27;: &#x27;a format_task hook&#x27;}' in html
    assert cached._fields == {}
