"""Splitting a search query into tokens: terms, ``AND``, ``OR`` and parentheses.

The lexical rules of the query language live here and nowhere else:

* whitespace separates tokens; ``(`` and ``)`` are tokens of their own wherever they appear outside quotes;
* a term runs until whitespace or a parenthesis; double quotes inside it protect whitespace and parentheses,
  and in quotes a backslash escapes ``"`` and ``\\`` (any other backslash is kept as it is);
* an unquoted word ``AND`` or ``OR`` (upper case only) is an operator; lower-case ``and``/``or`` are terms;
* a term whose unquoted beginning is ``<qualifier>:`` with a known qualifier (any letter case) is a qualified
  term; an unknown prefix leaves the colon as part of a plain term (``http://x`` is a plain term);
* ``NOT`` and a leading ``-`` look like negation, which the language does not have: both are rejected
  rather than silently searched for as text;
* the length and token-count limits, so a huge query is refused before any work is done on it.

Tokens are produced lazily so that the parser reports the leftmost problem first. Runs on the IOLoop thread
(called from the search parser).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from flower.search.errors import QuerySyntaxError

MAX_QUERY_LENGTH = 2048
MAX_TOKENS = 128

QUALIFIERS = frozenset({'name', 'state', 'worker', 'args', 'kwargs', 'result', 'exception', 'traceback'})

TERM = 'term'
AND = 'AND'
OR = 'OR'
LPAREN = '('
RPAREN = ')'

_OPERATORS = {'AND': AND, 'OR': OR}


@dataclass(frozen=True, slots=True)
class Token:
    """One token. ``text`` is the source text; for a term, ``value`` is the text with quotes removed and
    escapes applied, and ``qualifier`` the lower-cased qualifier name (``None`` for a plain term)."""

    kind: str
    text: str
    position: int
    qualifier: str | None = None
    value: str = ''


def tokenize(text: str) -> Iterator[Token]:
    """The tokens of ``text``, left to right; raises :class:`QuerySyntaxError` when it meets a problem."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(f'Search query is longer than {MAX_QUERY_LENGTH} characters', MAX_QUERY_LENGTH)
    end = len(text)
    i = 0
    count = 0
    while True:
        while i < end and text[i].isspace():
            i += 1
        if i >= end:
            return
        count += 1
        if count > MAX_TOKENS:
            raise QuerySyntaxError(f'Search query has more than {MAX_TOKENS} terms, operators and parentheses', i)
        char = text[i]
        if char == '(' or char == ')':
            yield Token(char, char, i)
            i += 1
            continue
        start = i
        segments, i = _read_word(text, i)
        yield _word_token(text[start:i], start, segments)


def _read_word(text: str, i: int) -> tuple[list[tuple[bool, str]], int]:
    """The ``(quoted, content)`` segments of the word starting at ``i`` and the offset just after it."""
    end = len(text)
    segments: list[tuple[bool, str]] = []
    plain: list[str] = []
    while i < end:
        char = text[i]
        if char.isspace() or char == '(' or char == ')':
            break
        if char != '"':
            plain.append(char)
            i += 1
            continue
        if plain:
            segments.append((False, ''.join(plain)))
            plain = []
        opening = i
        quoted: list[str] = []
        i += 1
        while True:
            if i >= end:
                raise QuerySyntaxError('Unterminated quoted phrase', opening)
            char = text[i]
            if char == '\\' and i + 1 < end and text[i + 1] in '"\\':
                quoted.append(text[i + 1])
                i += 2
            elif char == '"':
                i += 1
                break
            else:
                quoted.append(char)
                i += 1
        segments.append((True, ''.join(quoted)))
    if plain:
        segments.append((False, ''.join(plain)))
    return segments, i


def _word_token(source: str, position: int, segments: list[tuple[bool, str]]) -> Token:
    first_quoted, first = segments[0]
    if not first_quoted:
        if len(segments) == 1:
            operator = _OPERATORS.get(first)
            if operator is not None:
                return Token(operator, source, position)
            if first == 'NOT':
                raise QuerySyntaxError('NOT is not supported', position)
        if first.startswith('-'):
            raise QuerySyntaxError("Excluding terms with a leading '-' is not supported", position)
        prefix, colon, rest = first.partition(':')
        if colon and prefix.lower() in QUALIFIERS:
            value = rest + ''.join(content for _, content in segments[1:])
            return Token(TERM, source, position, prefix.lower(), value)
    return Token(TERM, source, position, None, ''.join(content for _, content in segments))
