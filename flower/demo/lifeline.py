"""A child of ``flower demo`` ends itself when the demo is gone, so a demo that crashed (or was killed with
SIGKILL, which it cannot catch) leaves no worker or producer running forever.

Each child runs one daemon thread (started by :func:`watch_parent`) that checks once a second whether its
parent is still the ``flower demo`` process whose PID it was given (``FLOWERDEMO_PARENT_PID``). When the
parent dies the child is re-parented (to init or a sub-reaper), its parent PID changes, and the thread calls
the child's stop function. Polling the parent PID works on every POSIX system and lets a worker shut down warm
(Linux's ``PR_SET_PDEATHSIG`` only exists on Linux and delivers one fixed signal).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable

from flower.demo.layout import PARENT_ENV

logger = logging.getLogger(__name__)

CHECK_INTERVAL = 1.0
#: After asking itself to stop (warm shutdown waits for running tasks), a child that is still alive this many
#: seconds later kills its whole process group: itself and its pool processes.
KILL_AFTER = 30.0


def expected_parent() -> int | None:
    try:
        return int(os.environ[PARENT_ENV])
    except (KeyError, ValueError):
        return None


def watch_parent(
    on_orphaned: Callable[[], None], parent: int | None = None, interval: float = CHECK_INTERVAL
) -> threading.Thread | None:
    """Call ``on_orphaned()`` (once, on the watching thread) when this process's parent is no longer
    ``parent`` (default: ``FLOWERDEMO_PARENT_PID``). Does nothing when no parent is known or the parent is
    already someone else (the process was not started by ``flower demo``)."""
    parent = expected_parent() if parent is None else parent
    if parent is None or os.getppid() != parent:
        return None
    stopped = threading.Event()  # never set: the thread lives as long as the process

    def watch():
        while os.getppid() == parent:
            stopped.wait(interval)
        logger.warning('flower demo (PID %s) is gone; stopping', parent)
        on_orphaned()

    thread = threading.Thread(target=watch, name='flower-demo-lifeline', daemon=True)
    thread.start()
    return thread


def terminate_self(kill_after: float = KILL_AFTER) -> None:
    """Ask this process to stop (SIGTERM: a Celery worker's warm shutdown), and kill its process group if it
    has not stopped ``kill_after`` seconds later. The group is killed only when this process leads it (the
    demo starts each child in a session of its own), never a shell's group the process merely belongs to."""
    os.kill(os.getpid(), signal.SIGTERM)
    threading.Event().wait(kill_after)
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpgrp(), signal.SIGKILL)
    else:
        os.kill(os.getpid(), signal.SIGKILL)
