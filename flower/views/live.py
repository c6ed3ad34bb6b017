"""The live-update channel, ``/live``: a WebSocket the dashboards subscribe to (docs/live-updates.md).

Thin: the handshake is authenticated exactly as the pages are (:meth:`BaseHandler.prepare`; refused with 401/403,
never redirected to a login page), a cross-origin handshake is refused with 403 (a browser sends the user's
cookies and Basic credentials with a WebSocket to any site, so without this another site could read the
dashboards through the user's session), and every message is handed to the application's
:class:`~flower.live.LiveHub`, which decides what each page is sent and when.

What the pages are and how they are rendered is :mod:`flower.views.live_pages`.

Runs on the IOLoop thread.
"""

from __future__ import annotations

import logging

import tornado.web
import tornado.websocket

from flower.identity import is_cross_origin
from flower.live import MAX_MESSAGE_BYTES, BadWatch, LiveHub, decode_message
from flower.views import BaseHandler
from flower.views.live_pages import LivePages

logger = logging.getLogger(__name__)

PING_INTERVAL = 25.0  # seconds: keeps proxies from closing a quiet channel and finds dead peers


class LiveChannel(tornado.websocket.WebSocketHandler, BaseHandler):
    """``/live``. The client sends ``{"type": "watch", "seq": n, "page": ...}`` (see :class:`LivePages`) whenever
    what it shows changes; the server sends ``{"type": "update", "seq": n, "t": ..., "view": ..., "data": ...}``
    for the latest ``seq`` at most every half second. A message that is not a valid watch closes
    the connection with 1008 and says why (binary, not JSON, not one flat object, nested, a bad field); one over
    16 KiB is closed by tornado with 1009 before it is read; a client that stops reading is closed with 1013."""

    @property
    def hub(self) -> LiveHub:
        return self.application.live

    @property
    def ping_interval(self) -> float | None:
        return self.settings.get('websocket_ping_interval', PING_INTERVAL)

    @property
    def ping_timeout(self) -> float | None:
        return self.settings.get('websocket_ping_timeout', self.ping_interval)

    @property
    def max_message_size(self) -> int:
        # tornado closes a longer message with 1009 before reading it
        return MAX_MESSAGE_BYTES

    def deny(self):
        # a script cannot follow a login redirect or answer a Basic challenge for a WebSocket: just refuse
        raise tornado.web.HTTPError(401 if self.identity.basic_enabled else 403, 'Access denied')

    def check_origin(self, origin: str) -> bool:
        # tornado asks only about handshakes that look cross-origin to it (Origin's host differs from Host). The
        # pages' own rule decides, which also knows the proxy's X-Forwarded-Host under --xheaders, so a proxy
        # that rewrites Host does not cut the dashboards off their live updates.
        headers = self.request.headers
        if not is_cross_origin(origin, headers.get('Sec-Fetch-Site'), self.own_hosts()):
            return True
        logger.info('Refused a live-update connection from another origin: %.200s', origin)
        return False

    def open(self):
        if self.hub.connect(self) is None:
            self.close(1013, 'Too many live-update clients; try again later')

    def on_message(self, message):
        try:
            self.hub.watch(self, decode_message(message))
        except BadWatch as exc:
            logger.debug('Closed a live-update connection: not a watch message: %s', exc)
            self.close(1008, _reason(f'Not a watch message: {exc}'))

    def on_close(self):
        self.hub.disconnect(self)

    # -- what the hub calls ---------------------------------------------------------------------------------
    def send(self, text: str):
        try:
            return self.write_message(text)
        except tornado.websocket.WebSocketClosedError:
            return None

    def drop(self, reason: str) -> None:
        self.close(1013, _reason(reason))


def _reason(text: str) -> str:
    # a close frame's reason is at most 123 bytes of UTF-8
    return text.encode('utf-8')[:123].decode('utf-8', 'ignore')


PageShapes = LivePages  # the name the composition root knows the hub's pages by (flower.app)
