"""What Flower 2.2's page templates read, as plain objects: its helpers by name, its ``worker``/``workers``
shapes, its error page variables, and the layout's block names (the pages themselves are rendered against a
real server in tests/integration/test_flower_templates.py)."""

from __future__ import annotations

import sys

import tornado.template

from flower.utils.template import (
    brand_title,
    format_count,
    format_duration,
    format_value,
    humanize,
    task_link,
    template_functions,
)
from flower.urls import settings
from flower.views.error_render import error_page
from flower.views.workers import Reported, flower_worker, flower_workers


def test_every_helper_flower_puts_in_a_templates_namespace_is_there():
    names = set(template_functions())
    assert {
        'format_time',
        'format_duration',
        'format_count',
        'format_value',
        'task_link',
        'humanize',
        'naturaltime',
        'timezone',
    } <= names
    assert template_functions()['timezone']('Europe/Paris').zone == 'Europe/Paris'


def test_the_helpers_escape_what_they_return_as_html_and_survive_bad_values():
    assert format_value(None) == '<span class="value-missing">—</span>'
    assert format_value('<b>&') == '&lt;b&gt;&amp;'
    assert (
        task_link('/task/"x"', '<id>')
        == '<a class="task-link" href="/task/&quot;x&quot;" title="&lt;id&gt;">&lt;id&gt;</a>'
    )
    assert (format_count(None), format_count(1234567), format_count('many'), format_count(float('nan'))) == (
        '0',
        '1,234,567',
        'unknown',
        'unknown',
    )
    assert (format_duration(0.25), format_duration('2'), format_duration('soon')) == ('250.0 ms', '2.00 s', 'unknown')
    assert humanize(75, type='duration') == '1 min 15 s'


def test_a_title_gets_the_product_name_once():
    assert brand_title(b'Workers') == 'Workers · Flower'
    assert brand_title('  Workers · Flower\n'.encode()) == 'Workers · Flower'
    assert brand_title(b'Flower') == 'Flower'


def test_flowers_workers_are_keyed_by_hostname():
    rows = [{'hostname': 'a@h', 'task-received': 3, 'status': True}, {'hostname': 'b@h', 'status': False}]
    assert flower_workers(rows) == {'a@h': rows[0], 'b@h': rows[1]}


def test_flowers_worker_is_the_inspect_reply_with_its_name_and_lists_cut():
    info = {
        'stats': {'pid': 7, 'total': {'t.add': 3}},
        'revoked': [str(i) for i in range(10)],
        'active_queues': [{'name': 'celery'}],
    }
    worker = flower_worker('w@h', info, limit=4)
    assert worker['name'] == 'w@h' and worker['stats']['pid'] == 7
    assert worker['revoked'] == ['0', '1', '2', '3'] and worker['active_queues'][0]['name'] == 'celery'
    # parts a worker did not report read as empty, at any depth, instead of failing the page
    assert worker['stats']['broker'] == {} and worker['stats']['broker']['hostname'] == {}
    assert worker['active_queues'][0]['durable'] == {}
    assert 'broker' not in info['stats']  # the inspector's cache is not changed
    never_inspected = flower_worker('ghost@h', {}, limit=50)
    assert isinstance(never_inspected['stats'], Reported) and dict(never_inspected['stats']['total']) == {}
    assert never_inspected.get('registered', []) == []


def test_flowers_error_page_variables_show_the_trace_only_in_debug_mode():
    try:
        1 / 0
    except ZeroDivisionError:
        exc_info = sys.exc_info()
    assert error_page(404, "Unknown task 'x'") == ('404.html', {'status_code': 404, 'message': "Unknown task 'x'"})
    template, quiet = error_page(500, 'Internal server error', exc_info, debug=False)
    assert template == 'error.html'
    assert quiet == {
        'status_code': 500,
        'message': 'Internal server error',
        'debug': False,
        'error_trace': '',
        'bugreport': '',
    }
    _, loud = error_page(500, 'Internal server error', exc_info, debug=True)
    assert loud['debug'] is True and 'ZeroDivisionError' in loud['error_trace']
    assert loud['bugreport'].startswith('flower   -> flower:')


def test_base_html_has_flowers_block_names_and_keeps_ours():
    loader = tornado.template.Loader(settings['template_path'])
    blocks = {}
    loader.load('base.html').file.find_named_blocks(loader, blocks)
    assert {'title', 'navbar', 'container', 'extra_scripts'} <= set(blocks)  # Flower 2.2's
    assert {'styles', 'page', 'content', 'vendor_scripts', 'scripts'} <= set(blocks)  # ours
