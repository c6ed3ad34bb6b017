"""Keeps the demo folder's disk use bounded, however long the demo runs.

What grows in the folder, and the rule for each (applied by :meth:`Janitor.sweep`, once a second):

* **Messages nobody will take.** kombu's filesystem transport writes one file per message and per bound queue
  and never unbinds a queue whose consumer went away (an event receiver that reconnected, a broadcast reply
  queue nobody reads any more, the mailbox of a worker that died). Every live consumer in the demo lists the
  folder ten times a second, so a message of any queue but the task queues that is older than
  ``stale_after`` (60 s) has no reader: it is deleted.
* **Half-written or half-read messages** (``.tmp``, ``.claimed``; see :mod:`flower.demo.transport`) left by a
  process that died mid-way: deleted once older than ``stale_after``.
* **Task messages** (queues ``celery`` and ``reports``) are bounded by the producer, which pauses while
  1000 of them wait.
* **Results** (Celery's ``file://`` backend, one file per task) are deleted ``result_ttl`` (5 min) after
  they were written. Flower shows results from the events anyway; the files serve the result API.
* **Logs** are rotated at ``log_cap`` (1 MB): a worker's ``.log`` is renamed to ``.log.1`` (replacing the
  previous one; Celery's ``WatchedFileHandler`` reopens the path), captured stdout/stderr (``.out``) is
  emptied. At most 2 MB per process.
* **The budget.** If messages and results together still take more than ``budget`` bytes of disk (counted
  in allocated blocks: a 300-byte event file takes 4 KB), the oldest results, then the oldest messages (task
  messages last), are deleted until they take at most 90% of it.

So the folder holds at most ``budget`` + 2 MB of logs per process + what the demo writes between two sweeps
(one second). Deleting a file a consumer is about to take is harmless: the demo's transport skips a message
file that vanished between listing and reading.

Runs on the ``flower demo`` process's housekeeping thread only (:class:`flower.demo.cluster.DemoCluster`);
it touches nothing outside the demo folder.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from flower.demo.layout import CLAIMED_SUFFIX, STAGING_SUFFIX, TASK_QUEUES, Layout, queue_of

logger = logging.getLogger(__name__)

MB = 1024 * 1024
STALE_AFTER = 60.0
RESULT_TTL = 300.0
LOG_CAP = 1 * MB
SWEEP_INTERVAL = 1.0
BUDGET_LOW_WATER = 0.9


def disk_usage(stat: os.stat_result) -> int:
    """Bytes a file takes on disk (whole blocks), or its length where blocks are not reported."""
    blocks = getattr(stat, 'st_blocks', None)
    return blocks * 512 if blocks is not None else stat.st_size


@dataclass
class SweepReport:
    stale_messages: int = 0
    expired_results: int = 0
    over_budget_results: int = 0
    over_budget_messages: int = 0
    rotated_logs: int = 0
    bytes_before: int = 0  # messages + results, before the budget rule
    bytes_after: int = 0


class Janitor:
    def __init__(
        self,
        layout: Layout,
        budget: int,
        stale_after: float = STALE_AFTER,
        result_ttl: float = RESULT_TTL,
        log_cap: int = LOG_CAP,
        clock=time.time,
    ):
        self.layout = layout
        self.budget = budget
        self.stale_after = stale_after
        self.result_ttl = result_ttl
        self.log_cap = log_cap
        self.clock = clock
        # Result files seen so far, oldest first: name -> (mtime, bytes). Kept between sweeps so that only
        # new files are stat()ed; a folder of tens of thousands of results costs one listing a sweep.
        self._results: dict[str, tuple[float, int]] = {}
        self._last_budget_log = 0.0

    def sweep(self) -> SweepReport:
        report = SweepReport()
        now = self.clock()
        messages = self._sweep_messages(now, report)
        self._sweep_results(now, report)
        self._rotate_logs(report)
        self._enforce_budget(messages, report)
        return report

    # -- the rules -----------------------------------------------------------------------------------------
    def _sweep_messages(self, now: float, report: SweepReport) -> list[tuple[float, int, str, bool]]:
        """Delete stale messages of queues other than the task queues; return the others as
        ``(mtime, bytes, path, is_task)``."""
        kept: list[tuple[float, int, str, bool]] = []
        cutoff = now - self.stale_after
        try:
            entries = list(os.scandir(self.layout.data))
        except FileNotFoundError:
            return kept
        for entry in entries:
            queue = queue_of(entry.name)
            if queue is None:
                if entry.name.endswith((CLAIMED_SUFFIX, STAGING_SUFFIX)):
                    self._remove_if_stale(entry, cutoff, report)
                continue
            try:
                stat = entry.stat()
            except FileNotFoundError:  # taken by a consumer meanwhile
                continue
            is_task = queue in TASK_QUEUES
            if not is_task and stat.st_mtime < cutoff:
                if _remove(entry.path):
                    report.stale_messages += 1
                continue
            kept.append((stat.st_mtime, disk_usage(stat), entry.path, is_task))
        return kept

    @staticmethod
    def _remove_if_stale(entry: os.DirEntry, cutoff: float, report: SweepReport) -> None:
        """A message being written or read (see :mod:`flower.demo.transport`) lives a few milliseconds under
        these names; one this old was left by a process that died mid-way."""
        try:
            if entry.stat().st_mtime < cutoff and _remove(entry.path):
                report.stale_messages += 1
        except FileNotFoundError:
            pass

    def _sweep_results(self, now: float, report: SweepReport) -> None:
        try:
            names = os.listdir(self.layout.results)
        except FileNotFoundError:
            return
        present = set(names)
        for gone in [name for name in self._results if name not in present]:
            del self._results[gone]
        new = []
        for name in names:
            if name in self._results:
                continue
            try:
                stat = os.stat(os.path.join(self.layout.results, name))
            except FileNotFoundError:
                continue
            new.append((stat.st_mtime, name, disk_usage(stat)))
        for mtime, name, size in sorted(new):
            self._results[name] = (mtime, size)
        cutoff = now - self.result_ttl
        for name, (mtime, _size) in list(self._results.items()):
            if mtime >= cutoff:
                break  # oldest first: the rest are younger (up to a sweep's worth of disorder)
            del self._results[name]
            if _remove(os.path.join(self.layout.results, name)):
                report.expired_results += 1

    def _rotate_logs(self, report: SweepReport) -> None:
        try:
            entries = list(os.scandir(self.layout.logs))
        except FileNotFoundError:
            return
        for entry in entries:
            try:
                size = entry.stat().st_size
            except FileNotFoundError:
                continue
            if size <= self.log_cap:
                continue
            try:
                if entry.name.endswith('.log'):
                    os.replace(entry.path, entry.path + '.1')
                elif entry.name.endswith('.out'):
                    # opened for appending by the child: emptying it in place keeps its file descriptor valid
                    os.truncate(entry.path, 0)
                else:  # an old ``.log.1`` still being written to until the writer notices the rename
                    continue
                report.rotated_logs += 1
            except OSError as exc:
                logger.warning('Could not rotate %s: %s', entry.path, exc)

    def _enforce_budget(self, messages: list[tuple[float, int, str, bool]], report: SweepReport) -> None:
        used = sum(size for _, size, _, _ in messages) + sum(size for _, size in self._results.values())
        report.bytes_before = used
        if used > self.budget:
            target = int(self.budget * BUDGET_LOW_WATER)
            for name, (_mtime, size) in list(self._results.items()):
                if used <= target:
                    break
                del self._results[name]
                if _remove(os.path.join(self.layout.results, name)):
                    report.over_budget_results += 1
                used -= size
            # other queues' messages before task messages, oldest first within each
            for _mtime, size, path, _is_task in sorted(messages, key=lambda m: (m[3], m[0])):
                if used <= target:
                    break
                if _remove(path):
                    report.over_budget_messages += 1
                used -= size
            now = time.monotonic()
            if now - self._last_budget_log > 60:
                self._last_budget_log = now
                logger.info(
                    'Demo folder at its budget of %.0f MB: removed the oldest %d results and %d messages '
                    '(this message is shown at most once a minute)',
                    self.budget / MB,
                    report.over_budget_results,
                    report.over_budget_messages,
                )
        report.bytes_after = used


def _remove(path: str | Path) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
