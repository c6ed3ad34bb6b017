"""A task the server never saw in events but the result backend knows (issue 15, point 15): /task/<id> and
/api/task/info/<id> show what the backend has instead of a 404; an id the backend does not know stays 404."""

from __future__ import annotations

import html as htmllib
import re
import uuid
from datetime import timezone

from tests.conftest import celery_app_for
from tests.support.processes import Server, free_port, start_worker


def test_a_task_run_before_the_server_started_is_shown_from_the_result_backend(redis_url, processes):
    worker = start_worker(redis_url, 'backendonly@%h', backend=redis_url, pool='solo', concurrency=1)
    processes.append(worker)
    app = celery_app_for(redis_url, redis_url)
    # run with the server not started, so no event of these tasks ever reaches it
    done = app.send_task('tests.support.celeryapp.add', args=(2, 3))
    assert done.get(timeout=60) == 5
    failed = app.send_task('tests.support.celeryapp.fail', args=('<b>bad</b>',))
    failed.get(timeout=60, propagate=False)
    assert failed.state == 'FAILURE'

    server = Server(redis_url, backend=redis_url)
    processes.append(server)

    answer = server.get(f'/api/task/info/{done.id}')
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body['uuid'] == done.id and body['state'] == 'SUCCESS' and body['result'] == '5'
    assert body['source'] == 'result_backend'
    assert body['name'] is None and body['received'] is None and body['exception'] is None

    body = server.get(f'/api/task/info/{failed.id}').json()
    assert body['state'] == 'FAILURE' and body['source'] == 'result_backend'
    assert body['exception'] == repr(ValueError('<b>bad</b>')) and body['result'] is None
    assert 'ValueError' in body['traceback']

    page = server.get(f'/task/{done.id}')
    assert page.status_code == 200
    assert 'Not seen in events; from the result backend' in page.text
    assert done.id in page.text and 'data-state="SUCCESS"' in page.text
    assert '<pre class="mb-0 text-break">5</pre>' in page.text
    # when it finished, as the backend stored it, in the pages' time format with the exact time in the tooltip
    done_at = re.search(r'<tr data-field="date_done">.*?<time data-timestamp="([0-9.]+)"', page.text, re.S)
    assert done_at and abs(float(done_at.group(1)) - done.date_done.replace(tzinfo=timezone.utc).timestamp()) < 1

    page = server.get(f'/task/{failed.id}')
    assert page.status_code == 200 and 'data-state="FAILURE"' in page.text
    assert '<b>bad</b>' not in page.text  # escaped, never markup
    assert htmllib.escape(repr(ValueError('<b>bad</b>'))) in page.text
    assert 'Traceback' in page.text and 'ValueError' in page.text

    unknown = str(uuid.uuid4())
    answer = server.get(f'/api/task/info/{unknown}')
    assert answer.status_code == 404 and f"Unknown task '{unknown}'" in answer.text
    page = server.get(f'/task/{unknown}')
    assert page.status_code == 404 and unknown in page.text


def test_an_unreachable_result_backend_is_a_503_that_says_so(redis_url, processes):
    closed = f'redis://127.0.0.1:{free_port()}/0'
    server = Server(redis_url, backend=closed)
    processes.append(server)
    unknown = str(uuid.uuid4())
    for path in (f'/api/task/info/{unknown}', f'/task/{unknown}'):
        answer = server.get(path, timeout=60)
        assert answer.status_code == 503, (path, answer.status_code, answer.text[:300])
        assert 'Traceback' not in answer.text
        assert 'Broker or result backend unavailable' in answer.text
