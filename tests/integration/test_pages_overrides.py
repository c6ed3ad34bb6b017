"""``Flower(template_path=..., static_path=...)`` overrides built-in templates and static files by name and falls
back to the built-in ones; a user's handler subclassing ``flower.views.BaseHandler`` renders its own template
with the common context; the error page shows a traceback only in debug mode.

These run the application in-process on a thread's IOLoop (the Python API is what is tested); no broker is
needed: the pages render from an empty events state."""

from __future__ import annotations

import asyncio
import hashlib
import threading

import celery
import pytest
import requests
import tornado.web
from tornado.ioloop import IOLoop

from flower import __version__
from flower.app import Flower
from flower.options import Options
from flower.urls import handlers as flower_handlers
from flower.views import BaseHandler


class RunningApp:
    """A Flower application served on 127.0.0.1 by an IOLoop on its own thread."""

    def __init__(self, options=None, handlers=None, **settings):
        self._ready = threading.Event()
        self._error = None
        self._args = (options, handlers, settings)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        assert self._ready.wait(20), 'the app did not start'
        if self._error:
            raise self._error

    def _serve(self):
        asyncio.set_event_loop(asyncio.new_event_loop())
        self.loop = IOLoop.current()
        options, handlers, settings = self._args
        try:
            capp = celery.Celery('overrides', broker='memory://')
            self.app = Flower(
                capp=capp,
                options=Options(dict(options or {}, port=0, address='127.0.0.1')),
                handlers=handlers,
                io_loop=self.loop,
                **settings,
            )
            self.port = self.app.start_http_server()
        except Exception as exc:  # reported to the test thread
            self._error = exc
            self._ready.set()
            return
        self.url = f'http://127.0.0.1:{self.port}'
        self._ready.set()
        self.loop.start()

    def get(self, path, **kwargs):
        return requests.get(self.url + path, timeout=10, **kwargs)

    def stop(self):
        def shutdown():
            for server in self.app.http_servers:
                server.stop()
            self.loop.stop()

        self.loop.add_callback(shutdown)
        self.thread.join(10)
        self.app.runner.shutdown()


@pytest.fixture
def serve():
    running = []

    def start(*args, **kwargs):
        app = RunningApp(*args, **kwargs)
        running.append(app)
        return app

    yield start
    for app in running:
        app.stop()


class ReportPage(BaseHandler):
    """A user's own page, as the docs show it."""

    def get(self):
        self.render('report.html', title='Nightly <report>', rows=[('tasks.import', 3)])


class Exploding(BaseHandler):
    def get(self):
        raise ZeroDivisionError('the numbers did not add up')


def _templates(tmp_path):
    templates = tmp_path / 'templates'
    templates.mkdir()
    (templates / 'tasks.html').write_text('{% extends "flower/tasks.html" %}\n{% block title %}Our tasks{% end %}\n')
    (templates / 'broker.html').write_text('<p id="custom-broker">{{ broker_url }} is ours</p>\n')
    (templates / 'report.html').write_text(
        '{% extends "base.html" %}\n'
        '{% block title %}{{ title }}{% end %}\n'
        '{% block content %}<h1 id="report">{{ title }}</h1>\n'
        '<p id="context">{{ flower_version }}|{{ celery_version }}|{{ broker_url }}|{{ url_prefix }}|'
        '{{ current_user }}|{{ capp.main }}|{{ options.max_tasks }}|{{ humanize("max_tasks") }}|'
        '{{ format_time(0) }}|{{ reverse_url("tasks") }}|{{ static_url("css/flower.css") }}|'
        '{{ len(events.state.tasks) }}</p>\n'
        '{% for name, count in rows %}<p class="row">{{ name }}: {{ count }}</p>{% end %}{% end %}\n'
    )
    static = tmp_path / 'static'
    (static / 'css').mkdir(parents=True)
    (static / 'css' / 'flower.css').write_text('body { outline: 3px solid hotpink; }\n')
    (static / 'extra.txt').write_text('only in the user folder\n')
    return templates, static


def test_user_templates_and_static_files_override_by_name_and_fall_back(serve, tmp_path):
    templates, static = _templates(tmp_path)
    app = serve(
        {'url_prefix': 'mon'},
        handlers=flower_handlers + [tornado.web.url(r'/report', ReportPage)],
        template_path=str(templates),
        static_path=str(static),
    )

    tasks = app.get('/mon/tasks')  # overridden: extends the built-in page and changes its title
    assert tasks.status_code == 200
    assert '<title>Our tasks · Flower</title>' in tasks.text
    assert 'id="tasks-table"' in tasks.text

    broker = app.get('/mon/broker')  # overridden entirely
    assert '<p id="custom-broker">memory://:**@localhost// is ours</p>' in broker.text

    workers = app.get('/mon/workers')  # not overridden: the built-in page
    assert workers.status_code == 200 and 'id="workers-table"' in workers.text

    css = app.get('/mon/static/css/flower.css')  # the user's file wins
    assert css.text == 'body { outline: 3px solid hotpink; }\n'
    assert app.get('/mon/static/extra.txt').text == 'only in the user folder\n'
    vendor = app.get('/mon/static/vendor/jquery/jquery.min.js')  # the rest falls back
    assert vendor.status_code == 200 and 'jQuery' in vendor.text[:200]
    assert app.get('/mon/static/../../etc/passwd').status_code in (403, 404)
    assert app.get('/mon/static/nope.js').status_code == 404

    # cache-busting versions follow the file that is served
    versions = dict(
        zip(
            ('user', 'builtin'),
            (
                app.get('/mon/tasks').text.split('css/flower.css?v=')[1][:16],
                app.get('/mon/tasks').text.split('vendor/bootstrap/bootstrap.min.css?v=')[1][:16],
            ),
        )
    )
    assert hashlib.sha512(css.content).hexdigest().startswith(versions['user'])


def test_a_users_handler_renders_its_own_template_with_the_common_context(serve, tmp_path):
    templates, static = _templates(tmp_path)
    app = serve(
        {'url_prefix': 'mon', 'max_tasks': 1234},
        handlers=flower_handlers[:-1] + [tornado.web.url(r'/report', ReportPage)] + flower_handlers[-1:],
        template_path=str(templates),
        static_path=str(static),
    )
    page = app.get('/mon/report')
    assert page.status_code == 200
    assert '<title>Nightly &lt;report&gt; · Flower</title>' in page.text
    assert '<h1 id="report">Nightly &lt;report&gt;</h1>' in page.text
    context = page.text.split('<p id="context">')[1].split('</p>')[0].split('|')
    assert context[:4] == [__version__, celery.__version__, 'memory://:**@localhost//', '/mon']
    assert context[4:8] == ['anonymous', 'overrides', '1234', 'Max tasks']
    assert context[8] == '1970-01-01 00:00:00.000000 UTC'
    assert context[9] == '/mon/tasks'
    assert context[10].startswith('/mon/static/css/flower.css?v=')
    assert context[11] == '0'
    assert '<p class="row">tasks.import: 3</p>' in page.text
    assert 'href="/mon/workers"' in page.text  # it got the built-in layout, navbar included


def test_the_broker_password_is_masked_in_templates(serve):
    app = serve()
    app.app.capp.conf.broker_url = 'redis://user:sup3rsecret@127.0.0.1:1/0'
    app.app.__dict__.pop('broker_uri', None)
    page = app.get('/broker')
    assert 'sup3rsecret' not in page.text
    assert 'redis://user:**@127.0.0.1:1/0' in page.text


@pytest.mark.parametrize('debug', [False, True])
def test_error_page_shows_the_traceback_only_in_debug_mode(serve, debug):
    routes = [tornado.web.url(r'/explode', Exploding)] + flower_handlers
    app = serve({'debug': debug}, handlers=routes, autoreload=False)  # no module watcher in the test process
    page = app.get('/explode')
    assert page.status_code == 500
    assert '<h1 class="error-code">500</h1>' in page.text
    assert ('ZeroDivisionError: the numbers did not add up' in page.text) is debug
    assert ('flower   -&gt; flower:' in page.text) is debug  # the bug report lines
    assert 'Traceback' not in page.text or debug
