"""The base of every ``/api/*`` handler: the API gate and plain error bodies.

:class:`BaseApiHandler` is Flower's public ``flower.api.BaseApiHandler``. On top of :class:`BaseHandler` it

* refuses every call with 401 when no authentication is configured, unless ``FLOWER_UNAUTHENTICATED_API``
  is set (Flower's gate, so an open server does not silently expose a control API);
* writes errors as ``text/plain`` with the message (Flower 2.2), except search syntax errors, which are the
  JSON ``{"error": ...}`` Flower's clients parse; never an HTML page, never an empty body (its
  ``error_format`` is ``API``: :mod:`flower.views.error_render` writes them);
* parses its parameters from its one declaration, :attr:`endpoint` (:mod:`flower.api.spec`), the one
  ``/api/openapi.json`` is built from;
* refuses state-changing calls in ``--read_only`` mode with 403 ``Read only mode is enabled`` through
  :meth:`check_writable`, the one place that check lives.

Runs on the IOLoop thread.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import tornado.web

from flower.api.spec import Endpoint
from flower.identity import UNAUTHENTICATED_API_MESSAGE, unauthenticated_api_allowed
from flower.control import PoolLimits
from flower.views import BaseHandler
from flower.views.error_render import API

READ_ONLY_MESSAGE = 'Read only mode is enabled'


class BaseApiHandler(BaseHandler):
    error_format = API
    #: set True on handlers that change the cluster; they are refused in --read_only mode
    mutating = False

    def prepare(self):
        if self.request.method == 'OPTIONS':
            return
        if not self.identity.enabled and not unauthenticated_api_allowed():
            raise tornado.web.HTTPError(401, UNAUTHENTICATED_API_MESSAGE)
        super().prepare()
        if self.mutating and self.request.method not in ('GET', 'HEAD'):
            self.check_writable()

    async def run_blocking(self, operation, target, func, *args, connection_errors=(), **kwargs):
        """Flower's helper: ``func(*args, **kwargs)`` through the app's bounded runner, off the IOLoop. A
        connection failure (or one of ``connection_errors``) answers 503 ``Broker or result backend
        unavailable``, any other failure 500 (see :mod:`flower.utils.blocking`)."""
        return await self.application.blocking_runner.run(
            operation, target, func, *args, connection_errors=connection_errors, **kwargs
        )

    def check_writable(self):
        if self.application.options.read_only:
            raise tornado.web.HTTPError(403, READ_ONLY_MESSAGE)

    def deny(self):
        # API clients get a status, not a login redirect or a browser challenge
        raise tornado.web.HTTPError(401, 'Access denied')

    #: the operation's contract (:class:`flower.api.spec.Endpoint`): its parameters parsed by :meth:`arguments`,
    #: and its entry of ``/api/openapi.json``
    endpoint: Endpoint | None = None

    def arguments(self) -> SimpleNamespace:
        """The query/form parameters :attr:`endpoint` declares, parsed and checked: ``self.arguments().limit``.
        Bounds that are server options are read from ``--max_pool_step``/``--max_pool_size`` now."""
        assert self.endpoint is not None, f'{type(self).__name__} declares no endpoint'
        return self.endpoint.parse(self, self.pool_limits)

    @property
    def pool_limits(self) -> PoolLimits:
        """``--max_pool_step`` and ``--max_pool_size``, read at request time."""
        options = self.application.options
        return PoolLimits(step=options.max_pool_step, cap=options.max_pool_size)

    def write_json(self, data) -> None:
        self.set_header('Content-Type', 'application/json; charset=UTF-8')
        self.finish(json.dumps(data, default=_json_default))


def _json_default(value):
    """Event fields are JSON already; anything else (a Worker object, a datetime) is shown as text."""
    hostname = getattr(value, 'hostname', None)
    if hostname is not None:
        return hostname
    return str(value)
