"""Flower's Python surface in real servers: a ``flowerconfig.py`` registering prometheus_client metrics that
``/metrics`` then shows (and a broken collector that costs nothing but a log line); ``run_blocking`` in a
custom API handler; ``flower.utils.tasks.iter_tasks`` over a state that a real worker's events filled."""

from __future__ import annotations

import re
import socket
import uuid as uuidlib

import pytest

from flower.api import BaseApiHandler
from tests.conftest import celery_app_for
from tests.support.inprocess import InProcessServer
from tests.support.processes import Server, start_worker, wait_for

FLOWERCONFIG = '''
from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily

jobs = Counter('myext_jobs', 'Jobs my extension ran', ['kind'])
jobs.labels('nightly').inc(3)


class Broken:
    def describe(self):
        return []

    def collect(self):
        raise RuntimeError('this collector is broken')


class Clash:
    def describe(self):
        return []

    def collect(self):
        yield GaugeMetricFamily('flower_worker_online', 'an impostor of ours', value=7)
        yield GaugeMetricFamily('myext_up', 'Whether my extension is up', value=1)


REGISTRY.register(Broken())
REGISTRY.register(Clash())
'''


@pytest.mark.redis
def test_metrics_show_what_the_config_file_registered(redis_url, processes, tmp_path):
    conf = tmp_path / 'flowerconfig.py'
    conf.write_text(FLOWERCONFIG)
    server = Server(redis_url, args=[f'--conf={conf}'])
    processes.append(server)
    for _ in range(2):  # the broken collector fails every scrape, the scrape never does
        response = server.get('/metrics')
        assert response.status_code == 200
        text = response.text
        assert re.search(r'^myext_jobs_total\{kind="nightly"\} 3\.0$', text, re.M)
        assert re.search(r'^myext_up 1\.0$', text, re.M)
        assert '# HELP flower_events_total Number of events' in text  # ours are all there
        assert text.count('# TYPE flower_worker_online gauge') == 1 and 'impostor' not in text
        assert text.count('# TYPE process_cpu_seconds_total counter') == 1
    log = server.output()
    assert log.count('failed, left out of /metrics') == 1  # logged once (with its traceback), then skipped
    assert 'RuntimeError: this collector is broken' in log
    assert "Not exposing metric family 'flower_worker_online'" in log


class Slow(BaseApiHandler):
    async def get(self):
        value = await self.run_blocking('double', 'test', lambda x, timeout: x * 2 + timeout, 20, timeout=2)
        self.write_json({'value': value})


class Down(BaseApiHandler):
    async def get(self):
        def refuse():
            raise ConnectionRefusedError('nobody there')

        await self.run_blocking('refuse', 'test', refuse)


class CustomDown(BaseApiHandler):
    async def get(self):
        def fail():
            raise KeyError('backend said no')

        await self.run_blocking('fail', 'test', fail, connection_errors=(KeyError,))


class Bug(BaseApiHandler):
    async def get(self):
        await self.run_blocking('bug', 'test', lambda: 1 / 0)


def test_run_blocking_in_a_custom_api_handler(monkeypatch):
    monkeypatch.setenv('FLOWER_UNAUTHENTICATED_API', 'true')
    server = InProcessServer(
        handlers=[(r'/api/x/slow', Slow), (r'/api/x/down', Down), (r'/api/x/custom', CustomDown), (r'/api/x/bug', Bug)]
    )
    try:
        assert server.get('/api/x/slow').json() == {'value': 42}
        for path in ('/api/x/down', '/api/x/custom'):
            response = server.get(path)
            assert (response.status_code, response.text) == (503, 'Broker or result backend unavailable')
        response = server.get('/api/x/bug')
        assert response.status_code == 500 and 'Traceback' not in response.text
    finally:
        server.stop()


@pytest.mark.redis
def test_iter_tasks_over_events_from_a_real_worker(redis_url, processes):
    from flower.utils.tasks import as_dict, get_task_by_id, iter_tasks, search_tasks

    server = InProcessServer(capp=celery_app_for(redis_url), options={'enable_events': True})
    try:
        server.on_loop(server.app.start_background)
        hostname = f'surface-{uuidlib.uuid4().hex[:6]}@{socket.gethostname()}'
        processes.append(start_worker(redis_url, hostname, pool='solo', concurrency=1))
        wait_for(
            lambda: server.on_loop(lambda: hostname in server.app.events.state.workers),
            60,
            interval=0.3,
            message='the worker online',
        )
        client = celery_app_for(redis_url)
        added = [client.send_task('tests.support.celeryapp.add', (i, i)) for i in range(3)]
        failed = client.send_task('tests.support.celeryapp.fail', ('surface says no',))
        ids = {r.id for r in added} | {failed.id}

        def finished():
            states = server.on_loop(lambda: {u: t.state for u, t in iter_tasks(server.app.events)})
            return all(states.get(i) in ('SUCCESS', 'FAILURE') for i in ids) and states

        wait_for(finished, 60, interval=0.3, message='the tasks finished in the events state')

        def listed(**kwargs):
            return server.on_loop(lambda: [(u, t) for u, t in iter_tasks(server.app.events, **kwargs)])

        pairs = listed(worker=hostname)
        assert {uuid for uuid, _ in pairs} == ids
        assert all(task.uuid == uuid and task.worker.hostname == hostname for uuid, task in pairs)
        assert [u for u, _ in listed(state='FAILURE')] == [failed.id]
        assert [u for u, _ in listed(type='tests.support.celeryapp.fail')] == [failed.id]
        assert [u for u, _ in listed(search='"surface says no"')] == [failed.id]
        assert [u for u, _ in listed(type='tests.support.celeryapp.add', sort_by='received')] == [r.id for r in added]
        assert [u for u, _ in listed(type='tests.support.celeryapp.add', sort_by='-received', limit=1)] == [
            added[-1].id
        ]
        page = server.on_loop(lambda: search_tasks(server.app.events, state='SUCCESS', limit=2))
        assert page.filtered_count == 3 and len(page.task_ids) == 2
        data = server.on_loop(lambda: as_dict(get_task_by_id(server.app.events, added[1].id)))
        assert data['result'] == '2' and data['args'] == '(1, 1)' and data['state'] == 'SUCCESS'
    finally:
        server.stop()
