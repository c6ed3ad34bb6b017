"""Validating and normalising Celery events before they are applied (runtime rule 8).

Anything that can publish on the event channel can send anything, so :func:`check_event` makes every field the
server uses sane before :class:`~flower.events.state.EventsState` applies the event, or says why it can't:

=========================  ============================================================  ======================
Field                      Must be                                                       Otherwise
=========================  ============================================================  ======================
``type``                   text of at most ``IDENTIFIER_MAX`` characters                 skipped: bad_type
``hostname``               the same (required for ``worker-*`` events)                   skipped: bad_hostname
``uuid``                   the same, not empty (required for ``task-*`` events)          skipped: bad_uuid
``name``                   the same                                                      skipped: bad_name
``timestamp``              seconds since the epoch, within ``TIMESTAMP_PAST`` before and  milliseconds (above
                           ``TIMESTAMP_AHEAD`` after the time it was received            ``MILLISECONDS_ABOVE``)
                                                                                         are divided by 1000;
                                                                                         anything else is
                                                                                         replaced by the
                                                                                         receive time
``utcoffset``              hours, a number in [-14, 14]                                  dropped
``clock`` ``pid``          whole numbers in [0, 2**53)                                    dropped
``active`` ``processed``
``retries``
``freq``                   seconds, a number in (0, ``FREQ_MAX``]                         dropped
``runtime``                seconds, a number in [0, ``RUNTIME_MAX``]                      dropped
``loadavg``                a list of at most 3 numbers                                   dropped
``state`` ``parent_id``    text of at most ``IDENTIFIER_MAX`` characters                 dropped
``root_id`` ``exchange``
``routing_key`` ``client``
``queue`` ``sw_*``
``args`` ``kwargs``        text (celery sends reprs)                                     any other value is
``result`` ``exception``                                                                 converted with
``traceback`` ``eta``                                                                    ``repr()`` (a JSON
``expires``                                                                              list or number from a
                                                                                         non-Python client
                                                                                         stays readable)
=========================  ============================================================  ======================

``None`` is accepted wherever a field is optional (it means "not sent"), except in the numbers of a worker
event (a worker record computes with them: dropped, the record keeps its value). Numbers are never booleans and must be
finite. On ``worker-*`` events every field is copied onto celery's ``Worker`` record, so fields whose names are
the record's own attributes (``event``, ``heartbeats``, ``alive``, ``update``, anything starting with ``_``) are
dropped. An event that can't be made sane is skipped whole, never half-applied.

Speed: this runs for every event (hot path, see ``bench/sanitize_speed.py``). Well-typed events cost one
``type(x) is T`` test and, for bounded fields, one comparison per field; only a field that fails it goes
through the slower rules below.

:class:`EventQuality` counts what was skipped (``flower_events_rejected_total{reason}``) and what was repaired
(``flower_events_repaired_total{reason}``) and logs a rate-limited line per reason.

Plain Python, used on the IOLoop thread only.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter

from celery.events.state import Worker

logger = logging.getLogger(__name__)

IDENTIFIER_MAX = 512  # characters of a type, hostname, uuid, task name, routing key, ...
TIMESTAMP_PAST = 366 * 86400.0  # seconds before the receive time a timestamp may be (a slow clock)
TIMESTAMP_AHEAD = 86400.0  # seconds after it (a fast clock, a wrong utcoffset)
MILLISECONDS_ABOVE = 1e11  # a "timestamp" above this (the year 5138) is taken to be in milliseconds
UTCOFFSET_MAX = 14  # hours; UTC-12 .. UTC+14 are the zones there are
FREQ_MAX = 86400.0  # seconds between heartbeats
RUNTIME_MAX = 1e9  # seconds a task ran (31 years)
COUNT_MAX = 2**53  # whole numbers stay exact in JSON and fit SQLite's integers
LOADAVG_MAX = 3

# why an event was skipped (the ``reason`` label of flower_events_rejected_total)
UNDECODABLE = 'undecodable'  # the message could not be decoded (counted by the receiver)
NOT_AN_EVENT = 'not_an_event'  # the body (or an item of a task-multi list) is not an event object
BAD_TYPE = 'bad_type'
BAD_HOSTNAME = 'bad_hostname'
BAD_UUID = 'bad_uuid'
BAD_NAME = 'bad_name'
INTERNAL_ERROR = 'internal_error'  # applying it raised: a bug of ours, the event is skipped
REJECT_REASONS = (UNDECODABLE, NOT_AN_EVENT, BAD_TYPE, BAD_HOSTNAME, BAD_UUID, BAD_NAME, INTERNAL_ERROR)

# what was repaired in an event that was applied (the ``reason`` label of flower_events_repaired_total)
TIMESTAMP_MILLISECONDS = 'timestamp_milliseconds'  # divided by 1000
TIMESTAMP_REPLACED = 'timestamp_replaced'  # absurd: replaced by the receive time
FIELD_DROPPED = 'field_dropped'  # a field of the wrong type or out of range was left out
TEXT_CONVERTED = 'text_converted'  # a text field that was not text, converted with repr()
REPAIR_REASONS = (TIMESTAMP_MILLISECONDS, TIMESTAMP_REPLACED, FIELD_DROPPED, TEXT_CONVERTED)

_DROP = DROP = object()  # a rule's answer for a value that can't be kept
_NoneType = type(None)


# -- rules for one value: return the value to keep, or _DROP ------------------------------------------------
def identifier(value):
    if value is None or (type(value) is str and len(value) <= IDENTIFIER_MAX):
        return value
    return _DROP


def text(value):
    if value is None or type(value) is str:
        return value
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a value repr() can't show (too deep) is left out
        return _DROP


def count(value):
    if type(value) is int and 0 <= value < COUNT_MAX:
        return value
    return _DROP


def _number_in(low: float, high: float, low_open: bool = False):
    def rule(value):
        if (type(value) is float or type(value) is int) and low <= value <= high and not (low_open and value == low):
            return value
        return _DROP

    rule.__name__ = f'number_in_{low:g}_{high:g}'
    return rule


def loadavg(value):
    if type(value) is list or type(value) is tuple:
        if len(value) <= LOADAVG_MAX and all((type(v) is float or type(v) is int) and math.isfinite(v) for v in value):
            return value if type(value) is list else list(value)
    return _DROP


utcoffset = _number_in(-UTCOFFSET_MAX, UTCOFFSET_MAX)
freq = _number_in(0.0, FREQ_MAX, low_open=True)
runtime = _number_in(0.0, RUNTIME_MAX)

#: field -> rule. Fields not listed are not used by the server and are left as they are (on task events) or
#: copied onto the worker record (on worker events, unless they name one of its attributes).
FIELD_RULES = {
    'type': identifier,
    'hostname': identifier,
    'uuid': identifier,
    'name': identifier,
    'state': identifier,
    'parent_id': identifier,
    'root_id': identifier,
    'routing_key': identifier,
    'exchange': identifier,
    'client': identifier,
    'queue': identifier,
    'sw_ident': identifier,
    'sw_ver': identifier,
    'sw_sys': identifier,
    'args': text,
    'kwargs': text,
    'result': text,
    'exception': text,
    'traceback': text,
    'eta': text,
    'expires': text,
    'clock': count,
    'pid': count,
    'active': count,
    'processed': count,
    'retries': count,
    'utcoffset': utcoffset,
    'freq': freq,
    'runtime': runtime,
    'loadavg': loadavg,
}
#: identity fields: an event whose one of these fails its rule is skipped, for this reason
REJECTED_WHEN_BAD = {'type': BAD_TYPE, 'hostname': BAD_HOSTNAME, 'uuid': BAD_UUID, 'name': BAD_NAME}

# fields a task record copies that are checked as they are copied (see copied_value)
TASK_IDENTIFIERS = frozenset({'parent_id', 'root_id', 'routing_key', 'exchange', 'client'})
_WORKER_ATTRIBUTES = frozenset(name for name in dir(Worker) if name not in Worker._fields) | {'event', 'heartbeats'}


def check_event(event: dict, group: str, local_received: float, repairs: Counter) -> str | None:
    """Make ``event`` sane in place; returns None when it can be applied, else why it must be skipped (one of
    :data:`REJECT_REASONS`). ``group`` is what comes before the first ``-`` of its type (``task``,
    ``worker``); the type itself (text of at most ``IDENTIFIER_MAX`` characters, else bad_type) was checked by
    the caller, which needed it to find the group. What was repaired is counted in ``repairs``.

    Each test is ordered for the well-formed case: one ``type(x) is T`` test and a comparison, and only a
    value that fails them takes the slower path."""
    get = event.get
    hostname = get('hostname')
    if type(hostname) is not str or len(hostname) > IDENTIFIER_MAX:
        if hostname is not None or group == 'worker':
            return BAD_HOSTNAME
    timestamp = get('timestamp')
    if (
        type(timestamp) is not float
        or not local_received - TIMESTAMP_PAST <= timestamp <= local_received + TIMESTAMP_AHEAD
    ):
        if timestamp is not None:
            _fix_timestamp(event, timestamp, local_received, repairs)
    offset = get('utcoffset')
    if type(offset) is not int or not -UTCOFFSET_MAX <= offset <= UTCOFFSET_MAX:
        if offset is not None:
            _apply_rule(event, 'utcoffset', offset, repairs)
    clock = get('clock')
    if type(clock) is not int or not 0 <= clock < COUNT_MAX:
        if clock is not None:
            del event['clock']
            repairs[FIELD_DROPPED] += 1
    if group == 'task':
        uuid = get('uuid')
        if type(uuid) is not str or not uuid or len(uuid) > IDENTIFIER_MAX:
            return BAD_UUID
        name = get('name')
        if name is not None and (type(name) is not str or len(name) > IDENTIFIER_MAX):
            return BAD_NAME
        retries = get('retries')
        if retries is not None and not (type(retries) is int and 0 <= retries < COUNT_MAX):
            _apply_rule(event, 'retries', retries, repairs)
        value = get('runtime')
        if value is not None and not (type(value) is float and 0.0 <= value <= RUNTIME_MAX):
            _apply_rule(event, 'runtime', value, repairs)
        # The text and identifier fields a task record copies are checked as they are copied
        # (copied_value, called by flower.events.task.apply_task_event): that loop has each value in hand,
        # so a well-formed field costs one type test there instead of a lookup here.
    elif group == 'worker':
        if not hostname:
            return BAD_HOSTNAME
        _check_worker_fields(event, repairs)
    return None


def copied_value(key: str, value, repairs: Counter | None):
    """The value of task field ``key`` to keep when it is not text, or too long for an identifier (the rare
    path of the task record's copy loop), or :data:`DROP`. Numbers (``retries``, ``runtime``) were checked by
    :func:`check_event` and are kept."""
    rule = FIELD_RULES.get(key)
    if rule is None or rule is count or rule is runtime:
        return value
    kept = rule(value)
    if kept is not value and repairs is not None:
        repairs[FIELD_DROPPED if kept is _DROP else TEXT_CONVERTED] += 1
    return kept


def _fix_timestamp(event: dict, timestamp, local_received: float, repairs: Counter) -> None:
    """The slow path for a timestamp that is not a float within the window."""
    if type(timestamp) is float or type(timestamp) is int:
        if local_received - TIMESTAMP_PAST <= timestamp <= local_received + TIMESTAMP_AHEAD:
            return  # whole seconds: fine
        if timestamp > MILLISECONDS_ABOVE:
            seconds = timestamp / 1000.0
            if local_received - TIMESTAMP_PAST <= seconds <= local_received + TIMESTAMP_AHEAD:
                event['timestamp'] = seconds
                repairs[TIMESTAMP_MILLISECONDS] += 1
                return
    event['timestamp'] = local_received
    repairs[TIMESTAMP_REPLACED] += 1


def _apply_rule(event: dict, key: str, value, repairs: Counter) -> None:
    kept = FIELD_RULES[key](value)
    if kept is _DROP:
        del event[key]
        repairs[FIELD_DROPPED] += 1
    elif kept is not value:
        event[key] = kept
        repairs[TEXT_CONVERTED if FIELD_RULES[key] is text else FIELD_DROPPED] += 1


def _check_worker_fields(event: dict, repairs: Counter) -> None:
    """Worker events are rare (a heartbeat every two seconds per worker): every field goes through its rule
    (a number that is None is dropped too: the record keeps its previous value), and fields that would
    overwrite the worker record's own attributes are dropped."""
    for key in [key for key in event if type(key) is not str or key in _WORKER_ATTRIBUTES or key.startswith('_')]:
        del event[key]
        repairs[FIELD_DROPPED] += 1
    for key, value in list(event.items()):
        rule = FIELD_RULES.get(key)
        if rule is not None and rule(value) is not value:  # numbers may not be None here: celery's
            # Worker computes with freq, and None means nothing a worker record can use
            _apply_rule(event, key, value, repairs)


class EventQuality:
    """Counts of skipped events by reason and of repairs, with a log line per reason at most once a
    ``log_interval`` (naming the event type and sending host of the latest one, and the count since the last
    line)."""

    log_interval = 60.0

    def __init__(self, clock=time.monotonic):
        self.rejected: Counter = Counter({reason: 0 for reason in REJECT_REASONS})
        self.repaired: Counter = Counter({reason: 0 for reason in REPAIR_REASONS})
        self._clock = clock
        self._last_log: dict[str, float] = {}
        self._since_log: Counter = Counter()

    def reject(self, reason: str, event=None, detail: str = '', exc_info: bool = False) -> None:
        self.rejected[reason] += 1
        self._since_log[reason] += 1
        now = self._clock()
        last = self._last_log.get(reason)
        if last is not None and now - last < self.log_interval:
            return
        self._last_log[reason] = now
        count, self._since_log[reason] = self._since_log[reason], 0
        type_, host = _describe(event)
        logger.warning(
            'Skipped an event (%s%s): type %s from host %s; %d skipped for this reason since the last such message',
            reason,
            f': {detail}' if detail else '',
            type_,
            host,
            count,
            exc_info=exc_info,
        )


def _describe(event) -> tuple[str, str]:
    """The type and host of a (possibly malformed) event, for a log line: short and printable."""
    if event is None:
        return '?', '?'
    if not isinstance(event, dict):
        return f'<{type(event).__name__}>', '?'
    return _short(event.get('type')), _short(event.get('hostname'))


def _short(value, limit: int = 80) -> str:
    shown = value if isinstance(value, str) else repr(value)
    return ascii(shown[:limit] + ('…' if len(shown) > limit else ''))
