"""Cluster-wide facts over the events state and the inspector cache: worker records, status and offline purge.

These are the answers the workers page (:func:`flower.views.workers.worker_rows`), ``/api/workers?status=1``,
``/metrics`` and the diagnosis share, kept in one place so they agree. Worker records are celery ``Worker`` objects whose fields come straight from events or from a
database an older version wrote, so every field is read through :mod:`flower.utils.values`
(:func:`worker_fields`, :func:`is_alive`): a value that can't be used shows as unknown for that worker
instead of failing the answer. Runs on the IOLoop thread.
"""

from __future__ import annotations

import time
from typing import Iterable

from celery.events.state import HEARTBEAT_EXPIRE_WINDOW, Worker

from flower.events.state import EventsState
from flower.utils import values

WORKER_FIELDS = Worker._fields
DEFAULT_FREQ = 60.0  # celery's Worker default, for a worker whose heartbeat frequency is unknown

# how each Worker field is read
_READERS = {
    'hostname': values.label,
    'pid': values.count,
    'freq': values.number,
    'clock': values.count,
    'active': values.count,
    'processed': values.count,
    'loadavg': values.numbers,
    'sw_ident': values.text,
    'sw_ver': values.text,
    'sw_sys': values.text,
}


def heartbeats(worker: Worker) -> list[float]:
    """The worker's heartbeat times (numbers only, oldest first)."""
    beats = getattr(worker, 'heartbeats', None)
    if type(beats) is list and all(type(beat) is float or type(beat) is int for beat in beats):
        return beats
    if beats:
        values.unreadable('worker heartbeats', beats)
        return (
            [beat for beat in beats if values.number(beat, 'a worker heartbeat') is not None]
            if isinstance(beats, (list, tuple))
            else []
        )
    return []


def worker_fields(worker: Worker) -> dict:
    """Celery's Worker fields (``WORKER_FIELDS``) of ``worker``, each usable or None."""
    fields = {name: read(getattr(worker, name, None), f'worker {name}') for name, read in _READERS.items()}
    fields['heartbeats'] = list(heartbeats(worker))
    return {name: fields[name] for name in WORKER_FIELDS}


def is_alive(worker: Worker, now: float | None = None) -> bool:
    """celery's ``Worker.alive`` (a heartbeat within ``freq`` times the expiry window), for any record: an
    unusable frequency counts as celery's default."""
    beats = heartbeats(worker)
    if not beats:
        return False
    freq = values.number(getattr(worker, 'freq', None), 'worker freq')
    if freq is None or freq <= 0:
        freq = DEFAULT_FREQ
    now = time.time() if now is None else now
    return now < beats[-1] + freq * (HEARTBEAT_EXPIRE_WINDOW / 1e2)


def last_seen(worker: Worker) -> float | None:
    """The newest sign of life from a worker: its last heartbeat, or else its last event's time."""
    beats = heartbeats(worker)
    if beats:
        return beats[-1]
    stamp = getattr(worker, 'local_received', None) or getattr(worker, 'timestamp', None)
    return values.number(stamp, 'worker timestamp')


def is_purged(worker: Worker | None, threshold: int | None, now: float | None = None) -> bool:
    """True when ``--purge_offline_workers`` hides this worker: offline and silent for ``threshold``
    seconds (or never heard from at all)."""
    if threshold is None:
        return False
    if worker is None:
        return True
    if is_alive(worker):
        return False
    seen = last_seen(worker)
    now = time.time() if now is None else now
    return seen is None or now - seen > threshold


def worker_status(state: EventsState) -> dict[str, bool]:
    """``{hostname: alive}`` for every worker in the events state."""
    return {values.label(hostname, 'a worker hostname'): is_alive(worker) for hostname, worker in state.workers.items()}


def offline_workers(state: EventsState, inspected: Iterable[str], threshold: int, now: float | None = None) -> set[str]:
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
    silent = [
        hostname
        for hostname, value in metrics.online.items()
        if value and (worker := workers.get(hostname)) is not None and heartbeats(worker) and not is_alive(worker)
    ]
    for hostname in silent:
        metrics.set_online(hostname, False)
    return silent
