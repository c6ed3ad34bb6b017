"""``kwargs:key=value``: what a pair means, that kwargs text is never evaluated, and that the bulk search over
many kwargs strings finds exactly the tasks the per-task parse finds, for every way Python can spell a dict."""

from __future__ import annotations

import random
from collections import OrderedDict
from types import SimpleNamespace

import pytest

from flower.events.state import EventsState
from flower.search import KwargPair, find, matches, parse_query
from flower.search import kwargs as kwargs_module
from flower.search.kwargs import PARSE_CACHE_SIZE, PairSearch, kwargs_pairs, parsed_pairs, query_value
from tests.support.events import task_events


def pair_of(text: str) -> KwargPair:
    node = parse_query('kwargs:"' + text.replace('\\', '\\\\').replace('"', '\\"') + '"').root
    assert isinstance(node, KwargPair), text
    return node


def has_pair(kwargs, text: str) -> bool:
    return matches(SimpleNamespace(kwargs=kwargs), pair_of(text))


# -- meaning -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    'kwargs, query, expected',
    [
        ("{'x': 5}", 'x=5', True),
        ("{'x': 5}", "x='5'", True),
        ("{'x': '5'}", 'x=5', True),
        ("{'x': 5}", 'X=5', True),
        ("{'X': 5}", 'x=5', True),
        ("{'x': 5}", ' x = 5 ', True),
        ("{'x': 5}", 'x=0x5', True),
        ("{'x': 5}", 'x=+5', True),
        ("{'x': 5}", 'x=05', False),
        ("{'x': 5}", 'x=5.0', False),
        ("{'x': 15}", 'x=5', False),
        ("{'x': 5}", 'y=5', False),
        ("{'max': 5}", 'x=5', False),
        ("{'x': 5, 'y': 6}", 'y=6', True),
        ("{'x': -5}", 'x=-5', True),
        ("{'flag': True}", 'flag=true', True),
        ("{'flag': True}", 'flag=True', True),
        ("{'flag': True}", 'flag=1', False),
        ("{'flag': 'TRUE'}", 'flag=true', True),
        ("{'n': None}", 'n=none', True),
        ("{'n': None}", 'n=', False),
        ("{'n': ''}", 'n=', True),
        ("{'ids': [1, 2]}", 'ids=[1,2]', True),
        ("{'ids': [1, 2]}", 'ids=[1, 2]', True),
        ("{'ids': [1, 2]}", 'ids=1', False),
        ("{'name': 'Bob Smith'}", 'name=bob smith', True),
        ("{'name': 'Bob Smith'}", "name='BOB SMITH'", True),
        ("{'name': 'Bob Smith'}", 'name=bob', False),
        ("{'name': '  Bob  '}", 'name=bob', True),
        ("{'city': 'Straße'}", 'city=STRASSE', True),
        ("{'f': 1.5}", 'f=1.50', True),
        ("{'f': 1e20}", 'f=100000000000000000000.0', True),
        ("{'d': {'a': 1}}", "d={'a': 1}", True),
        ("{'d': {'a': 1}}", 'a=1', False),  # only top-level pairs
        ("{'x': 5, 'x': 6}", 'x=5', False),  # the last duplicate wins, as in Python
        ("{5: 'x'}", '5=x', False),  # keyword arguments have string keys
        ("[('x', 5)]", 'x=5', False),
        ("{'x': 5", 'x=5', False),  # truncated
        ("{'x': 5, 'y': 'abc… [truncated: 12,345 characters in all]", 'x=5', False),
        ("{'x': <object at 0x7f>}", 'x=5', False),
        ("", 'x=5', False),
        (None, 'x=5', False),
        ({'x': 5}, 'x=5', True),
        ({'x': '5'}, 'x=5', True),
        ({'X ': 'Yes'}, 'x=yes', True),
        ({5: 5}, '5=5', False),
        ((('x', 5),), 'x=5', False),
    ],
)
def test_pair_meaning(kwargs, query, expected):
    assert has_pair(kwargs, query) is expected


def test_query_value_is_read_as_a_literal_when_it_is_one():
    assert query_value(' 5 ') == '5'
    assert query_value('0x10') == '16'
    assert query_value("'Bob'") == 'bob'
    assert query_value('"it\'s"') == "it's"
    assert query_value('[1,2]') == '[1, 2]'
    assert query_value('True') == 'true'
    assert query_value('bob smith') == 'bob smith'
    assert query_value("__import__('os')") == "__import__('os')"
    assert query_value('1' * 5000) == '1' * 5000  # too long for int(): kept as text


def test_kwargs_text_is_never_evaluated(tmp_path):
    marker = tmp_path / 'evaluated'
    hostile = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    assert kwargs_pairs(hostile) is None
    assert kwargs_pairs("{'x': " + hostile + '}') is None
    assert not has_pair(hostile, 'x=5')
    assert not matches(SimpleNamespace(kwargs=hostile), pair_of('x=None'))
    assert not marker.exists()


def test_deeply_nested_or_huge_kwargs_have_no_pairs():
    assert kwargs_pairs('{"x": ' + '[' * 5000 + ']' * 5000 + '}') is None
    assert kwargs_pairs("{'x': '" + 'a' * (kwargs_module.MAX_PARSED_LENGTH + 10) + "'}") is None
    assert kwargs_pairs("{'x': " + '9' * 5000 + '}') is None


def test_invalid_escapes_do_not_warn(recwarn):
    parsed_pairs.cache_clear()
    assert kwargs_pairs(r"{'path': 'C:\dir'}") == frozenset({('path', 'c:\\dir')})
    assert not recwarn.list


def test_parsed_kwargs_are_cached_per_distinct_string(monkeypatch):
    parsed_pairs.cache_clear()
    calls = []
    real = kwargs_module._literal
    monkeypatch.setattr(kwargs_module, '_literal', lambda text: calls.append(text) or real(text))
    for _ in range(3):
        assert kwargs_pairs("{'cached': 1}") == frozenset({('cached', '1')})
    assert calls == ["{'cached': 1}"]
    assert parsed_pairs.cache_info().maxsize == PARSE_CACHE_SIZE == 4096


# -- bulk search == per-task parse -------------------------------------------------------------------------


def store_of(kwargs_list):
    return OrderedDict(
        (f'task-{i}', SimpleNamespace(uuid=f'task-{i}', kwargs=kwargs)) for i, kwargs in enumerate(kwargs_list)
    )


def assert_bulk_matches_per_task(kwargs_list, queries):
    data = store_of(kwargs_list)
    for query in queries:
        node = pair_of(query)
        search = PairSearch(node.key, node.value)
        expected = {uuid for uuid, task in data.items() if search.test(task)}
        assert search.select(data) == expected, (query, [data[u].kwargs for u in expected ^ search.select(data)])


# Ways Python spells {'x': 5}, {'user': 'user42'} and friends, and near misses.
SPELLINGS = [
    "{'x': 5}",
    '{"x": 5}',
    "{'x':5}",
    "{ 'x' : 5 }",
    "{'X': 5}",
    "{' x ': 5}",
    "{'x': 0x5}",
    "{'x': 0X5}",
    "{'x': 0o5}",
    "{'x': 0b101}",
    "{'x': 0b_101}",
    "{'x': 0x_0_5}",
    "{'x': 5_0}",
    "{'x': +5}",
    "{'x': -5}",
    "{'x': -(5)}",
    "{'x': - 5}",
    "{'x': (5)}",
    "{'x': ( 5 )}",
    "{('x'): 5}",
    "{'x' '': 5}",
    "{'' 'x': 5}",
    "{'x' u'': 5}",
    "{u'x': 5}",
    "{U'x': 5}",
    "{r'x': 5}",
    "{R'x': 5}",
    "{'\\x78': 5}",
    "{'x': '5'}",
    "{'x': ' 5 '}",
    "{'x': '\\x35'}",
    "{'x': '5' ''}",
    "{'x': '' '5'}",
    "{'x': 5, 'x': 6}",
    "{'x': 6, 'x': 5}",
    "{'a': {'x': 5}}",
    "{'x': [5]}",
    "{'x': 5.0}",
    "{'x': 5j}",
    "{'x': True}",
    "{'max': 5}",
    "{'x': 15}",
    "{'x': 51}",
    "{'x':\n5}",
    "{'x': 5 # five\n}",
    "{'x' # the key\n: 5}",
    "['x', 5]",
    "{b'x': 5}",
    "{'x': b'5'}",
    "{'x': 0}",
    "{'x': 00}",
    "{'x': 0x0}",
    "{'x': -0}",
    "{'x': 5,}",
    "{'x':\t5}",
    "{'x': \\\n 5}",
    "{\"x\": '5'}",
    "{'x': \"5\"}",
    "{'user': 'user42'}",
    "{'us' 'er': 'user' '42'}",
    "{'user': 'user' u'42'}",
    "{'user': 'USER42'}",
    "{'user': 'user42 '}",
    "{'user': 'user420'}",
    '{"user": "user42"}',
    "{'user': '''user42'''}",
    "{'user': \"\"\"user42\"\"\"}",
    "{'user': 'user\\x34\\x32'}",
    "{'user': r'user42'}",
    "{'user': ('user42')}",
    "{'user': 'user42', }",
    "{'user': 'user4' '2'}",
    "{'user': 'user4' \n '2'}",
    "{'user' : 'u' 'ser42'}",
    "{'USER': 'User42'}",
    "{'user': 'user42'\t}",
    "{'xuser': 'user42'}",
    "{'user': 'xuser42'}",
    "{'user': 'user42', 'x': 5}",
    "{'x': 5, 'user': 'user42'}",
    "{'flag': True}",
    "{'flag': 'TRUE'}",
    "{'flag': true}",
    "{'flag': (True)}",
    "{'n': None}",
    "{'n': 'none'}",
    "{'n': 'None' ''}",
    "{'n': ''}",
    "{'n': \"\"}",
    "{'name': 'Bob Smith'}",
    "{'name': 'bob  smith'}",
    "{'name': 'Bob' ' Smith'}",
    "{'name': ' BOB SMITH '}",
    "{'city': 'Straße'}",
    "{'city': 'STRASSE'}",
    "{'city': 'Stra\\xdfe'}",
    "{'ids': [1, 2]}",
    "{'ids': [1,2]}",
    "{'f': 1.5}",
    "{'f': 1.50}",
    "{'f': 15e-1}",
    "{'x': 16}",
    "{'x': 0x10}",
    "{'x': 0o20}",
    "{'x': 0b10000}",
    "{'x': 1_6}",
    "{'x': '16'}",
    "{'x': '1' '6'}",
    "{'x': -16}",
    "{'x': '-16'}",
    "{'x': -0x10}",
    "{'x\\x00': 5}",
    "{'it''s': 5}",
    "{\"it's\": 5}",
    "{'it\\'s': 5}",
    "{'path': 'C:\\\\dir'}",
    "{'path': 'C:\\dir'}",
    "{'tag': '#1'}",
    "{'tag': '#1', 'x': 5}",
]

QUERIES = [
    'x=5',
    "x='5'",
    'X=5',
    'x=0',
    'x=16',
    'x=-16',
    'x=-5',
    'x=50',
    'user=user42',
    'USER=User42',
    'user=user4',
    'flag=true',
    'n=none',
    'n=',
    'name=bob smith',
    'city=strasse',
    'ids=[1,2]',
    'f=1.5',
    "it's=5",
    'path=c:\\dir',
    'tag=#1',
    'xuser=user42',
    'max=5',
]


def test_bulk_search_finds_what_parsing_finds_for_every_spelling():
    assert_bulk_matches_per_task(SPELLINGS, QUERIES)


def test_kwargs_holding_the_separator_of_the_joined_text_are_still_found():
    # a NUL inside kwargs text would shift the bulk search's count of parts: it parses everything instead
    spellings = ["{'x': 5}\x00", "\x00{'x': 5}", "{'x': '5\x00'}", "{'x': 5}", "{'x': 6}"]
    data = store_of(spellings)
    search = PairSearch('x', '5')
    assert search.select(data) == {'task-3'}
    assert search.select(store_of(["{'x': '\x00'}", "{'x': 5}"])) == {'task-1'}
    assert PairSearch('x\x00', '5').select(store_of(["{'x\\x00': 5}", "{'x': 5}"])) == {'task-0'}


def test_the_spellings_really_do_match():
    # the equality above means little if nothing matched: check a few by hand
    hits = {query: sum(has_pair(kwargs, query) for kwargs in SPELLINGS) for query in QUERIES}
    assert hits['x=5'] == 41
    assert hits['user=user42'] == 19
    assert hits['x=16'] == 7  # 16, 0x10, 0o20, 0b10000, 1_6, '16', '1' '6'
    assert hits['name=bob smith'] == 3
    assert hits['n=none'] == 3


def test_bulk_search_with_dict_kwargs_and_missing_kwargs():
    assert_bulk_matches_per_task([{'x': 5}, None, "{'x': 5}", {'x': '5'}, {'y': 5}, '', 42, ('x', 5)], ['x=5', 'y=5'])


def test_bulk_search_parses_only_the_candidates(monkeypatch):
    kwargs_list = [f"{{'x': {i % 100}, 'user': 'user{i}'}}" for i in range(5000)]
    data = store_of(kwargs_list)
    first, second = pair_of('x=5'), pair_of('user=user77')
    parsed_pairs.cache_clear()
    calls = []
    real = kwargs_module._literal
    monkeypatch.setattr(kwargs_module, '_literal', lambda text: calls.append(text) or real(text))
    assert len(PairSearch(first.key, first.value).select(data)) == 50
    assert len(calls) == 50
    calls.clear()
    assert len(PairSearch(second.key, second.value).select(data)) == 1
    assert calls == ["{'x': 77, 'user': 'user77'}"]


# Random dicts spelled at random: quotes, prefixes, adjacent literals, whitespace, parentheses, escapes,
# integer bases, comments.


def _spell_str(rng, text):
    if rng.random() < 0.15 and len(text) > 1:
        cut = rng.randrange(1, len(text))
        return _spell_str(rng, text[:cut]) + rng.choice(['', ' ', '\n', '  ']) + _spell_str(rng, text[cut:])
    body = repr(text)
    if rng.random() < 0.3 and "'" not in text and '\\' not in text:
        body = '"' + body[1:-1] + '"' if body[0] == "'" else body
    if rng.random() < 0.1 and text:
        i = rng.randrange(len(text))
        if text[i].isalnum():
            body = body[0] + body[1:-1].replace(text[i], f'\\x{ord(text[i]):02x}', 1) + body[-1]
    if rng.random() < 0.2 and '\\' not in body:
        body = rng.choice(['u', 'r', 'U', 'R']) + body
    return body


def _spell_int(rng, number):
    sign = '-' if number < 0 else ''
    number = abs(number)
    form = rng.randrange(6)
    if form == 1:
        digits = hex(number)
    elif form == 2:
        digits = oct(number)
    elif form == 3:
        digits = bin(number)
    elif form == 4 and number >= 10:
        digits = f'{number:_}'.replace(',', '_')
        digits = digits[0] + '_' + digits[1:] if '_' not in digits else digits
    else:
        digits = str(number)
    if rng.random() < 0.2:
        digits = digits.upper()
    if sign and rng.random() < 0.3:
        return f'-({digits})'
    if sign and rng.random() < 0.3:
        return f'- {digits}'
    return sign + digits


def _spell_value(rng, value):
    if isinstance(value, bool) or value is None:
        text = repr(value)
    elif isinstance(value, int):
        text = _spell_int(rng, value)
    elif isinstance(value, str):
        text = _spell_str(rng, value)
    else:
        text = repr(value)
    if rng.random() < 0.1:
        text = f'({text})'
    return text


def _ws(rng):
    return rng.choice(['', '', ' ', ' ', '  ', '\n', '\t'])


def _spell_dict(rng, items):
    parts = []
    for key, value in items:
        key_text = _spell_str(rng, key)
        if rng.random() < 0.05:
            key_text = f'({key_text})'
        comment = ' # note\n' if rng.random() < 0.03 else ''
        parts.append(f'{_ws(rng)}{key_text}{_ws(rng)}{comment}:{_ws(rng)}{_spell_value(rng, value)}{_ws(rng)}')
    trailing = ',' if parts and rng.random() < 0.2 else ''
    return '{' + ','.join(parts) + trailing + '}'


def _random_kwargs(rng):
    keys = ['x', 'user', 'Name', 'ids', 'flag', 'ab', 'x y']
    values = [5, 16, -16, 0, 42, 'user42', 'User4', 'bob smith', 'Straße', "it's", '', 'a#b', True, None, [1, 2], 1.5]
    items = [(rng.choice(keys), rng.choice(values)) for _ in range(rng.randrange(4))]
    return _spell_dict(rng, items), items


@pytest.mark.parametrize('chunk', [kwargs_module._CHUNK, 7])
def test_bulk_search_finds_what_parsing_finds_for_random_spellings(monkeypatch, chunk):
    monkeypatch.setattr(kwargs_module, '_CHUNK', chunk)  # 7: many chunks, so their boundaries are crossed
    rng = random.Random(4242)
    kwargs_list = []
    for _ in range(1500):
        text, _ = _random_kwargs(rng)
        kwargs_list.append(text)
    parseable = sum(kwargs_pairs(text) is not None for text in kwargs_list)
    assert parseable > 1200  # the spellings are valid Python almost always
    queries = [
        'x=5',
        'x=16',
        'x=-16',
        'x=0',
        'x=42',
        'user=user42',
        'name=user4',
        'ids=[1, 2]',
        'flag=true',
        'flag=none',
        'x y=bob smith',
        'ab=straSSe',
        "ab=it's",
        'ab=',
        'name=a#b',
        'x=1.5',
        'user=16',
    ]
    assert_bulk_matches_per_task(kwargs_list, queries)
    hits = sum(has_pair(text, 'x=5') for text in kwargs_list)
    assert hits > 10


def test_find_uses_the_bulk_search_on_a_real_store():
    state = EventsState(max_tasks_in_memory=1000)
    for i in range(300):
        kwargs = f"{{'x': {i % 7}, 'user': 'user{i}'}}"
        for event in task_events(name='proj.job', kwargs=kwargs):
            state.event(event)
    found = find(state.tasks, 'kwargs:x=3')
    assert len(found) == 43
    assert all(state.tasks[uuid].kwargs.startswith("{'x': 3,") for uuid in found)
    assert find(state.tasks, 'kwargs:user=USER299') == {
        uuid for uuid, task in state.tasks.items() if task.kwargs.endswith("'user299'}")
    }
