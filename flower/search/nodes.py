"""The parsed form of a search query: an immutable tree of terms, ``And`` and ``Or``.

Values in the tree are already normalised for matching (case-folded, kwargs values in canonical text), so two
spellings of the same condition give equal nodes, and duplicates can be dropped by plain equality.
:func:`all_of` and :func:`any_of` are the only way the parser combines nodes: they flatten nested nodes of the
same kind and remove duplicates, keeping first occurrences in order.

Trees are shared between callers through the parse cache, which is why every node is frozen. Built and read
on the IOLoop thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Union

# Fields a qualified substring term can name (``state`` is matched exactly, the others as substrings).
SUBSTRING_FIELDS = ('name', 'worker', 'args', 'kwargs', 'result', 'exception', 'traceback')


@dataclass(frozen=True, slots=True)
class Term:
    """``field`` is a qualifier (``'name'``, ``'state'``, ...) or ``None`` for a plain term that searches every
    field; ``value`` is case-folded."""

    field: str | None
    value: str


@dataclass(frozen=True, slots=True)
class KwargPair:
    """``kwargs:key=value``: the task's keyword arguments contain this pair. ``key`` is stripped and
    case-folded, ``value`` is the canonical text of the value (see :mod:`flower.search.kwargs`)."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


Node = Union[Term, KwargPair, And, Or]


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query. ``root`` is ``None`` for the empty query, which matches every task."""

    root: Node | None

    @property
    def matches_all(self) -> bool:
        return self.root is None


def all_of(nodes: Iterable[Node]) -> Node:
    return _combine(And, nodes)


def any_of(nodes: Iterable[Node]) -> Node:
    return _combine(Or, nodes)


def _combine(kind: type[And] | type[Or], nodes: Iterable[Node]) -> Node:
    # dict keys keep the first occurrence of each child, in order
    children: dict[Node, None] = {}
    for node in nodes:
        if isinstance(node, kind):  # And and Or have no subclasses, so this is ``type(node) is kind``
            for child in node.children:
                children[child] = None
        else:
            children[node] = None
    if len(children) == 1:
        return next(iter(children))
    return kind(tuple(children))
