"""Issue 15 points 8, 13 and 14 without a server: truncation notices and the API's ``truncated`` field, the task
page's Retry by the retry API's own rule, retry links, and values formatted as people read them."""

from __future__ import annotations

from types import SimpleNamespace


from celery.utils.saferepr import saferepr

from flower.api.tasks import task_as_dict
from flower.control import NotRetryable, recover_call, retry_refusal
from flower.events.retries import RetryLinks
from flower.events.task import Task, apply_task_event, truncation
from flower.utils.template import duration_text, stat_shown, time_shown
from flower.views.tasks import task_actions, task_fields

# what Celery puts in a task-sent event for a call with one 50,000-character argument (its argsrepr limit: 1024)
CELERY_CUT_ARGS = saferepr(('x' * 50000,), 1024)


def failed_task(args: str, limit: int, uuid: str = 'a') -> Task:
    task = Task(uuid)
    apply_task_event(task, 'received', 1.0, {'name': 'app.work', 'args': args, 'kwargs': '{}'}, limit)
    apply_task_event(task, 'failed', 2.0, {'exception': "ValueError('no')"}, limit)
    return task


def test_a_value_cut_by_celery_then_by_the_server_says_both_and_how_much_was_kept():
    assert len(CELERY_CUT_ARGS) == 1031
    task = failed_task(CELERY_CUT_ARGS, 1024)
    data = task_as_dict(task)
    # Flower's shape: the value is the kept text, no marker in it; the marker is a field of its own
    assert data['args'] == CELERY_CUT_ARGS[:1024]
    assert data['truncated'] == {'args': {'kept': 1024, 'by': 'celery', 'received': 1031}}
    note = {field.name: field for field in task_fields(task)}['args'].note
    assert note.startswith('1,024 characters kept. Celery shortened this value to 1,031 characters')
    assert 'argsrepr' in note and '--task_args_max_length' in note and 'in all' not in note


def test_a_value_cut_only_by_the_server_or_only_by_celery():
    server_cut = failed_task(repr(('y' * 3000,)), 100)
    assert task_as_dict(server_cut)['truncated'] == {'args': {'kept': 100, 'by': 'server', 'received': 3005}}
    assert {f.name: f for f in task_fields(server_cut)}['args'].note == (
        '100 of 3,005 characters kept: --task_args_max_length cut the rest when it was stored.'
    )
    celery_cut = failed_task(CELERY_CUT_ARGS, 0)
    assert task_as_dict(celery_cut)['args'] == CELERY_CUT_ARGS
    assert task_as_dict(celery_cut)['truncated'] == {'args': {'kept': 1031, 'by': 'celery'}}
    whole = failed_task("('Loading...',)", 100)  # a short value ending in '...' is a value, not a cut
    assert 'truncated' not in task_as_dict(whole) and truncation(whole.args) == (whole.args, None)


def test_the_page_withholds_retry_by_the_retry_apis_own_rule():
    for task in (
        failed_task(CELERY_CUT_ARGS, 0),
        failed_task(CELERY_CUT_ARGS, 1024),
        failed_task(repr(('y' * 3000,)), 100),
    ):
        try:
            recover_call(task)
        except NotRetryable as exc:
            refused = str(exc)
        actions = task_actions(task, 'json')
        assert actions['retry'] is False and actions['retry_refusal'] == refused == retry_refusal(task)
    assert 'shortened by Celery' in task_actions(failed_task(CELERY_CUT_ARGS, 0), 'json')['retry_refusal']
    assert 'truncated when stored' in retry_refusal(failed_task(repr(('y' * 3000,)), 100))
    fine = failed_task("(1, 2)", 100)
    assert task_actions(fine, 'json') == {'revoke': False, 'terminate': False, 'retry': True, 'retry_refusal': None}


def test_retry_links_show_on_both_tasks_and_are_bounded():
    links = RetryLinks(max_links=2)
    links.record('orig', 'new1')
    links.record('orig', 'new2')
    original, copy = failed_task('(1,)', 0, 'orig'), failed_task('(1,)', 0, 'new1')
    fields = {field.name: field for field in task_fields(original, links)}
    assert (fields['retried_as'].kind, fields['retried_as'].value, fields['retried_as'].label) == (
        'tasks',
        ['new1', 'new2'],
        'Retried as',
    )
    fields = {field.name: field for field in task_fields(copy, links)}
    assert (fields['retry_of'].kind, fields['retry_of'].value, fields['retry_of'].label) == ('task', 'orig', 'Retry of')
    links.record('other', 'new3')  # the oldest link goes
    assert links.retry_of('new1') is None and links.retried_as('orig') == ['new2'] and len(links) == 2


def test_worker_numbers_and_times_read_as_people_read_them_with_the_exact_value_in_the_tooltip():
    assert stat_shown('utime', 0.8807919999999999) == ('880.8 ms', '0.8807919999999999 s')
    assert stat_shown('uptime', 205) == ('3 min 25 s', '205 s')
    assert stat_shown('uptime', 200000) == ('2 d 7 h', '200000 s')
    assert stat_shown('maxrss', 123456) == ('120.6 MiB', '123456 KiB')
    assert stat_shown('nvcsw', 12345) == ('12,345', '12345')
    assert stat_shown('ratio', 0.123456) == ('0.12', '0.123456')
    assert stat_shown('minflt', 12) == ('12', None)
    assert stat_shown('clock', 'x') == ('x', None)
    assert time_shown('2026-12-03T14:20:00.123000+00:00', 'time') == (
        '2026-12-03 14:20:00.123000 UTC',
        '2026-12-03T14:20:00.123000+00:00',
    )
    assert time_shown('2026-12-03T15:20:00+01:00', 'time-Europe/Paris')[0] == '2026-12-03 15:20:00.000000 CET'
    # a value that is not a time shows as unknown (runtime rule 8), the raw text in the tooltip
    assert time_shown('not a time', 'time') == ('unknown', 'not a time')
    assert duration_text(7300) == '2 h 1 min'


def test_eta_on_the_task_page_is_a_time_and_the_live_update_formats_it_the_same_way():
    from flower.views.modules import Fragments, render_task_fields

    task = failed_task('(1,)', 0)
    task.eta = '2026-12-03T14:20:00+00:00'
    eta = {field.name: field for field in task_fields(task)}['eta']
    assert eta.kind == 'time'
    assert time_shown(task.eta, 'time') == ('2026-12-03 14:20:00.000000 UTC', '2026-12-03T14:20:00+00:00')
    # the page and its live updates render the field with one template (flower.views.modules)
    app = SimpleNamespace(options=SimpleNamespace(url_prefix=''), capp=None)
    html = render_task_fields(Fragments(app, lambda: 'time'), [eta], {})
    assert (
        '<time data-timestamp="2026-12-03T14:20:00+00:00" title="2026-12-03T14:20:00+00:00">'
        '2026-12-03 14:20:00.000000 UTC</time>'
    ) in html
