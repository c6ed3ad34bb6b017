"""Flower's ``flower.utils.search`` names, over our search package (:mod:`flower.search`).

Code written for Flower 2.1/2.2 imports these; the query language itself, its parser and its index-driven
evaluation live in :mod:`flower.search` (a superset of Flower's: also ``exception:`` and ``traceback:``).

Flower 2.2's names:

* :func:`parse_query` - query text to a tree of :class:`MatchAll` / :class:`Term` / :class:`KwargPair` /
  :class:`And` / :class:`Or`, or :class:`QuerySyntaxError` (a ``ValueError``) with the position of the problem;
* :class:`TaskSearchEngine` - ``rebuild``/``upsert``/``remove`` tasks, ``matching_ids(query)`` and
  ``search(tasks, query, task_type=, worker=, state=, received_start=, received_end=, sort_by=, descending=,
  offset=, limit=)`` returning a :class:`SearchPage` (``task_ids``, ``filtered_count``, ``total_count``). It is
  backed by a :class:`~flower.events.store.TaskStore`: its own one, or the events state's (whose indexes the
  state keeps up to date as events arrive, so there ``rebuild``/``upsert``/``remove`` have nothing to do);
* the limits ``SEARCH_FIELDS``, ``EXACT_FIELDS``, ``MIN_SUBSTRING_LENGTH``, ``MAX_QUERY_LENGTH``,
  ``MAX_QUERY_TOKENS``, ``MAX_QUERY_DEPTH``.

Flower 2.0's simple prefix syntax, kept for code that still calls it, with 2.0's meaning (case-sensitive
substrings, and a task matches when *any* of the given conditions holds): :func:`parse_search_terms`,
:func:`satisfies_search_terms`, :func:`stringified_dict_contains_value`, :func:`preprocess_search_value`,
:func:`task_args_contains_search_args`.

Runs wherever its caller runs; over the live events state that is the IOLoop thread.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass

from flower.events.store import TaskStore
from flower.queries import SORTABLE_FIELDS, TaskFilter, parse_sort, select_tasks
from flower.search import And, KwargPair, Or, QuerySyntaxError, Term, find, parse_query as _parse
from flower.search.fields import folded as _folded
from flower.search.kwargs import kwargs_pairs as _kwargs_pairs
from flower.search.parser import MAX_DEPTH, MIN_SUBSTRING_LENGTH
from flower.search.tokens import MAX_QUERY_LENGTH, MAX_TOKENS, QUALIFIERS

__all__ = [
    'SEARCH_FIELDS',
    'EXACT_FIELDS',
    'EXACT_INDEX_FIELDS',
    'MIN_SUBSTRING_LENGTH',
    'MAX_QUERY_LENGTH',
    'MAX_QUERY_TOKENS',
    'MAX_QUERY_DEPTH',
    'QuerySyntaxError',
    'MatchAll',
    'Term',
    'KwargPair',
    'And',
    'Or',
    'parse_query',
    'SearchPage',
    'SearchDocument',
    'TaskSearchEngine',
    'parse_search_terms',
    'satisfies_search_terms',
    'stringified_dict_contains_value',
    'preprocess_search_value',
    'task_args_contains_search_args',
]

SEARCH_FIELDS = QUALIFIERS
EXACT_FIELDS = frozenset({'state'})
EXACT_INDEX_FIELDS = frozenset({'name', 'state', 'worker'})
MAX_QUERY_TOKENS = MAX_TOKENS
MAX_QUERY_DEPTH = MAX_DEPTH


class SearchDocument:
    """Flower's name: what the search matches in one task, case-folded: ``name``, ``state``, ``worker`` (the
    hostname), ``args``, ``kwargs``, ``result`` (missing ones are ``''``), ``all_text`` (those and the uuid,
    for a free-text word) and ``kwargs_pairs`` (``'key=value'`` for each keyword argument).
    ``SearchDocument.from_task(task)`` builds one; the engine itself reads the events store's indexes."""

    __slots__ = ('name', 'state', 'worker', 'args', 'kwargs', 'result', 'all_text', 'kwargs_pairs')

    def __init__(self, name, state, worker, args, kwargs, result, all_text, kwargs_pairs):
        self.name, self.state, self.worker = name, state, worker
        self.args, self.kwargs, self.result = args, kwargs, result
        self.all_text, self.kwargs_pairs = all_text, kwargs_pairs

    @classmethod
    def from_task(cls, task) -> 'SearchDocument':
        worker = getattr(task, 'worker', None)
        texts = {
            field: _folded_or_empty(value)
            for field, value in (
                ('uuid', getattr(task, 'uuid', None)),
                ('name', getattr(task, 'name', None)),
                ('state', getattr(task, 'state', None)),
                ('worker', getattr(worker, 'hostname', worker)),
                ('args', getattr(task, 'args', None)),
                ('kwargs', getattr(task, 'kwargs', None)),
                ('result', getattr(task, 'result', None)),
            )
        }
        pairs = frozenset(f'{key}={value}' for key, value in (_kwargs_pairs(getattr(task, 'kwargs', None)) or ()))
        return cls(
            texts['name'],
            texts['state'],
            texts['worker'],
            texts['args'],
            texts['kwargs'],
            texts['result'],
            '\x00'.join(texts.values()),
            pairs,
        )


def _folded_or_empty(value) -> str:
    text = _folded(value)
    return '' if text is None else text


@dataclass(frozen=True)
class MatchAll:
    """The empty query: every task matches."""


def parse_query(raw_query) -> MatchAll | Term | KwargPair | And | Or:
    """The tree ``raw_query`` means (:class:`MatchAll` for an empty or blank one). Term values come out
    case-folded, and ``kwargs:key=value`` as a :class:`KwargPair`. Raises :class:`QuerySyntaxError`."""
    if raw_query is None:
        raw_query = ''
    elif not isinstance(raw_query, str):
        raw_query = raw_query.decode('utf-8', 'replace') if isinstance(raw_query, bytes) else str(raw_query)
    root = _parse(raw_query).root
    return MatchAll() if root is None else root


@dataclass(frozen=True)
class SearchPage:
    """One page of a search: the task ids in order, how many tasks matched, how many were searched."""

    task_ids: list
    filtered_count: int
    total_count: int


class TaskSearchEngine:
    """Flower 2.2's search engine. ``TaskSearchEngine()`` keeps its own indexed copy of the tasks given to
    :meth:`rebuild`/:meth:`upsert`; ``TaskSearchEngine(store)`` answers from an existing task store (the events
    state's ``tasks``), whose indexes are maintained as events arrive."""

    def __init__(self, store: TaskStore | None = None):
        self._owns_store = store is None
        self.store = TaskStore(sys.maxsize) if store is None else store

    @property
    def documents(self):
        """The indexed tasks, by id (read-only)."""
        return self.store.data

    # -- indexing (only does something for an engine with a store of its own) ----------------------------
    def rebuild(self, tasks) -> None:
        """Index exactly these ``(task_id, task)`` pairs (an iterable or a mapping's ``items()``)."""
        if not self._owns_store:
            return
        self.store.clear()
        self.store.load(
            task for _, task in (tasks.items() if hasattr(tasks, 'items') else tasks) if getattr(task, 'uuid', None)
        )

    def upsert(self, task) -> None:
        """(Re-)index one task, after it was added or changed."""
        if self._owns_store and getattr(task, 'uuid', None):
            self.store[task.uuid] = task

    def remove(self, task_id) -> None:
        if self._owns_store:
            self.store.pop(task_id)

    # -- searching -----------------------------------------------------------------------------------------
    def matching_ids(self, query, candidates=None) -> set:
        """The ids of the indexed tasks matching ``query`` (text), within ``candidates`` when given."""
        found = find(self.store, query or '')
        if found is None:
            found = set(self.store.data)
        if candidates is not None:
            found = found & set(candidates)
        return found

    def search(
        self,
        tasks,
        query='',
        *,
        task_type=None,
        worker=None,
        state=None,
        received_start=None,
        received_end=None,
        sort_by=None,
        descending=False,
        offset=0,
        limit=None,
    ) -> SearchPage:
        """A page of the indexed tasks that are also in ``tasks`` (a mapping, or a store with ``data``) and
        match every given filter: ``task_type``/``worker``/``state`` exactly but case-insensitively, received
        time within ``received_start``..``received_end`` (timestamps), and ``query``. Newest first, or by
        ``sort_by`` (a task field; missing values first) ascending, or descending with ``descending``."""
        column, minus = parse_sort(sort_by, SORTABLE_FIELDS)
        flt = TaskFilter(
            workername=worker or None,
            taskname=task_type or None,
            state=state or None,
            received_start=received_start,
            received_end=received_end,
            search=query or None,
        )
        task_map = getattr(tasks, 'data', tasks)
        reverse = bool(descending) or minus
        offset = max(offset or 0, 0)
        limit = None if limit is None else max(limit, 0)
        if task_map is self.store.data:
            page = select_tasks(self.store, flt, column, reverse, offset, limit)
            return SearchPage([task.uuid for task in page.tasks], page.filtered, len(task_map))
        # a different task map: only tasks in both count
        ids = [task.uuid for task in select_tasks(self.store, flt, column, reverse).tasks if task.uuid in task_map]
        end = None if limit is None else offset + limit
        return SearchPage(ids[offset:end], len(ids), len(task_map))


# -- Flower 2.0's prefix syntax ----------------------------------------------------------------------------

# a run of characters without blanks or commas, where a double-quoted part may hold blanks
_SEARCH_PART = re.compile(r'(?:[^\s,"]|"(?:\\.|[^"])*")+')


def preprocess_search_value(raw_value) -> str:
    """A search value without its surrounding double quotes (``''`` for none)."""
    return raw_value.strip('"') if raw_value else ''


def parse_search_terms(raw_search_value) -> dict:
    """Flower 2.0's search text as a dict: ``result`` (text), ``args`` (list of texts), ``kwargs``
    (``{key: value}`` from ``kwargs:key=value``), ``state`` (list of states) and ``any`` (the last free term).
    Parts that do not parse (``kwargs:`` without ``=``) are skipped; an empty search is ``{}``."""
    terms: dict = {}
    if not raw_search_value:
        return terms
    for part in _SEARCH_PART.findall(str(raw_search_value)):
        prefix, _, rest = part.partition(':')
        if prefix == 'result' and _:
            terms['result'] = preprocess_search_value(rest)
        elif prefix == 'args' and _:
            terms.setdefault('args', []).append(preprocess_search_value(rest))
        elif prefix == 'kwargs' and _:
            key, equals, value = rest.partition('=')
            if equals and '=' not in value:
                terms.setdefault('kwargs', {})[key.strip()] = preprocess_search_value(value.strip())
        elif prefix == 'state' and _:
            terms.setdefault('state', []).append(preprocess_search_value(rest))
        else:
            terms['any'] = preprocess_search_value(part)
    return terms


def satisfies_search_terms(task, search_terms) -> bool:
    """Whether ``task`` (a task record) matches Flower 2.0's parsed terms: true with no terms, otherwise when
    at least one given condition holds (state in the listed states, the free term in its name, uuid, state,
    worker, args, kwargs or result, the result term in its result, every kwargs pair, every args term)."""
    any_term = search_terms.get('any')
    result_term = search_terms.get('result')
    args_terms = search_terms.get('args')
    kwargs_terms = search_terms.get('kwargs')
    state_terms = search_terms.get('state')
    if not (any_term or result_term or args_terms or kwargs_terms or state_terms):
        return True
    if state_terms and task.state in state_terms:
        return True
    if any_term:
        worker = getattr(task, 'worker', None)
        fields = (
            task.name,
            task.uuid,
            task.state,
            getattr(worker, 'hostname', worker),
            task.args,
            task.kwargs,
            task.result,
        )
        if any(field is not None and any_term in _text(field) for field in fields):
            return True
    if result_term and task.result is not None and result_term in _text(task.result):
        return True
    if kwargs_terms and all(
        stringified_dict_contains_value(key, value, task.kwargs) for key, value in kwargs_terms.items()
    ):
        return True
    return bool(args_terms) and task_args_contains_search_args(task.args, args_terms)


def stringified_dict_contains_value(key, value, str_dict) -> bool:
    """Whether a dict written as text (``"{'user': 'bob', 'n': 5}"``, as events carry kwargs) has ``key``
    with a value whose text is ``str(value)``. A real dict is accepted too."""
    if not str_dict:
        return False
    mapping = str_dict if isinstance(str_dict, dict) else _literal_dict(str(str_dict))
    if mapping is not None:
        return key in mapping and _text(mapping[key]) == str(value)
    return _scanned_value(str(str_dict), str(key)) == str(value)


def task_args_contains_search_args(task_args, search_args) -> bool:
    """Whether every search term occurs in the task's args text (``False`` for a task without args)."""
    if not task_args:
        return False
    text = _text(task_args)
    return all(arg in text for arg in search_args)


def _text(value) -> str:
    return value if isinstance(value, str) else repr(value)


def _literal_dict(text: str) -> dict | None:
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _scanned_value(text: str, key: str) -> str | None:
    """The value text after ``'key':`` in a dict's text that is not a Python literal (cut short, or holding
    a repr like ``<object at 0x..>``): up to the next comma or closing brace, quotes stripped."""
    for quote in ("'", '"'):
        start = text.find(f'{quote}{key}{quote}:')
        if start < 0:
            continue
        start += len(key) + 3
        end = len(text)
        for stop in (',', '}'):
            found = text.find(stop, start)
            if 0 <= found < end:
                end = found
        return text[start:end].strip().strip('"\'')
    return None
