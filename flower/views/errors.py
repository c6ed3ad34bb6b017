"""Which HTTP answer an exception becomes: the one mapping every handler uses.

Domain errors carry no HTTP knowledge; this table gives each a status and a message. Rendering (an HTML page
or a text/JSON body) is the handler family's job, but the status and the words come from here.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

import tornado.auth
import tornado.web

from flower import brokers, control, utils
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


def error_page(
    status_code: int, message: str, exc_info=None, debug: bool | None = False, capp=None
) -> tuple[str, dict]:
    """The template and variables of the HTML error page: ``404.html`` for 403 and 404 (``status_code``,
    ``message``), ``error.html`` otherwise, which also gets Flower 2.2's ``debug``, ``error_trace`` and
    ``bugreport`` (texts). The traceback and the versions are filled in only in debug mode, for a server error
    with an exception: never shown to the users of a production server."""
    if status_code in (403, 404):
        return '404.html', dict(status_code=status_code, message=message)
    error_trace = bugreport = ''
    if debug and exc_info is not None and status_code >= 500:
        error_trace = ''.join(traceback.format_exception(*exc_info))
        bugreport = bugreport_text(capp)
    return 'error.html', dict(
        status_code=status_code, message=message, debug=bool(debug), error_trace=error_trace, bugreport=bugreport
    )


def bugreport_text(capp=None) -> str:
    """:func:`flower.utils.bugreport` for the Celery app, or without it if the app cannot say (only ever shown
    on the debug error page: never worth failing a render)."""
    try:
        return utils.bugreport(capp)
    except Exception:  # noqa: BLE001
        return utils.bugreport()


def _reason(status: int) -> str:
    from http.client import responses

    return responses.get(status, 'Unknown')
