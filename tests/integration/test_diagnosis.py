"""Issue 15 points 2 and 3 on real servers and workers: a broker at a closed port, a worker that sends no task
events and a healthy cluster, as the workers page, the tasks page and GET /api/diagnosis show them; and every
count on the workers page equals the rows of the list it links to."""

from __future__ import annotations

import html
import re
import socket

import pytest

from tests.conftest import celery_app_for
from tests.support.processes import Server, free_port, start_worker, wait_for

pytestmark = pytest.mark.slow
TASKS = 'tests.support.celeryapp'


def diagnosis(server: Server) -> dict:
    response = server.get('/api/diagnosis')
    assert response.status_code == 200, response.text
    assert response.headers['Content-Type'].startswith('application/json')
    return response.json()


def codes(server: Server) -> list[str]:
    return [finding['code'] for finding in diagnosis(server)['findings']]


def test_a_broker_at_a_closed_port_is_shown_as_unreachable_with_the_reason(processes):
    port = free_port()  # nothing listens there
    server = Server(f'redis://127.0.0.1:{port}/0')
    processes.append(server)
    data = wait_for(
        lambda: (d := diagnosis(server)) and 'refused' in str(d) and d,
        30,
        interval=0.3,
        message='the connection refusal in /api/diagnosis',
    )
    assert data['ok'] is False
    [finding] = data['findings']
    assert finding['code'] == 'broker_unreachable' and finding['severity'] == 'error'
    assert f'127.0.0.1:{port}/0' in finding['detail'] and 'connection refused' in finding['detail']
    assert '--broker' in finding['fix'] and finding['workers'] == []

    for path in ('/workers', '/tasks'):
        page = server.get(path)
        assert page.status_code == 200
        text = html.unescape(page.text)
        assert 'data-diagnosis="broker_unreachable"' in text, path
        assert 'The broker cannot be reached' in text and 'connection refused' in text
        assert f'127.0.0.1:{port}/0' in text
    workers_page = server.get('/workers').text
    # the indicator says what is wrong instead of a green "Live", and the empty table does not advise -E
    assert re.search(r'id="live-status" data-state="error"', workers_page)
    assert 'start them with <code>-E</code>' not in workers_page
    listing = server.get('/workers', params={'json': '1'}).json()
    assert listing['data'] == [] and listing['diagnosis'] == diagnosis(server)
    assert server.get('/healthcheck', params={'ready': '1'}).status_code == 503


def test_a_worker_without_task_events_is_named_with_the_fix(processes, redis_url):
    hostname = f'quiet-{free_port()}@%h'
    full_name = hostname.replace('%h', socket.gethostname())
    processes.append(start_worker(redis_url, hostname, pool='solo', concurrency=1, task_events=False))
    server = Server(redis_url, args=['--enable_events=false'])
    processes.append(server)
    wait_for(
        lambda: full_name in server.get('/api/workers', params={'status': '1'}).json(),
        60,
        interval=0.5,
        message=f'{full_name} online',
    )
    assert full_name not in str(diagnosis(server))  # idle: nothing wrong yet

    app = celery_app_for(redis_url)
    for i in range(3):
        app.send_task(f'{TASKS}.add', args=(i, i))
    # its heartbeats (every 2 s) count the tasks it ran; no task event ever arrives
    finding = wait_for(
        lambda: next((f for f in diagnosis(server)['findings'] if f['code'] == 'no_task_events'), None),
        60,
        interval=0.5,
        message='the no_task_events finding',
    )
    assert finding['workers'] == [full_name] and finding['severity'] == 'warning'
    assert '--enable_events=false' in finding['detail'] and '-E' in finding['fix']
    # indeed: the client's task-sent events show the tasks, but never as received or run by the worker
    tasks = server.get('/api/tasks').json()
    assert tasks and {task['state'] for task in tasks.values()} == {'PENDING'}
    assert not any(task.get('worker') for task in tasks.values())
    for path in ('/workers', '/tasks'):
        text = html.unescape(server.get(path).text)
        assert 'data-diagnosis="no_task_events"' in text and full_name in text, path


def links_with_counts(page_html: str) -> list[tuple[str, int]]:
    """(href, count) of every link on the workers page whose text is a number: the cards and the table."""
    found = re.findall(
        r'<a[^>]*href="([^"]*/tasks[^"]*)"[^>]*>\s*(?:<span[^>]*>[^<]*</span>\s*)?'
        r'<span class="stat-value"[^>]*>(\d+)</span>',
        page_html,
    )
    found += re.findall(r'<a href="([^"]*/tasks[^"]*)"[^>]*>(\d+)</a>', page_html)
    return [(html.unescape(href), int(count)) for href, count in found]


def rows_listed(server: Server, href: str) -> int:
    """How many rows the task list at ``href`` shows: the query its table sends (DataTables' endpoint)."""
    query = dict(re.findall(r'[?&]([^=&]+)=([^&]*)', href))
    params = {
        'draw': 1,
        'start': 0,
        'length': 10,
        'order[0][column]': 0,
        'columns[0][data]': 'received',
        'order[0][dir]': 'desc',
    }
    params.update({key: requests_unquote(value) for key, value in query.items()})
    response = server.get('/tasks/datatable', params=params)
    assert response.status_code == 200, response.text
    return response.json()['recordsFiltered']


def requests_unquote(value: str) -> str:
    from urllib.parse import unquote

    return unquote(value)


def test_a_healthy_cluster_has_no_diagnosis_and_every_count_equals_its_list(processes, redis_url):
    hostname = f'counted-{free_port()}@%h'
    full_name = hostname.replace('%h', socket.gethostname())
    processes.append(start_worker(redis_url, hostname, pool='threads', concurrency=2))
    server = Server(redis_url)
    processes.append(server)
    wait_for(
        lambda: full_name in server.get('/api/workers', params={'status': '1'}).json(),
        60,
        interval=0.5,
        message=f'{full_name} online',
    )

    app = celery_app_for(redis_url)
    sent = [app.send_task(f'{TASKS}.add', args=(i, 1)) for i in range(3)]
    sent += [app.send_task(f'{TASKS}.fail', kwargs={'message': f'no {i}'}) for i in range(2)]
    sent += [app.send_task(f'{TASKS}.retry_once', args=(i,)) for i in range(2)]
    expected = ['SUCCESS'] * 3 + ['FAILURE'] * 2 + ['SUCCESS'] * 2

    def finished():
        tasks = server.get('/api/tasks').json()
        return [tasks.get(r.id, {}).get('state') for r in sent] == expected

    wait_for(finished, 60, interval=0.3, message='every task finished')
    assert diagnosis(server) == {'ok': True, 'findings': []}

    page = server.get('/workers').text
    assert 'data-diagnosis=' not in page and 'data-state="live"' in page
    links = links_with_counts(page)
    hrefs = {href for href, _ in links}
    # the cards, the worker's row and the totals row, for every column
    for state in ('STARTED', 'SUCCESS', 'FAILURE', 'RETRY'):
        assert f'/tasks?state={state}' in hrefs
        assert any(href.endswith(f'?state={state}&worker={requests_quote(full_name)}') for href in hrefs), state
    assert '/tasks' in hrefs and f'/tasks?worker={requests_quote(full_name)}' in hrefs
    for href, count in links:
        assert count == rows_listed(server, href), href
    counts = dict(links)
    assert counts[f'/tasks?worker={requests_quote(full_name)}'] == 7  # a retried task is one row
    assert counts[f'/tasks?state=SUCCESS&worker={requests_quote(full_name)}'] == 5
    assert counts['/tasks?state=RETRY'] == 0
    # Flower's event counter counts the retries' receipts again: the number the page used to show
    [row] = [r for r in server.get('/workers', params={'json': '1'}).json()['data'] if r['hostname'] == full_name]
    assert row['task-received'] == 9 and row['listed']['all'] == 7


def requests_quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe='')
