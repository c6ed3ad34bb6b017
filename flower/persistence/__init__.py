"""``--persistent``: the events state kept in an SQLite database that survives restarts and crashes.

* :mod:`~flower.persistence.schema`: the tables (a documented, versioned contract; see docs/persistence.md).
* :mod:`~flower.persistence.database`: opening the file; moving aside one that is foreign or corrupt.
* :mod:`~flower.persistence.loader`: loading at start-up with today's limits, pruning the file.
* :mod:`~flower.persistence.saver`: collecting changes on the IOLoop; the last save at shutdown.
* :mod:`~flower.persistence.writer`: the thread that writes, one transaction per save.
* :mod:`~flower.persistence.retention`: ``--max_task_age``.
* :mod:`~flower.persistence.attach`: both, attached to an events receiver by the composition root
  (:mod:`flower.runtime`) through its ``on_starting``/``on_stopped`` subscriptions; the receiver never imports
  this package.

Which thread touches what is written in each module's docstring. In short: SQLite is used at start-up
(before the IOLoop runs) and by the writer thread, never by the IOLoop.
"""

from flower.persistence.attach import Persistence, attach_persistence
from flower.persistence.database import PersistenceError
from flower.persistence.retention import TaskRetention
from flower.persistence.saver import DEFAULT_SAVE_INTERVAL_MS, StateSaver

__all__ = [
    'DEFAULT_SAVE_INTERVAL_MS',
    'Persistence',
    'PersistenceError',
    'StateSaver',
    'TaskRetention',
    'attach_persistence',
]
