"""Why is the workers (or tasks) page empty? What is wrong between the broker, the workers and this server.

A newcomer with a wrong broker URL, or workers started without ``-E``, sees an empty page that looks exactly
like "no workers yet". :func:`diagnose` looks at what the server knows and says what is wrong, with the fix:

* ``broker_unreachable``: the event stream is not connected (:meth:`StreamHealth.readiness
  <flower.events.stream_health.StreamHealth.readiness>`), with the cause (connection refused, reset, ...).
* ``no_events``: connected, but no event at all arrived since this server started: no worker runs against this
  broker (another URL, vhost or Redis db number), or workers run without heartbeats and task events.
* ``no_task_events``: a worker's heartbeats say it ran tasks since this server first saw it, but this server
  never received a task event from it: it runs without ``-E`` (``worker_send_task_events``) and this server
  does not turn events on (``--enable_events=false``). The heartbeat's ``processed`` count, compared with its
  value when the worker was first seen (``processed_at_first_sight``, set by the events state), is what tells
  this apart from an idle worker or from tasks run before this server listened.
* ``clock_skew``: a worker's last event was stamped more than :data:`SKEW_LIMIT` seconds away from when this
  server received it: its clock (or this server's) is wrong, so times, runtimes and "online" are off.

The findings are plain data (:class:`Finding`); the workers and tasks pages and ``GET /api/diagnosis`` render the
same :class:`Diagnosis`. Nothing here does I/O. Runs on the IOLoop thread (it reads the events state).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Protocol

from flower.cluster import is_alive, worker_fields
from flower.events.state import EventsState
from flower.utils import values

# Celery warns about drift above 16 s (celery.events.state.HEARTBEAT_DRIFT_MAX); the delivery of an event takes
# part of that, so 15 s of difference between the stamp and the receipt is a clock that is wrong.
SKEW_LIMIT = 15.0

ERROR, WARNING = 'error', 'warning'
FINDING_CODES = ('broker_unreachable', 'no_events', 'no_task_events', 'clock_skew')


class Health(Protocol):
    """What :class:`~flower.events.stream_health.StreamHealth` offers here."""

    def readiness(self) -> tuple[bool, str]: ...


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # 'error' (nothing can be shown) or 'warning' (part of it is missing or wrong)
    title: str
    detail: str
    fix: str
    workers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Diagnosis:
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_json(self) -> dict:
        return {
            'ok': self.ok,
            'findings': [dict(asdict(finding), workers=list(finding.workers)) for finding in self.findings],
        }


def diagnose(
    state: EventsState,
    health: Health | None,
    broker: str = '',
    enable_events: bool = True,
    now: float | None = None,
    skew_limit: float = SKEW_LIMIT,
) -> Diagnosis:
    """What is wrong, most fundamental first; an empty diagnosis when nothing is. ``health`` is None when the
    events object has no stream health (a user's own ``events=``): the broker is then not judged."""
    now = time.time() if now is None else now
    where = f' ({broker})' if broker else ''
    if health is not None:
        ready, answer = health.readiness()
        if not ready:
            cause = answer.split(': ', 1)[1] if answer.startswith('NOT READY: ') else answer
            return Diagnosis(
                (
                    Finding(
                        'broker_unreachable',
                        ERROR,
                        'The broker cannot be reached',
                        f'This server cannot receive events from the broker{where}: {cause}. '
                        'Nothing on this page can update until it can.',
                        'Check the broker URL (--broker, or broker_url in the Celery app given with -A): host, port, '
                        'credentials, vhost or Redis db number; check that the broker runs and that this machine can '
                        'reach it. The server reconnects by itself as soon as the broker answers.',
                    ),
                )
            )
    if not state.event_count:
        return Diagnosis(
            (
                Finding(
                    'no_events',
                    ERROR,
                    'No events received from any worker',
                    f'This server is connected to the broker{where} but has received no event since it started, not '
                    'even a worker heartbeat.',
                    'Start a worker on the same broker URL (same vhost or Redis db number) as this server: '
                    '`celery -A proj worker -E`. A worker started with --without-heartbeat and without -E sends no '
                    'events at all.',
                ),
            )
        )
    return Diagnosis(
        tuple(
            finding
            for finding in (_silent_workers(state, enable_events, now), _skewed_workers(state, now, skew_limit))
            if finding
        )
    )


def _silent_workers(state: EventsState, enable_events: bool, now: float) -> Finding | None:
    """Workers whose heartbeats count tasks run, though none of their task events arrived."""
    silent = []
    for hostname, worker in state.workers.items():
        fields = worker_fields(worker)
        # tasks run since this server first saw the worker (or saw it restart): those run before were not ours
        # to see; a worker record restored from a database has no such mark and counts from 0
        before = values.count(getattr(worker, 'processed_at_first_sight', 0), 'worker processed') or 0
        ran = max((fields['processed'] or 0) - before, 0) + (fields['active'] or 0)
        counts: dict[str, int] = state.counter.get(hostname) or {}
        if ran and is_alive(worker, now) and not any(key.startswith('task-') for key in counts):
            silent.append(values.label(hostname, 'a worker hostname'))
    if not silent:
        return None
    silent.sort()
    also = (
        '' if enable_events else (' This server was started with --enable_events=false, so it does not turn them on.')
    )
    return Finding(
        'no_task_events',
        WARNING,
        'Workers run tasks but send no task events',
        f"{_names(silent)} {'has' if len(silent) == 1 else 'have'} run tasks (their heartbeats say so), but "
        f'this server has received no task event from {"it" if len(silent) == 1 else "them"}, so its tasks '
        f'are missing from the task list and the counts.{also}',
        'Start the workers with -E (or set worker_send_task_events = True in the Celery app), or leave this '
        "server's --enable_events on so that it turns them on. To see tasks before a worker receives them "
        '(PENDING), also set task_send_sent_event = True in the app that sends them.',
        tuple(silent),
    )


def _skewed_workers(state: EventsState, now: float, limit: float) -> Finding | None:
    """Online workers whose last event's stamp and its receipt here differ by more than ``limit`` seconds."""
    skewed = []
    for hostname, worker in state.workers.items():
        stamp = values.number(getattr(worker, 'timestamp', None), 'worker timestamp')
        received = values.number(getattr(worker, 'local_received', None), 'worker local_received')
        if stamp is None or received is None or not is_alive(worker, now):
            continue
        drift = stamp - received
        if abs(drift) > limit:
            name = values.label(hostname, 'a worker hostname')
            skewed.append((name, f"{name} ({abs(drift):,.0f} s {'ahead' if drift > 0 else 'behind'})"))
    if not skewed:
        return None
    skewed.sort()
    return Finding(
        'clock_skew',
        WARNING,
        "Workers' clocks disagree with this server's",
        f"The clock of {_names([text for _, text in skewed])} is off by more than {limit:.0f} s from this "
        "server's: task times, runtimes and whether a worker is online are wrong.",
        'Synchronise the clocks of the workers and of this server (NTP: chrony or systemd-timesyncd).',
        tuple(name for name, _ in skewed),
    )


def _names(names: list[str], shown: int = 5) -> str:
    if len(names) <= shown:
        return ', '.join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"
