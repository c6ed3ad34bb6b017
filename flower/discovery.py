"""Inspects workers as the event stream reveals them.

Flower inspects the cluster once at start-up and then only when someone asks (``refresh=1``, a worker's page).
A worker that starts later, or restarts with other queues or tasks, shows in ``/api/workers`` and on the
workers page only after a manual refresh. :class:`WorkerDiscovery` is subscribed by the composition root
(:mod:`flower.runtime`) to ``EventsState.on_node_join`` (a worker seen for the first time, or a
``worker-online``) and asks the inspector about a worker it has no reply from yet, or whose process changed
(another PID: a restart). Joins are gathered for ``delay`` seconds,
so a cluster coming up at once costs one cluster-wide refresh rather than one per worker.

IOLoop thread only: ``on_node_join`` is called while events are applied, and the inspector's cache is written
there too.
"""

from __future__ import annotations

import logging
from typing import Callable

logger = logging.getLogger(__name__)


class WorkerDiscovery:
    def __init__(
        self,
        inspector,
        call_later: Callable[[float, Callable[[], None]], object],
        delay: float = 1.0,
        cluster_threshold: int = 5,
    ):
        self.inspector = inspector
        self.call_later = call_later
        self.delay = delay
        # more new workers than this in one gathering: one refresh of all instead of one per worker
        self.cluster_threshold = cluster_threshold
        self.pending: dict[str, object] = {}  # hostname -> PID from its events (None when not known)
        self._scheduled = False

    def on_node_join(self, worker) -> None:
        hostname, pid = worker.hostname, getattr(worker, 'pid', None)
        if not self._needs_inspection(hostname, pid):
            return
        self.pending[hostname] = pid
        if not self._scheduled:
            self._scheduled = True
            self.call_later(self.delay, self.flush)

    def _needs_inspection(self, hostname: str, pid) -> bool:
        known = self.inspector.workers.get(hostname)
        if not known or 'stats' not in known:
            return True
        stats = known['stats']
        return pid is not None and isinstance(stats, dict) and stats.get('pid') not in (None, pid)

    def flush(self) -> None:
        """Start the inspections gathered since the last flush."""
        self._scheduled = False
        pending, self.pending = self.pending, {}
        # an inspection that finished meanwhile (the one at start-up, say) may have answered already
        hostnames = [hostname for hostname, pid in pending.items() if self._needs_inspection(hostname, pid)]
        if not hostnames:
            return
        if len(hostnames) > self.cluster_threshold:
            logger.debug('%d new workers: refreshing all', len(hostnames))
            self.inspector.inspect(None)
            return
        for hostname in sorted(hostnames):
            logger.debug('Inspecting %s: new or restarted', hostname)
            self.inspector.inspect(hostname)
