"""The in-memory record of one task, built from its events.

A :class:`Task` is a celery ``Task`` (so ``isinstance`` checks and ``format_task`` hooks written for Flower keep
working) laid out in slots: it keeps the fields Flower shows and nothing else, which is what makes 100k tasks
fit in a small fraction of Flower's memory. Celery's task object stores every field of every event in a
per-task ``__dict__`` and a ``WeakSet`` of children; ours stores the known fields only, and children as a
short list of ids.

Records are created and changed only on the IOLoop thread (by :class:`flower.events.state.EventsState`).
"""

from __future__ import annotations

import re

from celery import states
from celery.events.state import Task as CeleryTask

from flower.events.sanitize import DROP, IDENTIFIER_MAX, TASK_IDENTIFIERS, copied_value

# Which event sets which timestamp field and which state it means.
EVENT_STATE = {
    'sent': states.PENDING,
    'received': states.RECEIVED,
    'started': states.STARTED,
    'failed': states.FAILURE,
    'retried': states.RETRY,
    'succeeded': states.SUCCESS,
    'revoked': states.REVOKED,
    'rejected': states.REJECTED,
}

# The fields of a task as the API shows them (celery 5's ``Task._fields``, in the same order).
FIELDS = CeleryTask._fields

# Fields an event may set directly on the record. ``uuid``, ``state``, ``worker``, ``clock``,
# ``timestamp`` and the relations are managed by the state, not copied from events.
COPIED_FIELDS = frozenset(
    {
        'name',
        'args',
        'kwargs',
        'eta',
        'expires',
        'retries',
        'result',
        'exception',
        'runtime',
        'traceback',
        'exchange',
        'routing_key',
        'root_id',
        'parent_id',
        'client',
    }
)

# Fields that survive from an event that logically precedes the task's current state (for example a
# ``task-received`` that arrives after ``task-succeeded``): the same rule as celery's ``merge_rules``.
RECEIVED_MERGE_FIELDS = frozenset({'name', 'args', 'kwargs', 'parent_id', 'root_id', 'retries', 'eta', 'expires'})

# Text fields that can be large; they are cut to ``--task_args_max_length`` in memory.
TEXT_FIELDS = ('args', 'kwargs', 'result', 'exception')
TRACEBACK_MAX_LENGTH = 65536
# the texts that may be cut (by Celery before sending, or here): the API says so in ``truncated``
TRUNCATABLE_FIELDS = (*TEXT_FIELDS, 'traceback')

# revoked_pending: when this server revoked the task, until its worker reports an end (not one of celery's
# fields: the API shows it only while set, as an extra field)
_SLOTS = tuple(f for f in FIELDS if f not in ('root', 'parent')) + ('seq', '_store', 'revoked_pending')


# What Celery's ``saferepr`` leaves at the end of an argument list it shortened to its ``argsrepr``/``kwargsrepr``
# limit (1024 characters by default): a text or an item cut to ``...``, then the closing quotes and brackets.
_CELERY_CUT_TAIL = re.compile(r"\.\.\.(?:['\"]|, \.\.\.)?[\s,)\]}]*$")
# The marker :func:`truncate_text` appends; the value before it is what was kept.
_MARKER = re.compile(r'… \[truncated: ([\d,]+) characters in all(, already cut by Celery)?\]$')


# Celery shortens a repr only past its limit (``argsrepr_maxsize``, 1024 by default); a shorter text that ends in
# ``...`` is a value that does (``'Loading...'``).
CELERY_REPR_LIMIT = 1024


def cut_by_celery(text) -> bool:
    """Whether ``text`` (a repr as an event carried it) ends as Celery's ``saferepr`` ends a repr it shortened
    to its limit. The same rule is behind the retry refusal (:func:`flower.control.literal_from_repr`)."""
    return isinstance(text, str) and len(text) >= CELERY_REPR_LIMIT and _CELERY_CUT_TAIL.search(text[-40:]) is not None


def truncate_text(value, limit: int):
    """``value`` cut to ``limit`` characters with a marker saying how long it was when received and whether
    Celery had already shortened it (known only here, before its end is cut off)."""
    if limit and isinstance(value, str) and len(value) > limit:
        celery = ', already cut by Celery' if cut_by_celery(value) else ''
        return f'{value[:limit]}… [truncated: {len(value):,} characters in all{celery}]'
    return value


def is_truncated(value) -> bool:
    return isinstance(value, str) and _MARKER.search(value[-80:]) is not None


def truncation(value) -> tuple[str, dict | None]:
    """``value`` as it was kept (without the marker) and, when it is not whole, how it was cut:
    ``{'kept': characters kept, 'by': 'server' | 'celery', 'received': characters the server received}``
    (``received`` only when the server cut it). ``by`` is who lost the rest first: Celery when the task was
    sent (its ``argsrepr`` limit), else this server (``--task_args_max_length``)."""
    if not isinstance(value, str):
        return value, None
    match = _MARKER.search(value[-80:])
    if match is not None:
        kept = value[: len(value) - len(match.group(0))]
        return kept, {
            'kept': len(kept),
            'by': 'celery' if match.group(2) else 'server',
            'received': int(match.group(1).replace(',', '')),
        }
    if cut_by_celery(value):
        return value, {'kept': len(value), 'by': 'celery'}
    return value, None


class Task(CeleryTask):
    """One task's fields. ``worker`` is the celery ``Worker`` that last reported on it."""

    __slots__ = _SLOTS

    def __init__(self, uuid=None, cluster_state=None, children=None, **fields):  # noqa: D401 - celery's signature
        self.uuid = uuid
        self.name = self.received = self.sent = self.started = self.rejected = None
        self.succeeded = self.failed = self.retried = self.revoked = None
        self.args = self.kwargs = self.eta = self.expires = self.retries = None
        self.worker = self.result = self.exception = self.timestamp = self.runtime = None
        self.traceback = self.exchange = self.routing_key = self.client = None
        self.root_id = self.parent_id = self.revoked_pending = None
        self.state = states.PENDING
        self.clock = 0
        self.children = list(children) if children else None
        self.seq = 0
        self._store = cluster_state
        for key, value in fields.items():
            if key in _SLOTS:
                setattr(self, key, value)

    # celery's Task keeps a per-instance dict of serializer callbacks; we need none.
    def as_dict(self) -> dict:
        """Every field in celery's order; ``root``/``parent`` are ids, ``children`` a list of ids."""
        data = {}
        for key in FIELDS:
            if key == 'root':
                data[key] = self.root_id
            elif key == 'parent':
                data[key] = self.parent_id
            elif key == 'children':
                data[key] = list(self.children) if self.children else []
            else:
                data[key] = getattr(self, key)
        return data

    def __reduce__(self):
        fields = self.as_dict()
        if self.revoked_pending is not None:  # copies (format_task's) keep it
            fields['revoked_pending'] = self.revoked_pending
        return _rebuild_task, (self.__class__, fields)

    @property
    def parent(self):
        return self._lookup(self.parent_id)

    @property
    def root(self):
        return self._lookup(self.root_id)

    def _lookup(self, uuid):
        if uuid and self._store is not None:
            return self._store.tasks.get(uuid)
        return None

    def event(
        self, type_, timestamp=None, local_received=None, fields=None, precedence=states.precedence, RETRY=states.RETRY
    ):
        """Merge one event into the record (celery's ordering rules; see :mod:`flower.events.state`)."""
        apply_task_event(self, type_, timestamp, fields or {}, 0)

    def __repr__(self):
        return f'<Task: {self.name}({self.uuid}) {self.state} clock:{self.clock}>'


def _rebuild_task(cls, fields):
    fields = dict(fields)
    fields.pop('root', None)
    fields.pop('parent', None)
    return cls(**fields)


def apply_task_event(
    task: Task,
    subject: str,
    timestamp,
    event: dict,
    limit: int,
    repairs=None,
    precedence=states.precedence,
    RETRY=states.RETRY,
    copied=COPIED_FIELDS,
    merge_fields=RECEIVED_MERGE_FIELDS,
    event_state=EVENT_STATE.get,
) -> None:
    """Merge the fields of a ``task-<subject>`` event into ``task``.

    The rule, from celery: an event whose state logically happens before the task's current state (a late
    ``task-started`` after ``task-succeeded``) does not change the state; a late ``task-received`` only
    contributes the fields that only it carries (name, args, ...). RETRY is never treated as out of order,
    because a retried task goes through RECEIVED/STARTED again.

    Text fields that are not text and identifiers that are too long are repaired as they are copied
    (:func:`flower.events.sanitize.copied_value`; ``repairs`` counts them); everything else in ``event`` was
    checked before (:func:`flower.events.sanitize.check_event`).
    """
    state = event_state(subject)
    if state is not None:
        setattr(task, subject, timestamp)
    else:
        state = subject.upper()  # a custom task event: its name is its state
    current = task.state
    if state != RETRY and current != RETRY and precedence(state) > precedence(current):
        keep = merge_fields if state == states.RECEIVED else copied
        new_state = False
    else:
        keep = copied
        new_state = True
    for key in event.keys() & keep:
        value = event[key]
        if type(value) is not str:
            if value is not None:
                value = copied_value(key, value, repairs)
                if value is DROP:
                    continue
        elif key in TASK_IDENTIFIERS and len(value) > IDENTIFIER_MAX:
            copied_value(key, value, repairs)
            continue
        if limit and key in TEXT_FIELDS:
            value = truncate_text(value, limit)
        elif key == 'traceback':
            value = truncate_text(value, TRACEBACK_MAX_LENGTH)
        setattr(task, key, value)
    if new_state:
        task.state = state
        task.timestamp = timestamp
