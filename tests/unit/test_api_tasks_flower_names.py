"""Flower 2.2's names in ``flower.api.tasks`` as code written against Flower uses them: ``BaseTaskHandler``'s
helpers in a custom handler, the blocking ``wait_results``/``read_result``, and the module names tests patch
(``AsyncResult``, ``AbortableAsyncResult``, ``tasks.get_task_by_id``), which our own handlers must look up when a
request comes. Also ``flower.views.workers.options`` (issue 16)."""

from __future__ import annotations

import json
from datetime import datetime
from unittest import mock
from unittest.mock import MagicMock

import celery
import pytest
import tornado.options
from celery import states
from celery.backends.base import DisabledBackend
from celery.events.state import Task
from celery.exceptions import TimeoutError as CeleryTimeoutError
from tornado.ioloop import IOLoop
from tornado.options import options

from flower import command  # noqa: F401 - defines the options on tornado's object, as in Flower
from flower import control
from flower.api import tasks as api_tasks
from flower.api.tasks import BaseTaskHandler, TaskApply, TaskResult
from flower.app import Flower
from flower.events import Events
from flower.urls import handlers, settings
from tests.support.events import task_events
from tests.unit.test_written_as_a_flower_user import FlowerUserTestCase  # its app set-up and API access


class EchoApply(BaseTaskHandler):
    """A custom apply-like handler as an extension writes it with Flower's helpers (lets bad options raise)."""

    async def post(self):
        args, kwargs, opts = self.get_task_args()
        self.normalize_options(opts)
        self.write(
            {
                'args': args,
                'kwargs': kwargs,
                'countdown': opts.get('countdown'),
                'eta': opts['eta'].isoformat() if 'eta' in opts else None,
                'timeout': opts.get('timeout'),
            }
        )


class CarefulApply(BaseTaskHandler):
    """The same, catching ``ValueError`` around ``normalize_options`` as Flower's own apply does."""

    async def post(self):
        _, _, opts = self.get_task_args()
        try:
            self.normalize_options(opts)
        except ValueError:
            self.set_status(422)
            self.write({'caught': True})
            return
        self.write({'caught': False})


def finished_result(task_id='abc', state=states.SUCCESS, result=3, traceback=None):
    """What a test patches in for ``AsyncResult``: a result with a (mock) backend that is ready."""
    fake = MagicMock()
    fake.id = task_id
    fake.state = state
    fake.result = result
    fake.traceback = traceback
    fake.ready.return_value = True
    return fake


class TaskApiTestCase(FlowerUserTestCase):
    def get_app(self):
        capp = celery.Celery()  # no result backend: only a patched AsyncResult has one
        events = Events(capp, IOLoop.current())
        extra = [(r'/echo-apply', EchoApply), (r'/careful-apply', CarefulApply)]
        return Flower(capp=capp, events=events, options=options, handlers=extra + handlers, **settings)

    def post_json(self, url, body):
        return self.fetch(url, method='POST', body=body if isinstance(body, str) else json.dumps(body))

    def answer(self, response):
        return json.loads(response.body)


class CustomHandlerTests(TaskApiTestCase):
    def test_get_task_args_and_normalize_options_convert_as_flower_does(self):
        response = self.post_json(
            '/echo-apply',
            {'args': [1, 2], 'kwargs': {'x': 1}, 'countdown': '3', 'eta': '2030-01-31 13:45:00.000000', 'timeout': 5},
        )
        assert response.code == 200
        assert self.answer(response) == {
            'args': [1, 2],
            'kwargs': {'x': 1},
            'countdown': 3.0,
            'eta': '2030-01-31T13:45:00',
            'timeout': 5,
        }

    def test_empty_body_means_no_arguments(self):
        response = self.post_json('/echo-apply', '')
        assert self.answer(response) == {'args': [], 'kwargs': {}, 'countdown': None, 'eta': None, 'timeout': None}

    @pytest.mark.filterwarnings('ignore')
    def test_bad_bodies_are_our_400s_not_500s(self):
        for body, words in [
            ('{not json', 'Invalid JSON body'),
            ('[1]', 'must be a JSON object'),
            ({'args': 'x'}, 'args must be an array'),
            ({'kwargs': [1]}, 'kwargs must be an object'),
            ({'eta': 'tomorrow'}, "Invalid option 'eta'"),
            ({'countdown': 'soon'}, "Invalid option 'countdown'"),
            ({'link': 'x'}, "Unknown option 'link'"),
        ]:
            response = self.post_json('/echo-apply', body)
            assert response.code == 400, body
            assert words in response.body.decode(), (body, response.body)  # our text/plain error, as for /api

    def test_a_bad_option_is_a_value_error_for_code_that_catches_one(self):
        assert self.answer(self.post_json('/careful-apply', {'expires': 'never'})) == {'caught': True}
        assert self.answer(self.post_json('/careful-apply', {'expires': '60'})) == {'caught': False}


class PatchedNamesTests(TaskApiTestCase):
    def test_result_without_a_backend_is_503_before_any_patch(self):
        response = self.fetch('/api/task/result/abc')
        assert response.code == 503

    def test_result_handler_uses_the_patched_async_result(self):
        with mock.patch('flower.api.tasks.AsyncResult') as async_result:
            async_result.return_value = finished_result('abc', result={'sum': 3})
            response = self.fetch('/api/task/result/abc')
        assert response.code == 200
        assert self.answer(response) == {'task-id': 'abc', 'state': 'SUCCESS', 'result': {'sum': 3}}
        assert async_result.call_args.args == ('abc',)

    def test_result_with_timeout_waits_through_the_patched_async_result(self):
        with mock.patch('flower.api.tasks.AsyncResult') as async_result:
            async_result.return_value = finished_result(
                'abc', state=states.FAILURE, result=ValueError('no'), traceback='Traceback ...'
            )
            response = self.fetch('/api/task/result/abc?timeout=1')
        assert self.answer(response) == {
            'task-id': 'abc',
            'state': 'FAILURE',
            'result': "ValueError('no')",
            'traceback': 'Traceback ...',
        }

    def test_a_patched_result_whose_backend_is_disabled_is_still_503(self):
        with mock.patch('flower.api.tasks.AsyncResult') as async_result:
            async_result.return_value.backend = DisabledBackend(celery.Celery())
            response = self.fetch('/api/task/result/abc')
        assert response.code == 503

    def test_abort_uses_the_patched_abortable_result(self):
        with mock.patch('flower.api.tasks.AbortableAsyncResult') as abortable:
            response = self.post_json('/api/task/abort/abc', '')
        assert response.code == 200
        assert self.answer(response) == {'message': "Aborted 'abc'"}
        assert abortable.call_args.args == ('abc',)
        abortable.return_value.abort.assert_called_once_with()

    def test_task_info_reads_through_the_patched_tasks_module(self):
        task = Task('abc', name='tasks.add', state=states.STARTED)
        with mock.patch('flower.api.tasks.tasks.get_task_by_id', return_value=task) as get_task_by_id:
            response = self.fetch('/api/task/info/abc')
        assert response.code == 200
        assert self.answer(response)['name'] == 'tasks.add'
        assert get_task_by_id.call_args.args[1] == 'abc'
        assert self.fetch('/api/task/info/abc').code == 404  # unpatched: no such task in the events


class ListingTests(TaskApiTestCase):
    def feed(self, *batches):
        for batch in batches:
            for ev in batch:
                self._app.events.state.event(ev)

    def test_listing_filters_sorts_and_pages_through_flower_utils_tasks(self):
        self.feed(
            task_events('tasks.add', uuid='a1', start=1000.0),
            task_events('tasks.mul', uuid='m1', start=1001.0),
            task_events('tasks.add', uuid='a2', start=1002.0, outcome='failed'),
        )
        answer = self.answer(self.fetch('/api/tasks?taskname=tasks.add&sort_by=-received'))
        assert list(answer) == ['a2', 'a1']
        assert answer['a2']['state'] == 'FAILURE' and answer['a2']['worker'] == 'worker1@host'
        assert list(self.answer(self.fetch('/api/tasks?sort_by=received&offset=1&limit=1'))) == ['m1']
        assert list(self.answer(self.fetch('/api/tasks?state=All&sort_by=received'))) == ['a1', 'm1', 'a2']
        assert list(self.answer(self.fetch('/api/tasks?state=FAILURE'))) == ['a2']

    def test_bad_listing_parameters_are_400s(self):
        response = self.fetch('/api/tasks?sort_by=runtime')  # a table column, not one of the API's keys
        assert response.code == 400 and "Invalid sort_by 'runtime'" in response.body.decode()
        response = self.fetch('/api/tasks?received_start=yesterday')
        assert response.code == 400 and 'received_start' in response.body.decode()

    def test_listing_uses_a_patched_iter_tasks(self):
        task = Task('x1', name='tasks.add', state=states.SUCCESS)
        with mock.patch('flower.api.tasks.tasks.iter_tasks', return_value=iter([('x1', task)])) as iter_tasks:
            answer = self.answer(self.fetch('/api/tasks?limit=5&workername=w1'))
        assert list(answer) == ['x1'] and answer['x1']['name'] == 'tasks.add'
        assert iter_tasks.call_args.kwargs['limit'] == 5 and iter_tasks.call_args.kwargs['worker'] == 'w1'


def bare(handler_class):
    """A handler instance for its helpers that touch no request (as Flower's own unit tests use them)."""
    return object.__new__(handler_class)


def test_read_result_gives_the_state_and_the_result_once_ready():
    handler = bare(TaskResult)
    assert handler.read_result(finished_result('abc', result=object), None)['result'] == repr(object)
    pending = finished_result('abc', state=states.PENDING)
    pending.ready.return_value = False
    assert handler.read_result(pending, None) == {'task-id': 'abc', 'state': 'PENDING'}
    pending.get.side_effect = CeleryTimeoutError()
    assert handler.read_result(pending, 0.1) == {'task-id': 'abc', 'state': 'PENDING'}
    pending.get.assert_called_once_with(timeout=0.1, propagate=False)


def test_wait_results_fills_the_response_or_gives_up_with_the_state():
    handler = bare(TaskApply)
    done = finished_result('abc', result=7)
    assert handler.wait_results(done, {'task-id': 'abc'}, 2) == {'task-id': 'abc', 'result': 7, 'state': 'SUCCESS'}
    done.get.assert_called_once_with(propagate=False, timeout=2)
    slow = finished_result('abc', state=states.STARTED)
    slow.get.side_effect = CeleryTimeoutError()
    assert handler.wait_results(slow, {'task-id': 'abc'}) == {'task-id': 'abc', 'state': 'STARTED'}


def test_backend_helpers_are_static_and_judge_the_result():
    no_backend = celery.Celery().AsyncResult('abc')
    assert BaseTaskHandler.backend_configured(no_backend) is False
    assert BaseTaskHandler.backend_configured(MagicMock()) is True
    broken = MagicMock()
    type(broken).backend = mock.PropertyMock(side_effect=ImportError('no such backend'))
    assert BaseTaskHandler.backend_configured(broken) is False
    redis_like = MagicMock()
    redis_like.backend.connection_errors = (ConnectionError,)
    assert BaseTaskHandler.backend_connection_errors(redis_like) == (ConnectionError,)
    assert BaseTaskHandler.backend_connection_errors(no_backend) == ()
    assert BaseTaskHandler.result_state(finished_result()) == 'SUCCESS'


def test_safe_result_and_update_response_result():
    handler = bare(BaseTaskHandler)
    assert handler.safe_result({'a': [1]}) == {'a': [1]}
    assert handler.safe_result({1, 2}) == repr({1, 2})
    response = {}
    handler.update_response_result(response, finished_result(result=datetime(2030, 1, 1)))
    assert response == {'result': repr(datetime(2030, 1, 1))}


def test_module_exports_the_names_tests_patch():
    from celery.contrib.abortable import AbortableAsyncResult
    from celery.result import AsyncResult

    import flower.utils.tasks

    assert api_tasks.AsyncResult is AsyncResult
    assert api_tasks.AbortableAsyncResult is AbortableAsyncResult
    assert api_tasks.DisabledBackend is DisabledBackend
    assert api_tasks.tasks is flower.utils.tasks
    assert BaseTaskHandler.DATE_FORMAT == '%Y-%m-%d %H:%M:%S.%f'


def test_invalid_option_is_both_our_400_and_a_value_error():
    with pytest.raises(ValueError) as caught:
        control.apply_options({'priority': 'high'})
    assert isinstance(caught.value, control.InvalidInput)


def test_views_workers_options_is_tornados_object():
    from flower.views import workers

    assert workers.options is tornado.options.options
