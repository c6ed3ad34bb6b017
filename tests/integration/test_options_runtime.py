"""Options on tornado's object, in real servers: a change made at run time (``options.read_only = True``,
``mock.patch.object(options.mockable(), 'basic_auth', [...])``) is seen by the next request, and the
``flower`` command writes its validated options into the object that a custom ``--auth_provider`` reads.

The first tests build the server the way Flower's own command does (``apply_options``, ``extract_settings``,
``Flower(capp=..., options=options, **settings)``) and serve it on a real socket on a thread of this process;
the last one runs the real command in its own process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import textwrap
from unittest import mock

import pytest
import requests
from celery import Celery

from flower import command
from tests.support.processes import REPO, Server
from tests.support.tornado_options import restored_tornado_options


@pytest.fixture
def options(monkeypatch):
    monkeypatch.setenv('FLOWER_UNAUTHENTICATED_API', 'true')
    with restored_tornado_options() as opts:
        yield opts


@contextlib.contextmanager
def flower_style_server(argv):
    """Flower's start-up, on a thread of this process: options from ``argv``, settings, the app, a socket."""
    command.apply_options('flower', argv)
    command.extract_settings()
    box: dict = {}
    ready = threading.Event()

    def serve():
        try:
            asyncio.set_event_loop(asyncio.new_event_loop())
            from flower.app import Flower

            app = Flower(
                capp=Celery('runtime', broker='memory://', set_as_current=False),
                options=command.options,
                **command.settings,
            )
            box['port'] = app.start_http_server()
            box['app'] = app
        except BaseException as exc:  # report start-up failures to the test thread
            box['error'] = exc
            ready.set()
            return
        app.io_loop.add_callback(ready.set)
        app.io_loop.start()

    thread = threading.Thread(target=serve, name='flower-style-server', daemon=True)
    thread.start()
    assert ready.wait(30), 'the server did not start'
    if 'error' in box:
        raise box['error']
    app = box['app']
    try:
        yield f'http://127.0.0.1:{box["port"]}', app
    finally:
        app.io_loop.add_callback(app.stop)
        thread.join(10)


def test_read_only_changed_at_run_time_is_seen_by_the_next_request(options):
    with flower_style_server(['--port=0', '--address=127.0.0.1', '--enable_events=false']) as (url, app):
        assert app.options.source is options
        before = requests.post(f'{url}/api/task/async-apply/tasks.nothing', json={}, timeout=10)
        assert before.status_code == 404 and "Unknown task 'tasks.nothing'" in before.text

        with mock.patch.object(options.mockable(), 'read_only', True):
            refused = requests.post(f'{url}/api/task/async-apply/tasks.nothing', json={}, timeout=10)
            assert refused.status_code == 403 and 'Read only mode is enabled' in refused.text
            page = requests.get(f'{url}/workers', timeout=10)
            assert page.status_code == 200

        after = requests.post(f'{url}/api/task/async-apply/tasks.nothing', json={}, timeout=10)
        assert after.status_code == 404 and "Unknown task 'tasks.nothing'" in after.text

        options.read_only = True  # a plain assignment, as an extension would write it
        refused = requests.post(f'{url}/api/worker/shutdown/w1@host', timeout=10)
        assert refused.status_code == 403 and 'Read only mode is enabled' in refused.text


def test_basic_auth_and_auth_changed_at_run_time_are_seen_by_the_next_request(options):
    with flower_style_server(['--port=0', '--address=127.0.0.1', '--enable_events=false']) as (url, _):
        open_page = requests.get(f'{url}/workers', timeout=10)
        assert open_page.status_code == 200 and 'Workers' in open_page.text

        with mock.patch.object(options.mockable(), 'basic_auth', ['alice:s3cret']):
            refused = requests.get(f'{url}/workers', timeout=10)
            assert refused.status_code == 401
            assert refused.headers['WWW-Authenticate'].startswith('Basic')
            wrong = requests.get(f'{url}/workers', auth=('alice', 'nope'), timeout=10)
            assert wrong.status_code == 401
            page = requests.get(f'{url}/workers', auth=('alice', 's3cret'), timeout=10)
            assert page.status_code == 200 and 'Workers' in page.text
            api = requests.get(f'{url}/api/workers', auth=('alice', 's3cret'), timeout=10)
            assert api.status_code == 200 and api.json() == {}

        assert requests.get(f'{url}/workers', timeout=10).status_code == 200

        with mock.patch.object(options.mockable(), 'auth', '*@example.com'):
            to_login = requests.get(f'{url}/workers', allow_redirects=False, timeout=10)
            assert to_login.status_code == 302
            assert to_login.headers['Location'].startswith('/login?next=')
        assert requests.get(f'{url}/workers', timeout=10).status_code == 200


PROVIDER = '''
    from flower.options import options
    from flower.views import BaseHandler


    class Provider(BaseHandler):
        """A login provider as Flower users write them: it reads tornado's options object."""

        def get(self):
            self.write({'auth': options.auth, 'read_only': options.read_only, 'port': options.port,
                        'max_tasks': options.max_tasks,
                        'app_sees_the_same': self.application.options.auth == options.auth})
'''


@pytest.mark.redis
def test_the_command_writes_its_options_into_the_object_a_custom_provider_reads(redis_url, tmp_path, processes):
    (tmp_path / 'optsprovider.py').write_text(textwrap.dedent(PROVIDER))
    (tmp_path / 'flowerconfig.py').write_text('max_tasks = 321\n')
    server = Server(
        redis_url,
        ['--auth=*@example.com', '--auth_provider=optsprovider.Provider', '--read_only'],
        env={'PYTHONPATH': f'{REPO}:{tmp_path}', 'FLOWER_UNAUTHENTICATED_API': ''},
        cwd=tmp_path,
    )
    processes.append(server)
    answer = server.get('/login')
    assert answer.status_code == 200, answer.text
    assert json.loads(answer.text) == {
        'auth': '*@example.com',
        'read_only': True,
        'port': server.port,
        'max_tasks': 321,
        'app_sees_the_same': True,
    }
    # the pages are behind the login the provider offers
    page = server.get('/workers', allow_redirects=False)
    assert page.status_code == 302 and page.headers['Location'].startswith('/login?next=')
