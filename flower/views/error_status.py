"""Which status and message an exception becomes: the one mapping every handler uses.

Domain errors carry no HTTP knowledge; :func:`describe` gives each a status, a message in words for the client,
and whether it was expected (logged without a traceback). How the answer is written (an HTML page, text, JSON)
is :mod:`flower.views.error_render`'s. Pure functions, called on the IOLoop thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from http.client import responses

import tornado.auth
import tornado.web

from flower import brokers, control
from flower.queries import BadQuery
from flower.runner import BrokerUnavailable, OperationFailed
from flower.search import QuerySyntaxError
from flower.utils import strict


@dataclass(frozen=True)
class ErrorAnswer:
    status: int
    message: str
    expected: bool  # an error the client caused or the outside world did: no traceback in the log


class NotFound(tornado.web.HTTPError):
    """404 with a message (``Unknown worker 'x'``)."""

    def __init__(self, message: str):
        super().__init__(404, message)


# What each control/execution error of the domain layer means for an HTTP client.
CONTROL_ERROR_STATUS = {
    control.InvalidInput: 400,
    control.InvalidOption: 400,
    control.UnknownWorker: 404,
    control.UnknownTask: 404,
    control.CommandFailed: 403,
    control.PoolLimitReached: 409,
    control.NotRetryable: 409,
    control.NoResultBackend: 503,
}


def describe(exc: BaseException | None, default_status: int = 500) -> ErrorAnswer:
    if isinstance(exc, tornado.web.HTTPError):
        message = exc.log_message if exc.log_message else (exc.reason or _reason(exc.status_code))
        if exc.args[1:] and exc.log_message:
            try:
                message = exc.log_message % exc.args
            except (TypeError, ValueError):
                pass
        return ErrorAnswer(exc.status_code, message, exc.status_code < 500)
    if isinstance(exc, tornado.auth.AuthError):  # a login the provider or the state check refused (Flower: 403)
        return ErrorAnswer(403, str(exc) or 'Authentication failed', True)
    if isinstance(exc, BadQuery):
        return ErrorAnswer(400, str(exc), True)
    if isinstance(exc, strict.InvalidValue):  # a parameter that is not strictly a number, time or name
        return ErrorAnswer(400, exc.message, True)
    if isinstance(exc, control.ControlError):
        for cls in type(exc).__mro__:
            if cls in CONTROL_ERROR_STATUS:
                return ErrorAnswer(CONTROL_ERROR_STATUS[cls], exc.message, True)
        return ErrorAnswer(400, exc.message, True)
    if isinstance(exc, QuerySyntaxError):
        return ErrorAnswer(400, str(exc), True)
    if isinstance(exc, brokers.UnsupportedBroker):
        # 501, not Flower's 404: the route exists, this transport just has no queue lengths to give
        return ErrorAnswer(501, str(exc), True)
    if isinstance(exc, brokers.BrokerError):  # queue lengths could not be read: the adapter says why
        return ErrorAnswer(503, str(exc), True)
    if isinstance(exc, BrokerUnavailable):
        return ErrorAnswer(503, exc.message, True)
    if isinstance(exc, OperationFailed):
        return ErrorAnswer(500, exc.message, False)
    if exc is None:
        return ErrorAnswer(default_status, _reason(default_status), default_status < 500)
    return ErrorAnswer(500, 'Internal server error', False)


def _reason(status: int) -> str:
    return responses.get(status, 'Unknown')
