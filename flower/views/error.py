"""The catch-all 404 page (public, so unknown URLs do not ask for credentials first)."""

from __future__ import annotations

from flower.views import BaseHandler
from flower.views.errors import NotFound


class NotFoundErrorHandler(BaseHandler):
    public = True

    def get(self, *args, **kwargs):
        raise NotFound('Error, page not found')

    post = get
