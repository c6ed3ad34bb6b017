"""The dashboards' fragments: one renderer per row, card and detail block that updates live.

Each fragment is a template under ``templates/modules/`` whose outermost element carries an ``id``. Two callers
render it, through the same :meth:`Fragments.render` and so the same namespace and the same bytes:

* the first page load, as a Tornado ``UIModule`` (``{% module WorkersRows(worker_table) %}`` in ``workers.html``;
  the classes below, registered through ``ui_modules`` in :data:`flower.urls.settings`);
* the live channel (:class:`flower.views.live.LivePages`), which pushes ``{element id: HTML}`` and the page
  swaps each element's attributes and children for the fragment's (``static/js/live.js``).

The templates are auto-escaped like every page (runtime rule 7) and carry no script, inline handler or inline
style, so a pushed fragment is held by the same Content-Security-Policy as the page. The namespace is small on
purpose (URLs under ``--url_prefix``, the time format, the formatting helpers): a fragment is rendered once for
every client watching it, so it may depend on nothing of one request (user, cookies, XSRF token).

Runs on the IOLoop thread.
"""

from __future__ import annotations

import os
import weakref
from typing import Any, Callable
from urllib.parse import quote

import tornado.template
import tornado.web

from flower.utils import prepend_url
from flower.utils.template import duration_text, stat_shown, template_functions, time_shown, time_type

BUILTIN_TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'templates')


class Fragments:
    """Renders ``templates/modules/<name>`` for an application (its ``template_loader`` or ``template_path``, so a
    user's template directory may override a fragment by name, as it may a page)."""

    def __init__(self, application, time_type_of: Callable[[], str] | None = None):
        self.application = application
        self._time_type_of = time_type_of or self._options_time_type
        self._loader: tornado.template.BaseLoader | None = None

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
        load = self.loader.load
        rendered = {}
        for key, (name, values) in parts.items():
            rendered[key] = load(f'modules/{name}').generate(**namespace, **values).decode('utf-8')
        return rendered


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
        return self.fragment(rows=rows)


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
        return self.fragment(fields=fields, known_tasks=known_tasks)


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
