"""The cluster as the events describe it: workers, tasks, per-worker event counters and metrics.

:class:`EventsState` is a celery ``State`` (Flower's public class keeps its name and base) with its own
event dispatcher: compact task records in an indexed, bounded :class:`~flower.events.store.TaskStore`
instead of celery's per-task dictionaries, weak sets and O(n) time heap, and counters/metrics updated with
plain dictionary operations. Events are applied in batches (:meth:`EventsState.apply_messages`), one IOLoop
callback for many events.

Ordering rules for out-of-order and duplicate events are celery's (see :func:`~flower.events.task.apply_task_event`):
a late event never moves a task back to an earlier state, and a late ``task-received`` still fills in the
name and arguments.

Every event is checked and normalised by :func:`~flower.events.sanitize.check_event` before anything is
applied (runtime rule 8); one that can't be made sane is skipped and counted in :attr:`EventsState.quality`,
and each event is applied on its own, so an event that fails (a bug of ours) is skipped and counted as an
``internal_error`` without costing the other events of its batch.

Runtime rule 1: this object is read and written only on the IOLoop thread. The events thread never touches it;
it hands raw messages over (see :mod:`flower.events.receiver`). With ``FLOWER_THREAD_GUARD=1`` (the tests) its
writer entry points (:meth:`EventsState.apply_messages`, :meth:`EventsState.event`,
:meth:`EventsState.mark_revoked_pending`, and evictions through the task store's ``pop``/``clear``/``set_limit``)
check the thread (see :mod:`flower.utils.thread_guard`); ``thread_guard`` is ``None`` otherwise.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, OrderedDict, defaultdict
from typing import Iterable, Iterator, TypeAlias

from celery.events.state import State, Worker
from celery.states import READY_STATES
from celery.utils.time import utcoffset

from flower.events.sanitize import BAD_TYPE, IDENTIFIER_MAX, INTERNAL_ERROR, NOT_AN_EVENT, EventQuality, check_event
from flower.events.store import TaskStore, WorkerStore
from flower.events.task import Task, apply_task_event
from flower.metrics import EventMetrics
from flower.utils.signals import Signal
from flower.utils.thread_guard import new_guard
from flower.utils.values import sort_key

logger = logging.getLogger(__name__)

_REJECTED = (None, None)  # what _apply returns for an event it skipped
#: How many queue names task-sent events may add to the broker page (and the gauge's ``queue`` label).
MAX_QUEUES_SEEN = 1000
MAX_QUEUE_NAME = IDENTIFIER_MAX


class ChangeLog:
    """What changed since its reader last took it: task ids, worker hostnames, removed tasks and workers."""

    __slots__ = ('tasks', 'workers', 'removed', 'removed_workers')

    def __init__(self):
        self.tasks: set[str] = set()
        self.workers: set[str] = set()
        self.removed: set[str] = set()
        self.removed_workers: set[str] = set()

    def take(self) -> tuple[set[str], set[str], set[str]]:
        """``(changed tasks, changed workers, removed tasks)``, and start afresh (removed workers stay until
        :meth:`take_removed_workers`)."""
        changes = (self.tasks, self.workers, self.removed)
        self.tasks, self.workers, self.removed = set(), set(), set()
        return changes

    def take_removed_workers(self) -> set[str]:
        removed, self.removed_workers = self.removed_workers, set()
        return removed


class _IndexView:
    """``state.tasks_by_type[name]`` / ``state.tasks_by_worker[hostname]`` as in celery: the tasks in a bucket,
    and, called like a method, ``(uuid, task)`` pairs newest first."""

    def __init__(self, index: dict, store: TaskStore):
        self._index = index
        self._store = store

    def __getitem__(self, key) -> list[Task]:
        return list(self._index.get(key, {}).values())

    def __contains__(self, key) -> bool:
        return key in self._index

    def __iter__(self):
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def keys(self):
        return self._index.keys()

    def items(self):
        return ((key, list(bucket.values())) for key, bucket in self._index.items())

    def __call__(self, key, limit=None, reverse=True):
        bucket = self._index.get(key, {})
        order = self._store.newest_first() if reverse else self._store.oldest_first()
        count = 0
        for task in order:
            if task.uuid in bucket:
                yield task.uuid, task
                count += 1
                if limit and count >= limit:
                    return


class EventsState(State):
    """Workers, tasks and counters built from Celery events (Flower's ``flower.events.EventsState``).

    ``counter[hostname][event_type]`` counts every event by the host that sent it; ``metrics`` holds the
    Prometheus numbers; ``tasks`` is the bounded task store (``--max_tasks``); ``workers`` the bounded worker
    store (``--max_workers``). ``metrics`` is the registry given by the composition root (a private one when
    none is given); ``on_node_join`` is a :class:`~flower.utils.signals.Signal` emitted with a worker seen for the
    first time or coming online.
    """

    Task: TypeAlias = Task  # Flower's EventsState.Task (celery's State names its classes so); a type too

    def __init__(
        self,
        callback=None,
        workers=None,
        tasks=None,
        taskheap=None,
        max_workers_in_memory=5000,
        max_tasks_in_memory=10000,
        on_node_join=None,
        on_node_leave=None,
        tasks_by_type=None,
        tasks_by_worker=None,
        *,
        metrics: EventMetrics | None = None,
        text_limit: int = 0,
    ):
        store = TaskStore(max_tasks_in_memory)
        if tasks:
            store.update(tasks)
        worker_store = WorkerStore(max_workers_in_memory)
        if workers:
            worker_store.update(workers)
        super().__init__(
            callback=callback,
            workers=worker_store,
            tasks=store,
            taskheap=[],
            max_workers_in_memory=max_workers_in_memory,
            max_tasks_in_memory=max_tasks_in_memory,
            on_node_join=on_node_join,
            on_node_leave=on_node_leave,
        )
        # celery's callback, as a named subscription: the composition root subscribes the worker discovery
        # (a callback given here, as celery takes it, is the first subscriber)
        joined: Signal[[Worker]] = Signal('EventsState.on_node_join')
        if on_node_join is not None:
            joined.subscribe(on_node_join)
        self.on_node_join = joined
        self.tasks_by_type = _IndexView(store.by_name, store)
        self.tasks_by_worker = _IndexView(store.by_worker, store)
        self.counter: defaultdict[str, Counter] = defaultdict(Counter)
        self.metrics = metrics if metrics is not None else EventMetrics()
        self.quality = EventQuality()
        self.metrics.extra_labelled_counter(
            'flower_events_rejected',
            'Events skipped because they could not be made sane, by reason',
            'reason',
            lambda: self.quality.rejected,
        )
        self.metrics.extra_labelled_counter(
            'flower_events_repaired',
            'Events applied after a field was repaired (a timestamp converted or '
            'replaced, a field dropped or converted to text), by reason',
            'reason',
            lambda: self.quality.repaired,
        )
        self.text_limit = text_limit
        self._pending_children: OrderedDict[str, list[str]] = OrderedDict()
        self._canonical: dict[str, str] = {}  # one shared copy of strings many tasks carry
        # Queues named by task-sent events: a Redis broker can't list its queues, so these (with the app's
        # configuration) are the ones the broker page asks about. Bounded: the names come from events.
        self.queues_seen: set[str] = set()
        self._clock = 0
        self.last_event_time: float | None = None
        # Change logs for whoever saves or streams the state (persistence, live updates), one per reader:
        # none unless asked for, so nothing accumulates when nobody drains it.
        self.change_logs: list[ChangeLog] = []
        self._default_log: ChangeLog | None = None
        worker_store.eviction_hooks.append(self._forget_worker)
        store.eviction_hooks.append(self._task_evicted)
        # runtime rule 1, checked when FLOWER_THREAD_GUARD=1 (decided here, once: None costs one test a batch)
        self.thread_guard = store.thread_guard = new_guard('the events state')

    # celery's State keeps a heap of (clock, timestamp) tuples for time ordering; the store's update order
    # serves instead.
    def rebuild_taskheap(self, timetuple=None):
        self._taskheap[:] = []

    def _create_dispatcher(self):
        return self._dispatch_one

    def _clear_tasks(self, ready: bool = True):
        """Forget finished tasks (``ready=True``, as celery) or all of them."""
        keep = [task for task in self.tasks.values() if task.state not in READY_STATES] if ready else []
        self.tasks.clear()
        for task in keep:
            self.tasks[task.uuid] = task

    def _clear(self, ready=True):
        super()._clear(ready)
        self.counter.clear()

    # -- applying events -----------------------------------------------------------------------------------
    def event(self, event):
        """Apply one event dict (celery's API). Returns celery's ``((obj, created), subject)`` shape, or
        ``(None, None)`` for an event that was skipped."""
        if self.thread_guard is not None:
            self.thread_guard.check('EventsState.event')
        if type(event) is not dict:
            self.quality.reject(NOT_AN_EVENT, event)
            return _REJECTED
        return self._apply_one(dict(event), _received_time(event), utcoffset())

    def _dispatch_one(self, event):
        return self.event(event)

    def apply_messages(self, messages: Iterable[tuple[float, object]]) -> int:
        """Apply a batch of ``(local_received, body)`` pairs as received from the broker; a body is one event
        dict or a list of them (celery's ``task-multi`` format). Returns the number of events applied."""
        if self.thread_guard is not None:
            self.thread_guard.check('EventsState.apply_messages')
        here = utcoffset()
        apply = self._apply_one
        reject = self.quality.reject
        applied = 0
        events: tuple[dict] | list
        for local_received, body in messages:
            if type(body) is dict:
                events = (body,)
            elif type(body) is list:
                events = body
            else:
                reject(NOT_AN_EVENT, body)
                continue
            for event in events:
                if type(event) is not dict:
                    reject(NOT_AN_EVENT, event)
                elif apply(event, local_received, here) is not _REJECTED:
                    applied += 1
        return applied

    def _apply_one(self, event: dict, local_received: float, here: float):
        """Check and apply one event; whatever goes wrong stays with this event (counted, logged, skipped)."""
        try:
            type_ = event.get('type')
            if type(type_) is not str or len(type_) > IDENTIFIER_MAX:
                self.quality.reject(BAD_TYPE, event)
                return _REJECTED
            group, _, subject = type_.partition('-')
            reason = check_event(event, group, local_received, self.quality.repaired)
            if reason is not None:
                self.quality.reject(reason, event)
                return _REJECTED
            return self._apply(event, type_, group, subject, local_received, here)
        except Exception as exc:  # noqa: BLE001 - the last resort of per-event isolation
            self.quality.reject(INTERNAL_ERROR, event, detail=f'{type(exc).__name__}: {exc}', exc_info=True)
            return _REJECTED

    def _apply(self, event: dict, type_: str, group: str, subject: str, local_received: float, here: float):
        """Apply a checked event (see :func:`~flower.events.sanitize.check_event`)."""
        self.event_count += 1
        if self.event_callback:
            self.event_callback(self, event)
        event['local_received'] = local_received
        timestamp = event.get('timestamp')
        offset = event.get('utcoffset')
        if timestamp is not None and offset is not None:
            timestamp = event['timestamp'] = timestamp - (offset - here) * 3600
        self.last_event_time = local_received
        hostname = event.get('hostname') or ''
        counts = self.counter.get(hostname)
        if counts is None:
            counts = self.counter[hostname] = Counter()
            if len(self.counter) > 2 * self.max_workers_in_memory:
                self._forget_idle_hosts()
        counts[type_] += 1
        handler = self.handlers.get(group)
        if handler is not None:
            return handler(subject, event), subject
        if group == 'task':
            return self._task_event(event, type_, subject, hostname, timestamp, local_received), subject
        if group == 'worker':
            return self._worker_event(event, type_, subject, hostname, timestamp, local_received), subject
        return None, subject

    def _worker_event(self, event, type_, subject, hostname, timestamp, local_received):
        workers = self.workers
        worker = workers.get(hostname)
        created = False
        is_offline = subject == 'offline'
        if worker is None:
            worker = Worker(hostname)
            if not is_offline:
                workers[hostname] = worker
                created = True
        else:
            workers.touch(hostname)
        if created or subject == 'online':
            # what the worker had processed before this server saw it (start) or restarted: the diagnosis
            # tells "runs tasks without sending task events" from "ran them before we listened" by it
            processed = event.get('processed')
            worker.processed_at_first_sight = processed if type(processed) is int else 0
        worker.event(subject, timestamp, local_received, event)
        for log in self.change_logs:
            log.workers.add(hostname)
        metrics = self.metrics
        if subject == 'online':
            metrics.set_online(hostname, True)
        elif subject == 'heartbeat':
            metrics.set_online(hostname, True)
            active = event.get('active')
            if active is not None:
                metrics.set_executing(hostname, active)
        elif is_offline:
            metrics.set_online(hostname, False)
        if (created or subject == 'online') and self.on_node_join:
            self.on_node_join(worker)
        if self.on_node_leave and is_offline:
            self.on_node_leave(worker)
        return worker, created

    def _task_event(self, event, type_, subject, hostname, timestamp, local_received):
        uuid = event['uuid']
        tasks = self.tasks
        data = tasks.data
        task = data.get(uuid)
        if task is None:
            task = Task(uuid, self)
            data[uuid] = task
            created = True
            old_state = old_name = old_worker = None
            orphans = self._pending_children.pop(uuid, None)
            if orphans:
                task.children = orphans
        else:
            data.move_to_end(uuid)
            created = False
            old_state = task.state
            old_name = task.name
            old_worker = task.worker.hostname if task.worker is not None else None

        clock = event.get('clock')
        if subject == 'sent':
            task.client = hostname
            # clients do not keep a Lamport clock in step with workers; order them just before
            clock = max(self._clock - 1, 0)
        else:
            if hostname:
                worker = self.workers.get(hostname)
                if worker is None:
                    worker = self.workers[hostname] = Worker(hostname)
                task.worker = worker
                if local_received and timestamp:
                    # A task event is also a sign of life from its worker (celery records one per event);
                    # once a second is as good for "alive" and saves most of the cost.
                    heartbeats = worker.heartbeats
                    if not heartbeats or timestamp - heartbeats[-1] > 1.0:
                        worker.event(None, local_received, timestamp)
            if subject == 'received':
                self.task_count += 1
        if isinstance(clock, int):
            task.clock = clock
            if clock > self._clock:
                self._clock = clock

        # remember what the metrics and the sorted indexes need from before this event
        was_started = task.started is not None
        had_received = task.received is not None
        had_runtime = task.runtime is not None
        apply_task_event(task, subject, timestamp, event, self.text_limit, self.quality.repaired)
        if subject == 'received' or subject == 'sent':
            self._share_strings(task)
        if subject == 'sent':
            self._note_queue(event.get('queue') or event.get('routing_key'))
        if task.revoked_pending is not None and task.state in READY_STATES:
            task.revoked_pending = None  # the worker reported how it ended (task-revoked, or it had already run)
        tasks.index(task, old_state, old_name, old_worker)
        if subject == 'received' and task.received is not None:
            tasks.field_set(task, 'received', had_received)
        elif subject == 'started' and task.started is not None:
            tasks.field_set(task, 'started', was_started)
        if 'runtime' in event and task.runtime is not None:
            tasks.field_set(task, 'runtime', had_runtime)

        name = task.name
        if name is not None and name not in self._seen_types:
            self._seen_types.add(name)
        parent_id = task.parent_id
        if parent_id and created:
            self._link_child(parent_id, uuid)
        if self.change_logs:
            for log in self.change_logs:
                log.tasks.add(uuid)
                if task.worker is not None:
                    log.workers.add(task.worker.hostname)
        if created:
            tasks.evict_overflow()
        self._task_metrics(event, type_, subject, hostname, task, was_started)
        return task, created

    def _share_strings(self, task: Task) -> None:
        """Make tasks share one copy of the strings many of them carry (each decoded event has its own):
        the task name, exchange and routing key, and the root id, which is the task's own id for most."""
        canonical = self._canonical
        name = task.name
        if name is not None:
            task.name = canonical.get(name) or self._remember(name)
        if task.root_id == task.uuid:
            task.root_id = task.uuid
        for field in ('exchange', 'routing_key'):
            value = getattr(task, field)
            if value is not None:
                setattr(task, field, canonical.get(value) or self._remember(value))

    def mark_revoked_pending(self, uuid: str, terminate: bool = False, now: float | None = None) -> bool:
        """Remember that this server revoked ``uuid``, so pages show it at once: a task waiting for its ETA
        (or in a worker's prefetch) stays RECEIVED until the worker reports ``task-revoked``, which celery sends
        only when the task comes due. A started task is marked only with ``terminate`` (without it the revoke
        does not stop it); an unknown or finished task is not marked. Returns whether it was marked."""
        if self.thread_guard is not None:
            self.thread_guard.check('EventsState.mark_revoked_pending')
        task = self.tasks.data.get(uuid)
        if task is None or task.state in READY_STATES or (task.state == 'STARTED' and not terminate):
            return False
        task.revoked_pending = time.time() if now is None else now
        for log in self.change_logs:  # live pages and persistence see the change like an event's
            log.tasks.add(uuid)
        return True

    def _note_queue(self, queue) -> None:
        if (
            isinstance(queue, str)
            and 0 < len(queue) <= MAX_QUEUE_NAME
            and queue not in self.queues_seen
            and len(self.queues_seen) < MAX_QUEUES_SEEN
        ):
            self.queues_seen.add(queue)

    def _remember(self, text):
        if isinstance(text, str) and len(self._canonical) < 20_000:
            self._canonical[text] = text
        return text

    def _link_child(self, parent_id: str, uuid: str) -> None:
        parent = self.tasks.data.get(parent_id)
        if parent is not None:
            if parent.children is None:
                parent.children = [uuid]
            elif uuid not in parent.children:
                parent.children.append(uuid)
            return
        waiting = self._pending_children.get(parent_id)
        if waiting is None:
            self._pending_children[parent_id] = [uuid]
            if len(self._pending_children) > self.max_tasks_in_memory:
                self._pending_children.popitem(last=False)
        elif uuid not in waiting:
            waiting.append(uuid)

    def _task_metrics(self, event, type_, subject, hostname, task, was_started):
        metrics = self.metrics
        name = event.get('name') or task.name or ''
        metrics.count_event(hostname, type_, name)
        runtime = event.get('runtime')
        if runtime:
            metrics.observe_runtime(hostname, name, float(runtime))
        if task.eta or task.received is None:
            return
        if subject == 'received':
            metrics.add_prefetched(hostname, name, 1)
        elif subject == 'started':
            if task.started is not None:
                metrics.set_prefetch_time(hostname, name, max(task.started - task.received, 0.0))
                if not was_started:
                    metrics.add_prefetched(hostname, name, -1)
        elif subject in ('succeeded', 'failed'):
            if task.started is not None:
                metrics.set_prefetch_time(hostname, name, 0.0)
        elif subject in ('revoked', 'rejected'):
            if not was_started:
                # a prefetched task that will never start is no longer waiting at the worker
                worker = task.worker.hostname if task.worker is not None else hostname
                metrics.add_prefetched(worker, name, -1)

    # -- reading -------------------------------------------------------------------------------------------
    @property
    def search_engine(self):
        """Flower's ``state.search_engine``: a :class:`flower.utils.search.TaskSearchEngine` answering from
        this state's task store (whose indexes are kept up to date as events are applied)."""
        engine = self.__dict__.get('_search_engine')
        if engine is None or engine.store is not self.tasks:
            from flower.utils.search import TaskSearchEngine  # the compatibility layer, only when asked for

            engine = self.__dict__['_search_engine'] = TaskSearchEngine(self.tasks)
        return engine

    def tasks_by_time(self, limit=None, reverse: bool = True) -> Iterator[tuple[str, Task]]:
        """``(uuid, task)`` pairs, most recently updated first (or last with ``reverse=False``)."""
        order = self.tasks.newest_first() if reverse else self.tasks.oldest_first()
        for count, task in enumerate(order, 1):
            yield task.uuid, task
            if limit and count >= limit:
                return

    tasks_by_timestamp = tasks_by_time

    def task_types(self) -> list[str]:
        return sorted(self._seen_types, key=sort_key)  # names loaded from an old database may not be text

    def _task_evicted(self, task: Task) -> None:
        for log in self.change_logs:
            log.tasks.discard(task.uuid)
            log.removed.add(task.uuid)

    # -- change logs -------------------------------------------------------------------------------------------
    def subscribe_changes(self) -> 'ChangeLog':
        """A new change log: from now on it collects what changes, until :meth:`unsubscribe_changes`."""
        log = ChangeLog()
        self.change_logs.append(log)
        return log

    def unsubscribe_changes(self, log: 'ChangeLog') -> None:
        if log in self.change_logs:
            self.change_logs.remove(log)

    @property
    def track_changes(self) -> bool:
        """The default change log (the one :meth:`take_changes` reads) is on."""
        return self._default_log is not None

    @track_changes.setter
    def track_changes(self, on: bool) -> None:
        if on and self._default_log is None:
            self._default_log = self.subscribe_changes()
        elif not on and self._default_log is not None:
            self.unsubscribe_changes(self._default_log)
            self._default_log = None

    def mark_all_changed(self) -> None:
        """Count every task and worker in memory as changed, in every change log (the next save writes all)."""
        for log in self.change_logs:
            log.tasks.update(self.tasks.keys())
            log.workers.update(self.workers.keys())

    @property
    def dirty_tasks(self) -> set[str]:
        return self._default_log.tasks if self._default_log is not None else set()

    def take_changes(self) -> tuple[set[str], set[str], set[str]]:
        """The default log's changed task ids, changed worker hostnames and removed task ids since the last
        call (with ``track_changes`` on), and start collecting afresh."""
        if self._default_log is None:
            return set(), set(), set()
        return self._default_log.take()

    def note_task_types(self, names) -> None:
        """Remember task names seen elsewhere (a loaded state), for :meth:`task_types`."""
        self._seen_types.update(name for name in names if name is not None)

    def _forget_idle_hosts(self) -> None:
        """Counters and metrics are kept per sending host, and clients that send ``task-sent`` events have a
        host name per process: keep those from piling up by dropping the hosts that are not known workers,
        oldest first, once there are twice as many hosts as ``--max_workers``."""
        excess = len(self.counter) - self.max_workers_in_memory
        gone = [host for host in self.counter if host not in self.workers][: max(excess, 0)]
        for host in gone:
            del self.counter[host]
        self.metrics.forget_workers(gone)

    def _forget_worker(self, hostname: str) -> None:
        """A worker pushed out by ``--max_workers`` takes its counters and metrics with it."""
        for log in self.change_logs:
            log.workers.discard(hostname)
            log.removed_workers.add(hostname)
        self.counter.pop(hostname, None)
        self.metrics.forget_workers([hostname])

    def __repr__(self):
        return f'<EventsState: events={self.event_count} tasks={len(self.tasks)} workers={len(self.workers)}>'


def _received_time(event: dict) -> float:
    """When an event fed directly (:meth:`EventsState.event`) was received: its ``local_received`` if that is a
    usable time, else now."""
    value = event.get('local_received')
    if (type(value) is float or type(value) is int) and math.isfinite(value) and value > 0:
        return value
    return time.time()
