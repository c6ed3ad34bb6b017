"""How an error answer is written: one renderer for every handler family, HTML, JSON or text.

Every handler of flower's, whatever it serves, writes its errors through :func:`write_error_answer` (its
``write_error`` is :class:`ErrorAnswers`'): the status and words come from
:func:`flower.views.error_status.describe`, the format from :func:`choose_format`, which decides from the
handler family's ``error_format`` and the request:

* ``PAGE`` (the dashboard's pages, login and logout, the catch-all 404, the Host refusal of a page): the HTML
  error page, ``404.html`` for 403/404 and ``error.html`` otherwise (the traceback only with ``--debug``), or
  the text when the client asked for text only (``Accept: text/plain`` without ``text/html``) or is opening a
  WebSocket (``/live``'s handshake: a script cannot show a page);
* ``API`` (every ``/api/*`` handler): the message as ``text/plain`` (Flower 2.2), except a search syntax error,
  the JSON ``{"error": ...}`` Flower's clients parse;
* ``TEXT`` (``/metrics``, ``/healthcheck``, static files): the message as ``text/plain``.

The body is never empty and never a traceback unless ``--debug`` is on. A 401 of a page or text family carries
the Basic challenge under ``--basic_auth`` (the API's does not, as before). Runs on the IOLoop thread.
"""

from __future__ import annotations

import json
import logging
import traceback

from flower import utils
from flower.search import QuerySyntaxError
from flower.views.error_status import describe

logger = logging.getLogger(__name__)

PAGE = 'page'
API = 'api'
TEXT = 'text'

HTML = 'html'
JSON_FORMAT = 'json'
PLAIN = 'text'

TEXT_TYPE = 'text/plain; charset=UTF-8'
JSON_TYPE = 'application/json; charset=UTF-8'


def choose_format(family: str, exc: BaseException | None = None, accept: str = '', upgrade: str = '') -> str:
    """``html``, ``json`` or ``text``: how a handler of ``family`` answers the error ``exc`` to a request with
    these ``Accept`` and ``Upgrade`` headers."""
    if family == API:
        return JSON_FORMAT if isinstance(exc, QuerySyntaxError) else PLAIN
    if family == TEXT:
        return PLAIN
    if upgrade.lower() == 'websocket' or _asks_for_text_only(accept):
        return PLAIN
    return HTML


def _asks_for_text_only(accept: str) -> bool:
    types = {part.split(';')[0].strip().lower() for part in accept.split(',')}
    return 'text/plain' in types and not types & {'text/html', '*/*', 'text/*'}


def error_message(handler, status_code: int, exc_info) -> str:
    """The words of the answer: the exception's (:func:`describe`), or the reason of a bare ``send_error``."""
    if exc_info is not None:
        return describe(exc_info[1], status_code).message
    return handler._reason


def write_error_answer(handler, status_code: int, exc_info=None) -> None:
    """Write the error answer of ``handler`` (a tornado ``RequestHandler`` whose status is set)."""
    exc = exc_info[1] if exc_info else None
    message = error_message(handler, status_code, exc_info)
    family = getattr(handler, 'error_format', PAGE)
    headers = handler.request.headers
    chosen = choose_format(family, exc, headers.get('Accept', ''), headers.get('Upgrade', ''))
    if status_code == 401 and family != API and _basic_enabled(handler):
        handler.set_header('WWW-Authenticate', 'Basic realm="flower"')
    if chosen == JSON_FORMAT:
        handler.set_header('Content-Type', JSON_TYPE)
        handler.finish(json.dumps({'error': message}))
    elif chosen == PLAIN:
        handler.set_header('Content-Type', TEXT_TYPE)
        handler.finish(message)
    else:
        render_error_page(handler, status_code, message, exc_info)


def _basic_enabled(handler) -> bool:
    identity = getattr(handler.application, 'identity', None)
    return bool(identity is not None and identity.basic_enabled)


def render_error_page(handler, status_code: int, message: str, exc_info=None) -> None:
    """The HTML error page; if the page itself fails (a broken template override), the text."""
    settings = handler.settings
    name, page = error_page(status_code, message, exc_info, settings.get('debug'), getattr(handler, 'capp', None))
    try:
        handler.render(name, **page)
    except Exception:  # the error page itself must never fail: fall back to plain text
        logger.exception('Failed to render the %s page', status_code)
        handler.set_header('Content-Type', TEXT_TYPE)
        handler.finish(f'{status_code}: {message}\n')


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


class ErrorAnswers:
    """Mixed into every handler family of flower's: errors are written by :func:`write_error_answer`, in the
    family's ``error_format`` (``PAGE``, ``API`` or ``TEXT``). Also for handlers that are not
    :class:`flower.views.BaseHandler` (static files)."""

    error_format = PAGE

    def write_error(self, status_code: int, **kwargs) -> None:
        write_error_answer(self, status_code, kwargs.get('exc_info'))
