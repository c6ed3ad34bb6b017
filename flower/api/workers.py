"""``GET /api/workers``: what the workers reported to ``inspect``, and their online status.

Handlers only: the cache is :class:`flower.inspector.Inspector`'s, the status comes from
:mod:`flower.cluster`. Runs on the IOLoop thread.
"""

from __future__ import annotations

import tornado.web

from flower.api.control import ControlHandler
from flower.cluster import worker_status
from flower.views.errors import NotFound


class ListWorkers(ControlHandler):  # as in Flower (is_worker, error_reason); GET only, so never refused read-only
    async def get(self):
        refresh = self.get_typed_argument('refresh', bool, False)
        status = self.get_typed_argument('status', bool, False)
        workername = self.get_typed_argument('workername', str, None)

        if refresh:
            try:
                await self.application.update_workers(workername=workername)
            except Exception as exc:
                raise tornado.web.HTTPError(503, f'Failed to update workers: {exc}') from exc

        if status:
            self.write_json(worker_status(self.state))
            return

        workers = self.inspector.workers
        if workername:
            if workername not in workers and workername in self.state.workers and not refresh:
                # seen in events but never inspected yet: ask it now instead of answering 404
                await self.application.update_workers(workername=workername)
            if workername not in workers:
                raise NotFound(f"Unknown worker '{workername}'")
            self.write_json({workername: workers[workername]})
            return
        self.write_json(dict(workers))
