"""Logging in and out: ``/login`` (the provider named by ``--auth_provider``) and ``/logout`` (a POST with the
XSRF token; a GET only shows the button, see :class:`LogoutHandler`).

Flower's public names live here: :class:`GoogleAuth2LoginHandler`, :class:`GithubLoginHandler`,
:class:`GitLabLoginHandler`, :class:`OktaLoginHandler`, the :class:`LoginHandler` factory, and (Flower 2.1's
import path, kept) ``authenticate`` and ``validate_auth_option``.

The four providers are one flow, :class:`OAuth2LoginHandler`:

1. ``GET /login[?next=/tasks]``: a random ``state`` and the ``next`` page (only if it stays on this site, see
   :func:`flower.identity.safe_next_url`) go into the signed, short-lived ``oauth_state`` cookie, and the browser
   is sent to the provider's authorize endpoint with that state.
2. The provider sends the browser back to ``/login?code=...&state=...``. The state must match the cookie's
   (else ``OAuth authenticator error: State tokens do not match``); the code is exchanged for an access
   token; the provider's account is fetched (the provider's part); ``--auth`` picks the address that may log
   in, a provider rule may still refuse (GitLab's groups); the signed ``user`` cookie is set and the browser
   goes to ``next``.

Every failure renders ``login.html`` with what happened and a link to try again with another account: 403 when
access is refused (an address outside ``--auth``, a state mismatch, the provider or the user declining), 502
when the provider cannot be reached or answers nonsense, 503 when the login is not configured.

Providers differ only in endpoints, scopes, how the client authenticates to the token endpoint, and how they
fetch and check the account. Every endpoint can be replaced through the ``oauth_endpoints`` application setting
(``Flower(oauth_endpoints={'github': {'token': 'http://127.0.0.1:8000/token'}})``), which the tests use to
point a provider at a fake one on loopback.

Custom providers keep Flower's contract: ``--auth_provider=my.module.MyLogin`` names any handler class that
sets the signed ``user`` cookie and redirects; :class:`LoginHandler` builds it for each ``/login`` request and
makes it public (reachable without being logged in).

Handlers run on the IOLoop thread; calls to the provider use tornado's non-blocking HTTP client.
"""

from __future__ import annotations

import base64
import dataclasses
import hmac
import inspect
import json
import logging
import os
import secrets
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Protocol
from urllib.parse import quote, urlencode

import tornado.auth
import tornado.web
import tornado.options
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.httputil import url_concat

from flower.identity import OAuthEnvironment, choose_login_email, in_allowed_groups, safe_next_url
from flower.utils import prepend_url
from flower.utils.authentication import authenticate, validate_auth_option
from flower.views import BaseHandler
from flower.views.error import NotFoundErrorHandler  # noqa: F401 - a name of Flower's flower.views.auth
from flower.views.error_status import NotFound

if TYPE_CHECKING:  # flower.app imports the handlers; a type-only import (see [tool.importlinter] in pyproject.toml)
    from flower.app import Flower

__all__ = [
    'OAuth2LoginHandler',
    'GoogleAuth2LoginHandler',
    'GithubLoginHandler',
    'GitLabLoginHandler',
    'OktaLoginHandler',
    'LoginHandler',
    'LogoutHandler',
    'LoginFailed',
    'login_settings',
    'authenticate',
    'validate_auth_option',
    'OAuth2StateMixin',
    'get_next_url',
    'is_safe_redirect',
]

logger = logging.getLogger(__name__)

SESSION_COOKIE = 'user'
SESSION_DAYS = 30
STATE_COOKIE = 'oauth_state'
STATE_MAX_AGE_DAYS = 15 / (24 * 60)  # the round trip through the provider has 15 minutes
STATE_MISMATCH = 'OAuth authenticator error: State tokens do not match'
PROVIDER_TIMEOUT = 15.0  # seconds for one call to the provider
GITLAB_GROUP_PAGES = 50  # 100 groups a page; a member of more than 5000 groups is not looked at further


class LoginFailed(Exception):
    """A login that cannot go on; ``message`` is written for the person at the browser."""

    def __init__(self, status: int, message: str, title: str = 'Sign-in failed'):
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title


@dataclass
class ProviderAccount:
    """What a provider says about the person who signed in."""

    emails: list[str]  # verified addresses, the provider's preferred one first
    unverified: list[str] = field(default_factory=list)
    username: str = ''


def is_safe_redirect(target: str | None) -> bool:
    """Flower's name: is ``target`` a path on this site (not another site, not a trick that becomes one)?"""
    return safe_next_url(target) is not None


def get_next_url(handler) -> str:
    """Flower's name: where a login sends the browser once it is done: the ``next`` page saved when the
    login started (or given as ``?next=``), if it stays on this site and under ``--url_prefix``, else the home
    page. For a custom ``_on_auth``: ``self.redirect(get_next_url(self))``."""
    prefix = handler.application.options.url_prefix
    saved = getattr(handler, 'next_url', None)
    return saved or safe_next_url(handler.get_argument('next', None), prefix) or prepend_url('/', prefix)


class _StateHandler(Protocol):
    """What :class:`OAuth2StateMixin` needs of the request handler it is mixed into (a :class:`BaseHandler`)."""

    next_url: str | None

    @property
    def application(self) -> Flower: ...

    def set_signed_cookie(self, name: str, value: str, *, expires_days: float) -> None: ...

    def get_signed_cookie(self, name: str, *, max_age_days: float, min_version: int) -> bytes | None: ...

    def clear_cookie(self, name: str) -> None: ...

    def get_argument(self, name: str, default: str) -> str: ...


class OAuth2StateMixin:
    """Flower's name: the ``state`` round trip that ties the provider's answer to the browser that started
    the login (against login CSRF). :meth:`set_oauth_state` before redirecting to the provider,
    :meth:`verify_oauth_state` when it sends the browser back. The state (and the page to return to) lives in
    the signed, short-lived ``oauth_state`` cookie, good for one return."""

    def set_oauth_state(self: _StateHandler) -> str:
        state = secrets.token_urlsafe(32)
        self.set_signed_cookie(
            STATE_COOKIE,
            json.dumps({'state': state, 'next': getattr(self, 'next_url', None)}),
            expires_days=STATE_MAX_AGE_DAYS,
        )
        return state

    def verify_oauth_state(self: _StateHandler) -> None:
        """Raises ``tornado.auth.AuthError`` (answered 403) unless ``?state=`` is the one this browser was
        given; then forgets it and recovers the saved ``next`` page into ``self.next_url``."""
        raw = self.get_signed_cookie(STATE_COOKIE, max_age_days=STATE_MAX_AGE_DAYS, min_version=2)
        self.clear_cookie(STATE_COOKIE)
        try:
            saved = json.loads(raw) if raw else None
        except ValueError:
            saved = None
        expected = saved.get('state') if isinstance(saved, dict) else None
        saved_next = saved.get('next') if isinstance(saved, dict) else None
        returned = self.get_argument('state', '')
        if (
            not isinstance(expected, str)
            or not expected
            or not returned
            or not hmac.compare_digest(expected.encode(), returned.encode())
        ):
            raise tornado.auth.AuthError(STATE_MISMATCH)
        self.next_url = safe_next_url(saved_next, self.application.options.url_prefix)


def _overridden(cls: type, name: str) -> bool:
    """Does ``cls`` (a user's subclass of a provider here) give ``name`` a value of its own, other than the
    built-in provider's it derives from? Looked up statically, so a property counts as itself."""
    builtin = next((klass for klass in cls.__mro__ if klass.__module__ == __name__), None)
    if builtin is None or builtin is cls:
        return False
    missing = object()
    return inspect.getattr_static(cls, name, missing) != inspect.getattr_static(builtin, name, missing)


class OAuth2LoginHandler(BaseHandler, OAuth2StateMixin, tornado.auth.OAuth2Mixin):
    """The OAuth2 authorization-code flow every built-in provider shares (see the module docstring).

    As in Flower, each provider is a ``tornado.auth.OAuth2Mixin`` (Google's a ``GoogleOAuth2Mixin``) with
    Flower's ``_OAUTH_AUTHORIZE_URL`` / ``_OAUTH_ACCESS_TOKEN_URL`` (Okta's ``_OAUTH_USER_INFO_URL``). A
    subclass that sets one of those (GitHub Enterprise, a private Okta) is obeyed first; otherwise an endpoint
    comes from the ``oauth_endpoints`` setting, then from the provider's defaults.

    Flower's hooks are honoured in a subclass: :meth:`get_authenticated_user` (the provider's token answer for
    the returned code) and :meth:`_on_auth` (given that answer: who is it, may they in, set the ``user`` cookie
    and redirect); Okta's :meth:`OktaLoginHandler.get_access_token` too."""

    public = True
    _OAUTH_SETTINGS_KEY = 'oauth'  # Flower's: the client settings live in ``self.settings['oauth']``
    #: shown to people ("Sign in with GitHub")
    provider = 'OAuth2'
    #: this provider's key in the ``oauth_endpoints`` setting
    key = ''
    scope = ''
    #: how the client authenticates to the token endpoint: 'post' (id and secret in the body) or 'basic'
    client_auth = 'post'
    #: added to the authorize request when the user asks to use another account
    switch_account_params: Mapping[str, str] = {}
    #: said on the failure page when the provider cannot be asked to offer another account
    switch_account_hint = ''

    # -- configuration -----------------------------------------------------------------------------------
    @classmethod
    def default_endpoints(cls, env: OAuthEnvironment) -> dict[str, str]:
        """``{'authorize': url, 'token': url, <account endpoints>...}`` for this provider."""
        raise NotImplementedError

    @classmethod
    def configuration_problem(cls, env: OAuthEnvironment) -> str | None:
        """Why this provider cannot work with this environment, or ``None``."""
        return None

    #: which endpoint a Flower ``_OAUTH_*`` attribute names, for a subclass that sets its own
    endpoint_attributes: Mapping[str, str] = {'authorize': '_OAUTH_AUTHORIZE_URL', 'token': '_OAUTH_ACCESS_TOKEN_URL'}

    def endpoint(self, name: str) -> str:
        attribute = self.endpoint_attributes.get(name)
        if attribute and _overridden(type(self), attribute):
            return getattr(self, attribute)
        endpoints = self.default_endpoints(self.environment)
        endpoints.update((self.settings.get('oauth_endpoints') or {}).get(self.key) or {})
        return endpoints[name]

    @property
    def environment(self) -> OAuthEnvironment:
        """The provider variables read at start-up (``FLOWER_GITHUB_OAUTH_DOMAIN`` and the others)."""
        return self.settings.get('oauth_environment') or OAuthEnvironment()

    def authorize_redirect(
        self,
        redirect_uri: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        extra_params: dict | None = None,
        scope: list[str] | None = None,
        response_type: str = 'code',
    ) -> None:
        """Tornado's (and Flower's) call to send the browser to the provider, aimed at this handler's
        authorize endpoint (so ``oauth_endpoints`` and a subclass's ``_OAUTH_AUTHORIZE_URL`` both count)."""
        params: dict[str, Any] = {'response_type': response_type}
        if redirect_uri is not None:
            params['redirect_uri'] = redirect_uri
        if client_id is not None:
            params['client_id'] = client_id
        if extra_params:
            params.update(extra_params)
        if scope:
            params['scope'] = ' '.join(scope)
        self.redirect(url_concat(self.endpoint('authorize'), params))

    @property
    def client(self) -> Mapping[str, Any]:
        """Flower's ``settings['oauth']``: ``key``, ``secret`` and ``redirect_uri``."""
        return self.settings.get('oauth') or {}

    def redirect_uri(self) -> str:
        """Where the provider sends the browser back: ``--oauth2_redirect_uri``, else this login page."""
        configured = self.client.get('redirect_uri')
        if configured:
            return configured
        return f'{self.request.protocol}://{self.request.host}{self.settings.get("login_url", "/login")}'

    # -- the flow ------------------------------------------------------------------------------------------
    async def get(self):
        self.set_header('Cache-Control', 'no-store')
        self.next_url = safe_next_url(self.get_argument('next', None), self.application.options.url_prefix)
        try:
            if self.get_argument('error', None) is not None:
                self.provider_declined()
            code = self.get_argument('code', None)
            if not code:
                self.start_login()
                return
            await self.complete_login(code)
        except LoginFailed as failure:
            self.show_failure(failure)

    def start_login(self) -> None:
        if not self.client.get('key') or not self.client.get('secret'):
            raise LoginFailed(
                503,
                f'Signing in with {self.provider} is not configured on this server: it needs '
                '--oauth2_key and --oauth2_secret. Ask the administrator.',
            )
        params = {
            'response_type': 'code',
            'client_id': self.client['key'],
            'redirect_uri': self.redirect_uri(),
            'scope': self.scope,
            'state': self.set_oauth_state(),
        }
        if self.get_argument('switch_account', None):
            params.update(self.switch_account_params)
        self.redirect(url_concat(self.endpoint('authorize'), params))

    async def complete_login(self, code: str) -> None:
        self.take_state()
        user = await self.get_authenticated_user(redirect_uri=self.redirect_uri(), code=code)
        await self._on_auth(user)

    async def get_authenticated_user(
        self, redirect_uri: str, code: str, client_id: str | None = None, client_secret: str | None = None
    ) -> dict:
        """Flower's hook: the provider's answer to exchanging ``code`` (a dict with ``access_token``).
        ``client_id``/``client_secret``, as tornado's ``GoogleOAuth2Mixin`` takes them, replace the configured
        client's for this exchange."""
        return await self.exchange_code(code, redirect_uri, client_id=client_id, client_secret=client_secret)

    async def _on_auth(self, user: dict) -> None:
        """Flower's hook, given what :meth:`get_authenticated_user` returned: find the account, pick the
        address ``--auth`` allows (and the provider's own rule), set the ``user`` cookie and redirect to
        ``next``. An override may do its own checks and call ``await super()._on_auth(user)``, or set the
        cookie and redirect itself (``self.redirect(get_next_url(self))``)."""
        if not user:
            raise LoginFailed(403, f'{self.provider} did not complete the sign-in. Try again.')
        token = user.get('access_token') if isinstance(user, dict) else None
        if not isinstance(token, str) or not token:
            raise LoginFailed(502, f'{self.provider} answered the sign-in without an access token.')
        account = await self.fetch_account(token)
        email = choose_login_email(self.identity.auth_pattern, account.emails)
        if email is None:
            raise LoginFailed(403, self.denied_message(account), title='Access denied')
        await self.check_account(account, email, token)
        self.set_signed_cookie(SESSION_COOKIE, email, expires_days=SESSION_DAYS)
        logger.info('%s logged in with %s', email, self.provider)
        self.redirect(get_next_url(self))

    def take_state(self) -> None:
        """:meth:`verify_oauth_state`, its refusal shown on the login page."""
        try:
            self.verify_oauth_state()
        except tornado.auth.AuthError as exc:
            raise LoginFailed(403, str(exc)) from None

    def get_auth_http_client(self) -> AsyncHTTPClient:
        """Flower's (tornado's ``OAuth2Mixin``) name: the HTTP client to call the provider with."""
        return AsyncHTTPClient()

    def provider_declined(self) -> None:
        """The provider came back with ``?error=`` (the user said no, or the provider refused the request)."""
        self.take_state()
        error = self.get_argument('error', '')
        detail = self.get_argument('error_description', '') or error
        if error == 'access_denied':
            raise LoginFailed(403, f'{self.provider} did not grant access ({detail}).', title='Sign-in cancelled')
        raise LoginFailed(403, f'{self.provider} refused the sign-in: {detail}')

    async def exchange_code(
        self,
        code: str,
        redirect_uri: str | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> dict:
        """The token endpoint's answer for ``code`` (a dict with ``access_token``), as the configured client or
        the one given."""
        body = {'grant_type': 'authorization_code', 'code': code, 'redirect_uri': redirect_uri or self.redirect_uri()}
        headers = {'Content-Type': 'application/x-www-form-urlencoded'}
        key = client_id if client_id is not None else self.client.get('key') or ''
        secret = client_secret if client_secret is not None else self.client.get('secret') or ''
        if self.client_auth == 'basic':
            pair = f'{quote(key, safe="")}:{quote(secret, safe="")}'  # form-encoded first (RFC 6749 2.3.1)
            headers['Authorization'] = 'Basic ' + base64.b64encode(pair.encode()).decode('ascii')
        else:
            body.update(client_id=key, client_secret=secret)
        answer = await self.call_provider(
            'token',
            method='POST',
            body=urlencode(body),
            headers=headers,
            refused=f'{self.provider} did not accept the sign-in; it may have taken too long. Try again.',
        )
        if isinstance(answer, dict) and answer.get('error'):  # GitHub says no with a 200
            raise LoginFailed(403, f'{self.provider} did not accept the sign-in: {_oauth_error(answer)}. Try again.')
        if not isinstance(answer, dict):
            raise LoginFailed(502, f'{self.provider} answered the sign-in without an access token.')
        return answer

    async def fetch_account(self, token: str) -> ProviderAccount:
        """Who signed in, as the provider tells it (the provider's part)."""
        raise NotImplementedError

    async def check_account(self, account: ProviderAccount, email: str, token: str) -> None:
        """A provider's own rule on top of ``--auth`` (GitLab's groups); raises :class:`LoginFailed`."""

    def denied_message(self, account: ProviderAccount) -> str:
        if account.emails:
            shown = ', '.join(f"'{email}'" for email in account.emails[:3])
            return (
                f'Access denied for {shown}: this address is not allowed to use this Flower. Sign in with '
                'another account, or ask the administrator to add yours to --auth.'
            )
        if account.unverified:
            shown = ', '.join(f"'{email}'" for email in account.unverified[:3])
            return (
                f'Your {self.provider} account has no verified e-mail address ({shown} is not verified). '
                f'Verify it with {self.provider}, or sign in with another account.'
            )
        return (
            f'{self.provider} did not tell which e-mail address this account has, so it cannot be checked '
            'against the allowed ones. Sign in with another account.'
        )

    # -- talking to the provider -----------------------------------------------------------------------------
    async def call_provider(
        self,
        endpoint: str,
        *,
        token: str | None = None,
        method: str = 'GET',
        body: str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        refused: str | None = None,
    ) -> Any:
        """One JSON call to the provider. Unreachable, a server error or not JSON: 502. A 4xx: 403 with
        ``refused`` (or the provider's own error text)."""
        url = self.endpoint(endpoint)
        if params:
            url = url_concat(url, {name: str(value) for name, value in params.items()})
        request_headers = {'Accept': 'application/json', 'User-Agent': 'flower'}
        request_headers.update(headers or {})
        if token:
            request_headers['Authorization'] = f'Bearer {token}'
        try:
            response = await self.get_auth_http_client().fetch(
                url,
                method=method,
                body=body,
                headers=request_headers,
                raise_error=False,
                connect_timeout=PROVIDER_TIMEOUT,
                request_timeout=PROVIDER_TIMEOUT,
                follow_redirects=False,
            )
        except (OSError, ssl.SSLError, HTTPClientError) as exc:
            logger.warning('%s %s endpoint %s failed: %s', self.provider, endpoint, url, exc)
            raise LoginFailed(502, f'{self.provider} could not be reached ({exc}). Try again in a moment.') from None
        try:
            data = json.loads(response.body) if response.body else None
        except ValueError:
            data = None
        if 400 <= response.code < 500:
            logger.warning(
                '%s %s endpoint answered %s: %s', self.provider, endpoint, response.code, (response.body or b'')[:300]
            )
            raise LoginFailed(
                403, refused or f'{self.provider} refused the request: {_oauth_error(data) or f"HTTP {response.code}"}.'
            )
        if not 200 <= response.code < 300 or data is None:
            logger.warning(
                '%s %s endpoint answered %s: %s', self.provider, endpoint, response.code, (response.body or b'')[:300]
            )
            what = f'HTTP {response.code}' if response.code >= 300 else 'an answer that is not JSON'
            raise LoginFailed(502, f'{self.provider} failed to answer ({what}). Try again in a moment.')
        return data

    # -- the failure page ------------------------------------------------------------------------------------
    def retry_url(self) -> str:
        params = {'switch_account': '1'}
        if self.next_url:
            params['next'] = self.next_url
        return url_concat(self.settings.get('login_url', '/login'), params)

    def show_failure(self, failure: LoginFailed) -> None:
        logger.warning('Login with %s refused (%s): %s', self.provider, failure.status, failure.message)
        self.set_status(failure.status)
        self.render(
            'login.html',
            title=failure.title,
            message=failure.message,
            status_code=failure.status,
            provider=self.provider,
            retry_url=self.retry_url(),
            hint=self.switch_account_hint,
        )


def _oauth_error(data: Any) -> str:
    """The ``error``/``error_description`` (or GitLab's ``message``) of a provider's error answer."""
    if not isinstance(data, dict):
        return ''
    error, description = data.get('error'), data.get('error_description') or data.get('message')
    parts = [str(part) for part in (error, description) if part]
    return ': '.join(parts)


def _domain_at_import(variable: str, field_name: str) -> str:
    """A provider domain as Flower's class attributes hold it (read when the module is imported). A
    malformed value is left as given here: start-up refuses it with the reason (:func:`login_settings`)."""
    value = os.environ.get(variable, '')
    try:
        return getattr(OAuthEnvironment.from_environ({variable: value}), field_name)
    except ValueError:
        return value


def _verified(addresses: list[tuple[str, bool]]) -> ProviderAccount:
    emails = [email for email, ok in addresses if ok and isinstance(email, str) and email]
    unverified = [email for email, ok in addresses if not ok and isinstance(email, str) and email]
    return ProviderAccount(emails=emails, unverified=unverified)


class GoogleAuth2LoginHandler(OAuth2LoginHandler, tornado.auth.GoogleOAuth2Mixin):
    """Google: the account's address from the userinfo endpoint, which must be verified. Authorize and token
    endpoints are tornado's ``GoogleOAuth2Mixin`` ones, as in Flower."""

    provider = 'Google'
    key = 'google'
    scope = 'profile email'
    switch_account_params = {'prompt': 'select_account'}

    @classmethod
    def default_endpoints(cls, env):
        return {
            'authorize': tornado.auth.GoogleOAuth2Mixin._OAUTH_AUTHORIZE_URL,
            'token': tornado.auth.GoogleOAuth2Mixin._OAUTH_ACCESS_TOKEN_URL,
            'userinfo': 'https://www.googleapis.com/oauth2/v2/userinfo',
        }

    async def fetch_account(self, token):
        info = await self.call_provider('userinfo', token=token)
        if not isinstance(info, dict):
            raise LoginFailed(502, 'Google answered the account request with something unexpected.')
        verified = info.get('verified_email', info.get('email_verified'))
        return _verified([(info.get('email'), verified is True)])


class GithubLoginHandler(OAuth2LoginHandler):
    """GitHub (or GitHub Enterprise at ``FLOWER_GITHUB_OAUTH_DOMAIN``): the account's verified addresses,
    the primary one first."""

    provider = 'GitHub'
    key = 'github'
    scope = 'user:email'
    switch_account_params = {'prompt': 'select_account'}
    # Flower's class attributes, from the environment at import; a subclass may set its own
    _OAUTH_DOMAIN = _domain_at_import('FLOWER_GITHUB_OAUTH_DOMAIN', 'github_domain')
    _OAUTH_AUTHORIZE_URL = f'https://{_OAUTH_DOMAIN}/login/oauth/authorize'
    _OAUTH_ACCESS_TOKEN_URL = f'https://{_OAUTH_DOMAIN}/login/oauth/access_token'
    _OAUTH_NO_CALLBACKS = False

    @classmethod
    def default_endpoints(cls, env):
        domain = env.github_domain
        # GitHub Enterprise Server answers its API under /api/v3 on its own host
        api = 'https://api.github.com' if domain == 'github.com' else f'https://{domain}/api/v3'
        return {
            'authorize': f'https://{domain}/login/oauth/authorize',
            'token': f'https://{domain}/login/oauth/access_token',
            'emails': f'{api}/user/emails',
        }

    @property
    def environment(self):
        env = super().environment
        if _overridden(type(self), '_OAUTH_DOMAIN'):
            env = dataclasses.replace(env, github_domain=self._OAUTH_DOMAIN)
        return env

    async def fetch_account(self, token):
        entries = await self.call_provider(
            'emails',
            token=token,
            refused='GitHub did not share the e-mail addresses of this account: the sign-in must allow '
            'reading them (the user:email permission). Try again and allow it.',
        )
        if not isinstance(entries, list):
            raise LoginFailed(502, 'GitHub answered the e-mail addresses request with something unexpected.')
        entries = sorted(
            (entry for entry in entries if isinstance(entry, dict)), key=lambda entry: entry.get('primary') is not True
        )
        return _verified([(entry.get('email'), entry.get('verified') is True) for entry in entries])


class GitLabLoginHandler(OAuth2LoginHandler):
    """GitLab (``FLOWER_GITLAB_OAUTH_DOMAIN``): the account's address, and with
    ``FLOWER_GITLAB_AUTH_ALLOWED_GROUPS`` membership (at ``FLOWER_GITLAB_MIN_ACCESS_LEVEL`` or above) of one of
    the listed groups."""

    provider = 'GitLab'
    key = 'gitlab'
    scope = 'read_api'
    # Flower's class attributes, from the environment at import; a subclass may set its own
    _OAUTH_GITLAB_DOMAIN = _domain_at_import('FLOWER_GITLAB_OAUTH_DOMAIN', 'gitlab_domain')
    _OAUTH_AUTHORIZE_URL = f'https://{_OAUTH_GITLAB_DOMAIN}/oauth/authorize'
    _OAUTH_ACCESS_TOKEN_URL = f'https://{_OAUTH_GITLAB_DOMAIN}/oauth/token'
    _OAUTH_NO_CALLBACKS = False
    switch_account_hint = (
        'GitLab signs you in with the account you are logged in with there: log out of GitLab first to use another one.'
    )

    @classmethod
    def default_endpoints(cls, env):
        site = f'https://{env.gitlab_domain}'
        return {
            'authorize': f'{site}/oauth/authorize',
            'token': f'{site}/oauth/token',
            'user': f'{site}/api/v4/user',
            'groups': f'{site}/api/v4/groups',
        }

    @property
    def environment(self):
        env = super().environment
        if _overridden(type(self), '_OAUTH_GITLAB_DOMAIN'):
            env = dataclasses.replace(env, gitlab_domain=self._OAUTH_GITLAB_DOMAIN)
        return env

    async def fetch_account(self, token):
        user = await self.call_provider('user', token=token)
        if not isinstance(user, dict):
            raise LoginFailed(502, 'GitLab answered the account request with something unexpected.')
        # GitLab only lets confirmed accounts sign in, so the account's address is a verified one
        account = _verified([(user.get('email'), True)])
        account.username = str(user.get('username') or '')
        return account

    async def check_account(self, account, email, token):
        allowed = self.environment.gitlab_allowed_groups
        if not allowed:
            return
        groups = await self.member_groups(token)
        if not in_allowed_groups(allowed, groups):
            raise LoginFailed(
                403,
                f"Access denied for '{email}': this GitLab account is not a member (with access level "
                f"{self.environment.gitlab_min_access_level} or more) of an allowed group "
                f"({', '.join(allowed)}). Sign in with another account, or ask the administrator.",
                title='Access denied',
            )

    async def member_groups(self, token: str) -> list[str]:
        paths: list[str] = []
        for page in range(1, GITLAB_GROUP_PAGES + 1):
            batch = await self.call_provider(
                'groups',
                token=token,
                params={'min_access_level': self.environment.gitlab_min_access_level, 'per_page': 100, 'page': page},
            )
            if not isinstance(batch, list):
                raise LoginFailed(502, 'GitLab answered the groups request with something unexpected.')
            paths.extend(
                group['full_path']
                for group in batch
                if isinstance(group, dict) and isinstance(group.get('full_path'), str)
            )
            if len(batch) < 100:
                break
        return paths


class OktaLoginHandler(OAuth2LoginHandler):
    """Okta (the authorization server at ``FLOWER_OAUTH2_OKTA_BASE_URL``): the account's address, which must
    be verified (``email_verified``)."""

    provider = 'Okta'
    key = 'okta'
    scope = 'openid email'
    client_auth = 'basic'
    switch_account_params = {'prompt': 'login'}
    _OAUTH_NO_CALLBACKS = False
    endpoint_attributes = {
        'authorize': '_OAUTH_AUTHORIZE_URL',
        'token': '_OAUTH_ACCESS_TOKEN_URL',
        'userinfo': '_OAUTH_USER_INFO_URL',
    }

    @property
    def base_url(self) -> str | None:
        """Flower's name: the authorization server (``FLOWER_OAUTH2_OKTA_BASE_URL``); a subclass may
        return its own, and every endpoint follows."""
        return (self.settings.get('oauth_environment') or OAuthEnvironment()).okta_base_url

    @property
    def _OAUTH_AUTHORIZE_URL(self):
        return f'{self.base_url}/v1/authorize'

    @property
    def _OAUTH_ACCESS_TOKEN_URL(self):
        return f'{self.base_url}/v1/token'

    @property
    def _OAUTH_USER_INFO_URL(self):
        return f'{self.base_url}/v1/userinfo'

    @property
    def environment(self):
        env = super().environment
        if _overridden(type(self), 'base_url'):
            env = dataclasses.replace(env, okta_base_url=(self.base_url or '').rstrip('/') or None)
        return env

    @classmethod
    def default_endpoints(cls, env):
        base = env.okta_base_url or ''
        return {'authorize': f'{base}/v1/authorize', 'token': f'{base}/v1/token', 'userinfo': f'{base}/v1/userinfo'}

    @classmethod
    def configuration_problem(cls, env):
        if not env.okta_base_url and not any(
            _overridden(cls, name)
            for name in ('base_url', '_OAUTH_AUTHORIZE_URL', '_OAUTH_ACCESS_TOKEN_URL', '_OAUTH_USER_INFO_URL')
        ):
            return (
                '--auth_provider=flower.views.auth.OktaLoginHandler needs FLOWER_OAUTH2_OKTA_BASE_URL '
                '(the Okta authorization server, e.g. https://example.okta.com/oauth2/default)'
            )
        return None

    async def get_access_token(self, redirect_uri: str, code: str) -> dict:
        """Flower's Okta hook: the token endpoint's answer for ``code``."""
        return await self.exchange_code(code, redirect_uri)

    async def get_authenticated_user(self, redirect_uri, code):
        return await self.get_access_token(redirect_uri=redirect_uri, code=code)

    async def fetch_account(self, token):
        info = await self.call_provider('userinfo', token=token)
        if not isinstance(info, dict):
            raise LoginFailed(502, 'Okta answered the account request with something unexpected.')
        return _verified([(info.get('email'), info.get('email_verified') is True)])


class LoginHandler(BaseHandler):
    """``/login``: builds the ``--auth_provider`` class for each request (Flower's factory); without one,
    a 404 page that says so. As in Flower the option is read at each request (a provider named at run time is
    imported then, once); a name that cannot be used then is a 503 that says why."""

    public = True
    problem: str | None = None

    def __new__(cls, application, request, **kwargs):
        if cls is not LoginHandler:
            return super().__new__(cls)
        try:
            provider = current_login_provider(application)
        except ValueError as exc:
            logger.error('%s', exc)
            handler = super().__new__(cls)
            handler.problem = str(exc)
            return handler
        if provider is None:
            return super().__new__(cls)
        handler = provider(application, request, **kwargs)
        # a custom provider is a plain BaseHandler subclass that does not say public = True; reaching the
        # login page must not require being logged in already
        handler.public = True
        return handler

    def get(self):
        if self.problem:
            raise tornado.web.HTTPError(503, f'The login page is not available: {self.problem}')
        raise NotFound('There is no login page: this server has no --auth_provider.')


def current_login_provider(application) -> type | None:
    """The handler class ``--auth_provider`` names now (``None`` without one). The one resolved at start-up
    is kept in the settings; a different name set since is imported and checked, then kept instead."""
    settings = application.settings
    name = getattr(application.options, 'auth_provider', None) or None
    if name == settings.get('login_provider_name'):
        return settings.get('login_provider')
    provider = load_login_provider(
        name, settings.get('oauth_environment') or OAuthEnvironment(), settings.get('oauth_endpoints')
    )
    settings['login_provider_name'], settings['login_provider'] = name, provider
    return provider


def load_login_provider(
    name: str | None, env: OAuthEnvironment, endpoint_overrides: Mapping[str, Any] | None = None
) -> type | None:
    """The handler class at the dotted path ``name``; a ``ValueError`` that says why when it cannot be used."""
    from kombu.utils.imports import symbol_by_name

    if not name:
        return None
    try:
        provider = symbol_by_name(name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f'Cannot load --auth_provider {name!r}: {exc}') from None
    if not (isinstance(provider, type) and issubclass(provider, tornado.web.RequestHandler)):
        raise ValueError(f'--auth_provider {name!r} is not a tornado RequestHandler class')
    if issubclass(provider, OAuth2LoginHandler) and not (endpoint_overrides or {}).get(provider.key):
        problem = provider.configuration_problem(env)
        if problem:
            raise ValueError(problem)
    return provider


class LogoutHandler(BaseHandler):
    """``/logout``. ``GET`` only asks (a page with a **Log out** button: Flower users have bookmarks to /logout,
    and another site could make any browser fetch a GET with an ``<img>``); ``POST`` with the XSRF token forgets
    the session cookie and says so. Basic credentials cannot be forgotten by a server (the browser keeps them
    until it is closed), so under ``--basic_auth`` the page says that, as Flower's did."""

    public = True

    def check_xsrf_cookie(self):
        # the token is required even where BaseHandler requires none (a public handler, no sessions, no
        # authentication): only this server's own page can end a session
        super().check_xsrf_cookie()
        tornado.web.RequestHandler.check_xsrf_cookie(self)

    def get(self):
        self.set_header('Cache-Control', 'no-store')
        self.render('logout.html', logged_out=False, login_url=None, basic_auth=self.identity.basic_enabled)

    def post(self):
        self.set_header('Cache-Control', 'no-store')
        self.clear_cookie(SESSION_COOKIE)
        self.current_user = None  # the page below must not show the user who just left as logged in
        try:
            has_login = current_login_provider(self.application) is not None
        except ValueError:
            has_login = False
        self.render(
            'logout.html',
            logged_out=True,
            login_url=self.settings.get('login_url', '/login') if has_login else None,
            basic_auth=self.identity.basic_enabled,
        )


def login_settings(
    options, environ: Mapping[str, str] | None = None, endpoint_overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The application settings the login handlers read: Flower's ``oauth`` (key, secret, redirect_uri),
    the ``login_provider`` class and the ``oauth_environment``. A provider that cannot be imported, or an
    environment it cannot work with, is a ``ValueError`` that says why (start-up stops)."""
    env = OAuthEnvironment.from_environ(environ)
    provider = load_login_provider(options.auth_provider, env, endpoint_overrides)
    return {
        'oauth': {
            'key': options.oauth2_key,
            'secret': options.oauth2_secret,
            'redirect_uri': options.oauth2_redirect_uri,
        },
        'login_provider': provider,
        'login_provider_name': options.auth_provider or None,
        'oauth_environment': env,
    }


# Flower's module global, for code that imports or patches it; the handlers read self.application.options
options = tornado.options.options
