"""The security headers every response carries, whichever handler wrote it.

Pages, API answers, errors, redirects, static files and a user's own handlers all get:

* ``X-Content-Type-Options: nosniff``: a task result served as text is never sniffed into HTML or script;
* ``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'``: no other site can frame the dashboard and
  trick a click on Shut Down;
* ``Referrer-Policy: same-origin``: task ids and searches in our URLs do not leak to other sites;
* a ``Content-Security-Policy`` that allows scripts only from this server (``script-src 'self'``, no
  'unsafe-inline'): if some event text ever slipped into a page as markup, it still could not run. The pages
  keep to it: no inline scripts, no inline event handlers, no inline style attributes.

Applied by a tornado ``OutputTransform`` (registered with ``Application.add_transform``): the hook that sees the
headers of every response, including those of handlers that are not :class:`flower.views.BaseHandler`. A header
a handler set itself is kept. An embedding application can pass its own policy in the
``content_security_policy`` setting (``None`` leaves the header out).

It also owns the answer to a request whose ``Host`` is not in ``--allowed_hosts``
(:mod:`flower.utils.hosts` decides which names pass): :meth:`flower.app.Flower.find_handler` hands such a request,
whatever its route, to :func:`host_refusal` of the route's handler class, which answers 400 through that
handler family's own error format (an HTML page, or text for the API and static files, written by
:mod:`flower.views.error_render` as every error is) before anything else runs: no
authentication, no XSRF check, no WebSocket upgrade, no static file.

Runs on the IOLoop thread.
"""

from __future__ import annotations

import logging
from typing import Mapping

import tornado.web

from flower.views import BaseHandler
from flower.views.error_render import PAGE

logger = logging.getLogger(__name__)

REFUSED_HOSTS_LOGGED = 100  # distinct refused names worth a warning each; after that only debug lines

CONTENT_SECURITY_POLICY = '; '.join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # Bootstrap draws its small icons as data: SVGs
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def security_headers(content_security_policy: str | None = CONTENT_SECURITY_POLICY) -> dict[str, str]:
    headers = {
        'X-Content-Type-Options': 'nosniff',
        'X-Frame-Options': 'DENY',
        'Referrer-Policy': 'same-origin',
    }
    if content_security_policy:
        headers['Content-Security-Policy'] = content_security_policy
    return headers


class SecurityHeaders(tornado.web.OutputTransform):
    """Adds :attr:`headers` to the first chunk of every response (see :func:`security_headers_transform`)."""

    headers: Mapping[str, str] = security_headers()

    def transform_first_chunk(self, status_code, headers, chunk, finishing):
        for name, value in self.headers.items():
            if name not in headers:
                headers[name] = value
        return status_code, headers, chunk


def security_headers_transform(settings: Mapping) -> type[SecurityHeaders]:
    """The transform class for an application's settings (its ``content_security_policy``, if given)."""
    policy = settings.get('content_security_policy', CONTENT_SECURITY_POLICY)
    return type('SecurityHeaders', (SecurityHeaders,), {'headers': security_headers(policy)})


class RefuseHost:
    """Mixed in front of a handler family (see :func:`host_refusal`): every method answers 400."""

    public = True
    SUPPORTED_METHODS = ('GET', 'HEAD', 'POST', 'DELETE', 'PATCH', 'PUT', 'OPTIONS')

    def initialize(self, **kwargs):
        pass  # the route's own arguments (a static path, ...) are not needed to refuse

    def check_xsrf_cookie(self):
        pass  # the Host decides first

    def prepare(self):
        host = self.request.host
        shown = host if len(host) <= 100 else host[:100] + '...'
        note_refused(self.application, host)
        raise tornado.web.HTTPError(400, f"Host {shown!r} is not allowed on this server (see --allowed_hosts)")


def note_refused(application, host: str) -> None:
    seen = application.refused_hosts
    if host in seen or len(seen) >= REFUSED_HOSTS_LOGGED:
        logger.debug('Refused a request for Host %.100r', host)
        return
    seen.add(host)
    logger.warning(
        'Refused a request for Host %.100r: not in the allowed host names (%s). A proxy in front of '
        'Flower under that name needs --allowed_hosts; anything else may be a DNS-rebinding '
        'attempt.',
        host,
        application.allowed_hosts.description,
    )


_REFUSALS: dict[tuple[type, str], type] = {}


def host_refusal(handler_class: type) -> type:
    """The refusing handler for a route served by ``handler_class``: its error family (the nearest class of
    flower's own that says how it writes errors, e.g. ``BaseApiHandler`` for the API) with :class:`RefuseHost`
    in front, writing the 400 in the route's ``error_format`` (see :mod:`flower.views.error_render`: a page, the
    API's text, text for /metrics and static files)."""
    family = BaseHandler
    if isinstance(handler_class, type) and issubclass(handler_class, BaseHandler):
        family = next(
            cls
            for cls in handler_class.__mro__
            if issubclass(cls, BaseHandler)
            and ('write_error' in vars(cls) or 'error_format' in vars(cls))
            and cls.__module__.startswith('flower.')
        )
    error_format = getattr(handler_class, 'error_format', PAGE)
    refusal = _REFUSALS.get((family, error_format))
    if refusal is None:
        refusal = _REFUSALS[family, error_format] = type(
            f'HostRefused{family.__name__}', (RefuseHost, family), {'error_format': error_format}
        )
    return refusal
