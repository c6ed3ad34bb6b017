"""The tasks pages: the table (``/tasks``), its data (``/tasks/datatable``) and one task (``/task/<id>``).

``/tasks`` is a shell; its rows come from ``/tasks/datatable``, DataTables' server-side protocol (GET or a POST
form), answered by :func:`flower.queries.select_tasks`, so one request builds one page of rows and never
touches the rest. Event texts are cut for the table (the task's page has them whole). Every row and the task
page go through the ``format_task`` hook. Runs on the IOLoop thread.
"""

from __future__ import annotations

import datetime
import json
import logging
from dataclasses import dataclass
from typing import Any

import tornado.web
from celery import states

from flower import control
from flower.events.task import FIELDS, TEXT_FIELDS, truncation
from flower.queries import TaskFilter, select_tasks
from flower.utils.registered import registered_name
from flower.utils.search import QuerySyntaxError  # noqa: F401 - names of Flower's flower.views.tasks
from flower.utils.tasks import as_dict, get_task_by_id, search_tasks  # noqa: F401
from flower.utils.template import duration_text, time_shown, time_type
from flower.views import BaseHandler
from flower.views.error_render import TEXT
from flower.views.error_status import NotFound

logger = logging.getLogger(__name__)

TABLE_TEXT_LIMIT = 200  # characters of args/kwargs/result/exception/traceback shown in a table cell
MAX_PAGE_LENGTH = 1000  # rows per /tasks/datatable request, whatever the client asks for
STATE_FILTERS = (
    ('All', None),
    ('Started', states.STARTED),
    ('Succeeded', states.SUCCESS),
    ('Failed', states.FAILURE),
    ('Retried', states.RETRY),
)
COLUMN_TITLES = {
    'name': 'Name',
    'uuid': 'UUID',
    'state': 'State',
    'args': 'args',
    'kwargs': 'kwargs',
    'result': 'Result',
    'received': 'Received',
    'started': 'Started',
    'runtime': 'Runtime',
    'worker': 'Worker',
    'exchange': 'Exchange',
    'routing_key': 'Routing key',
    'retries': 'Retries',
    'revoked': 'Revoked',
    'exception': 'Exception',
    'expires': 'Expires',
    'eta': 'ETA',
}
COLUMNS = tuple(COLUMN_TITLES)  # the table can show, and sort by, any of these (queries.SORTABLE_FIELDS)
DEFAULT_COLUMNS = ('name', 'uuid', 'state', 'received', 'runtime', 'worker')
TASK_COLUMNS = COLUMN_TITLES  # Flower's name: every column the tasks page can show, slug -> heading
# on a phone the default table keeps these; a custom --tasks_columns list is shown as given
PHONE_COLUMNS = frozenset({'name', 'state', 'runtime'})
REVOCABLE_STATES = frozenset({states.PENDING, states.RECEIVED, states.STARTED, states.RETRY})
RETRYABLE_STATES = frozenset({states.FAILURE, states.REVOKED})


def table_columns(option: str | None) -> list[str]:
    """The ``--tasks_columns`` slugs to show, in the given order (``all`` = every column); unknown slugs are
    left out with a warning."""
    slugs = [slug.strip() for slug in (option or '').split(',') if slug.strip()]
    if slugs == ['all']:
        return list(COLUMNS)
    unknown = [slug for slug in slugs if slug not in COLUMNS]
    if unknown:
        logger.warning('Unknown --tasks_columns %s (known: %s)', ', '.join(unknown), ', '.join(COLUMNS))
    chosen = list(dict.fromkeys(slug for slug in slugs if slug in COLUMNS))
    return chosen or list(DEFAULT_COLUMNS)


def cut_text(value, limit: int = TABLE_TEXT_LIMIT):
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + '…'
    return value


def task_row(task, time_type: str = 'time') -> dict:
    """A task as a row of the table: celery's fields, ``worker`` as its hostname, long texts cut, and under
    ``display`` the text the table shows for its times and runtime (:func:`row_display`). The one formatter
    of the table's rows: ``/tasks/datatable`` answers them and the live channel pushes them."""
    data = task.as_dict() if hasattr(task, 'as_dict') else dict(task)
    worker = data.get('worker')
    data['worker'] = getattr(worker, 'hostname', worker)
    for key in (*TEXT_FIELDS, 'traceback'):
        data[key] = cut_text(data.get(key))
    if getattr(task, 'revoked_pending', None) is not None:
        data['revoked_pending'] = True
    data['display'] = row_display(data, time_type)
    return data


# the table's columns whose cells show a time (a Unix time, or ISO text for eta/expires)
TABLE_TIME_COLUMNS = ('received', 'started', 'revoked', 'eta', 'expires')


def row_display(data: dict, time_type: str = 'time') -> dict:
    """``{column: {"text": ..., "title": ...}}`` for the table's time columns and ``runtime`` that have a value:
    the text and tooltip the task's page shows for the same value (:func:`~flower.utils.template.time_shown`
    in the page's ``time_type``, :func:`~flower.utils.template.duration_text`), so the table formats nothing
    itself. The raw values stay in the row (API clients and the table's sorting read them)."""
    display = {}
    for key in TABLE_TIME_COLUMNS:
        value = data.get(key)
        if value is not None and value != '':
            text, exact = time_shown(value, time_type)
            display[key] = {'text': text, 'title': exact}
    runtime = data.get('runtime')
    if runtime is not None and runtime != '':
        display['runtime'] = {'text': duration_text(runtime), 'title': f'{runtime} s'}
    return display


def visible_task_columns(tasks_columns: str | None) -> list[tuple[str, str]]:
    """Flower's name: ``(slug, heading)`` of each column the tasks page shows for this ``--tasks_columns``
    value, in its order (unknown slugs left out; none known: the default columns)."""
    return [(slug, COLUMN_TITLES[slug]) for slug in table_columns(tasks_columns)]


class TasksView(BaseHandler):
    """``/tasks``: the table's shell; ``?state=``, ``?worker=``, ``?name=`` and ``?search=`` start it filtered."""

    def get(self):
        columns = table_columns(self.application.options.tasks_columns)
        state = self.get_typed_argument('state', str, '') or ''
        self.render(
            'tasks.html',
            active_tab='tasks',
            tasks=[],
            column_slugs=columns,
            column_titles=COLUMN_TITLES,
            responsive=columns == list(DEFAULT_COLUMNS),
            phone_columns=PHONE_COLUMNS,
            state_filters=STATE_FILTERS,
            state=state.upper() if state.lower() != 'all' else '',
            worker=self.get_typed_argument('worker', str, '') or '',
            # a name copied from a worker's registered list may carry Celery's ` [rate_limit=...]`
            name=registered_name(self.get_typed_argument('name', str, '') or ''),
            search=self.get_typed_argument('search', str, '') or '',
            sort_column=columns.index('received') if 'received' in columns else 0,
            time_zone_name=self.capp.conf.timezone or 'UTC',
            diagnosis=self.application.diagnosis(),
            # Flower 2.2's names, for a tasks.html written for it: (slug, title) pairs, humanize's time type
            columns=[(slug, COLUMN_TITLES[slug]) for slug in columns],
            time=time_type(self.application.options.natural_time, self.capp.conf.timezone),
        )


class TasksDataTable(BaseHandler):
    """DataTables' server-side endpoint. Required ints ``draw``, ``start``, ``length``,
    ``order[0][column]`` (400 naming the argument otherwise); ``columns[<n>][data]`` names the sort column,
    ``order[0][dir]`` its direction, ``search[value]`` the query; ``state``/``worker``/``name`` filter exactly.
    A search syntax error is a 200 with ``searchError`` and no rows (Flower's shape)."""

    error_format = TEXT  # a script's endpoint: errors are the message as text, not an HTML page

    def get(self):
        draw = self.get_typed_argument('draw', int)
        start = self.get_typed_argument('start', int)
        length = self.get_typed_argument('length', int)
        column = self.get_typed_argument('order[0][column]', int)
        if start < 0:
            raise tornado.web.HTTPError(400, "Invalid argument 'start': must be 0 or more")
        if length < 0 or length > MAX_PAGE_LENGTH:
            length = MAX_PAGE_LENGTH  # DataTables asks for -1 to mean "all"; a page is what is served
        sort_by = self.get_typed_argument(f'columns[{column}][data]', str, None) or None
        if sort_by is not None and sort_by not in COLUMNS:
            raise tornado.web.HTTPError(400, f"Invalid sort column '{sort_by}': use one of {', '.join(COLUMNS)}")
        reverse = self.get_typed_argument('order[0][dir]', str, 'asc').lower().startswith('desc')
        state = self.get_typed_argument('state', str, '') or None
        flt = TaskFilter(
            state=None if state is None or state.lower() == 'all' else state,
            workername=self.get_typed_argument('worker', str, '') or None,
            taskname=registered_name(self.get_typed_argument('name', str, '')) or None,
            search=(self.get_typed_argument('search[value]', str, '') or '').strip() or None,
        )
        store = self.state.tasks
        try:
            page = select_tasks(store, flt, sort_by=sort_by, reverse=reverse, offset=start, limit=length)
        except Exception as exc:
            if type(exc).__name__ != 'QuerySyntaxError':
                raise
            self.write_json(
                {'draw': draw, 'data': [], 'recordsTotal': len(store), 'recordsFiltered': 0, 'searchError': str(exc)}
            )
            return
        shown_as = time_type(self.application.options.natural_time, self.capp.conf.timezone)
        rows = [task_row(self.format_task(task) or task, shown_as) for task in page.tasks]
        self.write_json({'draw': draw, 'data': rows, 'recordsTotal': page.total, 'recordsFiltered': page.filtered})

    post = get

    def write_json(self, data) -> None:
        self.set_header('Content-Type', 'application/json; charset=UTF-8')
        self.finish(json.dumps(data, default=str))


# -- one task -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # text, code, time, worker, task, tasks, state, traceback, duration
    value: Any
    truncated: dict | None = None  # how a text was cut (:func:`flower.events.task.truncation`), None when whole

    @property
    def note(self) -> str | None:
        """The truncation notice under a cut text."""
        return truncation_note(self.truncated)


TIME_FIELDS = (
    'sent',
    'received',
    'started',
    'succeeded',
    'failed',
    'retried',
    'revoked',
    'rejected',
    'timestamp',
    'eta',
    'expires',
)
LABELS = {
    'uuid': 'UUID',
    'args': 'Arguments',
    'kwargs': 'Keyword arguments',
    'eta': 'ETA',
    'parent_id': 'Parent',
    'root_id': 'Root',
    'routing_key': 'Routing key',
    'client': 'Sent by',
    'retry_of': 'Retry of',
    'retried_as': 'Retried as',
}
# the order of the task page: what the task is and how it ended, then its timeline, then where it ran
FIELD_ORDER = (
    'name',
    'uuid',
    'state',
    'args',
    'kwargs',
    'result',
    'exception',
    'traceback',
    'sent',
    'received',
    'started',
    'succeeded',
    'failed',
    'retried',
    'revoked',
    'rejected',
    'runtime',
    'retries',
    'eta',
    'expires',
    'worker',
    'client',
    'exchange',
    'routing_key',
    'parent_id',
    'root_id',
    'children',
    'clock',
    'timestamp',
)
SKIPPED_FIELDS = frozenset({'root', 'parent'})


def truncation_note(cut: dict | None) -> str | None:
    """What a cut text's notice says: how much is kept and who cut the rest (Celery or the server)."""
    if not cut:
        return None
    kept = f"{cut['kept']:,} characters"
    if cut['by'] == 'server':
        return f"{cut['kept']:,} of {cut['received']:,} characters kept: --task_args_max_length cut the rest when it was stored."
    if 'received' in cut:
        return (
            f"{kept} kept. Celery shortened this value to {cut['received']:,} characters when the task was "
            'sent (its argsrepr limit), and --task_args_max_length cut it further when it was stored.'
        )
    return (
        f'Celery shortened this value to {kept} when the task was sent (its argsrepr limit); '
        'the rest was never reported.'
    )


def task_fields(task, retries=None) -> list[Field]:
    """Every field of ``task`` that has a value, the main ones first, each with how to show it; with
    ``retries`` (:class:`flower.events.retries.RetryLinks`) also what it is a retry of and was retried as."""
    data = task.as_dict() if hasattr(task, 'as_dict') else dict(task)
    order = list(FIELD_ORDER) + [name for name in FIELDS if name not in FIELD_ORDER]
    fields = []
    for name in dict.fromkeys(order):
        if name in SKIPPED_FIELDS:
            continue
        value = getattr(task, name, None) if name in ('parent_id', 'root_id') else data.get(name)
        if name == 'worker':
            value = getattr(value, 'hostname', value)
        if (
            value is None
            or value == []
            or value == ''
            or (name in ('root_id', 'parent_id') and value == data.get('uuid'))
        ):
            continue
        value, cut = truncation(value) if name in TEXT_FIELDS or name == 'traceback' else (value, None)
        fields.append(Field(name, LABELS.get(name, name.replace('_', ' ').capitalize()), _kind(name), value, cut))
    if retries is not None:
        original, copies = retries.retry_of(data.get('uuid')), retries.retried_as(data.get('uuid'))
        at = next((i for i, field in enumerate(fields) if field.name == 'state'), -1) + 1
        if copies:
            fields.insert(at, Field('retried_as', LABELS['retried_as'], 'tasks', copies))
        if original:
            fields.insert(at, Field('retry_of', LABELS['retry_of'], 'task', original))
    return fields


def task_actions(task, serializer: str) -> dict:
    """Which buttons the task's page offers now; ``retry_refusal`` says why Retry is not offered for a task
    that could otherwise be retried (the same rule as ``/api/task/retry``'s 409)."""
    retryable = task.state in RETRYABLE_STATES
    refusal = control.retry_refusal(task, serializer) if retryable else None
    return {
        'revoke': task.state in REVOCABLE_STATES,
        'terminate': task.state == states.STARTED,
        'retry': retryable and refusal is None,
        'retry_refusal': refusal,
    }


def _kind(name: str) -> str:
    if name in TIME_FIELDS:
        return 'time'
    return {
        'args': 'code',
        'kwargs': 'code',
        'result': 'code',
        'exception': 'code',
        'traceback': 'traceback',
        'worker': 'worker',
        'parent_id': 'task',
        'root_id': 'task',
        'children': 'tasks',
        'state': 'state',
        'runtime': 'duration',
    }.get(name, 'text')


def unix_time(moment) -> float | None:
    """A backend's ``date_done`` (a datetime, naive ones in UTC as Celery stores them) as a Unix time."""
    if not isinstance(moment, datetime.datetime):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def task_page(task, shown, retries, serializer: str, known_tasks) -> dict:
    """What the task's page fragments show (:mod:`flower.views.modules`): ``shown`` is ``task`` after the
    ``format_task`` hook; the actions and the revoke-pending mark are the stored task's."""
    return dict(
        task=shown,
        fields=task_fields(shown, retries),
        known_tasks=known_tasks,
        actions=task_actions(task, serializer),
        revoked_pending=getattr(task, 'revoked_pending', None) is not None,
    )


class TaskView(BaseHandler):
    async def get(self, task_id):
        task = self.state.tasks.get(task_id)
        if task is None:
            # not seen in events: show what the result backend has, if anything (blocking read, via the runner)
            snapshot = await control.TaskExecution(self.capp, self.runner).known_to_backend(task_id)
            if snapshot is None:
                raise NotFound(f"Unknown task '{task_id}'")
            self.render(
                'task_backend.html',
                active_tab='tasks',
                snapshot=snapshot,
                time_shown=time_shown,
                failed=snapshot.state in states.EXCEPTION_STATES,
                done_at=unix_time(snapshot.date_done),
            )
            return
        shown = self.format_task(task) or task  # a hook that forgot to return the task changes nothing
        page = task_page(
            task,
            shown,
            getattr(self.application, 'retries', None),
            self.capp.conf.task_serializer or 'json',
            self.state.tasks,
        )
        actions = page['actions']
        self.render(
            'task.html',
            active_tab='tasks',
            **page,
            duration=duration_text,
            time_shown=time_shown,
            # the names task.html had before its parts became fragments, for a template written for them
            can_revoke=actions['revoke'],
            can_terminate=actions['terminate'],
            can_retry=actions['retry'],
            retry_refusal=actions['retry_refusal'],
        )
