"""Which task was sent again as which (``/api/task/retry``), so both task pages link to each other.

A retry is a new task with a new id; nothing in its events says where it came from, so the server remembers
the pair when it sends it. The links are bounded (``--max_tasks`` pairs, oldest forgotten first) and live in
memory only: after a restart the two tasks are still there, unlinked. Written and read on the IOLoop thread only
(the retry handler and the pages).
"""

from __future__ import annotations

from collections import OrderedDict


class RetryLinks:
    def __init__(self, max_links: int = 10000):
        self.max_links = max(1, int(max_links or 10000))
        self._retry_of: OrderedDict[str, str] = OrderedDict()  # new id -> original id
        self._retried_as: dict[str, list[str]] = {}  # original id -> new ids, oldest first

    def record(self, original: str, new: str) -> None:
        self._retry_of[new] = original
        self._retried_as.setdefault(original, []).append(new)
        while len(self._retry_of) > self.max_links:
            old_new, old_original = self._retry_of.popitem(last=False)
            others = self._retried_as.get(old_original)
            if others is not None:
                if old_new in others:
                    others.remove(old_new)
                if not others:
                    del self._retried_as[old_original]

    def retry_of(self, task_id: str) -> str | None:
        """The task ``task_id`` was sent again from, or None."""
        return self._retry_of.get(task_id)

    def retried_as(self, task_id: str) -> list[str]:
        """The tasks ``task_id`` was sent again as, oldest first."""
        return list(self._retried_as.get(task_id, ()))

    def __len__(self) -> int:
        return len(self._retry_of)
