"""The web side of control: Flower's public names stay importable, and every domain error of flower.control has
an HTTP status and keeps its message."""

from __future__ import annotations

import inspect

import pytest

from flower.views.error_status import CONTROL_ERROR_STATUS, describe

from flower import control
from flower.api import BaseApiHandler
from flower.api import control as api_control
from flower.api import tasks as api_tasks


def test_flowers_public_names_are_importable():
    from flower.api.control import ControlHandler, TaskTimeout, TaskTimout

    assert TaskTimout is TaskTimeout
    assert issubclass(ControlHandler, BaseApiHandler)
    assert ControlHandler.error_reason('w', [{'w': {'error': 'no'}}]) == 'no'
    assert ControlHandler.error_reason('w', []) == "no reply from 'w'"


def _control_errors():
    return [
        cls
        for _, cls in inspect.getmembers(control, inspect.isclass)
        if issubclass(cls, control.ControlError) and cls is not control.ControlError
    ]


@pytest.mark.parametrize(
    'error,status',
    [
        (control.InvalidInput('Invalid n'), 400),
        (control.UnknownWorker('w'), 404),
        (control.UnknownTask('t'), 404),
        (control.CommandFailed('refused'), 403),
        (control.NotRetryable('running'), 409),
        (control.NoResultBackend(), 503),
    ],
)
def test_domain_errors_become_http_errors_with_their_message(error, status):
    answer = describe(error)
    assert (answer.status, answer.message, answer.expected) == (status, error.message, True)


def test_every_domain_error_has_a_status():
    assert set(_control_errors()) == set(CONTROL_ERROR_STATUS)


def test_every_state_changing_handler_is_refused_in_read_only_mode():
    handlers = [
        cls
        for module in (api_control, api_tasks)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseApiHandler) and cls.__module__ == module.__name__
    ]
    posting = {cls.__name__ for cls in handlers if cls.post is not BaseApiHandler.post}
    assert {cls.__name__ for cls in handlers if cls.mutating} >= posting
    assert len(posting) == 15  # 7 worker commands, revoke, timeout, rate-limit, apply x3, abort, retry
    assert not api_tasks.TaskResult.mutating and not api_tasks.GetQueueLengths.mutating
