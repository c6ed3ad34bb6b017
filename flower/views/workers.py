"""The workers dashboard (``/``, ``/workers``) and one worker's page (``/worker/<name>``).

The handlers are thin: the rows come from the events state (:func:`worker_rows`), what a worker said about
itself from the :class:`~flower.inspector.Inspector` cache; the functions below only shape that data for the
templates (summaries, lists cut to ``?limit=N``, the settings table). The parts that update live are fragments
(:mod:`flower.views.modules`) rendered from :func:`workers_table` and :func:`worker_facts`, which the live
channel's pages (:mod:`flower.views.live`) call too. Runs on the IOLoop thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Iterable

import tornado.web

# Flower's module global, exported for code that imports or patches it: tornado's options object. The handlers
# below never read it; they read ``self.application.options``, which reads through to this same object, so a
# test changes an option with ``mock.patch.object(options.mockable(), 'purge_offline_workers', 60)``.
from tornado.options import options  # noqa: F401

from flower.cluster import is_alive, is_purged, worker_fields
from flower.events.state import EventsState
from flower.queries import listed_counts
from flower.utils import values
from flower.utils.registered import split_registered
from flower.utils.template import stat_shown, time_shown
from flower.views import BaseHandler
from flower.views.error_status import NotFound

logger = logging.getLogger(__name__)

DEFAULT_LIST_LIMIT = 50  # items shown per list on a worker's page (Flower 2.2's default for ?limit)
CELERY_SETTINGS_DOCS = 'https://docs.celeryq.dev/en/stable/userguide/configuration.html#'

# stats keys shown on their own tabs; whatever else a worker reports goes to "Other"
STATS_ON_TABS = frozenset({'pool', 'broker', 'rusage', 'pid', 'prefetch_count', 'total', 'autoscaler'})


# -- the workers table ----------------------------------------------------------------------------------------
def worker_rows(state: EventsState, threshold: int | None = None, now: float | None = None) -> list[dict]:
    """Rows for the workers table / ``?json=1``: each worker known both from events and counters, with its
    event counters (Flower's), the celery Worker fields, ``status`` (alive) and ``listed``: how many of its
    tasks the task list shows, in all and by state (:func:`flower.queries.listed_counts`), the numbers the
    page links to that list with. Purged workers (``--purge_offline_workers``, ``threshold``) are left out."""
    rows = []
    counter = state.counter
    for hostname, worker in state.workers.items():
        counts = counter.get(hostname)
        if counts is None or is_purged(worker, threshold, now):
            continue
        row = dict(counts)
        row.update(worker_fields(worker))
        row['status'] = is_alive(worker)
        row['listed'] = listed_counts(state.tasks, hostname)
        rows.append(row)
    return rows


@dataclass(frozen=True)
class WorkerRow:
    """One row; the task counts are those the task list shows for the worker (each count links to it)."""

    hostname: str
    online: bool
    active: int
    processed: int
    failed: int
    succeeded: int
    retried: int
    loadavg: tuple | None  # a tuple: rows are hashable, so an unchanged row is not rendered again


@dataclass(frozen=True)
class ClusterSummary:
    """The cards and the totals row: the task list's counts for every worker (tasks no worker has received yet
    are in ``processed``, as the unfiltered list shows them)."""

    online: int
    offline: int
    active: int
    processed: int
    failed: int
    succeeded: int
    retried: int


def table_rows(rows: Iterable[dict]) -> list[WorkerRow]:
    """The workers table's rows from :func:`worker_rows`, sorted by name."""
    table = [
        WorkerRow(
            hostname=values.label(row['hostname'], 'a worker hostname'),
            online=bool(row.get('status')),
            **_task_counts(row.get('listed') or {}),
            loadavg=_loadavg_of(row.get('loadavg')) if row.get('status') else None,
        )
        for row in rows
    ]
    table.sort(key=lambda row: row.hostname)
    return table


def _loadavg(worker) -> tuple | None:
    return _loadavg_of(getattr(worker, 'loadavg', None))


def _loadavg_of(value) -> tuple | None:
    numbers = values.numbers(value, 'worker loadavg')
    return tuple(numbers) if numbers is not None else None


def summarize(rows: list[WorkerRow], listed: dict) -> ClusterSummary:
    """``listed``: :func:`flower.queries.listed_counts` for every worker."""
    return ClusterSummary(
        online=sum(row.online for row in rows), offline=sum(not row.online for row in rows), **_task_counts(listed)
    )


def _task_counts(listed: dict) -> dict[str, int]:
    return dict(
        active=_count(listed.get('STARTED')),
        processed=_count(listed.get('all')),
        failed=_count(listed.get('FAILURE')),
        succeeded=_count(listed.get('SUCCESS')),
        retried=_count(listed.get('RETRY')),
    )


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class WorkersTable:
    """What the workers page's fragments show: the rows, the cards and totals, and the diagnosis."""

    rows: list[WorkerRow]
    summary: ClusterSummary
    diagnosis: Any


def workers_table(state: EventsState, threshold: int | None, diagnosis, now: float | None = None) -> WorkersTable:
    """The workers page's fragments' data, straight from the events state: the rows :func:`table_rows` makes of
    :func:`worker_rows`, without building the rows' other fields (the live channel renders this every tick)."""
    table = []
    counter, tasks = state.counter, state.tasks
    for hostname, worker in state.workers.items():
        if hostname not in counter or is_purged(worker, threshold, now):
            continue
        online = is_alive(worker, now)
        table.append(
            WorkerRow(
                hostname=values.label(getattr(worker, 'hostname', None), 'worker hostname'),
                online=online,
                **_task_counts(listed_counts(tasks, hostname)),
                loadavg=_loadavg(worker) if online else None,
            )
        )
    table.sort(key=lambda row: row.hostname)
    return WorkersTable(table, summarize(table, listed_counts(tasks)), diagnosis)


def flower_workers(rows: Iterable[dict]) -> dict[str, dict]:
    """Flower 2.2's ``workers`` for ``workers.html``: each row of :func:`worker_rows` (event
    counters such as ``task-received``, celery's Worker fields, ``status``) keyed by its hostname."""
    return {values.label(row['hostname'], 'a worker hostname'): row for row in rows}


class WorkersView(BaseHandler):
    """``/`` and ``/workers``: the cluster overview (``?json=1`` for the table's data, ``?refresh=1`` to ask
    every worker for fresh inspect data, ``?autorefresh=N`` to reload the table every N seconds, 0 = never)."""

    def get(self):
        refresh = self.get_typed_argument('refresh', bool, False)
        as_json = self.get_typed_argument('json', bool, False)
        autorefresh = self.get_typed_argument('autorefresh', float, 1.0)
        if autorefresh < 0:
            raise tornado.web.HTTPError(400, "Invalid argument 'autorefresh': must be 0 or more seconds")
        if refresh:
            # fire and forget, as Flower: the page answers now, the cache fills in the background
            self.application.update_workers()
        threshold = self.application.options.purge_offline_workers
        rows = worker_rows(self.state, threshold)
        diagnosis = self.application.diagnosis()
        if as_json:
            listed = listed_counts(self.state.tasks)  # the totals: what the unfiltered links list
            # Flower's {'data': rows}, and what is wrong for the page's "why is this empty?" panel
            self.set_header('Content-Type', 'application/json; charset=UTF-8')
            self.finish(json.dumps({'data': rows, 'listed': listed, 'diagnosis': diagnosis.as_json()}, default=str))
            return
        view = workers_table(self.state, threshold, diagnosis)
        if not self.application.options.auto_refresh:
            autorefresh = 0
        if autorefresh == int(autorefresh):
            autorefresh = int(autorefresh)  # Flower's templates write it into a script: 1 or 0, as Flower's is
        self.render(
            'workers.html',
            active_tab='workers',
            worker_table=view.rows,
            summary=view.summary,
            autorefresh=autorefresh,
            diagnosis=diagnosis,
            # Flower 2.2's names, for a workers.html written for it: the rows keyed by hostname
            workers=flower_workers(rows),
            broker=self.application.broker_uri,
        )


# -- one worker ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cut:
    """A list shown on the page, cut to ``limit`` items; ``total`` says how many there were."""

    items: list
    total: int

    @property
    def cut(self) -> bool:
        return len(self.items) < self.total


def cut(values, limit: int) -> Cut:
    values = list(values or ())
    return Cut(values[:limit], len(values))


def settings_table(conf: dict | None) -> list[tuple[str, Any, str]]:
    """``(name, value, docs_url)`` for every setting a worker reported, sorted, unset ones left out."""
    if not isinstance(conf, dict):
        return []
    return [
        (key, value, CELERY_SETTINGS_DOCS + key.lower().replace('_', '-'))
        for key, value in sorted(conf.items())
        if value is not None
    ]


def other_stats(stats: dict) -> list[tuple[str, Any]]:
    return [(key, value) for key, value in sorted(stats.items()) if key not in STATS_ON_TABS]


def display_value(value) -> str:
    """A value from an inspect reply as text: lists of plain values joined with commas, nothing as a dash,
    everything else as Python shows it (the template escapes it)."""
    if value is None:
        return '—'
    if isinstance(value, (list, tuple)) and all(isinstance(item, (str, int, float)) for item in value):
        return ', '.join(str(item) for item in value) if value else '—'
    return str(value)


def request_of(entry) -> dict:
    """Scheduled entries wrap the task request (``{'eta', 'priority', 'request': {...}}``); the others are it."""
    if isinstance(entry, dict) and isinstance(entry.get('request'), dict):
        return entry['request']
    return entry if isinstance(entry, dict) else {}


def worker_facts(worker) -> SimpleNamespace | None:
    """What the page shows of a celery ``Worker`` record: its fields (each usable or None) and ``alive``."""
    if worker is None:
        return None
    return SimpleNamespace(**worker_fields(worker), alive=is_alive(worker))


class Reported(dict):
    """A part of an inspect reply as Flower's ``worker.html`` reads it: ``reply['key']`` on a key the worker
    did not report (a worker known from events but not inspected yet, an older Celery) is an empty
    :class:`Reported` instead of a KeyError, so the page shows nothing there rather than failing whole."""

    def __missing__(self, key):
        return Reported()


def reported(value):
    """``value`` with every dict in it (through lists) made :class:`Reported`."""
    if isinstance(value, dict):
        return Reported((key, reported(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [reported(item) for item in value]
    return value


def flower_worker(name: str, info: dict, limit: int) -> Reported:
    """Flower 2.2's ``worker`` for ``worker.html``: what the inspector has of the worker (``stats``,
    ``active_queues``, ``registered``, ``active``, ``scheduled``, ``reserved``, ``revoked``, ``conf``) with
    ``name``, every list cut to ``limit`` items; missing parts read as empty (:class:`Reported`)."""
    worker = reported({key: value[:limit] if isinstance(value, list) else value for key, value in info.items()})
    worker['name'] = name
    if not isinstance(worker.get('stats'), dict):
        worker['stats'] = Reported()
    return worker


def worker_page(name: str, info: dict, worker, counter, limit: int) -> dict:
    """Everything ``worker.html`` shows about worker ``name``."""
    worker = worker_facts(worker)
    stats = info.get('stats')
    if not isinstance(stats, dict):
        stats = {}
    processed = stats.get('total')
    if not isinstance(processed, dict):
        processed = {}
    return dict(
        workername=name,
        inspected='stats' in info,
        inspected_at=info.get('timestamp'),
        worker_record=worker,
        worker=flower_worker(name, info, limit),  # Flower 2.2's name and shape, for a worker.html written for it
        online=bool(worker is not None and worker.alive),
        counter=dict(counter or {}),
        stats=stats,
        pool=stats.get('pool') if isinstance(stats.get('pool'), dict) else {},
        autoscaler=stats.get('autoscaler') if isinstance(stats.get('autoscaler'), dict) else {},
        broker=stats.get('broker') if isinstance(stats.get('broker'), dict) else {},
        rusage=stats.get('rusage') if isinstance(stats.get('rusage'), dict) else {},
        other=other_stats(stats),
        processed=sorted(processed.items()),
        queues=cut(info.get('active_queues'), limit),
        # (task name, Celery's `[rate_limit=... ...]` decoration): only the name can be posted or filtered by
        registered=cut([split_registered(entry) for entry in info.get('registered') or ()], limit),
        active=cut(info.get('active'), limit),
        scheduled=cut(info.get('scheduled'), limit),
        reserved=cut(info.get('reserved'), limit),
        revoked=cut(info.get('revoked'), limit),
        conf=settings_table(info.get('conf')),
        limit=limit,
        request_of=request_of,
        show=display_value,
        stat_shown=stat_shown,
        time_shown=time_shown,
    )


class WorkerView(BaseHandler):
    """``/worker/<name>``: a fresh inspection of the worker (awaited, bounded by ``--inspect_timeout``), then
    its page. A worker known from events that has not been inspected yet is shown, not a 404; one known to
    neither is asked once, and is a 404 only when it does not answer."""

    list_limit = DEFAULT_LIST_LIMIT  # Flower's name: items per list when the page is not given ?limit=

    async def get(self, name):
        limit = self.get_typed_argument('limit', int, self.list_limit)
        if limit < 0:
            raise tornado.web.HTTPError(400, "Invalid argument 'limit': must be 0 or more")
        inspector = self.inspector
        if name in self.state.workers or name in inspector.workers:
            await self._refresh(name)
        else:
            # online but not seen yet (no events from it, never inspected): ask it once before a 404
            await self._refresh(name, rounds=1)
            if name not in inspector.workers:
                raise NotFound(f"Unknown worker '{name}'")
        page = worker_page(
            name, inspector.workers.get(name) or {}, self.state.workers.get(name), self.state.counter.get(name), limit
        )
        self.render('worker.html', active_tab='workers', **page)

    async def _refresh(self, name: str, rounds: int = 2) -> None:
        """Inspect ``name`` on its own, within ``--inspect_timeout`` plus a little. A refresh of every worker
        that is already running is joined by the inspector, but it may have started before this worker was
        up and it does not fetch the per-task lists (nor refresh them); then this worker is asked again with the
        time left. A per-worker refresh stores a new ``active`` list, which is how a fresh answer is told apart."""
        before = (self.inspector.workers.get(name) or {}).get('active')
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.application.options.inspect_timeout / 1000.0 + 2.0
        for _ in range(rounds):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(asyncio.shield(self.application.update_workers(workername=name)), remaining)
            except Exception as exc:  # noqa: BLE001 - the page shows what is cached; the inspector logs failures
                logger.debug('Inspecting %s for its page failed: %s', name, exc)
                return
            after = (self.inspector.workers.get(name) or {}).get('active')
            if after is not None and after is not before:
                return
