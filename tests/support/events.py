"""Realistic Celery event dicts for feeding a state directly (the shapes celery 5 workers send)."""

from __future__ import annotations

import itertools
import time
import uuid as uuidlib

_clock = itertools.count(1)


def event(type_: str, hostname: str = 'worker1@host', timestamp: float | None = None, **fields) -> dict:
    data = {
        'type': type_,
        'hostname': hostname,
        'timestamp': time.time() if timestamp is None else timestamp,
        'utcoffset': 0,
        'pid': 4242,
        'clock': next(_clock),
    }
    data.update(fields)
    return data


def task_events(
    name: str = 'tasks.add',
    hostname: str = 'worker1@host',
    args: str = '(2, 2)',
    kwargs: str = '{}',
    result: str = '4',
    uuid: str | None = None,
    start: float | None = None,
    outcome: str = 'succeeded',
    runtime: float = 0.25,
    **received_fields,
) -> list[dict]:
    """received -> started -> succeeded|failed for one task, timestamps one millisecond apart."""
    uuid = uuid or str(uuidlib.uuid4())
    t = time.time() if start is None else start
    events = [
        event(
            'task-received',
            hostname,
            t,
            uuid=uuid,
            name=name,
            args=args,
            kwargs=kwargs,
            retries=0,
            eta=None,
            expires=None,
            root_id=uuid,
            parent_id=None,
            **received_fields,
        ),
        event('task-started', hostname, t + 0.001, uuid=uuid),
    ]
    if outcome == 'succeeded':
        events.append(event('task-succeeded', hostname, t + 0.002, uuid=uuid, result=result, runtime=runtime))
    elif outcome == 'failed':
        events.append(
            event(
                'task-failed',
                hostname,
                t + 0.002,
                uuid=uuid,
                exception="ValueError('boom')",
                traceback='Traceback (most recent call last):\nValueError: boom',
            )
        )
    return events


def worker_online(hostname: str = 'worker1@host', **fields) -> dict:
    """``fields`` override the usual ones (``freq=None`` sends a null frequency)."""
    return event(
        'worker-online',
        hostname,
        **{'freq': 2.0, 'sw_ident': 'py-celery', 'sw_ver': '5.7.0', 'sw_sys': 'Linux', **fields},
    )


def heartbeat(hostname: str = 'worker1@host', active: int = 0, processed: int = 0, **fields) -> dict:
    """``fields`` override the usual ones (``loadavg='x'`` sends a malformed load average)."""
    return event(
        'worker-heartbeat',
        hostname,
        **{
            'freq': 2.0,
            'active': active,
            'processed': processed,
            'loadavg': [0.1, 0.2, 0.3],
            'sw_ident': 'py-celery',
            'sw_ver': '5.7.0',
            'sw_sys': 'Linux',
            **fields,
        },
    )
