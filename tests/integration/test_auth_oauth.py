"""OAuth2 login on a real server against a fake provider on loopback: the whole redirect chain of each built-in
provider hop by hop, then every way a login must be refused (wrong state, an address outside --auth, a GitLab
user outside the allowed groups, an off-site next, the provider saying no or failing), logout, custom providers
and the session cookie's attributes."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

import tornado.web

from flower.views import BaseHandler
from flower.views.auth import GithubLoginHandler, GoogleAuth2LoginHandler
from tests.support.fake_oauth import CLIENT_ID, CLIENT_SECRET, FakeOAuthProvider
from tests.support.inprocess import InProcessServer

COOKIE_SECRET = 'oauth-tests-cookie-secret-' * 3
HANDLERS = {
    'google': 'flower.views.auth.GoogleAuth2LoginHandler',
    'github': 'flower.views.auth.GithubLoginHandler',
    'gitlab': 'flower.views.auth.GitLabLoginHandler',
    'okta': 'flower.views.auth.OktaLoginHandler',
}
SCOPES = {'google': 'profile email', 'github': 'user:email', 'gitlab': 'read_api', 'okta': 'openid email'}
# each provider's way of saying "this person is me@example.com"
ME = {
    'google': dict(email='me@example.com', verified=True),
    'github': dict(
        emails=[('me@home.org', True, False), ('me@example.com', True, True), ('other@example.com', True, False)]
    ),
    'gitlab': dict(email='me@example.com', groups=[('ops', 30)]),
    'okta': dict(email='me@example.com', verified=True),
}


@pytest.fixture(scope='module')
def fake():
    provider = FakeOAuthProvider()
    yield provider
    provider.stop()


@pytest.fixture
def start(fake):
    servers = []

    def make(provider='google', account=None, **options):
        fake.declines = False
        fake.broken.clear()
        fake.sign_in_as(provider, **(ME[provider] if account is None else account))
        values = {
            'auth': '.*@example.com',
            'auth_provider': HANDLERS[provider],
            'oauth2_key': CLIENT_ID,
            'oauth2_secret': CLIENT_SECRET,
            'cookie_secret': COOKIE_SECRET,
        }
        values.update(options)
        endpoints = options.pop('oauth_endpoints', None) or fake.endpoints()
        values.pop('oauth_endpoints', None)
        server = InProcessServer(values, oauth_endpoints=endpoints)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def follow(session: requests.Session, url: str, limit: int = 8) -> list[requests.Response]:
    """GET ``url`` and every redirect after it, one hop at a time; returns every response."""
    hops = []
    while len(hops) < limit:
        response = session.get(url, allow_redirects=False, timeout=10)
        hops.append(response)
        if response.status_code not in (301, 302, 303, 307, 308):
            break
        url = urljoin(response.url, response.headers['Location'])
    return hops


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def set_cookie_line(response: requests.Response, name: str) -> str:
    lines = [line for line in response.raw.headers.getlist('Set-Cookie') if line.startswith(name + '=')]
    assert len(lines) == 1, response.raw.headers.getlist('Set-Cookie')
    return lines[0]


@pytest.mark.parametrize('provider', sorted(HANDLERS))
def test_full_login_flow(start, fake, provider, monkeypatch):
    if provider == 'gitlab':
        monkeypatch.setenv('FLOWER_GITLAB_AUTH_ALLOWED_GROUPS', 'ops')
    server = start(provider)
    session = requests.Session()
    hops = follow(session, server.url + '/tasks?state=FAILURE')
    assert [hop.status_code for hop in hops] == [302, 302, 302, 302, 200]

    assert hops[0].headers['Location'] == '/login?next=%2Ftasks%3Fstate%3DFAILURE'

    authorize = hops[1].headers['Location']
    assert authorize.split('?')[0] == fake.endpoints()[provider]['authorize']
    sent = query(authorize)
    assert sent['client_id'] == CLIENT_ID
    assert sent['redirect_uri'] == server.url + '/login'
    assert sent['response_type'] == 'code'
    assert sent['scope'] == SCOPES[provider]
    assert len(sent['state']) >= 40
    state_cookie = set_cookie_line(hops[1], 'oauth_state')
    assert 'HttpOnly' in state_cookie and 'SameSite=Lax' in state_cookie
    assert sent['state'] not in state_cookie  # signed and encoded, never the bare value

    back = hops[2].headers['Location']
    assert back.startswith(server.url + '/login?')
    assert query(back)['state'] == sent['state'] and query(back)['code']

    assert hops[3].headers['Location'] == '/tasks?state=FAILURE'
    session_cookie = set_cookie_line(hops[3], 'user')
    assert 'HttpOnly' in session_cookie and 'SameSite=Lax' in session_cookie and 'Secure' not in session_cookie
    assert set_cookie_line(hops[3], 'oauth_state').startswith('oauth_state=""')  # one use only

    page = hops[4]
    assert 'title="Signed in as me@example.com">Log out</button>' in page.text
    assert session.get(server.url + '/api/workers', timeout=10).json() == {}  # the API takes the session too

    (token_call,) = fake.requests_to(provider, 'token')
    assert token_call.method == 'POST'
    if provider == 'okta':
        assert token_call.headers['Authorization'].startswith('Basic ')
        assert 'client_secret' not in token_call.args
    else:
        assert token_call.args['client_secret'] == CLIENT_SECRET
    fake.seen.clear()


def _start_login(server, session, next_url='/'):
    """The first half of a login: returns the provider's authorize URL (the state cookie is in ``session``)."""
    response = session.get(server.url + '/login', params={'next': next_url}, allow_redirects=False, timeout=10)
    assert response.status_code == 302
    return response.headers['Location']


def _code_from_provider(authorize_url):
    back = requests.get(authorize_url, allow_redirects=False, timeout=10).headers['Location']
    return query(back)['code']


def _assert_refused(response, status, *phrases):
    assert response.status_code == status, response.text
    assert response.headers['Content-Type'].startswith('text/html')
    text = html.unescape(response.text)
    for phrase in phrases:
        assert phrase in text
    assert 'id="login-retry"' in response.text and 'Try again with another account' in response.text
    assert not [line for line in response.raw.headers.getlist('Set-Cookie') if line.startswith('user=2|')]


def test_a_wrong_state_is_refused_before_the_code_is_used(start, fake):
    server = start('google')
    session = requests.Session()
    code = _code_from_provider(_start_login(server, session, '/tasks'))
    fake.seen.clear()
    refused = session.get(
        server.url + '/login', params={'code': code, 'state': 'forged-state'}, allow_redirects=False, timeout=10
    )
    _assert_refused(refused, 403, 'OAuth authenticator error: State tokens do not match')
    assert fake.requests_to('google', 'token') == []
    assert session.get(server.url + '/tasks', allow_redirects=False, timeout=10).status_code == 302


def test_a_callback_without_the_state_cookie_is_refused(start):
    server = start('github')
    authorize = _start_login(server, requests.Session())
    back = requests.get(authorize, allow_redirects=False, timeout=10).headers['Location']
    stranger = requests.Session()  # another browser: the victim of a login-CSRF attempt
    _assert_refused(
        stranger.get(back, allow_redirects=False, timeout=10),
        403,
        'OAuth authenticator error: State tokens do not match',
    )


def test_a_callback_cannot_be_replayed(start):
    server = start('okta')
    session = requests.Session()
    authorize = _start_login(server, session)
    back = requests.get(authorize, allow_redirects=False, timeout=10).headers['Location']
    assert session.get(back, allow_redirects=False, timeout=10).status_code == 302
    replay = requests.Session()
    replay.cookies.update({name: value for name, value in session.cookies.items() if name == 'oauth_state'})
    _assert_refused(replay.get(back, allow_redirects=False, timeout=10), 403, 'State tokens do not match')


@pytest.mark.parametrize(
    'provider, account, phrase',
    [
        ('google', dict(email='attacker@example.com.evil.com'), "Access denied for 'attacker@example.com.evil.com'"),
        ('google', dict(email='me@example.com', verified=False), 'no verified e-mail address'),
        (
            'github',
            dict(emails=[('me@example.com', False, True), ('me@evil.com', True, False)]),
            "Access denied for 'me@evil.com'",
        ),
        ('github', dict(emails=[('me@example.com', False, True)]), 'no verified e-mail address'),
        ('okta', dict(email='me@example.com', verified=False), 'no verified e-mail address'),
        ('gitlab', dict(email='me@EXAMPLE.com.evil.com'), "Access denied for 'me@EXAMPLE.com.evil.com'"),
    ],
)
def test_an_address_outside_auth_is_refused(start, provider, account, phrase):
    server = start(provider, account)
    session = requests.Session()
    hops = follow(session, server.url + '/workers')
    _assert_refused(hops[-1], 403, phrase, '<title>Access denied · Flower</title>')
    assert session.get(server.url + '/workers', allow_redirects=False, timeout=10).status_code == 302

    retry = hops[-1].text.split('id="login-retry" href="')[1].split('"')[0].replace('&amp;', '&')
    assert query(retry) == {'switch_account': '1', 'next': '/workers'}
    again = session.get(server.url + retry, allow_redirects=False, timeout=10)
    switch = {
        'google': {'prompt': 'select_account'},
        'github': {'prompt': 'select_account'},
        'okta': {'prompt': 'login'},
        'gitlab': {},
    }[provider]
    assert {k: v for k, v in query(again.headers['Location']).items() if k == 'prompt'} == switch
    if provider == 'gitlab':
        assert 'log out of GitLab first' in hops[-1].text


def test_gitlab_groups_and_minimum_access_level(start, fake, monkeypatch):
    monkeypatch.setenv('FLOWER_GITLAB_AUTH_ALLOWED_GROUPS', 'ops,platform/infra')
    monkeypatch.setenv('FLOWER_GITLAB_MIN_ACCESS_LEVEL', '30')
    outsider = start('gitlab', dict(email='me@example.com', groups=[('dev', 50), ('ops', 20), ('platform', 50)]))
    hops = follow(requests.Session(), outsider.url + '/')
    _assert_refused(hops[-1], 403, "Access denied for 'me@example.com'", 'not a member', 'ops, platform/infra')
    assert fake.requests_to('gitlab', 'groups')[-1].args['min_access_level'] == '30'

    member = start('gitlab', dict(email='me@example.com', groups=[('dev', 50), ('platform/infra', 30)]))
    hops = follow(requests.Session(), member.url + '/')
    assert hops[-1].status_code == 200 and 'Signed in as me@example.com' in hops[-1].text


def test_gitlab_groups_are_read_past_the_first_page(start, monkeypatch):
    monkeypatch.setenv('FLOWER_GITLAB_AUTH_ALLOWED_GROUPS', 'ops')
    groups = [(f'team-{i}', 30) for i in range(150)] + [('ops', 30)]
    server = start('gitlab', dict(email='me@example.com', groups=groups))
    assert follow(requests.Session(), server.url + '/')[-1].status_code == 200


@pytest.mark.parametrize(
    'next_url', ['//evil.com', 'https://evil.com', '/\\evil.com', '/\t/evil.com', 'javascript:alert(1)', '/logout']
)
def test_an_off_site_next_lands_on_the_home_page(start, next_url):
    server = start('google')
    session = requests.Session()
    hops = follow(session, server.url + '/login?' + requests.compat.urlencode({'next': next_url}))
    assert hops[-2].status_code == 302 and hops[-2].headers['Location'] == '/'
    assert hops[-1].status_code == 200 and 'Signed in as me@example.com' in hops[-1].text


def test_url_prefix_is_kept_and_next_cannot_leave_it(start):
    server = start('github', url_prefix='flower')
    session = requests.Session()
    hops = follow(session, server.url + '/flower/tasks')
    assert hops[0].headers['Location'] == '/flower/login?next=%2Fflower%2Ftasks'
    assert query(hops[1].headers['Location'])['redirect_uri'] == server.url + '/flower/login'
    assert hops[3].headers['Location'] == '/flower/tasks'
    assert hops[-1].status_code == 200
    outside = follow(requests.Session(), server.url + '/flower/login?next=/tasks')
    assert outside[-2].headers['Location'] == '/flower/'


def test_the_provider_saying_no_or_failing_is_explained(start, fake):
    server = start('google')
    fake.declines = True
    _assert_refused(
        follow(requests.Session(), server.url + '/')[-1], 403, 'Google did not grant access', 'Sign-in cancelled'
    )
    fake.declines = False
    fake.broken.add(('google', 'token'))
    _assert_refused(follow(requests.Session(), server.url + '/')[-1], 502, 'Google failed to answer (HTTP 500)')
    fake.broken.clear()
    fake.broken.add(('google', 'userinfo'))
    _assert_refused(follow(requests.Session(), server.url + '/')[-1], 502, 'Google failed to answer')


def test_an_unreachable_provider_is_a_502_not_a_500(start, fake):
    from tests.support.processes import free_port

    endpoints = fake.endpoints()
    endpoints['okta']['token'] = f'http://127.0.0.1:{free_port()}/token'
    server = start('okta', oauth_endpoints=endpoints)
    _assert_refused(follow(requests.Session(), server.url + '/')[-1], 502, 'Okta could not be reached')


def test_a_code_the_provider_rejects_is_explained(start, fake):
    for provider in ('github', 'gitlab'):  # GitHub says no with a 200, the others with a 400
        server = start(provider)
        session = requests.Session()
        authorize = _start_login(server, session)
        state = query(authorize)['state']
        refused = session.get(
            server.url + '/login', params={'code': 'made-up', 'state': state}, allow_redirects=False, timeout=10
        )
        name = 'GitHub' if provider == 'github' else 'GitLab'
        _assert_refused(refused, 403, f'{name} did not accept the sign-in')


def test_missing_client_credentials_say_login_is_not_configured(start):
    server = start('google', oauth2_secret=None)
    _assert_refused(server.get('/login', allow_redirects=False), 503, '--oauth2_key and --oauth2_secret')


def test_without_a_provider_login_is_a_404_page():
    server = InProcessServer({'basic_auth': ['a:b']})
    try:
        response = server.get('/login')
        assert response.status_code == 404
        assert 'There is no login page: this server has no --auth_provider.' in response.text
    finally:
        server.stop()


def test_logout_is_a_post_with_the_token_and_get_only_asks(start):
    server = start('google')
    session = requests.Session()
    assert follow(session, server.url + '/')[-1].status_code == 200
    page = session.get(server.url + '/workers', timeout=10)
    assert 'id="nav-logout"' in page.text and 'method="post" action="/logout"' in page.text  # a form, not a link

    ask = session.get(server.url + '/logout', allow_redirects=False, timeout=10)  # a bookmark, or another
    assert ask.status_code == 200  # site's <img src=/logout>
    assert 'Log out of Flower?' in ask.text and 'Signed in as me@example.com' in ask.text
    assert 'id="logout-confirm"' in ask.text and 'name="_xsrf"' in ask.text
    assert 'user=' not in ' '.join(ask.raw.headers.getlist('Set-Cookie'))
    assert session.get(server.url + '/', allow_redirects=False, timeout=10).status_code == 200  # still in

    token = re.search(r'name="_xsrf" value="([^"]+)"', ask.text).group(1)
    bare = session.post(server.url + '/logout', allow_redirects=False, timeout=10)
    assert bare.status_code == 403 and "'_xsrf' argument missing from POST" in html.unescape(bare.text)
    other_site = session.post(
        server.url + '/logout',
        data={'_xsrf': token},
        allow_redirects=False,
        timeout=10,
        headers={'Origin': 'http://evil.example', 'Sec-Fetch-Site': 'cross-site'},
    )
    assert other_site.status_code == 403 and 'Cross-origin request forbidden' in other_site.text
    assert session.get(server.url + '/', allow_redirects=False, timeout=10).status_code == 200  # still in

    bye = session.post(server.url + '/logout', data={'_xsrf': token}, allow_redirects=False, timeout=10)
    assert bye.status_code == 200
    assert 'You have been logged out' in bye.text and 'href="/login"' in bye.text
    assert 'Signed in as' not in bye.text
    assert set_cookie_line(bye, 'user').startswith('user=""')
    assert session.get(server.url + '/', allow_redirects=False, timeout=10).status_code == 302
    assert session.get(server.url + '/login/', allow_redirects=False, timeout=10).status_code == 302


class TrustingLoginHandler(BaseHandler):
    """A custom provider as Flower documents them: a BaseHandler that sets the ``user`` cookie and redirects."""

    def get(self):
        self.set_secure_cookie('user', self.get_argument('email'))
        self.redirect(self.get_argument('next', '/'))


def test_custom_provider_classes_keep_working():
    server = InProcessServer(
        {
            'auth': '.*@example.com',
            'cookie_secret': COOKIE_SECRET,
            'xheaders': True,
            'auth_provider': f'{__name__}.TrustingLoginHandler',
        }
    )
    try:
        session = requests.Session()
        login = session.get(server.url + '/login?email=me@example.com&next=/tasks', allow_redirects=False, timeout=10)
        assert login.status_code == 302 and login.headers['Location'] == '/tasks'
        cookie = set_cookie_line(login, 'user')
        assert 'HttpOnly' in cookie and 'SameSite=Lax' in cookie and 'Secure' not in cookie
        assert session.get(server.url + '/tasks', timeout=10).status_code == 200

        intruder = requests.Session()  # the cookie is re-checked against --auth on every request
        intruder.get(server.url + '/login?email=me@example.com.evil.com', allow_redirects=False, timeout=10)
        assert intruder.get(server.url + '/tasks', allow_redirects=False, timeout=10).status_code == 302

        behind_tls = requests.get(
            server.url + '/login?email=me@example.com',
            allow_redirects=False,
            timeout=10,
            headers={'X-Forwarded-Proto': 'https'},
        )
        assert 'Secure' in set_cookie_line(behind_tls, 'user')
    finally:
        server.stop()


class AuditedGithub(GithubLoginHandler):
    """A Flower-style subclass: its own rule in ``_on_auth``, then the built-in one (``super()``)."""

    seen: list = []

    async def _on_auth(self, user):
        AuditedGithub.seen.append(sorted(user))
        if self.request.headers.get('X-Block') == 'yes':
            raise tornado.web.HTTPError(403, 'Blocked by our own rule')
        await super()._on_auth(user)


def test_a_subclass_on_auth_is_honoured_against_a_real_provider(start, fake):
    AuditedGithub.seen.clear()
    server = start('github', auth_provider=f'{__name__}.AuditedGithub')
    session = requests.Session()
    hops = follow(session, server.url + '/tasks')
    assert [hop.status_code for hop in hops] == [302, 302, 302, 302, 200]
    assert 'title="Signed in as me@example.com">Log out</button>' in hops[4].text
    assert AuditedGithub.seen == [['access_token', 'token_type']]  # the token endpoint's answer

    blocked = requests.Session()
    authorize = _start_login(server, blocked, '/tasks')
    back = requests.get(authorize, allow_redirects=False, timeout=10).headers['Location']
    refused = blocked.get(back, allow_redirects=False, timeout=10, headers={'X-Block': 'yes'})
    assert refused.status_code == 403 and 'Blocked by our own rule' in html.unescape(refused.text)
    assert not [line for line in refused.raw.headers.getlist('Set-Cookie') if line.startswith('user=2|')]


class ExplicitClientGoogle(GoogleAuth2LoginHandler):
    """Flower-style code that passes the client to the exchange, as tornado's GoogleOAuth2Mixin takes it."""

    async def get_authenticated_user(self, redirect_uri, code, client_id=None, client_secret=None):
        return await super().get_authenticated_user(
            redirect_uri=redirect_uri, code=code, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )


def test_get_authenticated_user_takes_the_client_as_tornados_google_mixin_does(start, fake):
    fake.seen.clear()  # the provider's record of earlier tests' calls
    # the configured secret is wrong: only the client passed by the subclass can sign in
    server = start('google', auth_provider=f'{__name__}.ExplicitClientGoogle', oauth2_secret='not-the-secret')
    hops = follow(requests.Session(), server.url + '/tasks')
    assert [hop.status_code for hop in hops] == [302, 302, 302, 302, 200]
    assert 'title="Signed in as me@example.com">Log out</button>' in hops[4].text
    (token_call,) = fake.requests_to('google', 'token')
    assert (token_call.args['client_id'], token_call.args['client_secret']) == (CLIENT_ID, CLIENT_SECRET)
