"""Cluster-wide views over the events state and the inspector cache: worker rows, status and offline purge.

These are the answers the workers page, ``/api/workers?status=1`` and ``/metrics`` share, kept in one place
so they agree. Runs on the IOLoop thread.
"""

from __future__ import annotations

import time
from typing import Iterable

from celery.events.state import Worker

from flower.events.state import EventsState

WORKER_FIELDS = Worker._fields


def last_seen(worker: Worker) -> float | None:
    """The newest sign of life from a worker: its last heartbeat, or else its last event's time."""
    if worker.heartbeats:
        return worker.heartbeats[-1]
    stamp = getattr(worker, 'local_received', None) or getattr(worker, 'timestamp', None)
    return stamp if isinstance(stamp, (int, float)) else None


def is_purged(worker: Worker | None, threshold: int | None, now: float | None = None) -> bool:
    """True when ``--purge_offline_workers`` hides this worker: offline and silent for ``threshold``
    seconds (or never heard from at all)."""
    if threshold is None:
        return False
    if worker is None:
        return True
    if worker.alive:
        return False
    seen = last_seen(worker)
    now = time.time() if now is None else now
    return seen is None or now - seen > threshold


def worker_rows(state: EventsState, threshold: int | None = None, now: float | None = None) -> list[dict]:
    """Rows for the workers table / ``?json=1``: each worker known both from events and counters, with its
    event counters, the celery Worker fields and ``status`` (alive). Purged workers are left out."""
    rows = []
    counter = state.counter
    for hostname, worker in state.workers.items():
        counts = counter.get(hostname)
        if counts is None or is_purged(worker, threshold, now):
            continue
        row = dict(counts)
        for field in WORKER_FIELDS:
            row[field] = getattr(worker, field, None)
        row['heartbeats'] = list(worker.heartbeats)
        row['status'] = worker.alive
        rows.append(row)
    return rows


def worker_status(state: EventsState) -> dict[str, bool]:
    """``{hostname: alive}`` for every worker in the events state."""
    return {hostname: worker.alive for hostname, worker in state.workers.items()}


def offline_workers(state: EventsState, inspected: Iterable[str], threshold: int,
                    now: float | None = None) -> set[str]:
    """Workers whose metrics ``/metrics`` should drop: known anywhere (events, counters, metrics, the
    inspector) but unknown to the events state, or offline for longer than ``threshold`` seconds."""
    candidates = set(state.counter) | set(state.workers.keys()) | set(inspected) | state.metrics.workers()
    return {name for name in candidates if is_purged(state.workers.get(name), threshold, now)}


def expire_silent_workers(state: EventsState) -> list[str]:
    """Set ``flower_worker_online`` to 0 for workers whose heartbeats stopped without a ``worker-offline``
    event (killed, or their machine lost), so the gauge agrees with the workers page. Flower keeps such a
    worker at 1 forever, and an alert on ``flower_worker_online == 0`` never fires for it. A heartbeat that
    arrives later sets it back to 1. Returns the workers it changed."""
    metrics = state.metrics
    workers = state.workers
    silent = [hostname for hostname, value in metrics.online.items()
              if value and (worker := workers.get(hostname)) is not None and worker.heartbeats and not worker.alive]
    for hostname in silent:
        metrics.set_online(hostname, False)
    return silent
