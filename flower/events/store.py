"""Bounded, indexed containers for task and worker records.

:class:`TaskStore` maps task id → :class:`~flower.events.task.Task`, ordered from least to most recently
updated, capped at ``--max_tasks`` (the least recently updated task goes first, in O(1)), with exact indexes
by state, task name and worker hostname that the listing and search queries use instead of scanning. Every
index is updated when a task changes or is evicted, so a query never sees a ghost.

:class:`WorkerStore` does the same for celery ``Worker`` records, capped at ``--max_workers``.

Both are touched only on the IOLoop thread (runtime rule 1). The task store's removals outside event
application (``pop``, ``clear``, ``load``, ``set_limit``: retention, a loaded state, a new limit) check it when
:class:`~flower.events.state.EventsState` gave the store its ``thread_guard`` (``FLOWER_THREAD_GUARD=1``, see
:mod:`flower.utils.thread_guard`); the per-event updates are checked once per batch by the state.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections import OrderedDict
from typing import Callable, Iterator

from flower.events.task import Task
from flower.utils.thread_guard import ThreadGuard

EvictionHook = Callable[[Task], None]

# Numeric fields the tasks table sorts by often enough to keep in order (received is its default order).
SORTED_FIELDS = ('received', 'started', 'runtime')


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


class SortedField:
    """Task ids ordered by one numeric field, kept sorted as values arrive.

    The entries live in blocks of at most ``2 * BLOCK`` (a values ``array('d')`` and a parallel list of the ids
    the tasks already hold, a third of the memory of a tuple per entry), with the largest value of each block
    in ``maxes``: an insertion bisects ``maxes`` and moves at most a block's worth of entries, whatever the
    order values arrive in (runtimes arrive in random order; a worker with a slow clock sends old
    timestamps). Equal values keep arrival order.

    A task whose value changes (a retried task is received again) or that is evicted leaves a stale entry
    behind; readers skip entries that no longer match the task (``iter_tasks``), stale entries at the low end
    are trimmed as evictions make them, and everything is rebuilt once stale entries outnumber live ones, so
    upkeep is amortised O(log n). Non-numeric values (from malformed events) are not indexed: they count as
    missing.
    """

    BLOCK = 1024

    def __init__(self, field: str):
        self.field = field
        self.blocks: list[tuple[array, list[str]]] = []
        self.maxes: list[float] = []
        self.stale = 0
        self.live = 0  # tasks in the store that have an indexed value for the field

    def __len__(self) -> int:
        return sum(len(values) for values, _ in self.blocks)

    def add(self, value, uuid: str, replaced: bool) -> None:
        if not is_number(value):
            if replaced:
                self.stale += 1
                self.live -= 1
            return
        maxes = self.maxes
        if not maxes:
            self.blocks.append((array('d', [value]), [uuid]))
            maxes.append(value)
        else:
            i = bisect_right(maxes, value)
            if i == len(maxes):
                i -= 1
            values, uuids = self.blocks[i]
            if value >= values[-1]:
                values.append(value)
                uuids.append(uuid)
            else:
                position = bisect_right(values, value)
                values.insert(position, value)
                uuids.insert(position, uuid)
            maxes[i] = values[-1]
            if len(values) > 2 * self.BLOCK:
                half = len(values) // 2
                self.blocks[i : i + 1] = [(values[:half], uuids[:half]), (values[half:], uuids[half:])]
                maxes[i : i + 1] = [values[half - 1], values[-1]]
        if replaced:
            self.stale += 1
        else:
            self.live += 1

    def forget(self, value) -> None:
        if is_number(value):
            self.stale += 1
            self.live -= 1

    def needs_rebuild(self, live: int) -> bool:
        return self.stale > max(live, 1024)

    def trim_front(self, data: dict) -> None:
        """Drop stale entries at the low end: evicted tasks are the oldest, so that is where they gather, and
        trimming them there avoids most full rebuilds."""
        field = self.field
        while self.blocks:
            values, uuids = self.blocks[0]
            count = 0
            for value, uuid in zip(values, uuids):
                task = data.get(uuid)
                if task is not None and getattr(task, field) == value:
                    break
                count += 1
            self.stale = max(self.stale - count, 0)
            if count < len(values):
                del values[:count]
                del uuids[:count]
                return
            del self.blocks[0]
            del self.maxes[0]

    def rebuild(self, tasks) -> None:
        field = self.field
        pairs = sorted((value, task.uuid) for task in tasks if is_number(value := getattr(task, field)))
        size = self.BLOCK
        self.blocks = [
            (array('d', (value for value, _ in pairs[i : i + size])), [uuid for _, uuid in pairs[i : i + size]])
            for i in range(0, len(pairs), size)
        ]
        self.maxes = [values[-1] for values, _ in self.blocks]
        self.stale = 0
        self.live = len(pairs)

    def iter_tasks(self, data: dict, reverse: bool) -> Iterator[Task]:
        """Live tasks with an indexed value for the field, in order; each task once."""
        field = self.field
        seen: set[str] = set()
        for values, uuids in reversed(self.blocks) if reverse else self.blocks:
            positions = range(len(values) - 1, -1, -1) if reverse else range(len(values))
            for i in positions:
                value, uuid = values[i], uuids[i]
                task = data.get(uuid)
                if task is None or getattr(task, field) != value or uuid in seen:
                    continue
                seen.add(uuid)
                yield task


class _ReadsLikeAMapping:
    """The read side of a mapping, served by the ``data`` OrderedDict (what celery's ``LRUCache`` offers)."""

    data: OrderedDict

    def __getitem__(self, key):
        return self.data[key]

    def get(self, key, default=None):
        return self.data.get(key, default)

    def __contains__(self, key) -> bool:
        return key in self.data

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator:
        return iter(self.data)

    def keys(self):
        return self.data.keys()

    def values(self):
        return self.data.values()

    def items(self):
        return self.data.items()


class TaskStore(_ReadsLikeAMapping):
    """uuid → Task, least recently updated first, with indexes. Looks like celery's ``LRUCache`` to code
    written for Flower (``tasks[uuid]``, ``tasks.get``, ``tasks.items()``, ``tasks.data``)."""

    thread_guard: ThreadGuard | None = (
        None  # the owning state's ThreadGuard when the check is on (flower.utils.thread_guard)
    )

    def __init__(self, limit: int):
        self.limit = limit
        self.data: OrderedDict[str, Task] = OrderedDict()
        self.by_state: dict[str, dict[str, Task]] = {}
        self.by_name: dict[str, dict[str, Task]] = {}
        self.by_worker: dict[str, dict[str, Task]] = {}
        # how many tasks each (worker, state) pair has: the workers page's counts, kept with the buckets they
        # count so a count always equals the rows its link lists
        # (a plain dict, not a Counter: Counter's missing-key and delete hooks are Python calls on the event path)
        self.worker_states: dict[tuple[str, str], int] = {}
        self.eviction_hooks: list[EvictionHook] = []
        self.evicted = 0
        self.sorted_fields: dict[str, SortedField] = {name: SortedField(name) for name in SORTED_FIELDS}

    # -- mapping protocol (reads come from _ReadsLikeAMapping) ------------------------------------------
    def __setitem__(self, uuid: str, task: Task) -> None:
        if uuid in self.data:
            self._remove(uuid, notify=False)
        self.data[uuid] = task
        self.index(task, None, None, None)
        for name, index in self.sorted_fields.items():
            value = getattr(task, name)
            if value is not None:
                index.add(value, uuid, False)
        self.evict_overflow()

    def update(self, other) -> None:
        items = other.items() if hasattr(other, 'items') else other
        for uuid, task in items:
            self[uuid] = task

    def pop(self, uuid: str, default=None):
        """Remove a task (the eviction hooks hear of it, as of any removal)."""
        if self.thread_guard is not None:
            self.thread_guard.check('TaskStore.pop')
        task = self._remove(uuid, notify=True)
        return default if task is None else task

    def _remove(self, uuid: str, notify: bool):
        task = self.data.pop(uuid, None)
        if task is not None:
            self._unindex(task)
            if notify:
                for hook in self.eviction_hooks:
                    hook(task)
        return task

    def load(self, tasks) -> int:
        """Add many tasks at once, oldest first (a loaded state): indexed as they go, the sorted indexes built
        once at the end instead of one insertion each; then the limit is applied. Returns how many stayed."""
        if self.thread_guard is not None:
            self.thread_guard.check('TaskStore.load')
        data = self.data
        for task in tasks:
            if task.uuid in data:
                self._remove(task.uuid, notify=False)
            data[task.uuid] = task
            self.index(task, None, None, None)
        for index in self.sorted_fields.values():
            index.rebuild(dict.values(data))
        self.evict_overflow()
        return len(data)

    def clear(self) -> None:
        if self.thread_guard is not None:
            self.thread_guard.check('TaskStore.clear')
        if self.eviction_hooks:
            for task in list(self.data.values()):
                for hook in self.eviction_hooks:
                    hook(task)
        self.data.clear()
        self.by_state.clear()
        self.by_name.clear()
        self.by_worker.clear()
        self.worker_states.clear()
        for index in self.sorted_fields.values():
            index.rebuild(())

    # -- ordering ----------------------------------------------------------------------------------------
    def touch(self, uuid: str) -> None:
        """Mark a task as just updated (it becomes the newest and the last to be evicted)."""
        self.data.move_to_end(uuid)

    def newest_first(self) -> Iterator[Task]:
        return reversed(self.data.values())

    def oldest_first(self) -> Iterator[Task]:
        return iter(self.data.values())

    # -- indexes -----------------------------------------------------------------------------------------
    def index(self, task: Task, old_state: str | None, old_name: str | None, old_worker: str | None) -> None:
        """Move ``task`` between index buckets after its state, name or worker changed (``old_*`` are the
        values before the change; ``None`` for a task that was not indexed yet)."""
        uuid = task.uuid
        state = task.state
        if state != old_state:
            if old_state is not None:
                _discard(self.by_state, old_state, uuid)
            _add(self.by_state, state, uuid, task)
        name = task.name
        if name != old_name:
            if old_name is not None:
                _discard(self.by_name, old_name, uuid)
            if name is not None:
                _add(self.by_name, name, uuid, task)
        worker = task.worker.hostname if task.worker is not None else None
        if worker != old_worker:
            if old_worker is not None:
                _discard(self.by_worker, old_worker, uuid)
            if worker is not None:
                _add(self.by_worker, worker, uuid, task)
        if worker != old_worker or state != old_state:
            if old_worker is not None and old_state is not None:
                _uncount(self.worker_states, (old_worker, old_state))
            if worker is not None:
                counts = self.worker_states
                key = (worker, state)
                counts[key] = counts.get(key, 0) + 1

    def field_set(self, task: Task, field: str, replaced: bool) -> None:
        """A sorted field of ``task`` got a value (``replaced``: it had one before)."""
        index = self.sorted_fields[field]
        index.add(getattr(task, field), task.uuid, replaced)
        if index.needs_rebuild(len(self.data)):
            index.rebuild(dict.values(self.data))

    def all_have(self, field: str) -> bool:
        """Whether every task in the store has a value for the sorted ``field``."""
        return self.sorted_fields[field].live >= len(self.data)

    def sorted_by(self, field: str, reverse: bool) -> Iterator[Task]:
        """Tasks with a value for the sorted ``field``, ascending (or descending with ``reverse``)."""
        return self.sorted_fields[field].iter_tasks(self.data, reverse)

    def _unindex(self, task: Task) -> None:
        for name, index in self.sorted_fields.items():
            index.forget(getattr(task, name))
        uuid = task.uuid
        _discard(self.by_state, task.state, uuid)
        if task.name is not None:
            _discard(self.by_name, task.name, uuid)
        if task.worker is not None:
            _discard(self.by_worker, task.worker.hostname, uuid)
            _uncount(self.worker_states, (task.worker.hostname, task.state))

    def evict_overflow(self) -> int:
        """Drop the least recently updated tasks until the limit holds; returns how many went."""
        dropped = 0
        data = self.data
        while len(data) > self.limit:
            _, task = data.popitem(last=False)
            self._unindex(task)
            for hook in self.eviction_hooks:
                hook(task)
            dropped += 1
        if dropped:
            self.evicted += dropped
            live = len(data)
            for index in self.sorted_fields.values():
                if index.stale > max(live // 8, 256):
                    index.trim_front(data)
                if index.needs_rebuild(live):
                    index.rebuild(dict.values(data))
        return dropped

    def set_limit(self, limit: int) -> int:
        if self.thread_guard is not None:
            self.thread_guard.check('TaskStore.set_limit')
        self.limit = limit
        return self.evict_overflow()


def _add(index: dict, key, uuid: str, task: Task) -> None:
    bucket = index.get(key)
    if bucket is None:
        index[key] = {uuid: task}
    else:
        bucket[uuid] = task


def _uncount(counts: dict, key) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


def _discard(index: dict, key, uuid: str) -> None:
    bucket = index.get(key)
    if bucket is not None:
        bucket.pop(uuid, None)
        if not bucket:
            del index[key]


class WorkerStore(_ReadsLikeAMapping):
    """hostname → celery ``Worker``, least recently seen first, capped; evictions are reported so the
    per-worker counters and metrics can go with the worker."""

    def __init__(self, limit: int):
        self.limit = limit
        self.data: OrderedDict = OrderedDict()
        self.eviction_hooks: list[Callable[[str], None]] = []

    def __setitem__(self, hostname, worker) -> None:
        self.data[hostname] = worker
        self.data.move_to_end(hostname)
        while len(self.data) > self.limit:
            gone, _ = self.data.popitem(last=False)
            for hook in self.eviction_hooks:
                hook(gone)

    def touch(self, hostname) -> None:
        self.data.move_to_end(hostname)

    def pop(self, hostname, default=None):
        return self.data.pop(hostname, default)

    def update(self, other) -> None:
        for hostname, worker in other.items() if hasattr(other, 'items') else other:
            self[hostname] = worker

    def clear(self) -> None:
        self.data.clear()
