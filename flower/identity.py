"""Identity (who is making a request) and the plain rules the login and CSRF code apply.

* :class:`Identity`: HTTP Basic credentials (compared in constant time) and the signed session cookie's
  e-mail, re-checked against ``--auth`` on every request.
* Login rules: which of a provider's addresses may log in (:func:`choose_login_email`), GitLab's group rule
  (:func:`in_allowed_groups`), where a login may send the browser afterwards (:func:`safe_next_url`).
* Request rules: is a state-changing request cross-origin (:func:`is_cross_origin`)?
* :class:`OAuthEnvironment`: the ``FLOWER_*`` variables the OAuth providers read, parsed once at start-up.

Kept apart from authorization (``--read_only``, the API gate), and free of tornado.web so everything here is
unit-tested without a server; the handlers ask and decide what to answer. Used at start-up and on the IOLoop
thread.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlsplit

from flower.utils import strtobool
from flower.utils.authentication import authenticate, normalise_email

UNAUTHENTICATED_API_MESSAGE = (
    'FLOWER_UNAUTHENTICATED_API environment variable is required to enable API without authentication'
)


def parse_basic_authorization(header: str | None) -> tuple[str, str] | None:
    """``Basic <base64 user:password>`` -> ``(user, password)``; anything malformed -> ``None``."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(' ')
    if scheme.lower() != 'basic' or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode('utf-8')
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = decoded.partition(':')
    if not sep:
        return None
    return user, password


class Identity:
    """The configured ways in: ``basic_auth`` entries (``user:password``) and/or the ``auth`` pattern.

    ``Identity(basic_auth, auth_pattern)`` holds fixed values; :meth:`from_options` reads them from an options
    object at each use, so a change to ``options.basic_auth`` or ``options.auth`` after start-up (code in a
    config file or an extension, a test's ``mock.patch``) takes effect on the next request, as in Flower."""

    def __init__(
        self,
        basic_auth: list[str] | None = None,
        auth_pattern: str | None = None,
        *,
        source: Callable[[], tuple[Any, Any]] | None = None,
    ):
        self._source = source or (lambda: (basic_auth, auth_pattern))
        self._key: tuple | None = None
        self._credentials: list[bytes] = []
        self._pattern = ''

    @classmethod
    def from_options(cls, options) -> 'Identity':
        """An identity that follows ``options.basic_auth`` and ``options.auth``."""
        return cls(source=lambda: (getattr(options, 'basic_auth', None), getattr(options, 'auth', None)))

    def _current(self) -> tuple[list[bytes], str]:
        basic_auth, pattern = self._source()
        if isinstance(basic_auth, str):  # one 'user:password' set where a list is expected
            basic_auth = [basic_auth]
        key = (tuple(basic_auth or ()), pattern or '')
        if key != self._key:  # encoded once per change, not per request
            self._credentials = [entry.encode() for entry in key[0]]
            self._pattern = key[1]
            self._key = key
        return self._credentials, self._pattern

    @property
    def auth_pattern(self) -> str:
        return self._current()[1]

    @property
    def basic_enabled(self) -> bool:
        return bool(self._current()[0])

    @property
    def oauth_enabled(self) -> bool:
        return bool(self.auth_pattern)

    @property
    def enabled(self) -> bool:
        return self.basic_enabled or self.oauth_enabled

    def basic_user(self, header: str | None) -> str | None:
        """The user name when the Authorization header carries configured credentials (constant-time
        comparison against every entry, so timing reveals nothing about which one nearly matched)."""
        parsed = parse_basic_authorization(header)
        if parsed is None:
            return None
        given = f'{parsed[0]}:{parsed[1]}'.encode()
        matched = False
        for entry in self._current()[0]:
            matched |= hmac.compare_digest(given, entry)
        return parsed[0] if matched else None

    def cookie_user(self, email: str | None) -> str | None:
        """The e-mail from a verified session cookie, if it still satisfies ``--auth``."""
        if not email or not self.oauth_enabled:
            return None
        return email if authenticate(self.auth_pattern, email) else None


def unauthenticated_api_allowed(environ=None) -> bool:
    value = (environ if environ is not None else os.environ).get('FLOWER_UNAUTHENTICATED_API', '')
    try:
        return strtobool(value) if value else False
    except ValueError:
        return False


# -- login rules ------------------------------------------------------------------------------------------


def choose_login_email(pattern: str, addresses: Iterable[str]) -> str | None:
    """The first of ``addresses`` (a provider's verified addresses, the one it prefers first) that
    ``--auth`` allows, lower-cased as Flower stores it; ``None`` when none is allowed."""
    for address in addresses:
        if isinstance(address, str) and authenticate(pattern, address):
            return normalise_email(address)
    return None


def in_allowed_groups(allowed: Iterable[str], groups: Iterable[str]) -> bool:
    """GitLab's rule: at least one of the user's groups (``full_path``, subgroups as ``a/b``) is listed.
    Paths compare exactly but for ASCII case, as GitLab's paths do; a parent group does not admit its
    subgroups' members or the reverse."""
    wanted = {name.strip().strip('/').lower() for name in allowed if name and name.strip().strip('/')}
    return any(isinstance(group, str) and group.strip('/').lower() in wanted for group in groups)


# Anything but printable ASCII (browsers drop tabs and newlines from URLs, so '/\t/evil.com' is
# '//evil.com' to them) and the backslash (which they read as '/', so '/\evil.com' is '//evil.com').
_UNSAFE_IN_NEXT = re.compile(r'[^\x21-\x7e]|\\')
_LOGIN_PATHS = ('/login', '/login/', '/logout')


def safe_next_url(target: str | None, prefix: str | None = None) -> str | None:
    """``target`` if it is a path on this site (and under ``--url_prefix`` when one is set), else ``None``.

    Refuses absolute and scheme-relative URLs (``https://evil.com``, ``//evil.com``), the tricks browsers
    turn into those, and the login/logout pages themselves (which would only loop)."""
    if not target or not isinstance(target, str) or _UNSAFE_IN_NEXT.search(target):
        return None
    if not target.startswith('/') or target.startswith('//'):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    root = '/' + prefix.strip('/') if prefix and prefix.strip('/') else ''
    path = parts.path
    if root:
        if path != root and not path.startswith(root + '/'):
            return None
        path = path[len(root) :] or '/'
    if path in _LOGIN_PATHS:
        return None
    return target


# -- request rules ----------------------------------------------------------------------------------------


def _host_key(netloc: str) -> str:
    """``Host``/``Origin`` host and port, compared without the default ports (browsers leave them out of
    one and proxies sometimes add them to the other)."""
    netloc = netloc.strip().lower()
    for default in (':80', ':443'):
        if netloc.endswith(default):
            return netloc[: -len(default)]
    return netloc


def is_cross_origin(origin: str | None, sec_fetch_site: str | None, hosts: Iterable[str]) -> bool:
    """Does a browser say this request comes from another site?

    ``Sec-Fetch-Site`` is set by the browser and cannot be forged by a page: ``same-origin`` and ``none`` (the
    user typed it) pass, ``same-site`` and ``cross-site`` do not. Without it (older browsers, non-browser
    clients) an ``Origin`` naming another host than ``hosts`` (the request's ``Host``, and the proxy's
    ``X-Forwarded-Host`` when trusted) is cross-origin; no ``Origin`` at all is a non-browser client."""
    if sec_fetch_site:
        return sec_fetch_site.strip().lower() not in ('same-origin', 'none')
    if origin is None:
        return False
    if origin.strip().lower() == 'null':  # sandboxed frames and privacy-sensitive contexts: not us
        return True
    netloc = urlsplit(origin.strip()).netloc
    return not netloc or _host_key(netloc) not in {_host_key(host) for host in hosts if host}


# -- what the OAuth providers read from the environment -----------------------------------------------------


@dataclass(frozen=True)
class OAuthEnvironment:
    """Flower's provider variables: ``FLOWER_GITHUB_OAUTH_DOMAIN`` (GitHub Enterprise),
    ``FLOWER_GITLAB_OAUTH_DOMAIN`` (self-hosted GitLab), ``FLOWER_GITLAB_AUTH_ALLOWED_GROUPS`` (comma list of
    group paths), ``FLOWER_GITLAB_MIN_ACCESS_LEVEL`` (GitLab's number, default 20 = Reporter) and
    ``FLOWER_OAUTH2_OKTA_BASE_URL`` (the authorization server, e.g. ``https://x.okta.com/oauth2/default``)."""

    github_domain: str = 'github.com'
    gitlab_domain: str = 'gitlab.com'
    gitlab_allowed_groups: tuple[str, ...] = ()
    gitlab_min_access_level: int = 20
    okta_base_url: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> 'OAuthEnvironment':
        """Parsed values; a malformed one is a ``ValueError`` that names the variable."""
        env = os.environ if environ is None else environ
        level_text = (env.get('FLOWER_GITLAB_MIN_ACCESS_LEVEL') or '').strip()
        try:
            level = int(level_text) if level_text else 20
        except ValueError:
            raise ValueError(
                f"FLOWER_GITLAB_MIN_ACCESS_LEVEL must be a GitLab access level number "
                f"(10, 20, 30, 40 or 50), not {level_text!r}"
            ) from None
        groups = tuple(
            name.strip().strip('/')
            for name in (env.get('FLOWER_GITLAB_AUTH_ALLOWED_GROUPS') or '').split(',')
            if name.strip().strip('/')
        )
        okta = (env.get('FLOWER_OAUTH2_OKTA_BASE_URL') or '').strip().rstrip('/') or None
        return cls(
            github_domain=_domain(env, 'FLOWER_GITHUB_OAUTH_DOMAIN', 'github.com'),
            gitlab_domain=_domain(env, 'FLOWER_GITLAB_OAUTH_DOMAIN', 'gitlab.com'),
            gitlab_allowed_groups=groups,
            gitlab_min_access_level=level,
            okta_base_url=okta,
        )


def _domain(env: Mapping[str, str], name: str, default: str) -> str:
    value = (env.get(name) or '').strip().strip('/') or default
    if '/' in value or ' ' in value:
        raise ValueError(f'{name} must be a host name such as {default}, not {value!r}')
    return value
