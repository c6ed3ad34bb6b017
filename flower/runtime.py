"""The composition root: :func:`build_runtime` builds every live part of the server once and connects them.

One function says what the server is made of and how the parts talk, so nothing else builds a part or
reaches through one part into another:

* built here, in this order: the options view (as given), the Celery app (its task modules imported, as a worker
  does), the :class:`~flower.runner.BlockingRunner` (the only way blocking calls are made), the metrics registry
  (:class:`~flower.metrics.EventMetrics`), the events state and receiver (:class:`~flower.events.Events`, given
  the registry), persistence (:mod:`flower.persistence`: ``--persistent`` and ``--max_task_age``, loaded here,
  before any event is applied), the :class:`~flower.inspector.Inspector`, the pool changes, the worker discovery,
  the queue lengths (their gauge registered in the same registry), the retry links and the live hub;
* connected by named subscriptions (:class:`~flower.utils.signals.Signal`), never by assigning callbacks:

  ============================  =====================================================================
  ``state.on_node_join``        :meth:`WorkerDiscovery.on_node_join <flower.discovery.WorkerDiscovery.on_node_join>`
                                (a new or restarted worker is inspected)
  ``events.on_reconnect``       :meth:`Inspector.inspect <flower.inspector.Inspector.inspect>` (what the
                                workers report may have changed while the stream was down)
  ``events.on_applied``         :meth:`LiveHub.on_events_applied <flower.live.LiveHub.on_events_applied>`
  ``events.on_starting``        persistence starts tracking and the retention timer
  ``events.on_stopped``         persistence's last save
  ============================  =====================================================================

A caller may give its own ``events`` (Flower's extension point: ``Flower(events=Events(capp, io_loop))``): it is
adopted as it is, with the registry of its own state, given the runner if it has none, and its persistence
settings attached like ours.

Which thread: the caller's (the main thread, before the IOLoop runs: loading persistence reads SQLite here).
Starting and stopping the parts is :class:`flower.app.Flower`'s (``start_background``/``stop``).
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Callable

import celery

from flower.brokers import QueueLengths, queue_names
from flower.celery_app import import_task_modules
from flower.control.pool import PoolChanges
from flower.discovery import WorkerDiscovery
from flower.events import Events
from flower.events.retries import RetryLinks
from flower.inspector import Inspector
from flower.live import LiveHub
from flower.metrics import EventMetrics
from flower.options import Options
from flower.persistence import Persistence, attach_persistence
from flower.runner import BlockingRunner

BLOCKING_CONCURRENCY = 8  # blocking calls in flight at once (the runner's semaphore)
DEFAULT_EXECUTOR_WORKERS = BLOCKING_CONCURRENCY + 4  # threads: room for calls that outlive their timeout


@dataclass
class Runtime:
    """The live parts of one server, built and connected by :func:`build_runtime`."""

    options: Options
    capp: celery.Celery
    executor: Executor
    runner: BlockingRunner
    metrics: EventMetrics
    events: Events
    persistence: Persistence
    inspector: Inspector
    pool_changes: PoolChanges
    discovery: WorkerDiscovery
    queues: QueueLengths
    retries: RetryLinks
    live: LiveHub


def build_runtime(
    options: Options,
    capp: celery.Celery | None,
    *,
    executor: Executor,
    call_later: Callable[[float, Callable[[], None]], object],
    live_shapes: Any,
    diagnose: Callable[[], dict],
    io_loop=None,
    events: Events | None = None,
) -> Runtime:
    """Build and connect the runtime (see the module docstring).

    ``executor`` runs the blocking calls; ``call_later(delay, fn)`` schedules on the IOLoop (the discovery
    gathers joins with it); ``live_shapes`` and ``diagnose`` are what the live hub shows pages with (the web
    layer's, given by :class:`~flower.app.Flower`); ``events`` is a caller's own receiver, else one is built."""
    capp = capp or celery.Celery()
    import_task_modules(capp)  # as a worker does, so that the API knows every task it runs
    runner = BlockingRunner(
        executor,
        max_concurrency=BLOCKING_CONCURRENCY,
        extra_connection_errors=lambda: backend_connection_errors(capp),
    )
    if events is None:
        metrics = EventMetrics(options.task_runtime_metric_buckets, max_task_names=options.metrics_max_task_names)
        events = Events(
            capp,
            io_loop,
            db=options.db,
            persistent=options.persistent,
            enable_events=options.enable_events,
            state_save_interval=options.state_save_interval,
            max_tasks_in_memory=options.max_tasks,
            max_workers_in_memory=options.max_workers,
            runner=runner,
            max_task_age=options.max_task_age,
            metrics=metrics,
            text_limit=options.task_args_max_length,
        )
    else:
        metrics = events.metrics  # a caller's receiver exports in its own state's registry
        if events.runner is None:
            events.runner = runner  # its broadcasts share our bounded runner
    persistence = attach_persistence(events)
    inspector = Inspector(
        capp=capp, runner=runner, timeout=options.inspect_timeout / 1000.0, max_workers=options.max_workers
    )
    discovery = WorkerDiscovery(inspector, call_later)
    state = events.state
    queues = QueueLengths(
        capp.connection().as_uri(include_password=True),
        lambda: queue_names(capp, inspector.workers, getattr(state, 'queues_seen', ())),
        broker_api=options.broker_api,
        transport_options=capp.conf.broker_transport_options,
        broker_use_ssl=capp.conf.broker_use_ssl,
    )
    metrics.extra_labelled_gauge(
        'flower_queue_length',
        'Messages waiting in a queue (refreshed every --queue_length_interval seconds)',
        'queue',
        queues.gauge,
    )
    # the dashboards' live updates (/live): one hub for every connected page, told when events were applied
    live = LiveHub(
        state,
        live_shapes,
        purge_offline_workers=lambda: options.purge_offline_workers,
        loop=io_loop,
        diagnose=diagnose,
    )

    state.on_node_join.subscribe(discovery.on_node_join)
    events.on_reconnect.subscribe(inspector.inspect)
    events.on_applied.subscribe(live.on_events_applied)

    return Runtime(
        options=options,
        capp=capp,
        executor=executor,
        runner=runner,
        metrics=metrics,
        events=events,
        persistence=persistence,
        inspector=inspector,
        # pool grow/shrink/autoscale/restart, one at a time, each checked against the size the last one left
        pool_changes=PoolChanges(inspector),
        discovery=discovery,
        queues=queues,
        # which task was retried as which, for the links between their pages
        retries=RetryLinks(max_links=options.max_tasks),
        live=live,
    )


def backend_connection_errors(capp) -> tuple:
    """The result backend's connection errors, which the runner answers with 503 like the broker's."""
    try:
        backend = capp.backend
        return tuple(getattr(backend, 'connection_errors', ()) or ())
    except Exception:  # a misconfigured backend must not stop the monitor from starting
        return ()
