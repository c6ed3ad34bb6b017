"""Turning tasks and workers into database rows and back.

Two halves, for two threads:

* ``snapshot_*`` run on the IOLoop thread while a save is collected. They only read attributes into tuples
  (``operator.attrgetter`` does it in C), so collecting the ~1,000 tasks that change per second costs about a
  millisecond. Tuples and the strings in them are immutable, so the writer thread can encode them later
  without racing the IOLoop.
* ``encode_*`` (writer thread) and ``task_from_row``/``worker_from_row`` (start-up) do the slower work: JSON,
  type normalisation, ``last_event_at``.

Values SQLite cannot store are made storable rather than refused, because one refused value would fail the
whole save: a list or dict (in a field that celery normally sends as text) is stored as JSON text, an integer
beyond SQLite's 64 bits as its decimal text, and a string that is not valid UTF-8 (lone surrogates, as in a
traceback of a file name decoded with ``surrogateescape``) with those characters escaped. They come back as
that text.
"""

from __future__ import annotations

import json
from operator import attrgetter
from typing import Any

from celery.events.state import Worker

from flower.events.task import Task
from flower.persistence.schema import TASK_FIELDS, TASK_TIME_FIELDS

_task_fields = attrgetter(*TASK_FIELDS)
_FIELDS_AFTER_UUID = TASK_FIELDS[1:]
_TIME_INDEXES = tuple(TASK_FIELDS.index(name) for name in TASK_TIME_FIELDS)
_WORKER_SLOTS = frozenset(Worker._fields) | {'event'}

TaskSnapshot = tuple  # (seq, worker hostname, children tuple or None, TASK_FIELDS values)
WorkerSnapshot = tuple  # (seq, hostname, pid, freq, heartbeats, clock, active, processed, loadavg, sw_*, extra)


# -- IOLoop thread -----------------------------------------------------------------------------------------


def snapshot_task(seq: int, task: Task) -> TaskSnapshot:
    worker = task.worker
    children = task.children
    return (
        seq,
        worker.hostname if worker is not None else None,
        tuple(children) if children else None,
        _task_fields(task),
    )


def snapshot_worker(seq: int, worker: Worker) -> WorkerSnapshot:
    loadavg = worker.loadavg
    extra = getattr(worker, '__dict__', None) or {}
    return (
        seq,
        worker.hostname,
        worker.pid,
        worker.freq,
        tuple(worker.heartbeats),
        worker.clock,
        worker.active,
        worker.processed,
        tuple(loadavg) if isinstance(loadavg, (list, tuple)) else loadavg,
        worker.sw_ident,
        worker.sw_ver,
        worker.sw_sys,
        dict(extra),
    )


def last_event_time(task: Task) -> float | None:
    """The newest event time recorded on a task (what ``--max_task_age`` measures), or None."""
    newest = None
    for name in TASK_TIME_FIELDS:
        value = getattr(task, name)
        if type(value) in (float, int) and (newest is None or value > newest):
            newest = value
    return newest


# -- writer thread -----------------------------------------------------------------------------------------

_INT64_LIMIT = 1 << 63


def _valid_text(text: str) -> str:
    try:
        text.encode('utf-8')
        return text
    except UnicodeEncodeError:
        return text.encode('utf-8', 'backslashreplace').decode('utf-8')


def _storable(value: Any) -> Any:
    if value is None or isinstance(value, (float, bytes)):
        return value
    if isinstance(value, str):
        return value if value.isascii() else _valid_text(value)
    if isinstance(value, int):  # bool too
        return value if -_INT64_LIMIT <= value < _INT64_LIMIT else str(value)
    return _valid_text(json.dumps(value, default=repr, ensure_ascii=False))


def encode_task(snapshot: TaskSnapshot) -> tuple:
    """Parameters for ``INSERT`` in :data:`~flower.persistence.schema.TASK_COLUMNS` order."""
    seq, worker, children, fields = snapshot
    newest = None
    for index in _TIME_INDEXES:
        value = fields[index]
        if type(value) in (float, int) and (newest is None or value > newest):
            newest = value
    return (
        seq,
        newest,
        worker,
        json.dumps(children) if children else None,
        *[
            value
            if value is None or (kind := type(value)) is float or (kind is str and value.isascii())
            else _storable(value)
            for value in fields
        ],
    )


def encode_worker(snapshot: WorkerSnapshot) -> tuple:
    """Parameters for ``INSERT`` in :data:`~flower.persistence.schema.WORKER_COLUMNS` order."""
    (seq, hostname, pid, freq, heartbeats, clock, active, processed, loadavg, sw_ident, sw_ver, sw_sys, extra) = (
        snapshot
    )
    last_seen = heartbeats[-1] if heartbeats else None
    if last_seen is None:
        stamp = extra.get('local_received') or extra.get('timestamp')
        last_seen = stamp if isinstance(stamp, (int, float)) else None
    extra = {key: value for key, value in extra.items() if key not in _WORKER_SLOTS}
    return (
        seq,
        last_seen,
        _storable(hostname),
        _storable(pid),
        _storable(freq),
        json.dumps(list(heartbeats)),
        _storable(clock),
        _storable(active),
        _storable(processed),
        json.dumps(list(loadavg)) if isinstance(loadavg, tuple) else _storable(loadavg),
        _storable(sw_ident),
        _storable(sw_ver),
        _storable(sw_sys),
        _valid_text(json.dumps(extra, default=repr, ensure_ascii=False)),
    )


# -- start-up ----------------------------------------------------------------------------------------------


def worker_from_row(row: tuple) -> Worker:
    """A celery ``Worker`` from a row in ``hostname, pid, freq, heartbeats, clock, active, processed,
    loadavg, sw_ident, sw_ver, sw_sys, extra`` order."""
    hostname, pid, freq, heartbeats, clock, active, processed, loadavg, sw_ident, sw_ver, sw_sys, extra = row
    # heartbeats go through the constructor: the worker's event handler keeps a reference to that very list
    worker = Worker(
        hostname,
        pid,
        freq if isinstance(freq, (int, float)) else 60,
        _json_list(heartbeats),
        clock or 0,
        active,
        processed,
        _json_value(loadavg),
        sw_ident,
        sw_ver,
        sw_sys,
    )
    for key, value in _json_dict(extra).items():
        if key not in _WORKER_SLOTS and key != 'heartbeats':
            setattr(worker, key, value)
    return worker


def task_from_row(state, worker: Worker | None, children: str | None, fields: tuple) -> Task:
    """A task record from a row's ``children`` and :data:`TASK_FIELDS` values; ``worker`` already resolved."""
    task = Task(fields[0], state, children=_json_list(children) or None)
    for name, value in zip(_FIELDS_AFTER_UUID, fields[1:]):
        if value is not None:  # None is every field's default already
            setattr(task, name, value)
    task.worker = worker
    return task


def _json_value(text):
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _json_list(text) -> list:
    value = _json_value(text)
    return list(value) if isinstance(value, list) else []


def _json_dict(text) -> dict:
    value = _json_value(text)
    return value if isinstance(value, dict) else {}
