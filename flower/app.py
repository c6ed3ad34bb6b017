"""The application: builds the live objects once and wires them to the routes (Flower's public
``flower.app.Flower``).

:class:`Flower` is a ``tornado.web.Application`` that owns, for its lifetime: the options it reads
(``options``: tornado's ``tornado.options.options`` or whatever the caller gave, read through at every access by
:meth:`~flower.options.Options.from_object`, so a change made at run time is seen; what is derived from them,
such as ``identity`` and ``allowed_hosts``, is rebuilt when the values it depends on change), the Celery app
(``capp``), the :class:`~flower.runner.BlockingRunner`
(the only way blocking calls are made), the :class:`~flower.events.Events` thread and its state, the
:class:`~flower.inspector.Inspector`, the :class:`~flower.identity.Identity`, and the live-update hub
(:class:`~flower.live.LiveHub`, ``live``). The parts are built and connected by the composition root,
:func:`flower.runtime.build_runtime` (``runtime``); the app keeps Flower's names for them (``capp``, ``events``,
``inspector``, ``executor``, ``live``, ...) and owns their start and stop. Handlers reach them through
``self.application``. ``start()`` binds, starts the background work and runs the IOLoop; ``stop()`` undoes it.

Every request's ``Host`` is checked against ``--allowed_hosts`` (:mod:`flower.utils.hosts`) in
:meth:`Flower.find_handler`, before any route runs; a refused one gets :func:`flower.views.security.host_refusal`.

Runtime rule 3 lives here (:func:`ensure_handlers_declare_auth`): a route's handler authenticates (a
:class:`~flower.views.BaseHandler`, or methods wrapped in ``tornado.web.authenticated``) or is public (declared
``public = True``, or a plain ``tornado.web.RequestHandler``, served as Flower serves it with a start-up warning
naming it); the app refuses to start with a route whose target is not a handler class at all.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any
from urllib.parse import quote

import celery
import tornado.routing
import tornado.util
import tornado.web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.netutil import bind_sockets, bind_unix_socket

from flower import __version__, urls
from flower.identity import Identity, unauthenticated_api_allowed
from flower.cluster import offline_workers
from flower.diagnosis import Diagnosis, diagnose
from flower.options import Options, default_options  # noqa: F401 - default_options: a name of Flower's flower.app
from flower.runtime import BLOCKING_CONCURRENCY, DEFAULT_EXECUTOR_WORKERS, build_runtime  # noqa: F401
from flower.utils import abs_path, prepend_url
from flower.utils.blocking import BlockingOperationRunner  # also a name of Flower's flower.app
from flower.utils.hosts import AllowedHosts, allowed_hosts_for
from flower.utils.template import humanize, template_functions, time_type
from flower.utils.thread_guard import ThreadGuard, call_on_loop
from flower.views import BaseHandler
from flower.views.assets import override_settings
from flower.views.auth import login_settings
from flower.views.error_render import bugreport_text
from flower.views.not_found import PrefixRedirect
from flower.views.live import PageShapes
from flower.views.security import host_refusal, security_headers_transform

logger = logging.getLogger(__name__)

HTTP_METHODS = ('get', 'head', 'post', 'delete', 'patch', 'put')
# makes Flower.stop's check-and-set of _stopped atomic (one lock for every app: stop is rare, and a lock made
# in __init__ would be missing on an app whose subclass does not call it first)
_STOP_LOCK = threading.Lock()


class Flower(tornado.web.Application):
    """The monitor. ``Flower(capp=app, options=options)`` then ``start()``."""

    #: Flower's: the executor class blocking calls (broker, result backend, inspect) run on, built as
    #: ``pool_executor_cls(max_workers=max_workers)``; a subclass may name its own (a ``concurrent.futures``
    #: ``Executor``). ``max_workers`` ``None`` means :data:`DEFAULT_EXECUTOR_WORKERS`.
    pool_executor_cls: type = ThreadPoolExecutor
    max_workers: int | None = None

    def __init__(self, options=None, capp=None, events=None, io_loop=None, handlers=None, **kwargs):
        self.options = Options.from_object(options)
        opts = self.options
        self.io_loop = io_loop
        #: Flower's: the ``ssl_options`` given to the constructor (``flower.command`` passes them for
        #: ``--certfile``/``--keyfile``), else ``None``; :meth:`start` builds them from the options then
        self.ssl_options = kwargs.get('ssl_options')
        self.identity = Identity.from_options(opts)  # read at each request: follows a change to the options
        # every live part, built and connected in one place (flower.runtime); the names below are Flower's
        self.runtime = build_runtime(
            opts,
            capp,
            executor=self._new_executor(),
            # a worker that starts (or restarts) after start-up is inspected without waiting for a manual refresh
            call_later=lambda delay, fn: self._ensure_io_loop().call_later(delay, fn),
            live_shapes=PageShapes(self, lambda: time_type(self.options.natural_time, self.capp.conf.timezone)),
            diagnose=lambda: self.diagnosis().as_json(),
            io_loop=io_loop,
            events=events,
        )
        runtime = self.runtime
        self.capp = runtime.capp
        self.executor = runtime.executor
        self.runner = runtime.runner
        self.metrics = runtime.metrics
        self.events = runtime.events
        self.persistence = runtime.persistence
        self.inspector = runtime.inspector
        self.pool_changes = runtime.pool_changes
        self.discovery = runtime.discovery
        self.queues = runtime.queues
        self.live = runtime.live
        self.retries = runtime.retries
        self.refused_hosts: set[str] = set()  # Host names refused so far (each logged once, see views.security)
        self.http_servers: list[HTTPServer] = []
        self.bound_port: int | None = None
        self.started = False

        settings = dict(urls.settings)
        settings.update(
            cookie_secret=opts.cookie_secret,
            debug=opts.debug,
            login_url=prepend_url('/login', opts.url_prefix),
            static_url_prefix=prepend_url('/static/', opts.url_prefix),
            ui_methods={'humanize': lambda handler, *a, **kw: humanize(*a, **kw)},
            # Flower 2.2: tornado checks the token on POST/PUT/PATCH/DELETE; BaseHandler.check_xsrf_cookie
            # decides when one is needed (only for requests a session cookie authenticates)
            xsrf_cookies=True,
        )
        # the login provider, its ``oauth`` client settings and environment (a bad one stops start-up)
        settings.update(login_settings(opts, endpoint_overrides=kwargs.get('oauth_endpoints')))
        ours = {name: settings[name] for name in ('ui_modules', 'ui_methods')}
        settings.update(kwargs)
        for name, mine in ours.items():
            # a caller's own ui_modules/ui_methods add to ours (tornado takes a list; later names win): the
            # pages' fragments and helpers must stay, whatever a caller registers besides
            if kwargs.get(name) is not None:
                settings[name] = [mine, kwargs[name]]
        # a user's template_path/static_path overrides built-in files by name and falls back to the rest
        settings.update(override_settings(settings, urls.settings['template_path'], urls.settings['static_path']))
        routes = list(handlers if handlers is not None else urls.handlers)
        routes = [_with_prefix(spec, opts.url_prefix) for spec in routes]
        if opts.url_prefix and opts.url_prefix.strip('/'):
            home = prepend_url('/', opts.url_prefix)  # '/<prefix>/'
            # (the target is a format string to tornado, the source a pattern: the prefix is text in both)
            routes.insert(
                0,
                tornado.web.url(
                    re.escape(home.rstrip('/')),
                    PrefixRedirect,
                    {'url': home.replace('{', '{{').replace('}', '}}'), 'permanent': False},
                ),
            )
        ensure_handlers_declare_auth(routes)
        super().__init__(routes, **settings)
        self.add_transform(security_headers_transform(self.settings))  # on every response, static files too

    def _new_executor(self):
        executor_cls = self.pool_executor_cls or ThreadPoolExecutor  # None: what Flower <2 subclasses set
        workers = self.max_workers or DEFAULT_EXECUTOR_WORKERS
        if executor_cls is ThreadPoolExecutor:
            return ThreadPoolExecutor(max_workers=workers, thread_name_prefix='flower-blocking')
        return executor_cls(max_workers=workers)

    def purge_offline_worker_metrics(self) -> int:
        """Flower's: under ``--purge_offline_workers``, drop the metrics series of workers offline for longer
        than that (and of workers the events no longer know); returns how many series went. ``/metrics``
        calls it before answering."""
        threshold = self.options.purge_offline_workers
        if threshold is None:
            return 0
        state = self.events.state
        removed = self.metrics.forget_workers(offline_workers(state, self.inspector.workers.keys(), threshold))
        if removed:
            logger.debug('Purged %d metric series of offline workers', removed)
        return removed

    # -- which Host names are answered (--allowed_hosts) ---------------------------------------------------
    @property
    def allowed_hosts(self) -> AllowedHosts:
        """The allow-list in force, read from the options as they are now (rebuilt only when they change)."""
        opts = self.options
        key = (tuple(opts.allowed_hosts or ()), opts.address, opts.unix_socket, self.identity.enabled)
        cached = self.__dict__.get('_allowed_hosts')
        if cached is None or cached[0] != key:
            cached = self.__dict__['_allowed_hosts'] = (key, allowed_hosts_for(*key))
        return cached[1]

    def find_handler(self, request, **kwargs):
        """Route as tornado does, but a request for a Host name that is not allowed goes to a handler that
        answers 400, whatever its route (pages, API, /metrics, static files, /live)."""
        delegate = super().find_handler(request, **kwargs)
        if self.allowed_hosts.allows(request.host):
            return delegate
        return self.get_handler_delegate(
            request, host_refusal(getattr(delegate, 'handler_class', None)), getattr(delegate, 'handler_kwargs', None)
        )

    # -- what handlers and templates read ----------------------------------------------------------------
    @property
    def workers(self) -> dict:
        return self.inspector.workers

    @cached_property
    def blocking_runner(self):
        """Flower's ``app.blocking_runner``: ``await app.blocking_runner.run(operation, target, func, *args,
        connection_errors=(), **kwargs)``, sharing :attr:`runner` (see :mod:`flower.utils.blocking`)."""
        return BlockingOperationRunner.sharing(self.runner)

    @property
    def cors_enabled(self) -> bool:
        return not self.identity.enabled and unauthenticated_api_allowed()

    def update_workers(self, workername: str | None = None):
        """Refresh the inspector cache for one worker or all; returns an awaitable."""
        return self.inspector.inspect(workername)

    @cached_property
    def transport(self) -> str:
        return self.capp.connection().transport.driver_type

    @cached_property
    def broker_uri(self) -> str:
        """The broker URL with the password masked, for pages and logs."""
        return self.capp.connection().as_uri()

    @cached_property
    def broker_uri_with_password(self) -> str:
        return self.capp.connection().as_uri(include_password=True)

    def diagnosis(self) -> Diagnosis:
        """What is wrong between the broker, the workers and this server (the pages' "why is this empty?"
        and ``GET /api/diagnosis``). A user's ``events=`` object without stream health is not judged."""
        return diagnose(
            self.events.state,
            getattr(self.events, 'health', None),
            broker=self.broker_uri,
            enable_events=bool(self.options.enable_events),
        )

    def template_context(self, handler) -> dict[str, Any]:
        """What every template sees besides tornado's own namespace (which already has ``handler``,
        ``request``, ``current_user``, ``static_url``, ``reverse_url`` and ``xsrf_form_html``): the live
        objects, versions, options and formatting helpers. A user's handler subclassing
        :class:`flower.views.BaseHandler` gets the same, so its own templates can extend ``base.html``."""
        options = self.options
        prefix = prepend_url('/', options.url_prefix).rstrip('/')  # '' or '/name', never a trailing slash
        return {
            'active_tab': '',
            'page_url': lambda path: prefix + path,
            'worker_url': lambda name: f'{prefix}/worker/{quote(str(name), safe="")}',
            'task_url': lambda task_id: f'{prefix}/task/{quote(str(task_id), safe="")}',
            'current_user': handler.current_user,
            'capp': self.capp,
            'events': self.events,
            'options': options,
            'read_only': bool(options.read_only),
            'broker_url': self.broker_uri,
            'flower_version': __version__,
            'celery_version': celery.__version__,
            'url_prefix': prefix,
            'static_url': handler.static_url,
            'reverse_url': handler.reverse_url,
            **template_functions(),  # humanize, format_time, ... (Flower's template helpers, by its names)
            'time_type': time_type(options.natural_time, self.capp.conf.timezone),
            'logout_url': _optional_route(self, 'logout') if self.identity.oauth_enabled else None,
            'xsrf_token': handler.xsrf_token.decode('ascii') if self.settings.get('xsrf_cookies') else '',
            'bugreport': lambda: bugreport_text(self.capp),
        }

    # -- lifecycle ---------------------------------------------------------------------------------------
    def _ensure_io_loop(self) -> IOLoop:
        """The IOLoop this app serves on: the given one, the running one, or a new one for this thread."""
        if self.io_loop is None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                asyncio.set_event_loop(asyncio.new_event_loop())
            self.io_loop = IOLoop.current()
        return self.io_loop

    def start_http_server(self) -> int | None:
        """Bind the listening socket(s); returns the TCP port actually bound (``--port=0`` picks one)."""
        self._ensure_io_loop()
        opts = self.options
        ssl_options = None
        if opts.certfile and opts.keyfile:
            ssl_options = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_options.load_cert_chain(abs_path(opts.certfile), abs_path(opts.keyfile))
            if opts.ca_certs:
                ssl_options.load_verify_locations(abs_path(opts.ca_certs))
        # Flower's way: ``Flower(ssl_options=...)`` (what ``flower.command.extract_settings`` puts in settings),
        # or ``app.ssl_options`` set before start
        ssl_options = self.ssl_options or self.settings.get('ssl_options') or ssl_options
        server = HTTPServer(self, xheaders=opts.xheaders, ssl_options=ssl_options)
        if opts.unix_socket:
            sock = bind_unix_socket(opts.unix_socket, mode=0o777)
            server.add_sockets([sock])
        else:
            sockets = bind_sockets(opts.port, address=opts.address or None)
            server.add_sockets(sockets)
            self.bound_port = sockets[0].getsockname()[1]
        self.http_servers.append(server)
        return self.bound_port

    def start_background(self) -> None:
        """Start the events thread, the periodic work and the first inspection (needs a running or current
        IOLoop)."""
        if self.started:
            return
        self._ensure_io_loop()
        # runtime rule 1 (checked under FLOWER_THREAD_GUARD=1): the IOLoop's thread owns the state and the
        # inspector cache; queued before the events thread starts, so it runs before any event is applied
        self.io_loop.add_callback(self._claim_for_io_loop)
        self.events.io_loop = self.io_loop
        self.events.start()
        self.started = True
        self.io_loop.add_callback(self._initial_inspection)
        self.io_loop.add_callback(self.queues.start, self.options.queue_length_interval)

    def _claim_for_io_loop(self) -> None:
        guards: list[ThreadGuard] = []
        for owner in (self.events.state, self.inspector):
            guard = getattr(owner, 'thread_guard', None)  # a user's events= state may have none
            if guard is not None:
                guards.append(guard)
        for guard in guards:
            guard.claim()
        if guards:
            logger.info(
                'Thread guard on: %s written only on thread %r',
                ' and '.join(g.what for g in guards),
                guards[0].owner_name,
            )

    async def _initial_inspection(self):
        try:
            await self.inspector.inspect()
        except Exception as exc:
            logger.warning('Initial inspection failed: %s', exc)

    def start(self) -> None:
        """Bind (unless already bound), start the background work and run the IOLoop until :meth:`stop`."""
        self._ensure_io_loop()
        if not self.http_servers:
            self.start_http_server()
        self.start_background()
        self.io_loop.start()

    def stop(self) -> None:
        """Stop serving and the background work; safe to call more than once and from any thread, also from
        several at once: the first call does the work, the others return at once. What must run on the
        IOLoop (stopping the HTTP servers, the live hub and the loop) is queued to it with ``add_callback``,
        the one IOLoop method that is safe from other threads."""
        with _STOP_LOCK:
            if getattr(self, '_stopped', False):
                return
            self._stopped = True
        call_on_loop(self.io_loop, self.queues.cancel)  # cancels an asyncio task: the loop's thread only
        self.events.stop()
        for server in self.http_servers:
            if self.io_loop is not None:
                self.io_loop.add_callback(server.stop)
        self.runner.shutdown()
        if self.io_loop is not None:
            self.io_loop.add_callback(self.live.stop)  # the hub is touched only on the IOLoop thread
            self.io_loop.add_callback(self.io_loop.stop)
        self.started = False


def _optional_route(app, name: str) -> str | None:
    try:
        return app.reverse_url(name)
    except KeyError:
        return None


#: Flower's name for the route table (the same list as :data:`flower.urls.handlers`, so a change to one is a
#: change to the other): ``Flower(handlers=default_handlers + mine)``.
default_handlers = urls.handlers


class _PrefixedRoute(tuple):
    """A route tuple :func:`rewrite_handler` already put under a prefix (still a plain tuple to its users)."""

    url_prefix = ''


class _PrefixedURLSpec(tornado.web.URLSpec):
    """A ``URLSpec`` :func:`rewrite_handler` already put under a prefix."""

    url_prefix = ''


def _prefix_key(prefix: str | None) -> str:
    return (prefix or '').strip('/')


def rewrite_handler(handler, url_prefix: str | None):
    """Flower's ``rewrite_handler``: the route ``handler`` (a ``URLSpec`` or a tuple) under ``url_prefix``
    (``/workers`` -> ``/<prefix>/workers``). A ``URLSpec`` keeps its name and kwargs; a tuple stays a tuple and,
    unlike Flower's, keeps its kwargs and name too. With an empty prefix the route is returned unchanged.

    :class:`Flower` puts every route under ``--url_prefix`` itself; a route rewritten here for that same prefix
    is recognised and not prefixed twice, so ``Flower(options=..., handlers=[rewrite_handler(h, prefix) for h
    in default_handlers])`` works as it did with Flower."""
    key = _prefix_key(url_prefix)
    if not key or _prefix_key(getattr(handler, 'url_prefix', None)) == key:
        return handler
    rewritten: _PrefixedURLSpec | _PrefixedRoute
    if isinstance(handler, tornado.web.URLSpec):
        pattern = handler.regex.pattern
        pattern = pattern[:-1] if pattern.endswith('$') else pattern
        rewritten = _PrefixedURLSpec(prepend_url(pattern, key), handler.handler_class, handler.kwargs, handler.name)
    else:
        pattern, *rest = handler
        rewritten = _PrefixedRoute((prepend_url(pattern, key), *rest))
    rewritten.url_prefix = key
    return rewritten


_with_prefix = rewrite_handler  # what the constructor calls for every route


# every method wrapped by tornado.web.authenticated runs this one code object (functools.wraps copies the
# wrapped method's names, so __qualname__ cannot tell)
_AUTHENTICATED_CODE = tornado.web.authenticated(lambda handler: None).__code__


def _is_authenticated_method(method) -> bool:
    """Is ``method``, or anything it wraps (``__wrapped__`` chain), tornado's ``authenticated`` wrapper?"""
    seen = 0
    while method is not None and seen < 32:  # a chain that loops is not followed forever
        if getattr(method, '__code__', None) is _AUTHENTICATED_CODE:
            return True
        method = getattr(method, '__wrapped__', None)
        seen += 1
    return False


def _unprotected_methods(handler_class) -> list[str]:
    """The HTTP methods ``handler_class`` implements without tornado's ``authenticated`` wrapper."""
    return [
        name.upper()
        for name in HTTP_METHODS
        if getattr(handler_class, name) is not getattr(tornado.web.RequestHandler, name)
        and not _is_authenticated_method(getattr(handler_class, name))
    ]


def _is_public_or_authenticating(handler_class) -> bool:
    """Does the class declare itself public, or authenticate every request it answers (a
    :class:`~flower.views.BaseHandler`, whose ``prepare`` checks, or every method it implements wrapped in
    ``tornado.web.authenticated``)? Static files are public, as in Flower."""
    if getattr(handler_class, 'public', False):
        return True
    if issubclass(handler_class, (BaseHandler, tornado.web.StaticFileHandler)):
        return True
    return not _unprotected_methods(handler_class)


def _route_parts(spec) -> tuple[str, Any]:
    """``(pattern, handler)`` of a route given as a ``URLSpec``/``Rule`` or a tuple; a handler named by its
    dotted path (tornado accepts that) is imported."""
    if isinstance(spec, tornado.routing.Rule):
        pattern = getattr(spec.matcher, 'regex', None)
        pattern = pattern.pattern if pattern is not None else repr(spec.matcher)
        handler = spec.target
    else:
        pattern, handler = spec[0], spec[1]
        pattern = getattr(pattern, 'pattern', pattern)
    if isinstance(handler, str):
        handler = tornado.util.import_object(handler)
    return pattern, handler


def ensure_handlers_declare_auth(routes) -> None:
    """Runtime rule 3, at start-up: every route's handler authenticates or is public.

    A plain ``tornado.web.RequestHandler`` (as Flower accepts in ``handlers=``) is served as it is, public
    where it does not authenticate; a warning names it and its unprotected methods. Anything that is not a
    ``RequestHandler`` class at all (a function, an instance, another router) would be reached without any
    check: the app refuses to start and says which route."""
    for spec in routes:
        pattern, handler_class = _route_parts(spec)
        name = getattr(handler_class, '__qualname__', None) or repr(handler_class)
        if not (isinstance(handler_class, type) and issubclass(handler_class, tornado.web.RequestHandler)):
            raise RuntimeError(
                f'Route {pattern!r} is served by {name}, which is not a tornado.web.RequestHandler class: '
                'Flower cannot tell who may reach it. Use a subclass of flower.views.BaseHandler (authenticated '
                'like the dashboard), or of tornado.web.RequestHandler with its methods wrapped in '
                'tornado.web.authenticated, or with public = True.'
            )
        if _is_public_or_authenticating(handler_class):
            continue
        logger.warning(
            'Handler %s.%s for %r is a plain tornado RequestHandler: %s answer without authentication '
            '(public). Subclass flower.views.BaseHandler, or wrap its methods in tornado.web.authenticated, to '
            'protect it; set public = True on the class to say it is meant to be public.',
            handler_class.__module__,
            handler_class.__qualname__,
            pattern,
            ', '.join(_unprotected_methods(handler_class)) or 'its methods',
        )
