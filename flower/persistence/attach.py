"""``--persistent`` and ``--max_task_age`` attached to an :class:`~flower.events.Events` by the composition root.

The events receiver knows nothing of persistence: :func:`attach_persistence` (called by
:func:`flower.runtime.build_runtime`) reads the receiver's Flower settings (``db``, ``persistent``,
``state_save_interval``, ``max_task_age``), builds a :class:`Persistence` over its state, loads the saved state
at once (as Flower does in ``Events.__init__``: before any event can be applied) and subscribes it:

* ``events.on_starting``: start the retention timer and start tracking changes for saving (IOLoop thread,
  before the events thread starts, so no applied event goes unsaved);
* ``events.on_stopped``: stop the retention timer, make the last save (after the events thread ended).

It also becomes ``events.persistence``, what Flower's ``Events.save_state()`` and ``Events.load_state()``
answer from. Threads: built and loaded on the thread that builds the runtime (before the IOLoop runs); the
rest as :mod:`~flower.persistence.saver` and :mod:`~flower.persistence.retention` say.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from urllib.parse import quote

from flower.events.receiver import Events
from flower.events.state import EventsState
from flower.persistence.loader import load_state
from flower.persistence.retention import TaskRetention
from flower.persistence.saver import StateSaver

logger = logging.getLogger(__name__)

DEFAULT_DB = 'flower'  # Flower's --db default, used when an Events was given persistent=True without a db


class Persistence:
    """The saver (``--persistent``) and the retention (``--max_task_age``) of one events state; either may be
    ``None``."""

    def __init__(
        self,
        state: EventsState,
        *,
        db: str | None = None,
        persistent: bool = False,
        save_interval_ms: float | None = 0,
        max_task_age: float | None = None,
    ):
        self.state = state
        self.db = db or DEFAULT_DB
        self.persistent = bool(persistent)
        self.retention = TaskRetention(state, max_task_age) if max_task_age else None
        self.saver = StateSaver(state, self.db, save_interval_ms, retention=self.retention) if self.persistent else None

    def load(self) -> None:
        """Read the saved state into the state (before any event is applied)."""
        if self.saver is not None:
            self.saver.load()

    def start(self, io_loop) -> None:
        if self.retention is not None:
            self.retention.start()
        if self.saver is not None:
            self.saver.start(io_loop)

    def stop(self) -> None:
        if self.retention is not None:
            self.retention.stop()
        if self.saver is not None:
            self.saver.close()

    def save_state(self) -> bool:
        """Save now and wait for the write (IOLoop thread, or after the loop stopped). False without
        ``--persistent`` or when the write failed."""
        return self.saver.flush() if self.saver is not None else False

    def load_state(self) -> EventsState | None:
        """The state saved in ``--db``, read into a new :class:`EventsState` (same limits as the live one), or
        ``None`` without ``--persistent`` or when nothing was saved. Reads only: the file and the live state are
        left as they are; an unreadable file is logged and answered ``None``."""
        if not self.persistent:
            return None
        path = self.saver.path if self.saver is not None else self.db
        if not os.path.isfile(path):
            return None
        loaded = EventsState(max_tasks_in_memory=self.state.tasks.limit, max_workers_in_memory=self.state.workers.limit)
        try:
            conn = sqlite3.connect(f'file:{quote(os.path.abspath(path))}?mode=ro', uri=True)
            try:
                result = load_state(
                    conn, loaded, max_tasks=loaded.tasks.limit, max_workers=loaded.workers.limit, prune=False
                )
            finally:
                conn.close()
        except sqlite3.Error as exc:
            logger.error("Cannot read the saved state in '%s': %s", path, exc)
            return None
        if not (result.tasks or result.workers or result.saved_at):
            return None
        return loaded


def attach_persistence(events: Events) -> Persistence:
    """Persistence for ``events`` as its settings ask, loaded and subscribed to its start and stop (see the
    module docstring). With neither ``persistent`` nor ``max_task_age`` it does nothing but answer
    ``save_state()`` with False and ``load_state()`` with None."""
    persistence = Persistence(
        events.state,
        db=events.db,
        persistent=events.persistent,
        save_interval_ms=events.state_save_interval,
        max_task_age=events.max_task_age,
    )
    persistence.load()
    events.on_starting.subscribe(persistence.start)
    events.on_stopped.subscribe(persistence.stop)
    events.persistence = persistence
    return persistence
