"""Parsing search query text into a :class:`~flower.search.nodes.Query`.

The grammar (AND binds tighter than OR; whitespace between terms is an implicit AND)::

    query   := [or_expr]
    or_expr := and_expr ("OR" and_expr)*
    and_expr:= primary (["AND"] primary)*
    primary := term | "(" or_expr ")"

What a term may be, and the errors for the rest, is decided here: a plain term and an ``args:``,
``kwargs:``, ``result:``, ``exception:`` or ``traceback:`` substring need at least ``MIN_SUBSTRING_LENGTH``
characters (a shorter one matches nearly everything and costs a full scan); ``name:`` and ``worker:`` only
test index keys, so any non-empty value goes, as for the exact ``state:``; every qualifier needs a value;
``kwargs:`` with ``key=value`` is a pair.
Groups nest at most ``MAX_DEPTH`` deep. Every error names the character position where it was found; the
parser reads tokens lazily so the position is that of the leftmost problem.

Parsed queries are immutable and kept in an LRU cache of ``PARSE_CACHE_SIZE`` entries, since the tasks page
sends the same search again on every refresh. Runs on the IOLoop thread.
"""

from __future__ import annotations

from functools import lru_cache

from flower.search import tokens
from flower.search.errors import QuerySyntaxError
from flower.search.kwargs import query_value
from flower.search.nodes import KwargPair, Node, Query, Term, all_of, any_of
from flower.search.tokens import Token

MIN_SUBSTRING_LENGTH = 3
# Substrings of these fields are tested against the few distinct values of the store's indexes, so a short one
# (``worker:w3``) costs nothing and is allowed; the length limit protects scans of the free-text fields.
INDEXED_FIELDS = frozenset({'name', 'worker'})
MAX_DEPTH = 5
PARSE_CACHE_SIZE = 512


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def parse_query(text: str) -> Query:
    """The query ``text`` means; an empty or blank text is the query that matches every task. Raises
    :class:`QuerySyntaxError` for a malformed query."""
    if not isinstance(text, str):
        raise TypeError(f'a search query is text, not {type(text).__name__}')
    return Query(_Parser(text).parse())


class _Parser:
    def __init__(self, text: str):
        self._tokens = tokens.tokenize(text)
        self._peeked: Token | None = None
        self._done = False

    def peek(self) -> Token | None:
        if self._peeked is None and not self._done:
            self._peeked = next(self._tokens, None)
            self._done = self._peeked is None
        return self._peeked

    def take(self) -> Token | None:
        token = self.peek()
        self._peeked = None
        return token

    def parse(self) -> Node | None:
        if self.peek() is None:
            return None
        node = self._or_expr(0)
        extra = self.peek()
        if extra is not None:  # only a ')' can stop the expression early
            raise _unexpected(extra)
        return node

    def _or_expr(self, depth: int) -> Node:
        parts = [self._and_expr(depth)]
        while (token := self.peek()) is not None and token.kind == tokens.OR:
            self.take()
            self._expect_operand(token)
            parts.append(self._and_expr(depth))
        return any_of(parts)

    def _and_expr(self, depth: int) -> Node:
        parts = [self._primary(depth)]
        while (token := self.peek()) is not None and token.kind not in (tokens.OR, tokens.RPAREN):
            if token.kind == tokens.AND:
                self.take()
                self._expect_operand(token)
            parts.append(self._primary(depth))
        return all_of(parts)

    def _expect_operand(self, operator: Token) -> None:
        following = self.peek()
        if following is None or following.kind not in (tokens.TERM, tokens.LPAREN):
            raise QuerySyntaxError('AND/OR must be followed by a search term', operator.position)

    def _primary(self, depth: int) -> Node:
        token = self.take()
        # every caller has peeked a token first (parse, _expect_operand, the loop in _and_expr, the group check)
        assert token is not None, 'a primary is parsed only where a token was seen'
        if token.kind == tokens.TERM:
            return term_node(token)
        if token.kind != tokens.LPAREN:
            raise _unexpected(token)
        if depth >= MAX_DEPTH:
            raise QuerySyntaxError(f'Parentheses nest more than {MAX_DEPTH} levels deep', token.position)
        following = self.peek()
        if following is None:
            raise QuerySyntaxError('Missing closing parenthesis', token.position)
        if following.kind == tokens.RPAREN:
            raise QuerySyntaxError('Empty group', token.position)
        node = self._or_expr(depth + 1)
        if self.take() is None:  # the group's expression stops only at ')' or at the end
            raise QuerySyntaxError('Missing closing parenthesis', token.position)
        return node


def _unexpected(token: Token) -> QuerySyntaxError:
    return QuerySyntaxError(f"Unexpected '{token.text}'", token.position)


def term_node(token: Token) -> Node:
    """The node for one term token, or the error that makes it invalid."""
    field, value = token.qualifier, token.value
    if field is not None and value == '':
        raise QuerySyntaxError('Search qualifier requires a value', token.position)
    if field == 'state':
        return Term('state', value.casefold())
    if field == 'kwargs':
        key, equals, wanted = value.partition('=')
        if equals and key.strip():
            return KwargPair(key.strip().casefold(), query_value(wanted))
    if field not in INDEXED_FIELDS and len(value) < MIN_SUBSTRING_LENGTH:
        raise QuerySyntaxError(
            f'Substring search terms must contain at least {MIN_SUBSTRING_LENGTH} characters', token.position
        )
    return Term(field, value.casefold())
