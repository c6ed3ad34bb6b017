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

Runs on the IOLoop thread.
"""

from __future__ import annotations

from typing import Mapping

import tornado.web

CONTENT_SECURITY_POLICY = '; '.join([
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
])


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
