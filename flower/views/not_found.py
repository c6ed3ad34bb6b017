"""The catch-all 404 page (public, so unknown URLs do not ask for credentials first), and the redirect from the
``--url_prefix`` without its trailing slash to the dashboard. Runs on the IOLoop thread."""

from __future__ import annotations

import tornado.web

from flower.views import BaseHandler
from flower.views.error_status import NotFound


class NotFoundErrorHandler(BaseHandler):
    public = True

    def get(self, *args, **kwargs):
        raise NotFound('Error, page not found')

    post = get


class PrefixRedirect(tornado.web.RedirectHandler):
    """``/<prefix>`` -> ``/<prefix>/``: the address people type (or a proxy passes on) under ``--url_prefix``.
    Public: it tells nothing the redirect target does not ask credentials for."""

    public = True
