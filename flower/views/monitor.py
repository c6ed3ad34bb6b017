"""``/metrics`` for Prometheus and ``/healthcheck`` for load balancers: both public, both cheap.

Neither touches the broker: the health check answers as long as the IOLoop does, and the metrics are rendered
from numbers kept up to date by the events (see :mod:`flower.metrics`). Runs on the IOLoop thread.
"""

from __future__ import annotations

from flower.cluster import expire_silent_workers, offline_workers
from flower.metrics import CONTENT_TYPE
from flower.views import BaseHandler


class Metrics(BaseHandler):
    public = True

    def get(self):
        app = self.application
        threshold = app.options.purge_offline_workers
        metrics = self.state.metrics
        expire_silent_workers(self.state)
        if threshold is not None:
            metrics.forget_workers(offline_workers(self.state, app.inspector.workers.keys(), threshold))
        self.set_header('Content-Type', CONTENT_TYPE)
        self.write(metrics.render())


class Healthcheck(BaseHandler):
    public = True

    def get(self):
        self.write('OK')
