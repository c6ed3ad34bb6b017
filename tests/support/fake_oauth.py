"""A small OAuth2 provider on loopback that speaks enough of Google's, GitHub's, GitLab's and Okta's dialects for
Flower's login flow: authorize (redirects back with ``code`` and ``state``), token, and the account endpoints
(Google/Okta userinfo, GitHub's e-mail list, GitLab's user and groups).

It is strict where the real ones are (client credentials, one-time codes bound to their redirect URI, bearer
tokens), records every request for the tests to look at, and serves from its own IOLoop thread.

    fake = FakeOAuthProvider()
    fake.sign_in_as('github', emails=[('me@example.com', True, True)])
    server = InProcessServer({...}, oauth_endpoints=fake.endpoints())
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.httputil import url_concat
from tornado.ioloop import IOLoop
from tornado.netutil import bind_sockets

CLIENT_ID = 'flower-test-client'
CLIENT_SECRET = 'flower-test-secret'
PROVIDERS = ('google', 'github', 'gitlab', 'okta')
# the account endpoints each provider has besides authorize and token
ACCOUNT_ENDPOINTS = {
    'google': ('userinfo',),
    'github': ('emails',),
    'gitlab': ('user', 'groups'),
    'okta': ('userinfo',),
}
# how each provider expects the client to authenticate at the token endpoint
CLIENT_AUTH = {'google': 'post', 'github': 'post', 'gitlab': 'post', 'okta': 'basic'}


@dataclass
class Account:
    email: str = ''
    verified: bool = True
    # GitHub: (address, verified, primary) in the order GitHub lists them
    emails: list[tuple[str, bool, bool]] = field(default_factory=list)
    # GitLab: (full_path, access_level)
    groups: list[tuple[str, int]] = field(default_factory=list)
    username: str = 'someone'


@dataclass
class Seen:
    provider: str
    endpoint: str
    method: str
    args: dict
    headers: dict


class FakeOAuthProvider:
    def __init__(self):
        self.accounts: dict[str, Account] = {}
        self.seen: list[Seen] = []
        self.codes: dict[str, tuple[str, str, Account]] = {}
        self.tokens: dict[str, tuple[str, Account]] = {}
        self.declines = False  # the person clicks "Cancel" at the provider
        self.broken: set[tuple[str, str]] = set()  # (provider, endpoint) answering 500
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, name='fake-oauth', daemon=True)
        self.thread.start()
        if not self._ready.wait(10):
            raise RuntimeError('the fake OAuth provider did not start')

    # -- what tests call ------------------------------------------------------------------------------------
    def sign_in_as(self, provider: str, **account) -> Account:
        self.accounts[provider] = Account(**account)
        return self.accounts[provider]

    def endpoints(self) -> dict[str, dict[str, str]]:
        """The ``oauth_endpoints`` application setting that points every provider here."""
        return {
            provider: {
                name: f'{self.url}/{provider}/{name}' for name in ('authorize', 'token', *ACCOUNT_ENDPOINTS[provider])
            }
            for provider in PROVIDERS
        }

    def requests_to(self, provider: str, endpoint: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.provider == provider and seen.endpoint == endpoint]

    def stop(self):
        self.loop.add_callback(self._server.stop)
        self.loop.add_callback(self.loop.stop)
        self.thread.join(10)

    # -- serving --------------------------------------------------------------------------------------------
    def _serve(self):
        asyncio.set_event_loop(asyncio.new_event_loop())
        self.loop = IOLoop.current()
        app = tornado.web.Application([(r'/(\w+)/(\w+)', _Endpoint, {'fake': self})])
        sockets = bind_sockets(0, '127.0.0.1')
        self._server = HTTPServer(app)
        self._server.add_sockets(sockets)
        self.url = f'http://127.0.0.1:{sockets[0].getsockname()[1]}'
        self.loop.add_callback(self._ready.set)
        self.loop.start()


class _Endpoint(tornado.web.RequestHandler):
    def initialize(self, fake: FakeOAuthProvider):
        self.fake = fake

    def check_xsrf_cookie(self):
        pass

    def _record(self, provider, endpoint):
        args = {name: self.get_argument(name) for name in self.request.arguments}
        self.fake.seen.append(Seen(provider, endpoint, self.request.method, args, dict(self.request.headers)))

    def _json(self, data, status=200):
        self.set_status(status)
        self.set_header('Content-Type', 'application/json')
        self.finish(json.dumps(data))

    def get(self, provider, endpoint):
        self._record(provider, endpoint)
        if (provider, endpoint) in self.fake.broken:
            return self._json({'message': 'internal error'}, 500)
        if endpoint == 'authorize':
            return self._authorize(provider)
        account = self._bearer(provider)
        if account is None:
            return self._json({'error': 'invalid_token'}, 401)
        if provider in ('google', 'okta') and endpoint == 'userinfo':
            key = 'verified_email' if provider == 'google' else 'email_verified'
            return self._json({'email': account.email, key: account.verified, 'sub': '1'})
        if provider == 'github' and endpoint == 'emails':
            return self._json(
                [
                    {'email': email, 'verified': verified, 'primary': primary, 'visibility': None}
                    for email, verified, primary in account.emails
                ]
            )
        if provider == 'gitlab' and endpoint == 'user':
            return self._json({'id': 1, 'username': account.username, 'email': account.email})
        if provider == 'gitlab' and endpoint == 'groups':
            level = int(self.get_argument('min_access_level', '10'))
            per_page = int(self.get_argument('per_page', '20'))
            page = int(self.get_argument('page', '1'))
            groups = [
                {'id': i, 'full_path': path} for i, (path, access) in enumerate(account.groups) if access >= level
            ]
            return self._json(groups[(page - 1) * per_page : page * per_page])
        return self._json({'error': 'not_found'}, 404)

    def _authorize(self, provider):
        args = {
            name: self.get_argument(name, '')
            for name in ('response_type', 'client_id', 'redirect_uri', 'state', 'scope')
        }
        if args['response_type'] != 'code' or args['client_id'] != CLIENT_ID or not args['redirect_uri']:
            return self._json({'error': 'invalid_request'}, 400)
        back = {'state': args['state']} if args['state'] else {}
        if self.fake.declines:
            back.update(error='access_denied', error_description='The user denied the request')
            return self.redirect(url_concat(args['redirect_uri'], back))
        code = secrets.token_urlsafe(16)
        self.fake.codes[code] = (provider, args['redirect_uri'], self.fake.accounts[provider])
        back['code'] = code
        self.redirect(url_concat(args['redirect_uri'], back))

    def post(self, provider, endpoint):
        self._record(provider, endpoint)
        if (provider, endpoint) in self.fake.broken:
            return self._json({'message': 'internal error'}, 500)
        if endpoint != 'token':
            return self._json({'error': 'not_found'}, 404)
        form = {
            name: values[0] for name, values in parse_qs(self.request.body.decode(), keep_blank_values=True).items()
        }
        if not self._client_ok(provider, form):
            return self._json({'error': 'invalid_client'}, 401)
        issued = self.fake.codes.pop(form.get('code', ''), None)  # a code is good once
        if (
            form.get('grant_type') != 'authorization_code'
            or issued is None
            or issued[0] != provider
            or issued[1] != form.get('redirect_uri')
        ):
            if provider == 'github':  # GitHub says no with a 200
                return self._json(
                    {'error': 'bad_verification_code', 'error_description': 'The code passed is incorrect or expired.'}
                )
            return self._json({'error': 'invalid_grant', 'error_description': 'bad code'}, 400)
        token = secrets.token_urlsafe(16)
        self.fake.tokens[token] = (provider, issued[2])
        self._json({'access_token': token, 'token_type': 'bearer'})

    def _client_ok(self, provider, form) -> bool:
        if CLIENT_AUTH[provider] == 'basic':
            header = self.request.headers.get('Authorization', '')
            if not header.startswith('Basic '):
                return False
            user, _, password = base64.b64decode(header[6:]).decode().partition(':')
            return unquote(user) == CLIENT_ID and unquote(password) == CLIENT_SECRET
        return form.get('client_id') == CLIENT_ID and form.get('client_secret') == CLIENT_SECRET

    def _bearer(self, provider) -> Account | None:
        header = self.request.headers.get('Authorization', '')
        if not header.startswith('Bearer '):
            return None
        issued = self.fake.tokens.get(header[7:])
        if issued is None or issued[0] != provider:
            return None
        return issued[1]
