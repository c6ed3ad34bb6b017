"""The base of every HTML page handler: typed access to the app's live objects, identity, and errors.

:class:`BaseHandler` is Flower's public ``flower.views.BaseHandler``; users subclass it for their own pages
and login handlers. It

* reaches the live objects only through ``self.application`` (``application.options``, ``capp``, ``events``, ``state``,
  ``inspector``, ``runner``), never through module globals;
* authenticates every request in :meth:`prepare` unless the class says ``public = True`` (runtime rule 3:
  the app refuses to start with a handler that is neither a BaseHandler nor declared public);
* turns every exception into an answer in one place (:meth:`send_error` picks the status from
  :func:`flower.views.error_status.describe`; ``write_error`` is :mod:`flower.views.error_render`'s one
  renderer, in the format of the family's ``error_format``: an HTML page here, text or JSON in
  :class:`flower.api.BaseApiHandler`, text for ``/metrics`` and ``/healthcheck``);
* parses arguments with types and clear 400s, numbers strictly (:mod:`flower.utils.strict`: ASCII digits, no
  spaces or ``_``), values as sent (not stripped), and never HTML-escapes input (output is escaped instead);
* answers a method it does not implement with 405 and an ``Allow`` header (:meth:`set_status`);
* guards state-changing requests (:meth:`check_xsrf_cookie`, Flower 2.2's rule) and gives its cookies safe
  defaults (:meth:`set_cookie`). The security headers every response carries are added by
  :mod:`flower.views.security`.

Handlers run on the IOLoop thread.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any

import tornado.escape
import tornado.web

from flower.identity import Identity, is_cross_origin, unauthenticated_api_allowed
from flower.utils import bugreport, strict, strtobool, template  # noqa: F401 - bugreport, template: Flower's names here
from flower.utils.authentication import authenticate  # noqa: F401 - a name of Flower's flower.views
from flower.utils.broker import Broker  # also a name of Flower's flower.views
from flower.views.error_render import PAGE, ErrorAnswers, error_message
from flower.views.error_status import describe

if TYPE_CHECKING:  # flower.app imports this module; a type-only import (see [tool.importlinter] in pyproject.toml)
    from flower.app import Flower

logger = logging.getLogger(__name__)

_MISSING = object()
CROSS_ORIGIN_MESSAGE = 'Cross-origin request forbidden'


def apply_format_task(hook, task):
    """The ``format_task`` hook from the config file applied to a shallow copy of ``task`` (pages and pushed
    rows alike; never the API). If the hook fails, or returns nothing, the task is shown as it is; failures
    are logged."""
    if hook is None:
        return task
    try:
        return hook(copy.copy(task)) or task
    except Exception:
        logger.exception("Failed to format '%s' task", getattr(task, 'uuid', '?'))
        return task


def convert_argument(
    value: str, type_: Any, name: str, minimum: float | None = None, maximum: float | None = None
) -> Any:
    """``value`` (an argument's text) as ``type_`` (see :meth:`BaseHandler.get_argument`), numbers within
    ``minimum``/``maximum``; a 400 that says what was expected when it does not convert."""
    if type_ is None or type_ is str:
        return value
    try:
        if type_ is int:
            return strict.parse_int(value, name, minimum, maximum)
        if type_ is float:
            return strict.parse_float(value, name, minimum, maximum)
        if type_ is bool:
            return strtobool(value)
        return type_(value)
    except strict.InvalidValue as exc:
        raise tornado.web.HTTPError(400, exc.message) from None
    except (TypeError, ValueError, ArithmeticError):
        raise tornado.web.HTTPError(
            400, f"Invalid argument '{value}' of type '{getattr(type_, '__name__', type_)}'"
        ) from None


class BaseHandler(ErrorAnswers, tornado.web.RequestHandler):
    #: set True on handlers that must answer without authentication (/metrics, /healthcheck, /login, 404)
    public = False
    #: how errors are written (:mod:`flower.views.error_render`): PAGE, API or TEXT
    error_format = PAGE
    #: the server these handlers belong to (tornado types it as a plain ``Application``)
    application: Flower

    # -- the live objects ----------------------------------------------------------------------------------
    @property
    def capp(self):
        """The Celery application being monitored."""
        return self.application.capp

    @property
    def events(self):
        return self.application.events

    @property
    def state(self):
        return self.application.events.state

    @property
    def inspector(self):
        return self.application.inspector

    @property
    def runner(self):
        return self.application.runner

    @property
    def identity(self) -> Identity:
        return self.application.identity

    @property
    def unauthenticated_api(self) -> bool:
        """Flower's name: is ``FLOWER_UNAUTHENTICATED_API`` set to a true value?"""
        return unauthenticated_api_allowed()

    def get_broker(self):
        """Flower's ``get_broker()``: a :class:`flower.utils.broker.Broker` for the monitored broker (the
        ``--broker_api`` management URL for RabbitMQ); ``await handler.get_broker().queues(names)``. A transport
        without queue lengths raises :class:`flower.brokers.UnsupportedBroker` (answered 501)."""
        app = self.application
        http_api = app.options.broker_api if app.transport == 'amqp' else None
        return Broker(
            app.broker_uri_with_password,
            http_api=http_api,
            broker_options=self.capp.conf.broker_transport_options,
            broker_use_ssl=self.capp.conf.broker_use_ssl,
        )

    # -- CORS (as Flower 2.2: only when nothing is protected and the open API was asked for) --------------
    def set_default_headers(self):
        self.set_header('X-Content-Type-Options', 'nosniff')
        if self.application.cors_enabled:
            self.set_header('Access-Control-Allow-Origin', '*')
            self.set_header(
                'Access-Control-Allow-Headers',
                'x-requested-with,access-control-allow-origin,authorization,content-type',
            )
            self.set_header('Access-Control-Allow-Methods', ' PUT, DELETE, OPTIONS, POST, GET, PATCH')

    def options(self, *args, **kwargs):  # the HTTP OPTIONS verb, answered 204 as Flower does
        self.set_status(204)
        self.finish()

    # -- cookies and cross-site requests ----------------------------------------------------------------------
    def set_cookie(self, name, value, *args, **kwargs):
        """Cookies are SameSite=Lax (not sent with another site's POSTs or subresources, still sent when a
        provider redirects back after a login), Secure when served over https (``--xheaders`` makes that the
        proxy's scheme), and HttpOnly except the XSRF cookie, which the dashboard's scripts may read. This
        covers the ``user`` cookie a custom ``--auth_provider`` sets with ``set_secure_cookie``."""
        kwargs.setdefault('samesite', 'Lax')
        if self.request.protocol == 'https':
            kwargs.setdefault('secure', True)
        if name != self.settings.get('xsrf_cookie_name', '_xsrf'):
            kwargs.setdefault('httponly', True)
        super().set_cookie(name, value, *args, **kwargs)

    def check_xsrf_cookie(self):
        """Tornado calls this before :meth:`prepare` for every POST, PUT, PATCH and DELETE (``xsrf_cookies`` is
        on). With no authentication configured nothing is checked (Flower 2.2: anyone may call anyway).
        Otherwise a browser request coming from another site is refused outright, and a request that the
        session cookie would authenticate must carry the XSRF token (the dashboard's scripts send it as
        ``X-XSRFToken``). Basic credentials in the request need no token: a page on another site cannot
        add them, and a browser that replays cached ones still sends Origin/Sec-Fetch-Site, checked first."""
        identity = self.identity
        if not identity.enabled:
            return
        headers = self.request.headers
        if is_cross_origin(headers.get('Origin'), headers.get('Sec-Fetch-Site'), self.own_hosts()):
            raise tornado.web.HTTPError(403, CROSS_ORIGIN_MESSAGE)
        if self.public or not identity.oauth_enabled:
            return  # a public handler does not act with the session's authority; Basic-only has no session
        if identity.basic_user(headers.get('Authorization')) is not None:
            return
        if self.get_cookie('user') is None:
            return  # no session to ride on: prepare() decides with the request's own credentials
        super().check_xsrf_cookie()

    def own_hosts(self) -> list[str]:
        """The host names this request was addressed to: its Host, and behind a trusted proxy
        (``--xheaders``) the one the browser used."""
        hosts = [self.request.host]
        forwarded = self.request.headers.get('X-Forwarded-Host')
        if forwarded and self.application.options.xheaders:
            hosts.append(forwarded.split(',')[0].strip())
        return hosts

    # -- identity -------------------------------------------------------------------------------------------
    def get_current_user(self):
        identity = self.identity
        if not identity.enabled:
            return 'anonymous'
        if identity.basic_enabled:
            user = identity.basic_user(self.request.headers.get('Authorization'))
            if user is not None:
                return user
        if identity.oauth_enabled:
            cookie = self.get_signed_cookie('user', min_version=2)  # v1 (SHA-1) cookies were never ours
            if cookie:
                return identity.cookie_user(cookie.decode('utf-8', 'replace'))
        return None

    def prepare(self):
        if self.public or self.request.method == 'OPTIONS':
            return
        if self.current_user is None:
            self.deny()

    def deny(self):
        """Answer an unauthenticated request: a Basic challenge, a redirect to the login page, or 403."""
        identity = self.identity
        if identity.oauth_enabled and self.request.method in ('GET', 'HEAD'):
            url = self.get_login_url()
            next_url = self.request.uri
            self.redirect(url + ('&' if '?' in url else '?') + 'next=' + tornado.escape.url_escape(next_url))
            raise tornado.web.Finish()
        if identity.basic_enabled and not identity.oauth_enabled:
            raise tornado.web.HTTPError(401, 'Access denied')
        raise tornado.web.HTTPError(403, 'Access denied')

    # -- arguments ------------------------------------------------------------------------------------------
    def get_argument(
        self,
        name: str,
        default: Any = None,
        strip: bool = True,
        type: Any = str,  # noqa: A002
        required: bool = False,
        escape: bool = False,
    ) -> Any:
        """Flower's ``get_argument``: the argument ``name`` (query or form, the last value), converted to
        ``type``.

        * Missing: ``default`` (``None`` unless given; a string default is converted like a sent value, as in
          Flower). ``default=tornado.web._ARG_DEFAULT`` or ``required=True`` make it a 400 ``Missing argument
          <name>`` instead (``required`` also refuses an empty value).
        * ``type``: ``str`` (or ``None``) leaves the text as it is; ``int`` and ``float`` parse strictly (ASCII
          digits, no ``nan``/``inf``); ``bool`` takes Flower's words (yes/no, true/false, on/off, 1/0); any
          other callable is called with the text. A value that does not convert is a 400 ``Invalid argument
          '<value>' of type '<type>'``, never a 500.
        * ``strip`` and control characters: as tornado's ``get_argument``.
        * ``escape``: unlike Flower, values are not HTML-escaped unless a caller asks (pages escape on output);
          ``escape=True`` gives Flower's escaped text."""
        # tornado's get_argument is the last of these; asking for the list tells a missing argument apart
        values = super().get_arguments(name, strip)
        if not values:
            if required or default is tornado.web._ARG_DEFAULT:
                raise tornado.web.MissingArgumentError(name)
            if not isinstance(default, str):
                return default  # None, a number, False...: returned as given
            value = default
        else:
            value = values[-1]
            if required and value == '':
                raise tornado.web.MissingArgumentError(name)
        if escape:
            value = tornado.escape.xhtml_escape(value)
        return convert_argument(value, type, name)

    def get_typed_argument(
        self,
        name: str,
        type_: type = str,
        default: Any = _MISSING,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> Any:
        """An argument converted to ``type_``; missing without a default, or unconvertible, is a 400 that says
        which argument and what was expected. Integers and numbers are parsed strictly
        (:mod:`flower.utils.strict`: ASCII digits, a ``-`` only when ``minimum`` allows negatives, within
        ``minimum``/``maximum``). Values are taken as sent: unlike tornado's ``get_argument``, spaces are not
        stripped and control characters are not turned into spaces, so ``' 1000 '`` is refused and a queue name
        with a control character is seen (and refused) as it is. Strings are not HTML-escaped."""
        raw = self.raw_argument(name)
        if raw is None:
            if default is _MISSING:
                raise tornado.web.HTTPError(400, f'Missing argument {name}')
            return default
        return convert_argument(raw, type_, name, minimum, maximum)

    def raw_argument(self, name: str) -> str | None:
        """The last value of the query or form argument ``name``, decoded and otherwise untouched."""
        values = self.request.arguments.get(name)
        if not values:
            return None
        return self.decode_argument(values[-1], name=name)

    @classmethod
    def allowed_methods(cls) -> list[str]:
        """The HTTP methods this handler implements (what a 405 answer lists in ``Allow``)."""
        return [
            method
            for method in cls.SUPPORTED_METHODS
            if getattr(cls, method.lower(), None) is not getattr(tornado.web.RequestHandler, method.lower())
        ]

    # -- errors -----------------------------------------------------------------------------------------------
    def send_error(self, status_code: int = 500, **kwargs) -> None:
        exc_info = kwargs.get('exc_info')
        if exc_info is not None:
            status_code = describe(exc_info[1], status_code).status
        super().send_error(status_code, **kwargs)

    def log_exception(self, typ, value, tb):
        error = describe(value, 500)
        if error.expected:
            logger.debug('%s %s -> %s %s', self.request.method, self.request.uri, error.status, error.message)
            return
        super().log_exception(typ, value, tb)

    def error_message(self, status_code: int, exc_info) -> str:
        """The words of an error answer (:func:`flower.views.error_render.error_message`)."""
        return error_message(self, status_code, exc_info)

    def set_status(self, status_code: int, reason: str | None = None) -> None:
        """A 405 always says which methods would do (``Allow``, RFC 9110), whichever family renders the body (a
        page, the API's text, the datatable's JSON): ``send_error`` clears the headers, then sets the status."""
        super().set_status(status_code, reason)
        if status_code == 405:
            self.set_header('Allow', ', '.join(self.allowed_methods()))

    # -- rendering ----------------------------------------------------------------------------------------------
    def get_template_namespace(self):
        namespace = super().get_template_namespace()
        namespace.update(self.application.template_context(self))
        return namespace

    def format_task(self, task):
        """The ``format_task`` hook applied as the pages apply it (see :func:`apply_format_task`)."""
        return apply_format_task(self.application.options.format_task, task)

    def get_active_queue_names(self) -> list[str]:
        names = set()
        for info in self.inspector.workers.values():
            for queue in info.get('active_queues') or ():
                if isinstance(queue, dict) and queue.get('name'):
                    names.add(queue['name'])
        if not names:
            conf = self.capp.conf
            names.add(conf.task_default_queue)
            for queue in conf.task_queues or ():
                if getattr(queue, 'name', None):
                    names.add(queue.name)
        return sorted(names)
