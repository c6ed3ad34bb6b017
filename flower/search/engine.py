"""Answering a search query over a whole :class:`~flower.events.store.TaskStore` without scanning where an
index can answer.

The store keeps exact indexes (``by_state``, ``by_name``, ``by_worker``: value -> {uuid: task}). They have few
distinct keys, so a condition on state, name or worker is decided per *key*, and the matching buckets are the
answer: ``state:X`` is a bucket lookup, ``name:sub``/``worker:sub`` test each distinct key and union the
buckets, and a plain term asks the indexes for name/state/worker and scans only uuid, args, kwargs, result and
exception. Only substring searches in those text fields (and ``traceback:``), and ``kwargs:key=value``, read
every task.

Each node becomes a :class:`Plan`: an estimated result size, what it costs to materialise the result
(``select``) and what it costs to test one task (``test``). ``AND`` materialises its most selective operand
first and then, operand by operand, either filters what is left with the per-task test or, when filtering
would cost more (a kwargs pair tested on 90k tasks), materialises that operand too and intersects; so a
narrow index bucket never waits for a scan. ``OR`` unions.

Nothing here runs on the event path and nothing is cached between queries except parsed queries and parsed
kwargs: the indexes are maintained by the store. Runs on the IOLoop thread (it reads the live store).
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Callable

from flower.search.fields import folded, folded_present, is_caseless, text_of
from flower.search.kwargs import PairSearch
from flower.search.nodes import And, KwargPair, Node, Or, Term
from flower.search.parser import parse_query

# Rough costs in nanoseconds on a small server, used only to compare alternatives.
_COPY_COST = 30  # putting one uuid of an index bucket into a result set
_INDEX_TEST_COST = 120  # testing one task's state/name/worker against a set of matching keys
_TEXT_TEST_COST = 300  # case-folding one text field of one task and searching it
_TEXT_SCAN_COST = 90  # the same, per task, inside a tight scan over the store
_PAIR_SCAN_COST = 200  # the bulk kwargs-pair search, per task
_PAIR_TEST_COST = 3000  # one task's kwargs pair (a cached parse, or a literal_eval when not cached)

# The text fields no index covers: what a plain term has to scan.
_SCANNED_FIELDS = ('uuid', 'args', 'kwargs', 'result', 'exception')

_INDEXED = {'state': 'by_state', 'name': 'by_name', 'worker': 'by_worker'}


@dataclass
class Plan:
    """How to answer one node over one store: ``select()`` returns a new set of uuids, ``test(task)`` says
    whether one task matches. ``size`` estimates the result; the costs compare ways to combine plans."""

    size: int
    select_cost: float
    test_cost: float
    select: Callable[[], set]
    test: Callable[[object], bool]


def find(store, query) -> set[str] | None:
    """The uuids of the tasks in ``store`` matching ``query`` (text or a parsed :class:`Query`), or ``None``
    when the query matches every task. Raises :class:`~flower.search.QuerySyntaxError` for bad text."""
    if isinstance(query, str):
        query = parse_query(query)
    if query.root is None:
        return None
    return plan(store, query.root).select()


def plan(store, node: Node) -> Plan:
    if type(node) is Term:
        return _term_plan(store, node)
    if type(node) is KwargPair:
        return _pair_plan(store, node)
    if type(node) is And:
        return _and_plan(store, [plan(store, child) for child in node.children])
    if type(node) is Or:
        return _or_plan(store, [plan(store, child) for child in node.children])
    raise TypeError(f'not a search query node: {node!r}')


def _term_plan(store, term: Term) -> Plan:
    field, needle = term.field, term.value
    if field == 'state':
        return _index_plan(store, 'state', lambda key: folded(key) == needle)
    if field in ('name', 'worker'):
        return _index_plan(store, field, lambda key: _contains(key, needle))
    if field is not None:
        return _text_plan(store, (field,), needle)
    # a plain term: indexes for the fields they cover, a scan for the rest
    indexed = [_index_plan(store, name, lambda key: _contains(key, needle)) for name in ('name', 'state', 'worker')]
    return _or_plan(store, indexed + [_text_plan(store, _SCANNED_FIELDS, needle)])


def _contains(key, needle: str) -> bool:
    text = folded(key)
    return text is not None and needle in text


def _index_plan(store, field: str, wanted: Callable[[object], bool]) -> Plan:
    index = getattr(store, _INDEXED[field])
    keys = frozenset(key for key in index if wanted(key))
    buckets = [index[key] for key in keys]
    size = sum(map(len, buckets))

    def select() -> set:
        if len(buckets) == 1:
            return set(buckets[0])
        return set().union(*buckets)

    if not keys:
        test = _never
    elif field == 'state':

        def test(task) -> bool:
            return task.state in keys
    elif field == 'name':

        def test(task) -> bool:
            return task.name in keys
    else:

        def test(task) -> bool:
            worker = task.worker
            return worker is not None and worker.hostname in keys

    return Plan(size, size * _COPY_COST, _INDEX_TEST_COST, select, test)


def _never(task) -> bool:
    return False


def _text_plan(store, fields: tuple[str, ...], needle: str) -> Plan:
    data = store.data
    caseless = is_caseless(needle)

    def select() -> set:
        if fields == _SCANNED_FIELDS and '\x00' not in needle:
            return _scan_plain_fields(data, needle, caseless)
        found: set = set()
        for field in fields:
            found |= _scan_field(data, field, needle, caseless)
        return found

    def test(task) -> bool:
        for field in fields:
            text = folded(getattr(task, field))
            if text is not None and needle in text:
                return True
        return False

    count = len(data)
    return Plan(count, count * _TEXT_SCAN_COST * len(fields), _TEXT_TEST_COST * len(fields), select, test)


def all_tasks(data):
    """The tasks of a store's ``data``, fastest first: iterating an ``OrderedDict`` follows its linked list
    and looks every key up again (30 ms for 100k tasks), the plain dict underneath reads its entry table in
    order (under 1 ms). A scan does not care about the order."""
    return dict.values(data) if isinstance(data, dict) else data.values()


def _scan_field(data, field: str, needle: str, caseless: bool) -> set:
    """The uuids whose ``field`` contains ``needle``: the loop that decides how fast text search is, so it is
    one comprehension per case, and skips case-folding when it cannot matter."""
    get = attrgetter(field)
    tasks = all_tasks(data)
    if caseless:
        return {
            task.uuid
            for task in tasks
            if (
                needle in value
                if (value := get(task)).__class__ is str
                else value is not None and needle in folded_present(value)
            )
        }
    return {
        task.uuid
        for task in tasks
        if (
            needle in value.casefold()
            if (value := get(task)).__class__ is str
            else value is not None and needle in folded_present(value)
        )
    }


def _scan_plain_fields(data, needle: str, caseless: bool) -> set:
    """The uuids whose uuid, args, kwargs, result or exception contain ``needle`` (which holds no NUL, so it
    cannot match across the NULs joining the fields): one pass that reads each task once, since reading the task
    records from memory costs more than the search itself."""
    text = _text_or_empty
    if caseless:
        return {
            task.uuid
            for task in all_tasks(data)
            if needle
            in (
                f'{u if (u := task.uuid).__class__ is str else text(u)}\x00'
                f'{a if (a := task.args).__class__ is str else text(a)}\x00'
                f'{k if (k := task.kwargs).__class__ is str else text(k)}\x00'
                f'{r if (r := task.result).__class__ is str else text(r)}\x00'
                f'{e if (e := task.exception).__class__ is str else text(e)}'
            )
        }
    return {
        task.uuid
        for task in all_tasks(data)
        if needle
        in (
            f'{u if (u := task.uuid).__class__ is str else text(u)}\x00'
            f'{a if (a := task.args).__class__ is str else text(a)}\x00'
            f'{k if (k := task.kwargs).__class__ is str else text(k)}\x00'
            f'{r if (r := task.result).__class__ is str else text(r)}\x00'
            f'{e if (e := task.exception).__class__ is str else text(e)}'
        ).casefold()
    }


def _text_or_empty(value) -> str:
    text = text_of(value)
    return '' if text is None else text


def _pair_plan(store, pair: KwargPair) -> Plan:
    search = PairSearch(pair.key, pair.value)
    data = store.data
    count = len(data)
    return Plan(count, count * _PAIR_SCAN_COST, _PAIR_TEST_COST, lambda: search.select(data), search.test)


def _and_plan(store, plans: list[Plan]) -> Plan:
    data = store.data
    # most selective first; among equal estimates (scans), the cheaper one to materialise
    plans = sorted(plans, key=lambda p: (p.size, p.select_cost))
    tests = [p.test for p in sorted(plans, key=lambda p: p.test_cost)]

    def select() -> set:
        result = plans[0].select()
        filters = []
        for other in plans[1:]:
            if not result:
                return result
            if len(result) * other.test_cost <= other.select_cost:
                filters.append(other)
            else:
                result &= other.select()
        for other in sorted(filters, key=lambda p: p.test_cost):
            test = other.test
            result = {uuid for uuid in result if test(data[uuid])}
            if not result:
                break
        return result

    def test(task) -> bool:
        return all(check(task) for check in tests)

    first = plans[0]
    rest_cost = sum(min(first.size * p.test_cost, p.select_cost) for p in plans[1:])
    return Plan(first.size, first.select_cost + rest_cost, sum(p.test_cost for p in plans), select, test)


def _or_plan(store, plans: list[Plan]) -> Plan:
    tests = [p.test for p in sorted(plans, key=lambda p: p.test_cost)]

    def select() -> set:
        result: set = set()
        for part in plans:
            result |= part.select()
        return result

    def test(task) -> bool:
        return any(check(task) for check in tests)

    size = min(len(store.data), sum(p.size for p in plans))
    return Plan(size, sum(p.select_cost for p in plans), sum(p.test_cost for p in plans), select, test)
