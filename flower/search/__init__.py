"""The task search query language (Flower 2.1's ``search`` parameter and the tasks page search box).

Public surface:

* :func:`parse_query` - query text to an immutable :class:`Query` (LRU-cached), or :class:`QuerySyntaxError`;
* :func:`find` - the uuids of the tasks of a ``TaskStore`` that match, or ``None`` for the empty query, using the
  store's indexes instead of scanning wherever they can answer;
* :func:`matches` - whether one task matches (for filtering a stream of tasks; also the reference the tests
  hold :func:`find` to).

The language: terms separated by whitespace must all match (``AND`` may be written out), ``OR`` (upper case)
offers alternatives, parentheses group, ``AND`` binds tighter than ``OR``. A plain term is a case-insensitive
substring of the uuid, name, state, worker, args, kwargs, result or exception; ``name:``, ``worker:``,
``args:``, ``kwargs:``, ``result:``, ``exception:``, ``traceback:`` search one field, ``state:`` is exact,
``kwargs:key=value`` matches one keyword argument. Double quotes keep spaces and parentheses in a term.

Pure Python, no web framework: it runs on the IOLoop thread because it reads the live events state.
"""

from flower.search.engine import find
from flower.search.errors import QuerySyntaxError
from flower.search.matching import matches
from flower.search.nodes import And, KwargPair, Or, Query, Term
from flower.search.parser import parse_query

__all__ = ['QuerySyntaxError', 'Query', 'Term', 'KwargPair', 'And', 'Or', 'parse_query', 'find', 'matches']
