"""``GET /api/diagnosis``: what is wrong between the broker, the workers and this server, with the fix.

Handler only: the findings come from :func:`flower.diagnosis.diagnose` (through ``Flower.diagnosis``), the same
object the workers and tasks pages render. Runs on the IOLoop thread.
"""

from __future__ import annotations

from flower.api import BaseApiHandler
from flower.api.spec import Endpoint, json_response, ref


class GetDiagnosis(BaseApiHandler):
    endpoint = Endpoint(
        '/api/diagnosis',
        'What is wrong between the broker, the workers and this server',
        'diagnosis',
        tag='meta',
        description='The "why is this empty?" answer the workers and tasks pages show: the broker cannot be '
        'reached (with the cause), no event arrived since the server started, workers run tasks but '
        'send no task events (started without `-E`), or workers\' clocks disagree with the '
        "server's. Each finding says how to fix it. `ok` is true and `findings` empty when nothing "
        'is wrong.',
        responses={'200': json_response('The findings, most fundamental first.', ref('Diagnosis'))},
    )

    def get(self):
        self.write_json(self.application.diagnosis().as_json())
