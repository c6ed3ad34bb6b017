"""``kwargs:key=value``: reading keyword-argument pairs out of tasks, safely and quickly.

**Meaning.** A task has the pair when its kwargs are a dict (or the repr of one, read with
:func:`ast.literal_eval`, never ``eval``) with a string key equal to ``key`` and a value whose canonical text
equals ``value``, both sides stripped and case-folded. The canonical text of a value is the string itself for
a string and its ``repr`` otherwise, and the query's value is first read as a Python literal when it is one, so
``x=5`` matches ``{'x': 5}`` and ``{'x': '5'}``, ``flag=true`` matches ``{'flag': True}``, ``ids=[1,2]`` matches
``{'ids': [1, 2]}`` and ``name='Bob'`` matches ``{'name': 'bob'}``. Kwargs text that does not parse (a truncated
repr, an object repr like ``<Foo at 0x...>``) has no pairs; so does text longer than ``MAX_PARSED_LENGTH``.

**Speed.** Parsing 100k reprs per query would take seconds, so :class:`PairSearch` never parses a repr unless
it may hold the pair: it joins every kwargs string of the store into one case-folded text and runs one regular
expression over it in C, starting with the key's text so the engine can skip ahead. The expression matches
every way Python literal syntax can spell the pair around the key and the value (quotes, string prefixes,
parentheses, whitespace, signs, hex/octal/binary and ``_`` in integers), so a kwargs string it does not match
cannot hold the pair, unless it is spelled in a way the expression does not follow: backslash escapes,
comments, or adjacent string literals splitting the key or value text (``'us' 'er'``). Strings with those are
found with a few C-level passes and always parsed. Whatever may hold the pair is confirmed by parsing, through
an LRU cache of parsed pairs per distinct kwargs string. Values the expression cannot describe (floats,
containers, bytes) fall back to matching the key only, then parsing. The tests hold the bulk search to the
per-task parse on hundreds of spellings.

Nothing is computed when events arrive. Runs on the IOLoop thread.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterable
from functools import lru_cache
from itertools import islice
from operator import attrgetter

PARSE_CACHE_SIZE = 4096
MAX_PARSED_LENGTH = 65536

# Integers longer than this are looked for by key only (their binary spelling makes a huge expression).
_MAX_FAST_INT_DIGITS = 40


def value_text(value) -> str | None:
    """The canonical, case-folded text of a kwargs value (``None`` if it has no text, e.g. an int too long
    for ``repr``)."""
    try:
        text = value if value.__class__ is str else str(value) if isinstance(value, str) else repr(value)
    except Exception:  # noqa: BLE001 - repr of a parsed literal can only fail on limits (int digits, depth)
        return None
    return text.strip().casefold()


def _literal(text: str):
    """``ast.literal_eval(text)``, or raises. Invalid escapes in the text must not print warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return ast.literal_eval(text)


def query_value(text: str) -> str:
    """The canonical text of the value half of ``kwargs:key=value`` as the user typed it."""
    stripped = text.strip()
    try:
        value = _literal(stripped)
    except Exception:  # noqa: BLE001 - anything that is not a literal is meant as plain text
        value = stripped
    canonical = value_text(value)
    return stripped.casefold() if canonical is None else canonical


def pairs_of(mapping: dict) -> frozenset:
    pairs = set()
    for key, value in mapping.items():
        if isinstance(key, str):
            text = value_text(value)
            if text is not None:
                pairs.add((key.strip().casefold(), text))
    return frozenset(pairs)


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def parsed_pairs(text: str) -> frozenset | None:
    """The pairs of a kwargs repr, or ``None`` when it is not the repr of a dict."""
    if len(text) > MAX_PARSED_LENGTH:
        return None
    try:
        value = _literal(text)
    except Exception:  # noqa: BLE001 - malformed, truncated or hostile text simply has no pairs
        return None
    return pairs_of(value) if isinstance(value, dict) else None


def kwargs_pairs(kwargs) -> frozenset | None:
    """The normalised ``(key, value)`` pairs of a task's kwargs (a repr string or a dict)."""
    if kwargs is None:
        return None
    if kwargs.__class__ is str:
        return parsed_pairs(kwargs)
    if isinstance(kwargs, dict):
        return pairs_of(kwargs)
    if isinstance(kwargs, str):
        return parsed_pairs(str(kwargs))
    return None


# -- finding the pair in many reprs at once ----------------------------------------------------------------

# After the key's text: its trailing whitespace, the closing quote, adjacent literals holding only whitespace
# ('x' u' '), parentheses, the colon. String prefixes are r and u (b would make bytes, f is not a literal).
_KEY_TAIL = r"""[\s'"ru)]*:"""
# Before and after a value: the same, and the signs of a number.
_STR_LEAD = r"""[\s('"ru]*"""
_INT_LEAD = r"""[\s(+\-'"ru]*"""
_VALUE_TAIL = r"""[\s'"ru)]*[,}]"""

_INT_TEXT = re.compile(r'-?(?:0|[1-9][0-9]*)\Z')
# Every character a float or complex repr can contain ('1e+20', '-inf', 'nan', '(1+2j)').
_NUMERIC_CHARS = frozenset('0123456789.e+-infaj()')

# Characters that let Python spell a literal in ways the expression does not follow: escapes, line
# continuations and comments.
_UNFOLLOWED = ('\\', '#')
# Adjacent string literals ('ab' == 'a' 'b' == 'a'u"b") split a text the expression looks for in one piece.
# They are found in the bytes of the text with both quotes made alike and Python's whitespace and the string
# prefixes r/u deleted: two adjacent literals then leave two quotes in a row. (So does an empty string, or one
# holding only r and u; those are merely parsed when they need not be.)
_QUOTES_ALIKE = bytes.maketrans(b'"', b"'")
_SQUEEZED = b' \t\x0c\r\nru'

_KWARGS = attrgetter('kwargs')
# Tasks searched per joined text.
_CHUNK = 2048


def _int_spellings(text: str) -> str:
    digits = text.lstrip('-')
    number = int(digits)
    if number == 0:
        return r'0[0xob_]*'
    forms = ['_?'.join(digits)]
    for prefix, spec in (('0x', 'x'), ('0o', 'o'), ('0b', 'b')):
        forms.append(prefix + r'(?:_?0)*_?' + '_?'.join(format(number, spec)))
    return '(?:' + '|'.join(forms) + ')'


def _value_pattern(value: str) -> str | None:
    """The expression for every spelling of a value with canonical text ``value``, or ``None`` when the value
    could be a float, complex, container, bytes or Ellipsis, whose spellings are not followed."""
    if _INT_TEXT.match(value):
        if len(value) > _MAX_FAST_INT_DIGITS:
            return None
        return _INT_LEAD + _int_spellings(value) + _VALUE_TAIL
    if not value or set(value) <= _NUMERIC_CHARS:
        return None
    if value[0] in '[({' or value.startswith(("b'", 'b"')) or value in ('ellipsis', 'set()'):
        return None
    # Only a string, True, False or None has this canonical text; each appears in the repr as written.
    return _STR_LEAD + re.escape(value) + _VALUE_TAIL


@lru_cache(maxsize=256)
def _pattern(key: str, value: str):
    """The expression matching, in case-folded kwargs text, every place the pair (or, for values it cannot
    describe, the key) can be written; ``None`` when the separator of the joined text is part of the pair."""
    if '\x00' in key or '\x00' in value:
        return None
    # starting with the key's text lets the regex engine skip ahead with a fast substring search
    return re.compile(re.escape(key) + _KEY_TAIL + (_value_pattern(value) or ''))


class PairSearch:
    """One ``kwargs:key=value`` condition, evaluated per task (:meth:`test`) or over a whole store
    (:meth:`select`)."""

    __slots__ = ('pair', 'pattern', 'splittable')

    def __init__(self, key: str, value: str):
        self.pair = (key, value)
        self.pattern = _pattern(key, value)
        # Adjacent literals can only split a text of two characters or more; around the key and the value
        # the expression already allows them.
        self.splittable = len(key) > 1 or (len(value) > 1 and _value_pattern(value) is not None)

    def test(self, task) -> bool:
        pairs = kwargs_pairs(task.kwargs)
        return pairs is not None and self.pair in pairs

    def select(self, data) -> set:
        """The uuids of the tasks in ``data`` (uuid -> task) that have the pair."""
        # The plain dict under the store's OrderedDict iterates 30x faster (see engine.all_tasks). Chunks keep
        # the lists and joined text small enough to stay in cache: one 100k-task pass spends a third of its
        # time just releasing references to objects that have long left the cache.
        tasks_iter = iter(dict.values(data) if isinstance(data, dict) else data.values())
        found: set = set()
        while True:
            tasks = list(islice(tasks_iter, _CHUNK))
            if not tasks:
                return found
            self._select_chunk(tasks, found)

    def _select_chunk(self, tasks: list, found: set) -> None:
        kwargs = list(map(_KWARGS, tasks))
        pair = self.pair
        try:
            joined = '\x00'.join(kwargs)
            texts = kwargs
        except TypeError:
            # some kwargs are missing or are dicts: dicts are checked directly, the rest searched as text
            texts = [value if value.__class__ is str else '' for value in kwargs]
            joined = '\x00'.join(texts)
            for position, value in enumerate(kwargs):
                if value is not None and value.__class__ is not str:
                    pairs = kwargs_pairs(value)
                    if pairs is not None and pair in pairs:
                        found.add(tasks[position].uuid)
        if self.pattern is None or joined.count('\x00') != len(texts) - 1:
            # the separator is part of the pair or of some kwargs: no bulk search, parse them all
            candidates: Iterable[int] = range(len(texts))
        else:
            candidates = self._candidates(joined.casefold())
        for position in candidates:
            text = texts[position]
            if text:
                pairs = kwargs_pairs(text)
                if pairs is not None and pair in pairs:
                    found.add(tasks[position].uuid)

    def _candidates(self, folded: str) -> set[int]:
        """Positions (in store order) of the kwargs strings that may hold the pair."""
        candidates = _unfollowed(folded, self.splittable)
        search = self.pattern.search
        index = 0
        counted_to = 0
        at = 0
        while True:
            match = search(folded, at)
            if match is None:
                break
            start = match.start()
            if not _opens_string(folded, start):
                # the key's text ends a longer word ('max' for key 'x'); look again one character on
                at = start + 1
                continue
            index += folded.count('\x00', counted_to, start)
            counted_to = start
            candidates.add(index)
            following = folded.find('\x00', start)
            if following < 0:
                break
            at = following + 1
        return candidates


def _opens_string(text: str, start: int) -> bool:
    """Whether the key text at ``start`` can be the start of a string's content: only whitespace lies
    between it and a quote."""
    i = start - 1
    while i >= 0 and text[i].isspace():
        i -= 1
    return i >= 0 and text[i] in '\'"'


def _unfollowed(folded: str, splittable: bool) -> set[int]:
    """Positions of the kwargs strings spelled in ways the expression does not follow."""
    positions: set[int] = set()
    for char in _UNFOLLOWED:
        if char in folded:
            positions |= _positions_of(folded, char)
    if not splittable:
        return positions
    squeezed = folded.encode('utf-8', 'surrogatepass').translate(_QUOTES_ALIKE, _SQUEEZED)
    if b"''" in squeezed:
        positions |= _positions_of(squeezed, b"''")
    return positions


def _positions_of(text, needle) -> set[int]:
    """Positions of the \\0-separated parts of ``text`` (str or bytes) that contain ``needle``."""
    separator = '\x00' if isinstance(text, str) else b'\x00'
    positions = set()
    index = 0
    counted_to = 0
    at = text.find(needle)
    while at >= 0:
        index += text.count(separator, counted_to, at)
        counted_to = at
        positions.add(index)
        following = text.find(separator, at)
        if following < 0:
            break
        at = text.find(needle, following + 1)
    return positions
