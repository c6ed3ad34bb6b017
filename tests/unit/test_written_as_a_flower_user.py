"""Tests written the way a team that extends Flower 2.2 writes its own: the application built by hand from
Flower's public names (``flower.app.Flower``, ``flower.events.Events``, ``flower.urls.handlers`` and
``settings``, tornado's ``options`` defined by importing ``flower.command``), options patched through
``options.mockable()``, Celery's control methods replaced by ``MagicMock``, and ``tornado.testing``'s
``AsyncHTTPTestCase``. If these pass, such a suite runs against this server unchanged (issue 16).

Where Flower's own answer was a mistake (it HTML-escaped input on the way in, so a queue named ``foo&bar``
reached the worker as ``foo&amp;bar``), the test says what this server does instead."""

from __future__ import annotations

import json
import os
from unittest import mock
from unittest.mock import MagicMock
from urllib.parse import urlencode

import celery
import tornado.testing
import tornado.web
from tornado.ioloop import IOLoop
from tornado.options import options

from flower import command  # noqa: F401 - defines the options on tornado's object, as in Flower
from flower.api.control import ControlHandler
from flower.app import Flower
from flower.events import Events
from flower.urls import handlers, settings
from flower.views import BaseHandler


class Doubled(BaseHandler):
    """A custom page of the kind extensions add: a typed query argument through Flower's get_argument."""

    @tornado.web.authenticated
    def get(self):
        n = self.get_argument('n', default=1, type=int)
        self.write({'doubled': n * 2})


class Ping(tornado.web.RequestHandler):
    """A plain tornado handler passed in handlers=: public."""

    def get(self):
        self.write('pong')


class FlowerUserTestCase(tornado.testing.AsyncHTTPTestCase):
    def setUp(self):
        self._environ = mock.patch.dict(os.environ, {'FLOWER_UNAUTHENTICATED_API': 'true'})
        self._environ.start()
        super().setUp()

    def tearDown(self):
        super().tearDown()
        self._environ.stop()

    def get_app(self):
        capp = celery.Celery()
        events = Events(capp, IOLoop.current())
        extra = [(r'/doubled', Doubled), (r'/ping', Ping)]
        return Flower(
            capp=capp, events=events, options=options, handlers=extra + handlers, **settings
        )  # before Flower's catch-all 404

    def get(self, url, **kwargs):
        return self.fetch(url, **kwargs)

    def post(self, url, **kwargs):
        if isinstance(kwargs.get('body'), dict):
            kwargs['body'] = urlencode(kwargs['body'])
        return self.fetch(url, method='POST', **kwargs)

    def mock_option(self, name, value):
        return mock.patch.object(options.mockable(), name, value)

    @property
    def control(self):
        return self._app.capp.control


class PagesAndApiTests(FlowerUserTestCase):
    def test_the_dashboard_pages_render(self):
        for path, text in (('/', b'Workers'), ('/workers', b'Workers'), ('/tasks', b'Tasks'), ('/broker', b'Broker')):
            r = self.get(path)
            self.assertEqual(200, r.code, path)
            self.assertIn(text, r.body, path)

    def test_an_unknown_task_is_a_404_page_naming_it(self):
        r = self.get('/task/no-such-task')
        self.assertEqual(404, r.code)
        self.assertIn(b'no-such-task', r.body)

    def test_the_api_answers_flowers_shapes_on_an_empty_cluster(self):
        self.assertEqual({}, json.loads(self.get('/api/tasks').body))
        self.assertEqual({'task-types': []}, json.loads(self.get('/api/task/types').body))
        self.assertEqual({}, json.loads(self.get('/api/workers?status=true').body))

    def test_metrics_and_healthcheck(self):
        r = self.get('/metrics')
        self.assertEqual(200, r.code)
        self.assertIn(b'flower_events_total', r.body)
        self.assertIn(b'flower_worker_online', r.body)

    def test_a_custom_page_reads_typed_arguments(self):
        self.assertEqual({'doubled': 42}, json.loads(self.get('/doubled?n=21').body))
        self.assertEqual({'doubled': 2}, json.loads(self.get('/doubled').body))
        bad = self.get('/doubled?n=many')
        self.assertEqual(400, bad.code)
        self.assertIn(b'n', bad.body)

    def test_a_plain_tornado_handler_is_served(self):
        r = self.get('/ping')
        self.assertEqual(200, r.code)
        self.assertEqual(b'pong', r.body)


class ReadOnlyTests(FlowerUserTestCase):
    def test_every_control_is_refused_and_nothing_reaches_celery(self):
        self.control.broadcast = MagicMock()
        self.control.revoke = MagicMock()
        self.control.pool_grow = MagicMock()
        with self.mock_option('read_only', True):
            for path in ('/api/worker/shutdown/test', '/api/worker/pool/grow/test', '/api/task/revoke/test'):
                r = self.post(path, body={})
                self.assertEqual(403, r.code, path)
        self.control.broadcast.assert_not_called()
        self.control.revoke.assert_not_called()
        self.control.pool_grow.assert_not_called()

    def test_reading_is_still_allowed(self):
        with self.mock_option('read_only', True):
            self.assertEqual(200, self.get('/api/workers?status=true').code)
            self.assertEqual({}, json.loads(self.get('/api/tasks').body))
            self.assertEqual(200, self.get('/tasks').code)

    def test_the_change_is_seen_at_once_and_undone_with_the_patch(self):
        with self.mock_option('read_only', True):
            self.assertEqual(403, self.post('/api/task/revoke/abc', body={}).code)
        self.control.revoke = MagicMock()
        self.assertEqual(200, self.post('/api/task/revoke/abc', body={}).code)
        self.control.revoke.assert_called_once_with('abc', terminate=False, signal='SIGTERM')


class WorkerControlTests(FlowerUserTestCase):
    def setUp(self):
        super().setUp()
        self._is_worker = mock.patch.object(ControlHandler, 'is_worker', lambda *args: True)
        self._is_worker.start()

    def tearDown(self):
        self._is_worker.stop()
        super().tearDown()

    def test_an_unknown_worker_is_404_when_is_worker_says_so(self):
        with mock.patch.object(ControlHandler, 'is_worker', lambda *args: False):
            self.control.broadcast = MagicMock(return_value=[])
            r = self.post('/api/worker/shutdown/test', body={})
        self.assertEqual(404, r.code)
        self.assertIn(b"Unknown worker 'test'", r.body)
        # unlike Flower, the worker is asked (inspected) once before the 404; it is never told to shut down
        commands = [c.args[0] for c in self.control.broadcast.call_args_list if c.args]
        self.assertNotIn('shutdown', commands)

    def test_shutdown(self):
        self.control.broadcast = MagicMock()
        r = self.post('/api/worker/shutdown/test', body={})
        self.assertEqual(200, r.code)
        self.assertEqual({'message': 'Shutting down!'}, json.loads(r.body))
        self.control.broadcast.assert_called_once_with('shutdown', destination=['test'])

    def test_pool_grow_and_shrink_call_celerys_methods(self):
        self.control.pool_grow = MagicMock(return_value=[{'test': {'ok': 'pool will grow'}}])
        r = self.post('/api/worker/pool/grow/test', body={'n': 3})
        self.assertEqual(200, r.code)
        self.assertEqual({'message': "Growing 'test' worker's pool by 3"}, json.loads(r.body))
        self.control.pool_grow.assert_called_once_with(n=3, reply=True, destination=['test'])

        self.control.pool_shrink = MagicMock(return_value=[{'test': {'ok': 'pool will shrink'}}])
        r = self.post('/api/worker/pool/shrink/test', body={})
        self.assertEqual(200, r.code)
        self.control.pool_shrink.assert_called_once_with(n=1, reply=True, destination=['test'])

    def test_a_refusing_worker_gives_its_reason(self):
        self.control.pool_grow = MagicMock(return_value=[{'test': {'error': 'no room'}}])
        r = self.post('/api/worker/pool/grow/test', body={'n': 1})
        self.assertEqual(403, r.code)
        self.assertEqual(b"Failed to grow 'test' worker's pool: no room", r.body)

    def test_autoscale_and_consumers_are_broadcasts(self):
        self.control.broadcast = MagicMock(return_value=[{'test': {'ok': ''}}])
        self.assertEqual(200, self.post('/api/worker/pool/autoscale/test', body={'min': 2, 'max': 5}).code)
        # Flower's call comes first; then, beyond Flower, the worker is asked (inspected) for its new pool, which
        # a patched broadcast records too
        self.assertEqual(
            mock.call('autoscale', reply=True, destination=['test'], arguments={'min': 2, 'max': 5}),
            self.control.broadcast.call_args_list[0],
        )
        self.assertNotIn('autoscale', [c.args[0] for c in self.control.broadcast.call_args_list[1:]])

        self.control.broadcast = MagicMock(return_value=[{'test': {'ok': ''}}])
        # unlike Flower, the queue's name is not HTML-escaped on its way to the worker
        self.assertEqual(200, self.post('/api/worker/queue/add-consumer/test', body={'queue': 'foo&bar'}).code)
        self.control.broadcast.assert_called_once_with(
            'add_consumer', reply=True, destination=['test'], arguments={'queue': 'foo&bar'}
        )

    def test_task_limits(self):
        self.control.time_limit = MagicMock(return_value=[{'foo': {'ok': ''}}])
        r = self.post('/api/task/timeout/celery.map', body={'workername': 'foo', 'hard': 3.1, 'soft': 1.2})
        self.assertEqual(200, r.code)
        self.control.time_limit.assert_called_once_with(
            'celery.map', hard=3.1, soft=1.2, destination=['foo'], reply=True
        )

        self.control.rate_limit = MagicMock(return_value=[{'foo': {'error': 'Invalid rate limit string'}}])
        r = self.post('/api/task/rate-limit/celery.map', body={'workername': 'foo', 'ratelimit': '11/m'})
        self.assertEqual(403, r.code)
        self.assertEqual(b"Failed to set rate limit: 'Invalid rate limit string'", r.body)
        self.control.rate_limit.assert_called_once_with('celery.map', '11/m', destination=['foo'], reply=True)

    def test_revoke_with_terminate_and_signal(self):
        self.control.revoke = MagicMock()
        r = self.post('/api/task/revoke/test', body={'terminate': True, 'signal': 'SIGUSR1'})
        self.assertEqual(200, r.code)
        self.control.revoke.assert_called_once_with('test', terminate=True, signal='SIGUSR1')


class AuthTests(FlowerUserTestCase):
    def test_basic_auth_set_at_run_time_guards_the_api_and_the_pages(self):
        self.control.broadcast = MagicMock()
        with self.mock_option('basic_auth', ['user1:password1']):
            self.assertEqual(401, self.post('/api/worker/shutdown/test', body={}).code)
            self.assertEqual(401, self.get('/workers').code)
            self.assertEqual(401, self.get('/doubled?n=1').code)
            self.assertEqual(200, self.get('/ping').code)  # a plain handler is public
        self.control.broadcast.assert_not_called()

    def test_the_api_needs_auth_without_the_environment_variable(self):
        with mock.patch.dict(os.environ, {'FLOWER_UNAUTHENTICATED_API': ''}):
            self.assertEqual(401, self.post('/api/worker/shutdown/test', body={}).code)
