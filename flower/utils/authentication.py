"""Who may log in: the ``--auth`` pattern grammar (Flower 2.2's home of these helpers).

Grammar, after Flower's fix of CVE-2022-30034: an exact address; a ``|``-separated list of exact addresses;
or one pattern with a single wildcard (``.*`` or ``*``) in the local part, matched against the WHOLE address
(``.*@example.com`` accepts ``me@example.com`` but never ``me@example.com.attacker.com``). Addresses compare
case-insensitively in ASCII only (mail domains are case-insensitive): Unicode case folding would let an attacker
with an address at a domain spelt with a long s (U+017F) match ``.*@sample.com``, or one with the Kelvin sign
(U+212A) match ``kim@...``; letters outside ASCII must match exactly.

Plain functions, no I/O: used at start-up (validation) and on the IOLoop thread (login, session check).
"""

from __future__ import annotations

import re
import string
from functools import lru_cache

# characters allowed in the local part of an address (RFC 5322 "atext" plus the dot)
_LOCAL_PART = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]"
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
# what may surround an address a provider returns; never Unicode spaces, which str.strip() would also take
_ASCII_SPACE = ' \t\r\n'


def _fold(text: str) -> str:
    """Lower-case ASCII letters only (see the module docstring for why not ``casefold``)."""
    return text.translate(_ASCII_LOWER)


def normalise_email(email: str) -> str:
    """An address as a session stores it: surrounding spaces gone, ASCII letters lower-cased."""
    return _fold(email.strip(_ASCII_SPACE))


def validate_auth_option(pattern: str) -> bool:
    """False for patterns outside the grammar: more than one wildcard, a wildcard with a ``|`` list, or a
    wildcard in the domain part."""
    return auth_option_problem(pattern) is None


def auth_option_problem(pattern: str) -> str | None:
    """What is wrong with an ``--auth`` pattern, in words, or None when it is valid."""
    if not pattern:
        return None
    stars = pattern.count('*')
    if stars > 1:
        return 'use at most one wildcard (*)'
    if stars:
        if '|' in pattern:
            return 'a wildcard (*) cannot be combined with a list of addresses (|)'
        local, at, domain = pattern.rpartition('@')
        if not at or not domain:
            return 'a pattern with a wildcard needs a domain after @, as in *@example.com'
        if '*' in domain:
            return 'the wildcard (*) can only stand before the @, not in the domain'
    return None


@lru_cache(maxsize=64)
def _compile(pattern: str) -> re.Pattern:
    local, _, domain = pattern.rpartition('@')
    wildcard = '.*' if '.*' in local else '*'
    before, _, after = local.partition(wildcard)
    regex = re.escape(before) + _LOCAL_PART + '*' + re.escape(after) + '@' + re.escape(domain)
    return re.compile(regex, re.IGNORECASE | re.ASCII)


def authenticate(pattern: str, email: str) -> bool:
    """Does ``email`` satisfy the ``--auth`` pattern?"""
    if not pattern or not email or not isinstance(email, str):
        return False
    email = email.strip(_ASCII_SPACE)
    if not email:
        return False
    if '|' in pattern:
        return _fold(email) in {
            _fold(item.strip(_ASCII_SPACE)) for item in pattern.split('|') if item.strip(_ASCII_SPACE)
        }
    if '*' in pattern:
        if not validate_auth_option(pattern):
            return False
        return _compile(pattern).fullmatch(email) is not None
    return _fold(pattern.strip(_ASCII_SPACE)) == _fold(email)
