"""Which queues the broker page, the API and the queue-length gauge report on.

A pure function of the inspector's cache, the app's configuration and the queues task events named; called
on the IOLoop thread, where the inspector cache and the events state are written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def queue_names(app, inspector_workers: Mapping[str, Any] | None, seen: Iterable[str] = ()) -> list[str]:
    """The sorted union of every worker's active queue names (``inspector_workers[w]['active_queues'][i]
    ['name']``), the names in the app's ``task_queues``, ``task_default_queue`` and ``task_routes``, and
    ``seen``: the queues task events named (``task-sent``'s ``queue``/``routing_key``).

    Flower used the workers' queues only and fell back to the configuration when no worker answered; the
    union also shows a queue that has messages but no consumer, which is exactly the queue that piles up
    (a Redis broker cannot list its queues, so these are the names it is asked about)."""
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
    names.update(routed_queues(conf.task_routes))
    names.update(name for name in seen if isinstance(name, str) and name)
    return sorted(names)


def routed_queues(routes: Any) -> set[str]:
    """The queue names written in ``task_routes``: a dict ``{pattern: {'queue': name}}`` (or ``{pattern:
    'name'}``), or a list/tuple of such dicts. Router functions and objects can't be read without calling
    them with a task, so they add nothing."""
    found: set[str] = set()
    if isinstance(routes, Mapping):
        routes = [routes]
    if not isinstance(routes, (list, tuple)):
        return found
    for table in routes:
        if not isinstance(table, Mapping):
            continue
        for route in table.values():
            queue = route.get('queue') if isinstance(route, Mapping) else route
            queue = getattr(queue, 'name', queue)  # a kombu Queue
            if isinstance(queue, str) and queue:
                found.add(queue)
    return found
