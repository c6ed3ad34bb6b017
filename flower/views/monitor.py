"""``/metrics`` for Prometheus and ``/healthcheck`` for load balancers: both public, both cheap.

Neither touches the broker: the health check answers as long as the IOLoop does (liveness, as Flower), and
with ``?ready=1`` says whether the event stream is connected (readiness, from
:class:`flower.events.stream_health.StreamHealth`, which the events thread keeps up to date); the metrics are
rendered from numbers kept up to date by the events (see :mod:`flower.metrics`). Runs on the IOLoop thread.
"""

from __future__ import annotations

import tornado.web

from flower.cluster import expire_silent_workers
from flower.metrics import CONTENT_TYPE
from flower.views import BaseHandler
from flower.views.error_render import TEXT


class Metrics(BaseHandler):
    public = True
    error_format = TEXT  # a scraper reads text, not the HTML error page

    def get(self):
        expire_silent_workers(self.state)
        self.application.purge_offline_worker_metrics()
        self.set_header('Content-Type', CONTENT_TYPE)
        self.write(self.state.metrics.render())


# the values ``/healthcheck?ready=`` accepts (documented as an enum in flower/api/openapi.py)
READY_VALUES = {'1': True, 'true': True, 'yes': True, '0': False, 'false': False, 'no': False}


class Healthcheck(BaseHandler):
    """``OK`` while the server runs; with ``?ready=1``, 503 and the reason while the event stream is down."""

    public = True
    error_format = TEXT  # probes read text, not the HTML error page

    def get(self):
        raw = self.get_argument('ready', None, strip=False)  # exactly the documented values
        if raw is not None and raw not in READY_VALUES:
            raise tornado.web.HTTPError(
                400, f"Invalid argument '{raw}' for 'ready': expected one of {', '.join(READY_VALUES)}"
            )
        health = getattr(self.events, 'health', None)  # an ``events=`` object of the user's may not have it
        if raw is None or not READY_VALUES[raw] or health is None:
            self.write('OK')
            return
        ready, answer = health.readiness()
        if not ready:
            self.set_status(503)
            self.set_header('Content-Type', 'text/plain; charset=UTF-8')
        self.write(answer)
