"""Preparing the user's Celery app for the server: importing the modules that define its tasks.

A Celery app built by ``-A proj`` knows only the tasks of the modules imported so far. A worker imports the
rest when it starts (``imports=``, ``include=``, and in Django projects every app's ``tasks.py`` through
``app.autodiscover_tasks()``, which hooks Celery's ``import_modules`` signal); a monitor has to do the same, or
``apply``, ``async-apply``, ``timeout`` and ``rate-limit`` answer 404 "Unknown task" for tasks the workers run.
Flower does it when its application is built; so does :class:`flower.app.Flower`, through
:func:`import_task_modules`.

A module that fails to import does not stop the server (it monitors through events, which need none of them):
each failure is logged as a warning naming the module and the error, and the other modules are still imported.
Called on the main thread while the application is built, before the IOLoop runs.
"""

from __future__ import annotations

import logging
import weakref

logger = logging.getLogger(__name__)

# Apps whose modules were imported already: building a second Flower on the same app (tests, embedding) does
# not import (or warn) again.
_prepared: weakref.WeakSet = weakref.WeakSet()


def import_task_modules(capp) -> list[str]:
    """Import ``capp``'s default modules (Celery's ``capp.loader.import_default_modules()``); returns the
    problems, one sentence each, after logging each as a warning."""
    try:
        if capp in _prepared:
            return []
        _prepared.add(capp)
    except TypeError:  # an app object that cannot be weakly referenced (a stand-in): import every time
        pass
    loader = capp.loader
    try:
        loader.import_default_modules()
        return []
    except Exception as exc:  # noqa: BLE001 - whatever the user's module raises at import time
        first = exc
    # Something failed: import the modules one by one, so that only a broken module's tasks are missing and the
    # warning names it. (When every module imports, the failure came from a receiver of the import_modules
    # signal, such as Django's autodiscovery of one app's tasks.)
    problems = []
    for module in loader.default_modules:
        try:
            loader.import_task_module(module)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"the task module '{module}' cannot be imported ({_describe(exc)})")
    if not problems:
        problems.append(f'the tasks cannot be discovered ({_describe(first)})')
    for problem in problems:
        logger.warning(
            'Celery app %s: %s. Its tasks are unknown to this server: the API answers 404 Unknown task '
            'to apply them or to change their limits; monitoring them through events is not affected.',
            capp.main or '(unnamed)',
            problem,
        )
    return problems


def _describe(exc: BaseException) -> str:
    return f'{type(exc).__name__}: {exc}'
