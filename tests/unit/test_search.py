"""The search query language: grammar, normalisation, every error with its exact wording and position, limits,
the parse cache, and what a term matches on one task."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from flower.events.state import EventsState
from flower.search import And, KwargPair, Or, Query, QuerySyntaxError, Term, find, matches, parse_query
from flower.search.parser import PARSE_CACHE_SIZE
from tests.support.events import task_events


def t(value, field=None):
    return Term(field, value)


def root(text):
    return parse_query(text).root


def error_of(text) -> str:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(text)
    return str(info.value)


# -- grammar -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize('text', ['', ' ', '   \t\n '])
def test_empty_query_matches_everything(text):
    query = parse_query(text)
    assert query == Query(None)
    assert query.matches_all is True


def test_plain_term_is_case_folded():
    assert root('FooBar') == t('foobar')
    assert root('STRASSE') == root('straße') == t('strasse')


def test_whitespace_is_an_implicit_and():
    assert root('foo bar') == And((t('foo'), t('bar')))
    assert root('foo\tbar\nbaz') == And((t('foo'), t('bar'), t('baz')))
    # any Unicode whitespace separates terms
    assert root('foo\u00a0bar') == And((t('foo'), t('bar')))


def test_explicit_and_is_the_same_as_whitespace():
    assert root('foo AND bar') == root('foo bar')
    assert root('foo AND bar AND baz') == And((t('foo'), t('bar'), t('baz')))


def test_or():
    assert root('foo OR bar') == Or((t('foo'), t('bar')))


def test_and_binds_tighter_than_or():
    assert root('aaa bbb OR ccc') == Or((And((t('aaa'), t('bbb'))), t('ccc')))
    assert root('aaa OR bbb ccc') == Or((t('aaa'), And((t('bbb'), t('ccc')))))
    assert root('aaa OR bbb AND ccc') == Or((t('aaa'), And((t('bbb'), t('ccc')))))
    assert root('aaa AND bbb OR ccc AND ddd') == Or((And((t('aaa'), t('bbb'))), And((t('ccc'), t('ddd')))))


def test_parentheses_group():
    assert root('(aaa OR bbb) ccc') == And((Or((t('aaa'), t('bbb'))), t('ccc')))
    assert root('aaa (bbb OR ccc)') == And((t('aaa'), Or((t('bbb'), t('ccc')))))
    assert root('(aaa)') == t('aaa')
    assert root('((aaa))') == t('aaa')


def test_nested_nodes_of_the_same_kind_are_flattened():
    assert root('aaa (bbb ccc)') == And((t('aaa'), t('bbb'), t('ccc')))
    assert root('(aaa bbb) (ccc ddd)') == And((t('aaa'), t('bbb'), t('ccc'), t('ddd')))
    assert root('aaa OR (bbb OR ccc)') == Or((t('aaa'), t('bbb'), t('ccc')))
    assert root('(aaa OR bbb) OR (ccc OR (ddd OR eee))') == Or(tuple(t(x * 3) for x in 'abcde'))
    # different kinds stay nested
    assert root('aaa (bbb OR ccc) ddd') == And((t('aaa'), Or((t('bbb'), t('ccc'))), t('ddd')))


def test_duplicates_are_removed_keeping_the_first_in_order():
    assert root('aaa aaa') == t('aaa')
    assert root('aaa AAA') == t('aaa')
    assert root('aaa OR aaa') == t('aaa')
    assert root('aaa bbb aaa') == And((t('aaa'), t('bbb')))
    assert root('bbb OR aaa OR (aaa OR bbb) OR ccc') == Or((t('bbb'), t('aaa'), t('ccc')))
    assert root('name:add NAME:ADD') == t('add', 'name')
    assert root('(aaa bbb) OR (aaa bbb)') == And((t('aaa'), t('bbb')))


def test_operators_are_upper_case_only():
    assert root('foo and bar') == And((t('foo'), t('and'), t('bar')))
    assert error_of('foo or bar') == 'Substring search terms must contain at least 3 characters at position 4.'
    assert error_of('foo Or bar') == 'Substring search terms must contain at least 3 characters at position 4.'
    assert root('foo ORE bar') == And((t('foo'), t('ore'), t('bar')))


def test_quotes_make_one_term():
    assert root('"foo bar"') == t('foo bar')
    assert root('"(x) y"') == t('(x) y')
    assert root('foo"bar baz"qux') == t('foobar bazqux')
    assert root('"foo" "bar"') == And((t('foo'), t('bar')))


def test_quoted_operators_and_qualifiers_are_plain_terms():
    assert root('"AND"') == t('and')
    assert root('"NOT" abc') == And((t('not'), t('abc')))
    assert root('"name:add"') == t('name:add')
    assert root('"-foo"') == t('-foo')


def test_quoted_two_letter_operator_is_still_a_too_short_term():
    assert error_of('aaa "OR" bbb') == 'Substring search terms must contain at least 3 characters at position 4.'


def test_backslash_escapes_quote_and_backslash_inside_quotes():
    assert root(r'"say \"hi\""') == t('say "hi"')
    assert root(r'"back\\slash"') == t('back\\slash')
    # any other backslash is kept as typed
    assert root(r'"a\nb"') == t('a\\nb')
    # outside quotes a backslash is an ordinary character
    assert root(r'abc\def') == t('abc\\def')


def test_qualifiers():
    assert root('name:tasks.add') == t('tasks.add', 'name')
    assert root('state:SUCCESS') == t('success', 'state')
    assert root('worker:celery@host') == t('celery@host', 'worker')
    assert root('args:"(2, 2)"') == t('(2, 2)', 'args')
    assert root("kwargs:'foo'") == t("'foo'", 'kwargs')
    assert root('result:Hello') == t('hello', 'result')
    assert root('exception:KeyError') == t('keyerror', 'exception')
    assert root('traceback:"line 7"') == t('line 7', 'traceback')


@pytest.mark.parametrize('prefix', ['NAME', 'Name', 'nAmE'])
def test_qualifier_names_are_case_insensitive(prefix):
    assert root(f'{prefix}:Add') == t('add', 'name')


def test_unknown_prefix_keeps_the_colon_in_a_plain_term():
    assert root('foo:bar') == t('foo:bar')
    assert root('http://example.com') == t('http://example.com')
    assert root('names:add') == t('names:add')
    assert root(':abc') == t(':abc')


def test_only_the_first_colon_separates_the_qualifier():
    assert root('name:a:b:c') == t('a:b:c', 'name')


def test_qualifier_with_a_quoted_value():
    assert root('name:"my task"') == t('my task', 'name')
    assert root('result:"a (b) c"') == t('a (b) c', 'result')


def test_state_is_exact_so_any_length_goes():
    assert root('state:ok') == t('ok', 'state')
    assert root('state:x') == t('x', 'state')


def test_name_and_worker_values_may_be_short_because_they_only_test_index_keys():
    assert root('worker:w3') == t('w3', 'worker')
    assert root('name:a') == t('a', 'name')


def test_kwargs_key_value_is_a_pair():
    assert root('kwargs:x=5') == KwargPair('x', '5')
    assert root('KWARGS:X=True') == KwargPair('x', 'true')
    assert root("kwargs:name='Bob'") == KwargPair('name', 'bob')
    assert root('kwargs:ids=[1,2]') == KwargPair('ids', '[1, 2]')
    assert root('kwargs:x=0x10') == KwargPair('x', '16')
    assert root('kwargs:"name = Bob Smith"') == KwargPair('name', 'bob smith')
    assert root('kwargs:x=') == KwargPair('x', '')
    assert root('kwargs:n=None') == root('kwargs:n=none') == KwargPair('n', 'none')


def test_kwargs_without_a_key_before_the_equals_sign_is_a_substring():
    assert root('kwargs:=abc') == t('=abc', 'kwargs')
    assert root('kwargs:abc') == t('abc', 'kwargs')


def test_nodes_are_immutable():
    query = parse_query('aaa bbb')
    with pytest.raises(dataclasses.FrozenInstanceError):
        query.root = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        query.root.children[0].value = 'zzz'
    assert isinstance(query.root.children, tuple)


# -- errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    'text, expected',
    [
        ('ab', 'Substring search terms must contain at least 3 characters at position 0.'),
        ('  ab', 'Substring search terms must contain at least 3 characters at position 2.'),
        ('abc de', 'Substring search terms must contain at least 3 characters at position 4.'),
        ('""', 'Substring search terms must contain at least 3 characters at position 0.'),
        ('args:ab', 'Substring search terms must contain at least 3 characters at position 0.'),
        ('foo result:ab', 'Substring search terms must contain at least 3 characters at position 4.'),
        ('kwargs:ab', 'Substring search terms must contain at least 3 characters at position 0.'),
        ('exception:ab', 'Substring search terms must contain at least 3 characters at position 0.'),
        ('traceback:', 'Search qualifier requires a value at position 0.'),
        ('name:', 'Search qualifier requires a value at position 0.'),
        ('foo state:', 'Search qualifier requires a value at position 4.'),
        ('name:""', 'Search qualifier requires a value at position 0.'),
        ('(worker: foo)', 'Search qualifier requires a value at position 1.'),
        # parentheses end a term, so a value that contains them must be quoted
        ('args:(2, 2)', 'Search qualifier requires a value at position 0.'),
        ('NOT foo', 'NOT is not supported at position 0.'),
        ('foo NOT bar', 'NOT is not supported at position 4.'),
        ('(aaa OR NOT bbb)', 'NOT is not supported at position 8.'),
        ('-foo', "Excluding terms with a leading '-' is not supported at position 0."),
        ('foo -bar', "Excluding terms with a leading '-' is not supported at position 4."),
        ('foo -"bar"', "Excluding terms with a leading '-' is not supported at position 4."),
        ('-name:foo', "Excluding terms with a leading '-' is not supported at position 0."),
        ('()', 'Empty group at position 0.'),
        ('foo ( )', 'Empty group at position 4.'),
        ('(foo)()', 'Empty group at position 5.'),
        ('(foo', 'Missing closing parenthesis at position 0.'),
        ('(', 'Missing closing parenthesis at position 0.'),
        ('foo (bar (baz)', 'Missing closing parenthesis at position 4.'),
        ('"foo', 'Unterminated quoted phrase at position 0.'),
        ('foo "bar baz', 'Unterminated quoted phrase at position 4.'),
        ('name:"foo', 'Unterminated quoted phrase at position 5.'),
        ('"foo\\"', 'Unterminated quoted phrase at position 0.'),
        ('foo AND', 'AND/OR must be followed by a search term at position 4.'),
        ('foo OR', 'AND/OR must be followed by a search term at position 4.'),
        ('(foo OR) bar', 'AND/OR must be followed by a search term at position 5.'),
        ('foo AND OR bar', 'AND/OR must be followed by a search term at position 4.'),
        ('foo OR AND bar', 'AND/OR must be followed by a search term at position 4.'),
        ('foo AND AND bar', 'AND/OR must be followed by a search term at position 4.'),
        ('AND foo', "Unexpected 'AND' at position 0."),
        ('OR foo', "Unexpected 'OR' at position 0."),
        ('(AND foo)', "Unexpected 'AND' at position 1."),
        ('foo (OR bar)', "Unexpected 'OR' at position 5."),
        (')', "Unexpected ')' at position 0."),
        ('foo)', "Unexpected ')' at position 3."),
        ('(foo))', "Unexpected ')' at position 5."),
        ('foo ) bar', "Unexpected ')' at position 4."),
    ],
)
def test_error_messages_and_positions(text, expected):
    assert error_of(text) == expected


def test_error_attributes():
    with pytest.raises(QuerySyntaxError) as info:
        parse_query('foo (bar')
    exc = info.value
    assert isinstance(exc, ValueError)
    assert exc.message == 'Missing closing parenthesis'
    assert exc.position == 4
    assert exc.args == ('Missing closing parenthesis at position 4.',)


def test_error_survives_pickling():
    exc = pickle.loads(pickle.dumps(QuerySyntaxError('Empty group', 7)))
    assert (exc.message, exc.position, str(exc)) == ('Empty group', 7, 'Empty group at position 7.')


def test_the_leftmost_problem_is_reported():
    assert error_of('ab "open') == 'Substring search terms must contain at least 3 characters at position 0.'
    assert error_of('abc "open ) x') == 'Unterminated quoted phrase at position 4.'
    assert error_of(') "open') == "Unexpected ')' at position 0."


def test_lowercase_not_and_inner_dash_are_ordinary_text():
    assert root('not foo') == And((t('not'), t('foo')))
    assert root('foo-bar') == t('foo-bar')
    assert root('name:-foo') == t('-foo', 'name')


# -- limits ------------------------------------------------------------------------------------------------


def test_query_of_2048_characters_is_accepted():
    assert root('a' * 2048) == t('a' * 2048)


def test_query_longer_than_2048_characters_is_rejected():
    assert error_of('a' * 2049) == 'Search query is longer than 2048 characters at position 2048.'
    # even when it is only whitespace
    assert error_of(' ' * 3000) == 'Search query is longer than 2048 characters at position 2048.'


def test_128_tokens_are_accepted():
    terms = [f't{i:03d}' for i in range(128)]
    assert root(' '.join(terms)) == And(tuple(t(term) for term in terms))


def test_the_129th_token_is_rejected_at_its_position():
    text = ' '.join(f't{i:03d}' for i in range(129))
    assert error_of(text) == (f'Search query has more than 128 terms, operators and parentheses at position {128 * 5}.')


def test_operators_and_parentheses_count_as_tokens():
    text = '(' + ' OR '.join(['abc'] * 63) + ')'  # 1 + 63 + 62 + 1 = 127 tokens
    assert root(text) == t('abc')
    text = '(' + ' OR '.join(['abc'] * 64) + ')'  # 129 tokens: the closing parenthesis is one too many
    assert error_of(text) == (
        f'Search query has more than 128 terms, operators and parentheses at position {len(text) - 1}.'
    )


def test_five_levels_of_parentheses_are_accepted():
    assert root('(((((abc)))))') == t('abc')
    assert root('aaa (bbb (ccc (ddd (eee (fff)))))') == And(tuple(t(x * 3) for x in 'abcdef'))


def test_six_levels_of_parentheses_are_rejected_at_the_sixth():
    assert error_of('((((((abc))))))') == 'Parentheses nest more than 5 levels deep at position 5.'
    assert (
        error_of('aaa (bbb (ccc (ddd (eee (fff (ggg))))))')
        == 'Parentheses nest more than 5 levels deep at position 29.'
    )
    # sibling groups do not add up
    assert root('((((aaa)))) ((((bbb))))') == And((t('aaa'), t('bbb')))


# -- cache -------------------------------------------------------------------------------------------------


def test_parsed_queries_are_cached():
    assert parse_query('cached query') is parse_query('cached query')
    assert parse_query.cache_info().maxsize == PARSE_CACHE_SIZE == 512


def test_the_cache_is_bounded_and_least_recently_used():
    first = parse_query('lru first')
    for i in range(PARSE_CACHE_SIZE - 1):
        parse_query(f'lru filler{i}')
    assert parse_query('lru first') is first  # still there, and now the most recent
    for i in range(PARSE_CACHE_SIZE):
        parse_query(f'lru more{i}')
    assert parse_query('lru first') is not first
    assert parse_query('lru first') == first
    assert parse_query.cache_info().currsize <= PARSE_CACHE_SIZE


def test_non_text_is_a_type_error():
    with pytest.raises(TypeError):
        parse_query(b'abc')


# -- what a term matches on one task ------------------------------------------------------------------------


@pytest.fixture()
def state():
    return EventsState(max_tasks_in_memory=1000)


def add_task(state, **fields):
    uuid = fields.pop('uuid', None)
    events = task_events(uuid=uuid, **fields)
    for event in events:
        state.event(event)
    return state.tasks[events[0]['uuid']]


def test_plain_term_searches_every_listed_field(state):
    task = add_task(
        state,
        uuid='0a1b2c3d-uuid',
        name='proj.Mailer',
        hostname='celery@Box7',
        args="('Alice',)",
        kwargs="{'cc': 'Bob'}",
        result="'SENT-OK'",
    )
    for term in ('a1b2c3', 'mailer', 'success', 'box7', 'alice', "'bob'", 'sent-ok', 'PROJ.M', 'uccess'):
        assert matches(task, term), term
    assert not matches(task, 'nothing-like-this')


def test_plain_term_searches_the_exception_but_not_the_traceback(state):
    task = add_task(state, name='proj.job', outcome='failed')
    assert task.exception == "ValueError('boom')"
    assert task.traceback == 'Traceback (most recent call last):\nValueError: boom'
    assert matches(task, 'boom') and matches(task, 'valueerror') and matches(task, '"ValueError(\'boom\')"')
    assert find(state.tasks, 'ValueError') == {task.uuid}
    assert not matches(task, 'most recent')  # only in the traceback: its code lines would match nearly anything
    assert find(state.tasks, '"most recent"') == set()


def test_exception_and_traceback_qualifiers_look_at_those_fields(state):
    failed = add_task(state, name='proj.job', outcome='failed', args="('ValueError in args',)")
    ok = add_task(state, name='proj.job', args="('ValueError in args',)")
    assert matches(failed, 'exception:valueerror') and not matches(ok, 'exception:valueerror')
    assert matches(failed, 'exception:boom') and not matches(failed, 'exception:"most recent"')
    assert matches(failed, 'traceback:"most recent call"') and matches(failed, 'TRACEBACK:boom')
    assert not matches(failed, 'traceback:args')
    assert find(state.tasks, 'exception:ValueError') == {failed.uuid}
    assert find(state.tasks, 'ValueError') == {failed.uuid, ok.uuid}  # args too, as any plain term
    assert find(state.tasks, 'traceback:"recent call" state:FAILURE') == {failed.uuid}
    assert ok.exception is None and not matches(ok, 'exception:none')  # no error is no text


def test_qualified_substring_terms_look_at_one_field(state):
    task = add_task(
        state, name='proj.add', hostname='celery@w3', args='(2, 3)', kwargs="{'z': 9}", result="'Done 12345'"
    )
    assert matches(task, 'name:ADD')
    assert not matches(task, 'name:celery')
    assert matches(task, 'worker:w3')
    assert matches(task, 'worker:CELERY@')
    assert not matches(task, 'worker:proj')
    assert matches(task, 'args:"2, 3"')
    assert not matches(task, 'args:proj')
    assert matches(task, "kwargs:'z'")
    assert not matches(task, 'kwargs:"(2,"')
    assert matches(task, 'result:234')
    assert matches(task, 'result:"DONE 1"')
    assert not matches(task, 'result:add')


def test_state_is_matched_exactly_and_case_insensitively(state):
    task = add_task(state)
    assert task.state == 'SUCCESS'
    assert matches(task, 'state:success')
    assert matches(task, 'state:SUCCESS')
    assert not matches(task, 'state:succ')
    assert not matches(task, 'state:SUCCESSFUL')


def test_missing_result_never_matches(state):
    task = add_task(state, outcome='started')
    assert task.result is None
    assert not matches(task, 'result:none')
    assert not matches(task, 'none')
    assert find(state.tasks, 'result:none') == set()


def test_missing_worker_and_name_never_match(state):
    state.event(
        {'type': 'task-sent', 'uuid': 'only-sent', 'hostname': 'client', 'timestamp': 1.0, 'clock': 1, 'utcoffset': 0}
    )
    task = state.tasks['only-sent']
    assert task.name is None and task.worker is None
    assert not matches(task, 'name:none')
    assert not matches(task, 'worker:none')
    assert matches(task, 'only-sent')


def test_python_values_are_searched_through_their_repr(state):
    task = add_task(state)
    task.args = (2, 'Two')
    task.kwargs = {'Key': 'Value'}
    task.result = 4242
    assert matches(task, "args:'two'")
    assert matches(task, "kwargs:'key': 'value'")
    assert matches(task, 'result:424')
    assert not matches(task, 'result:4243')
    assert matches(task, 'kwargs:key=value')


def test_and_or_combine(state):
    task = add_task(state, name='proj.add', hostname='celery@w1')
    assert matches(task, 'name:add worker:w1')
    assert not matches(task, 'name:add worker:w2')
    assert matches(task, 'name:mul OR worker:w1')
    assert matches(task, '(name:mul OR name:add) state:success')
    assert not matches(task, '(name:mul OR name:div) state:success')


def test_matches_accepts_a_query_a_node_or_text(state):
    task = add_task(state, name='proj.add')
    assert matches(task, parse_query('name:add'))
    assert matches(task, Term('name', 'add'))
    assert matches(task, 'name:add')
    assert matches(task, '')
    assert matches(task, Query(None))
