"""Which queues the broker page, the API and the queue-length gauge report on.

A pure function of the inspector's cache and the app's configuration; called on the IOLoop thread, where
the inspector cache is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def queue_names(app, inspector_workers: Mapping[str, Any] | None) -> list[str]:
    """The sorted union of every worker's active queue names (``inspector_workers[w]['active_queues'][i]
    ['name']``), the names in the app's ``task_queues`` and its ``task_default_queue``.

    Flower used the workers' queues only and fell back to the configuration when no worker answered; the
    union also shows a queue that is configured but has no consumer, which is exactly the queue that
    piles up."""
    names: set[str] = set()
    for info in (inspector_workers or {}).values():
        active = info.get('active_queues') if isinstance(info, Mapping) else None
        if not isinstance(active, list):  # not inspected yet, or the reply was an error
            continue
        names.update(q['name'] for q in active if isinstance(q, Mapping) and q.get('name'))
    conf = app.conf
    configured = conf.task_queues or ()
    if isinstance(configured, Mapping):  # the old CELERY_QUEUES = {'name': {...}} form
        names.update(str(name) for name in configured)
    else:
        names.update(name for name in (getattr(q, 'name', q) for q in configured) if isinstance(name, str) and name)
    if conf.task_default_queue:
        names.add(conf.task_default_queue)
    return sorted(names)
