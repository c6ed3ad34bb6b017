"""``GET /api/workers``: what the workers reported to ``inspect``, and their online status.

Handlers only: the cache is :class:`flower.inspector.Inspector`'s, the status comes from
:mod:`flower.cluster`. Runs on the IOLoop thread.
"""

from __future__ import annotations

import tornado.web

from flower.api.control import ControlHandler
from flower.api.spec import Endpoint, Param, json_response, ref, text_response
from flower.cluster import worker_status
from flower.views.error_status import NotFound


class ListWorkers(ControlHandler):  # as in Flower (is_worker, error_reason); GET only, so never refused read-only
    endpoint = Endpoint(
        '/api/workers',
        'Workers and what they reported to inspect',
        'listWorkers',
        tag='workers',
        params=(
            Param('refresh', 'Ask the workers again before answering.', bool, default=False),
            Param(
                'status',
                'Answer `{"<worker>": <online>}` for every worker seen in events instead.',
                bool,
                default=False,
            ),
            Param('workername', 'Only this worker.'),
        ),
        responses={
            '200': json_response(
                'Inspect data by worker (or online status by worker with `status`).',
                {'type': 'object', 'additionalProperties': {'anyOf': [ref('WorkerInfo'), {'type': 'boolean'}]}},
            ),
            '400': text_response('A parameter is invalid.'),
            '404': text_response("Unknown worker: `Unknown worker '<name>'`."),
            '503': text_response('The workers could not be asked (`Failed to update workers: ...`).'),
        },
    )

    async def get(self):
        args = self.arguments()
        refresh, status, workername = args.refresh, args.status, args.workername

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
