"""The layout of the ``--persistent`` database file: tables, columns, version marks.

This is a contract with operators (``docs/persistence.md`` shows it and how to query it with the ``sqlite3``
shell) and with later versions of this server, so it changes only together with :data:`SCHEMA_VERSION` and a
migration in :func:`flower.persistence.database.ensure_schema`.

A file is recognised as ours by SQLite's header fields: ``PRAGMA application_id`` is :data:`APPLICATION_ID`
and ``PRAGMA user_version`` the schema version. Plain data, no I/O; used by whichever thread opens the file.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

# 'Flwr' in ASCII: marks the file as this server's in the SQLite header (``file`` shows it too).
APPLICATION_ID = 0x466C7772

# Task columns copied from the in-memory record one to one, in this order. ``worker`` (the hostname),
# ``children`` (JSON list of ids), ``seq`` and ``last_event_at`` are filled separately.
TASK_FIELDS = (
    'uuid',
    'name',
    'state',
    'received',
    'sent',
    'started',
    'rejected',
    'succeeded',
    'failed',
    'retried',
    'revoked',
    'timestamp',
    'args',
    'kwargs',
    'result',
    'exception',
    'traceback',
    'eta',
    'expires',
    'retries',
    'runtime',
    'exchange',
    'routing_key',
    'clock',
    'client',
    'root_id',
    'parent_id',
)
TASK_COLUMNS = ('seq', 'last_event_at', 'worker', 'children') + TASK_FIELDS

# Event times of a task; the newest of them is its ``last_event_at`` (what --max_task_age measures).
TASK_TIME_FIELDS = ('timestamp', 'sent', 'received', 'started', 'succeeded', 'failed', 'retried', 'revoked', 'rejected')

# celery ``Worker`` fields kept as columns; everything else the worker's events set goes to ``extra``.
WORKER_FIELDS = (
    'hostname',
    'pid',
    'freq',
    'heartbeats',
    'clock',
    'active',
    'processed',
    'loadavg',
    'sw_ident',
    'sw_ver',
    'sw_sys',
)
WORKER_COLUMNS = ('seq', 'last_seen') + WORKER_FIELDS + ('extra',)

# Created in one transaction together with the version marks, so a file is either complete or empty.
CREATE_STATEMENTS = (
    """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value
)""",
    """
CREATE TABLE tasks (
    uuid          TEXT PRIMARY KEY,
    seq           INTEGER NOT NULL,  -- update order: a larger seq was updated more recently
    last_event_at REAL,              -- newest event time of the task (unix seconds), what --max_task_age measures
    worker        TEXT,              -- hostname of the worker that last reported on the task
    children      TEXT,              -- JSON list of child task ids, or NULL
    name TEXT, state TEXT,
    received REAL, sent REAL, started REAL, rejected REAL, succeeded REAL, failed REAL, retried REAL,
    revoked REAL, timestamp REAL,
    args, kwargs, result, exception, traceback,
    eta, expires, retries, runtime REAL, exchange, routing_key, clock INTEGER, client, root_id, parent_id
)""",
    'CREATE INDEX tasks_by_seq ON tasks (seq)',
    'CREATE INDEX tasks_by_last_event_at ON tasks (last_event_at)',
    """
CREATE TABLE workers (
    hostname   TEXT PRIMARY KEY,
    seq        INTEGER NOT NULL,     -- update order, as for tasks
    last_seen  REAL,                 -- last heartbeat, or else last event time (unix seconds)
    pid, freq REAL,
    heartbeats TEXT,                 -- JSON list of the last heartbeat times
    clock INTEGER, active, processed,
    loadavg    TEXT,                 -- JSON list
    sw_ident, sw_ver, sw_sys,
    extra      TEXT                  -- JSON object: the other fields the worker's events carried
)""",
    """
CREATE TABLE counters (
    hostname   TEXT NOT NULL,
    event_type TEXT NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (hostname, event_type)
) WITHOUT ROWID""",
)

OUR_TABLES = frozenset({'meta', 'tasks', 'workers', 'counters'})
