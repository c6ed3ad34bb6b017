"""Whether one task matches a query: the reference meaning of every node, one task at a time.

* a plain term is a case-insensitive substring of any of the task's uuid, name, state, worker hostname,
  args, kwargs, result or exception;
* ``name:``, ``worker:``, ``args:``, ``kwargs:``, ``result:``, ``exception:``, ``traceback:`` are
  case-insensitive substrings of that field;
* ``state:`` is the whole state, compared case-insensitively;
* ``kwargs:key=value`` is a pair of the task's kwargs (see :mod:`flower.search.kwargs`);
* a missing field (``None``, e.g. the result of a task that has not finished) matches nothing.

:mod:`flower.search.engine` answers the same question for a whole store through its indexes; the tests hold the
two to the same answers. Runs on the IOLoop thread, or wherever a caller filters a stream of tasks.
"""

from __future__ import annotations

from flower.search.fields import PLAIN_FIELDS, field_value, folded
from flower.search.kwargs import kwargs_pairs
from flower.search.nodes import And, KwargPair, Node, Or, Query, Term
from flower.search.parser import parse_query


def matches(task, query) -> bool:
    """Whether ``task`` matches ``query`` (a :class:`Query`, a node of one, or query text)."""
    if isinstance(query, str):
        query = parse_query(query)
    node = query.root if isinstance(query, Query) else query
    return node is None or _matches(task, node)


def _matches(task, node: Node) -> bool:
    if type(node) is Term:
        return _term_matches(task, node)
    if type(node) is KwargPair:
        pairs = kwargs_pairs(task.kwargs)
        return pairs is not None and (node.key, node.value) in pairs
    if type(node) is And:
        return all(_matches(task, child) for child in node.children)
    if type(node) is Or:
        return any(_matches(task, child) for child in node.children)
    raise TypeError(f'not a search query node: {node!r}')


def _term_matches(task, term: Term) -> bool:
    needle = term.value
    if term.field is None:
        for field in PLAIN_FIELDS:
            text = folded(field_value(task, field))
            if text is not None and needle in text:
                return True
        return False
    text = folded(field_value(task, term.field))
    if text is None:
        return False
    if term.field == 'state':
        return text == needle
    return needle in text
