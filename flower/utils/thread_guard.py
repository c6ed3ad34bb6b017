"""Runtime rule 1 as a check: the shared state has one writer thread, the IOLoop's.

The event state (its counters, its task store and the store's search indexes) and the inspector's cache are
written only on the IOLoop thread (see :mod:`flower.events.state`, :mod:`flower.inspector`). A
:class:`ThreadGuard` belongs to one such object and knows its owner thread: the thread that built it until
:meth:`ThreadGuard.claim` names another (:meth:`flower.app.Flower.start_background` has the IOLoop claim it,
before the events thread starts). Each writer entry point calls :meth:`ThreadGuard.check` with its own name;
a call from any other thread is logged (``Thread guard: ...``, naming the writer and both threads), kept in
:attr:`ThreadGuard.violations`, and raised as :class:`ThreadViolation`, so the write does not happen.

Off by default: :func:`new_guard` returns ``None`` unless the environment sets ``FLOWER_THREAD_GUARD=1``
(the tests do, and their server subprocesses inherit it), and the owners test ``guard is not None`` once per
batch of events, never per event, so production pays nothing. Guards are read by any thread (``check``) and
claimed on the IOLoop thread; the owner is one int, replaced whole.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading

logger = logging.getLogger(__name__)

ENV_VAR = 'FLOWER_THREAD_GUARD'


class ThreadViolation(RuntimeError):
    """Shared state written from a thread that does not own it (runtime rule 1)."""


def enabled() -> bool:
    """Is the guard on (``FLOWER_THREAD_GUARD`` set to 1, true, yes or on)?"""
    return os.environ.get(ENV_VAR, '').strip().lower() in ('1', 'true', 'yes', 'on')


class ThreadGuard:
    """The owner thread of ``what`` (words for the messages, e.g. ``'the events state'``)."""

    def __init__(self, what: str):
        self.what = what
        self.violations: list[str] = []
        self.claim()

    def claim(self) -> None:
        """From now on the calling thread is the owner (call it on the IOLoop thread)."""
        current = threading.current_thread()
        self._owner = (current.ident, current.name)

    @property
    def owner_name(self) -> str:
        return self._owner[1]

    def check(self, writer: str) -> None:
        """Raise :class:`ThreadViolation` (and log it) unless the calling thread owns the state."""
        owner, owner_name = self._owner
        if threading.get_ident() == owner:
            return
        message = (
            f'{writer} writes {self.what} on thread {threading.current_thread().name!r}, but only its '
            f'owner thread {owner_name!r} (the IOLoop) may (runtime rule 1)'
        )
        self.violations.append(message)
        logger.error('Thread guard: %s', message)
        raise ThreadViolation(message)


def new_guard(what: str) -> ThreadGuard | None:
    """A guard for ``what`` when the check is on (see :func:`enabled`), else ``None``: decided once, when the
    owning object is built."""
    return ThreadGuard(what) if enabled() else None


def call_on_loop(io_loop, fn, *args) -> None:
    """Run ``fn(*args)`` now when this thread may touch ``io_loop``'s objects (timers, tasks, servers): it is
    the loop's own thread, or the loop is not running (or there is none); else queue it with ``add_callback``,
    the one IOLoop method that is safe from other threads."""
    asyncio_loop = getattr(io_loop, 'asyncio_loop', None)
    if asyncio_loop is None or not asyncio_loop.is_running() or _running_loop() is asyncio_loop:
        fn(*args)
    else:
        io_loop.add_callback(fn, *args)


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # no loop runs on this thread
        return None
