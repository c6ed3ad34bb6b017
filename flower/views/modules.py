"""The dashboards' fragments: one renderer per row, card and detail block that updates live.

Each fragment is a template under ``templates/modules/`` whose outermost element carries an ``id``. Two callers
render it, through the same :meth:`Fragments.render` and so the same namespace and the same bytes:

* the first page load, as a Tornado ``UIModule`` (``{% module WorkersRows(worker_table) %}`` in ``workers.html``;
  the classes below, registered through ``ui_modules`` in :data:`flower.urls.settings`);
* the live channel (:class:`flower.views.live_pages.LivePages`), which pushes ``{element id: HTML}`` and the page
  swaps each element's attributes and children for the fragment's (``static/js/live.js``).

The templates are auto-escaped like every page (runtime rule 7) and carry no script, inline handler or inline
style, so a pushed fragment is held by the same Content-Security-Policy as the page. The namespace is small on
purpose (URLs under ``--url_prefix``, the time format, the formatting helpers): a fragment is rendered once for
every client watching it, so it may depend on nothing of one request (user, cookies, XSRF token).

Runs on the IOLoop thread.
"""

from __future__ import annotations

import datetime
import os
import weakref
from typing import Any, Callable
from urllib.parse import quote

import tornado.escape
import tornado.template
import tornado.web
from tornado.util import ObjectDict

from flower.utils import prepend_url
from flower.utils.template import (
    duration_text,
    natural_time_key,
    stat_shown,
    template_functions,
    time_shown,
    time_type,
)

BUILTIN_TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'templates')


class Fragments:
    """Renders ``templates/modules/<name>`` for an application (its ``template_loader`` or ``template_path``, so a
    user's template directory may override a fragment by name, as it may a page)."""

    def __init__(self, application, time_type_of: Callable[[], str] | None = None):
        self.application = application
        self._time_type_of = time_type_of or self._options_time_type
        self._loader: tornado.template.BaseLoader | None = None
        self._scopes: dict[str, tuple[tornado.template.Template, dict]] = {}
        self._lists: dict[tuple, dict] = {}
        self._fields: dict[tuple, str] = {}  # render_fields' rows by what they show
        self._fields_scope: dict | None = None

    @property
    def loader(self) -> tornado.template.BaseLoader:
        # looked up at the first render: the live pages are made before the application has its settings
        if self._loader is None:
            settings = getattr(self.application, 'settings', None) or {}
            loader = settings.get('template_loader')
            if loader is None:
                kwargs = {'autoescape': settings['autoescape']} if 'autoescape' in settings else {}
                loader = tornado.template.Loader(settings.get('template_path') or BUILTIN_TEMPLATES, **kwargs)
            self._loader = loader
        return self._loader

    def _options_time_type(self) -> str:
        options = self.application.options
        capp = getattr(self.application, 'capp', None)
        zone = capp.conf.timezone if capp is not None else None
        return time_type(bool(getattr(options, 'natural_time', False)), zone)

    def time_type(self) -> str:
        """How the pages show times now (``humanize``'s type: ``time[-<zone>]`` or ``natural-time[-<zone>]``)."""
        return self._time_type_of()

    def namespace(self) -> dict[str, Any]:
        """What a fragment's template sees, besides tornado's own helpers (``url_escape``, ``xhtml_escape``...):
        the same names the pages give these values (``flower.app.Flower.template_context``)."""
        options = self.application.options
        prefix = prepend_url('/', getattr(options, 'url_prefix', None)).rstrip('/')
        return {
            **template_functions(),
            'page_url': lambda path: prefix + path,
            'worker_url': lambda name: f'{prefix}/worker/{quote(str(name), safe="")}',
            'task_url': lambda task_id: f'{prefix}/task/{quote(str(task_id), safe="")}',
            'read_only': bool(getattr(options, 'read_only', False)),
            'time_type': self._time_type_of(),
            'time_shown': time_shown,
            'duration': duration_text,
            'stat_shown': stat_shown,
        }

    def render(self, name: str, **values) -> str:
        return self.render_many({name: (name, values)})[name]

    def render_many(self, parts: dict[str, tuple[str, dict]]) -> dict[str, str]:
        """``{key: (template name, values)}`` rendered with one namespace (a live view is several fragments)."""
        namespace = self.namespace()
        rendered = {}
        for key, (name, values) in parts.items():
            scope = self._scope(name)
            scope.update(namespace)
            scope.update(values)
            rendered[key] = scope['_tt_execute']().decode('utf-8')
        return rendered

    def render_list(self, name: str, items: list) -> str:
        """Each of ``items`` (hashable values, each given to the template as ``item``) rendered with ``name`` and
        joined. An item rendered by the last call, under the same options, is not rendered again: a live table
        is rendered every tick and usually one of its rows changed. Only the last call's rows are kept."""
        namespace = self.namespace()
        options = (namespace['page_url'](''), namespace['time_type'], namespace['read_only'])
        cache_key = (name, options)
        last = self._lists.get(cache_key, {})
        shown: dict = {}
        parts = []
        for item in items:
            html = last.get(item)
            if html is None:
                scope = self._scope(name)
                scope.update(namespace)
                scope['item'] = item
                html = scope['_tt_execute']().decode('utf-8')
            shown[item] = html
            parts.append(html)
        self._lists = {cache_key: shown}
        return ''.join(parts)

    def render_fields(self, fields, known_tasks) -> str:
        """A task's fields (:class:`flower.views.tasks.Field` each, ``name`` and ``uuid`` left out: the heading
        shows them) as ``task_field.html`` rows, joined. A row rendered before under the same key (the field,
        the options, and what the row shows that the field does not hold: a natural time's text, the name and
        state of a related task) is not rendered again: a task's page is rendered again whenever the task
        changes, and most of its fields have not. The rows of the last few pages rendered are kept, at most
        :data:`FIELD_ROWS_KEPT`; a row that cannot be keyed (a value a ``format_task`` hook made unhashable) is
        rendered every time."""
        namespace = self.namespace()
        tt, prefix = namespace['time_type'], namespace['page_url']('')
        natural = tt.startswith('natural')
        scope = self._scope('task_field.html')
        if scope is not self._fields_scope or len(self._fields) > FIELD_ROWS_KEPT:
            self._fields = {}  # a reloaded template (--debug), or enough kept
            self._fields_scope = scope
        cache = self._fields
        parts = []
        prepared = False
        for field in fields:
            if field.name in ('name', 'uuid'):
                continue
            key = _field_key(field, known_tasks, tt, prefix, natural)
            html = cache.get(key) if key is not None else None
            if html is None:
                if not prepared:
                    scope.update(namespace)
                    scope['known_tasks'] = known_tasks
                    prepared = True
                scope['field'] = field
                html = scope['_tt_execute']().decode('utf-8')
                if key is not None:
                    cache[key] = html
            parts.append(html)
        return ''.join(parts)

    def _scope(self, name: str) -> dict:
        """The globals of the template's compiled code, run once. What ``Template.generate`` does on every call
        (a new namespace, the module code executed again, ``linecache`` cleared: ~10 us, more than a small
        fragment's own work) is done once per template here; each render then sets its values and calls the
        template's function. Only the IOLoop thread renders, so the one dict per template is never shared. A
        template the loader reloads (``--debug``) is a new object and gets a new scope."""
        template = self.loader.load(f'modules/{name}')
        cached = self._scopes.get(name)
        if cached is not None and cached[0] is template:
            return cached[1]
        scope: dict[str, Any] = {
            'escape': tornado.escape.xhtml_escape,
            'xhtml_escape': tornado.escape.xhtml_escape,
            'url_escape': tornado.escape.url_escape,
            'json_encode': tornado.escape.json_encode,
            'squeeze': tornado.escape.squeeze,
            'linkify': tornado.escape.linkify,
            'datetime': datetime,
            '_tt_utf8': tornado.escape.utf8,
            '_tt_string_types': (str, bytes),
            '__name__': template.name.replace('.', '_'),
            '__loader__': ObjectDict(get_source=lambda _name: template.code),
        }
        scope.update(template.namespace)
        exec(template.compiled, scope)  # noqa: S102 - the template's own compiled code, as generate() runs it
        self._scopes[name] = (template, scope)
        return scope


FIELD_ROWS_KEPT = 1000  # task field rows kept by Fragments.render_fields (a few dozen pages' worth)


def _related(other) -> tuple | None:
    # what a field row shows of another task (task_field.html's note): its name and state, or that it is unknown
    return None if other is None else (other.name, other.state)


def _field_key(field, known_tasks, time_type: str, prefix: str, natural: bool) -> tuple | None:
    """What a task field's row shows, as a dict key; None when it cannot be one (an unhashable value)."""
    value = field.value
    if isinstance(value, list):
        value = tuple(value)
    cut = field.truncated
    extra: Any = None
    if field.kind == 'time':
        # "5 minutes ago" changes with the clock, not with the field: how long ago is part of the key
        extra = (time_type, natural_time_key(field.value) if natural else None)
    elif field.kind == 'task':
        extra = _related(known_tasks.get(field.value))
    elif field.kind == 'tasks':
        extra = tuple(_related(known_tasks.get(child)) for child in value)
    cut_key = tuple(sorted(cut.items())) if cut else None
    # the value's type too: 1, 1.0 and True are equal keys but not the same text
    key = (field.name, field.label, field.kind, type(field.value), value, cut_key, extra, prefix)
    try:
        hash(key)
    except TypeError:
        return None
    return key


_FRAGMENTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def fragments_of(application) -> Fragments:
    """The application's :class:`Fragments`, made once (its loader caches the compiled templates)."""
    fragments = _FRAGMENTS.get(application)
    if fragments is None:
        fragments = _FRAGMENTS[application] = Fragments(application)
    return fragments


class Fragment(tornado.web.UIModule):
    """A fragment as a ``UIModule``: what it renders on the first load is what the live channel pushes."""

    template = ''

    def fragment(self, **values) -> str:
        return fragments_of(self.handler.application).render(self.template, **values)


# -- the workers page ---------------------------------------------------------------------------------------------
class WorkersSummary(Fragment):
    """The cards: :class:`flower.views.workers.ClusterSummary`."""

    template = 'workers_summary.html'

    def render(self, summary) -> str:
        return self.fragment(summary=summary)


class WorkersRows(Fragment):
    """The table's rows: :class:`flower.views.workers.WorkerRow` each."""

    template = 'workers_rows.html'

    def render(self, rows) -> str:
        fragments = fragments_of(self.handler.application)
        return fragments.render(self.template, rows_html=fragments.render_list('worker_row.html', rows))


class WorkersTotals(Fragment):
    template = 'workers_totals.html'

    def render(self, summary) -> str:
        return self.fragment(summary=summary)


class WorkersEmpty(Fragment):
    template = 'workers_empty.html'

    def render(self, rows, diagnosis) -> str:
        return self.fragment(rows=rows, diagnosis=diagnosis)


class Diagnosis(Fragment):
    """The "why is this empty?" panel: :class:`flower.diagnosis.Diagnosis` (workers and tasks pages)."""

    template = 'diagnosis.html'

    def render(self, diagnosis) -> str:
        return self.fragment(diagnosis=diagnosis)


# -- one worker ------------------------------------------------------------------------------------------------------
class WorkerStatus(Fragment):
    template = 'worker_status.html'

    def render(self, online: bool) -> str:
        return self.fragment(online=online)


class WorkerHeartbeat(Fragment):
    """``record``: :func:`flower.views.workers.worker_facts` of the worker, or None."""

    template = 'worker_heartbeat.html'

    def render(self, record) -> str:
        return self.fragment(record=record)


# -- one task ----------------------------------------------------------------------------------------------------------
class TaskName(Fragment):
    template = 'task_name.html'

    def render(self, task) -> str:
        return self.fragment(task=task)


class TaskState(Fragment):
    template = 'task_state.html'

    def render(self, task, revoked_pending: bool) -> str:
        return self.fragment(task=task, revoked_pending=revoked_pending)


class TaskActions(Fragment):
    """``actions``: :func:`flower.views.tasks.task_actions`."""

    template = 'task_actions.html'

    def render(self, actions: dict) -> str:
        return self.fragment(actions=actions)


class TaskRetryRefusal(Fragment):
    template = 'task_retry_refusal.html'

    def render(self, actions: dict) -> str:
        return self.fragment(actions=actions)


class TaskFields(Fragment):
    """``fields``: :func:`flower.views.tasks.task_fields`; ``known_tasks`` for the notes on related tasks."""

    template = 'task_fields.html'

    def render(self, fields, known_tasks) -> str:
        return render_task_fields(fragments_of(self.handler.application), fields, known_tasks)


def render_task_fields(fragments: Fragments, fields, known_tasks) -> str:
    """``task_fields.html`` around its rows (:meth:`Fragments.render_fields`); the first load's and the live
    channel's. ``fields`` and ``known_tasks`` are given too, for a customised ``task_fields.html`` written for
    them."""
    rows_html = fragments.render_fields(fields, known_tasks)
    return fragments.render('task_fields.html', fields=fields, known_tasks=known_tasks, rows_html=rows_html)


UI_MODULES = {
    cls.__name__: cls
    for cls in (
        WorkersSummary,
        WorkersRows,
        WorkersTotals,
        WorkersEmpty,
        Diagnosis,
        WorkerStatus,
        WorkerHeartbeat,
        TaskName,
        TaskState,
        TaskActions,
        TaskRetryRefusal,
        TaskFields,
    )
}
