"""``--max_task_age``: forgetting tasks whose last event is older than a given age.

The task store is ordered by last update, which follows event time closely, so expiring walks from the
oldest task and stops at the first one that is young enough: O(expired) per run, not a scan of every task.
A task whose times are unknown is skipped, not dropped. At most ``max_per_run`` tasks go per run, so a
large first expiry (after raising the age limit's strictness) is spread over several IOLoop turns.

Tasks leave through the store's public ``pop`` (which keeps its indexes right); subscribers of ``on_expired``
hear which ids went (the saver deletes them from the file). Runs on the IOLoop thread only.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from flower.persistence.rows import last_event_time
from flower.utils.signals import Signal

if TYPE_CHECKING:
    from tornado.ioloop import PeriodicCallback

logger = logging.getLogger(__name__)


class TaskRetention:
    max_per_run = 5000
    max_skipped = 1000  # tasks without times passed over per run before giving up until the next run

    def __init__(self, state, max_age: float):
        self.state = state
        self.max_age = float(max_age)
        self.on_expired: Signal[[list]] = Signal('TaskRetention.on_expired')
        self.expired_total = 0
        self._timer: PeriodicCallback | None = None

    @property
    def period_ms(self) -> float:
        """How often to look: a tenth of the age, between one second and one minute."""
        return min(max(self.max_age / 10.0, 1.0), 60.0) * 1000.0

    def cutoff(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.max_age

    def expire(self, now: float | None = None) -> list[str]:
        """Drop the tasks whose last event is older than the age limit; returns their ids."""
        cutoff = self.cutoff(now)
        doomed: list[str] = []
        skipped = 0
        for task in self.state.tasks.oldest_first():
            seen = last_event_time(task)
            if seen is None:
                skipped += 1
                if skipped > self.max_skipped:
                    break
                continue
            if seen >= cutoff or len(doomed) >= self.max_per_run:
                break
            doomed.append(task.uuid)
        if not doomed:
            return doomed
        tasks = self.state.tasks
        for uuid in doomed:
            tasks.pop(uuid)  # the change logs hear of the removal through the store
        self.expired_total += len(doomed)
        logger.debug('Forgot %d tasks older than --max_task_age', len(doomed))
        self.on_expired.emit(doomed)
        return doomed

    def _expire_on_timer(self) -> None:
        self.expire()  # the timer's callback returns nothing (tornado would await an awaitable result)

    def start(self) -> None:
        """Expire periodically on the current IOLoop (call on the IOLoop thread)."""
        from tornado.ioloop import PeriodicCallback

        if self._timer is None:
            self._timer = PeriodicCallback(self._expire_on_timer, self.period_ms)
            self._timer.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
