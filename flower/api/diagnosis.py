"""``GET /api/diagnosis``: what is wrong between the broker, the workers and this server, with the fix.

Handler only: the findings come from :func:`flower.diagnosis.diagnose` (through ``Flower.diagnosis``), the same
object the workers and tasks pages render. Runs on the IOLoop thread.
"""

from __future__ import annotations

from flower.api import BaseApiHandler


class GetDiagnosis(BaseApiHandler):
    def get(self):
        self.write_json(self.application.diagnosis().as_json())
