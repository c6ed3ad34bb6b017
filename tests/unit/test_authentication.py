"""The --auth grammar and Basic credentials: full matches only, no bypass through suffixes or case."""

from __future__ import annotations

import base64

import pytest

from flower.identity import Identity, parse_basic_authorization
from flower.utils.authentication import authenticate, validate_auth_option


@pytest.mark.parametrize(
    'pattern, email, allowed',
    [
        ('me@example.com', 'me@example.com', True),
        ('me@example.com', 'ME@Example.COM', True),
        ('me@example.com', 'me@example.com.attacker.com', False),
        ('me@example.com', 'xme@example.com', False),
        ('a@x.com|b@y.com', 'b@y.com', True),
        ('a@x.com|b@y.com', 'c@y.com', False),
        ('a@x.com|b@y.com', 'a@x.com|b@y.com', False),
        ('.*@example.com', 'one@example.com', True),
        ('.*@example.com', 'first.last+tag@example.com', True),
        ('.*@example.com', 'attacker@example.com.evil.com', False),
        ('.*@example.com', 'a@examplexcom', False),
        ('.*@example.com', 'a@b@example.com', False),
        ('*@example.com', 'x@example.com', True),
        ('ops-.*@example.com', 'ops-alice@example.com', True),
        ('ops-.*@example.com', 'dev-alice@example.com', False),
        ('', 'anyone@example.com', False),
    ],
)
def test_authenticate(pattern, email, allowed):
    assert authenticate(pattern, email) is allowed


@pytest.mark.parametrize(
    'pattern, email',
    [
        # suffixes, prefixes and lookalike separators (CVE-2022-30034 and friends)
        ('.*@example.com', 'attacker@example.com.evil.com'),
        ('.*@example.com', 'Attacker@EXAMPLE.COM.evil.com'),
        ('.*@example.com', 'attacker@evil.com?@example.com'),
        ('.*@example.com', 'attacker@evilexample.com'),
        ('.*@example.com', 'attacker@sub.example.com'),
        ('.*@example.com', 'attacker@example.com\x00.evil.com'),
        ('.*@example.com', 'attacker@example.com\u3000'),
        ('.*@example.com', 'a ttacker@example.com'),
        ('.*@example.com', 'attacker\uff20example.com'),  # fullwidth at sign
        ('me@example.com', 'me@example.com.evil.com'),
        ('me@example.com', '<me@example.com>'),
        ('a@x.com|b@y.com', 'a@x.com.evil.com'),
        ('a@x.com|b@y.com', ''),
        ('a@x.com|', ''),
        # case games: only ASCII letters fold; Unicode folding would map these onto allowed addresses
        ('.*@sample.com', 'x@\u017fample.com'),  # long s folds to s
        ('kim@example.com', '\u212aim@example.com'),  # Kelvin sign folds to k
        ('.*@example.com', 'x@\u212a.example.com'),
        ('strasse@example.com', 'stra\u00dfe@example.com'),  # sharp s casefolds to ss
        ('.*@example.com', 'x@exampl\u0435.com'),  # Cyrillic e
        ('.*@example.com', 'x@EXAMPLE.C\u00d6M'),
    ],
)
def test_authenticate_refuses_bypass_attempts(pattern, email):
    assert authenticate(pattern, email) is False


@pytest.mark.parametrize(
    'pattern, email',
    [
        ('.*@example.com', 'ME@EXAMPLE.COM'),
        ('.*@Example.Com', 'me@example.com'),
        ('ME@example.com', 'me@EXAMPLE.com'),
        ('a@x.com|B@Y.com', 'b@y.COM'),
        ('.*@example.com', ' me@example.com\n'),  # surrounding ASCII space from a provider is not part of it
    ],
)
def test_ascii_case_and_spacing_do_not_matter(pattern, email):
    assert authenticate(pattern, email) is True


@pytest.mark.parametrize(
    'pattern, valid',
    [
        ('me@example.com', True),
        ('a@x|b@y', True),
        ('.*@example.com', True),
        ('.*@.*.com', False),
        ('a*b*@x.com', False),
        ('.*@x.com|b@y.com', False),
        ('me@*.com', False),
    ],
)
def test_validate_auth_option(pattern, valid):
    assert validate_auth_option(pattern) is valid


def basic(text):
    return 'Basic ' + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    'header',
    [
        '',
        ' ',
        'Basic',
        'Basic ',
        'Basic  ',
        'Basic Og==',  # ':' -> empty user and password
        'Bearer ' + base64.b64encode(b'alice:s3cret').decode(),
        'Digest ' + base64.b64encode(b'alice:s3cret').decode(),
        'Basic ' + base64.b64encode(b'alice:s3cret').decode()[:-2],  # truncated base64
        'Basic ' + base64.b64encode(b'alice:s3cret').decode() + '!',
        'Basic ' + base64.b64encode(b'alice:s3cret\x00').decode(),
        'Basic ' + base64.b64encode(b'alice:s3cret ').decode(),
        'Basic ' + base64.b64encode(b' alice:s3cret').decode(),
        'Basic ' + base64.b64encode(b'alice:S3CRET').decode(),
        'Basic ' + base64.b64encode(b'alice\xff:s3cret').decode(),  # not UTF-8
        'Basic ' + base64.b64encode(b'alice:s3cret:').decode(),
        'Basic ' + base64.b64encode('alice:s3cr\u0435t'.encode()).decode(),  # Cyrillic e
        'Basic ' + 'A' * 100000,
    ],
)
def test_malformed_or_wrong_basic_headers_are_refused(header):
    assert Identity(basic_auth=['alice:s3cret']).basic_user(header) is None


def test_basic_credentials():
    identity = Identity(basic_auth=['alice:s3cret', 'bob:pa:ss'])
    assert identity.basic_user(basic('alice:s3cret')) == 'alice'
    assert identity.basic_user(basic('bob:pa:ss')) == 'bob'
    for header in (
        None,
        '',
        'Basic',
        'Bearer x',
        basic('alice:wrong'),
        basic('alice'),
        'Basic !!!notb64',
        basic('alice:s3cretX'),
        basic('ALICE:s3cret'),
    ):
        assert identity.basic_user(header) is None
    assert parse_basic_authorization('basic ' + base64.b64encode(b'u:p').decode()) == ('u', 'p')


def test_cookie_user_rechecked_against_pattern():
    identity = Identity(auth_pattern='.*@example.com')
    assert identity.cookie_user('me@example.com') == 'me@example.com'
    assert identity.cookie_user('me@example.com.evil.com') is None
    assert not Identity().enabled
