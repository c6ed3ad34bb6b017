"""Getting in without the right credentials, on a real server: Basic auth with malformed and wrong headers
(pages challenge, the API does not), forged and foreign session cookies, the security headers on every kind of
response, and CORS only on an open server."""

from __future__ import annotations

import base64
import html
import re
import time

import pytest
import requests
from tornado.web import create_signed_value

from tests.support.inprocess import InProcessServer

SECRET = 'basic-tests-cookie-secret-' * 3


def basic(text: str | bytes) -> str:
    return 'Basic ' + base64.b64encode(text if isinstance(text, bytes) else text.encode()).decode()


@pytest.fixture(scope='module')
def basic_server():
    server = InProcessServer({'basic_auth': ['alice:s3cret', 'bob:pa:ss']})
    yield server
    server.stop()


@pytest.fixture(scope='module')
def oauth_server():
    server = InProcessServer(
        {
            'auth': '.*@example.com',
            'cookie_secret': SECRET,
            'oauth2_key': 'key',
            'oauth2_secret': 'secret',
            'auth_provider': 'flower.views.auth.GoogleAuth2LoginHandler',
        }
    )
    yield server
    server.stop()


BAD_HEADERS = [
    '',
    'Basic',
    'Basic ',
    'Basic !!!',
    'Basic Og==',
    'Bearer abc',
    basic('alice'),
    basic('alice:'),
    basic('alice:wrong'),
    basic('ALICE:s3cret'),
    basic('alice:S3CRET'),
    basic('alice:s3cret '),
    basic(b'alice:s3cret\x00'),
    basic('bob:pa'),
    basic('bob:pa:ss:'),
    basic(':'),
    basic(b'\xff\xfe:\xff'),
    'Basic ' + base64.b64encode(b'alice:s3cret').decode()[:-1],
    'Digest username="alice"',
]


@pytest.mark.parametrize('header', BAD_HEADERS)
def test_pages_challenge_bad_basic_credentials(basic_server, header):
    response = basic_server.get('/workers', headers={'Authorization': header} if header else {})
    assert response.status_code == 401
    assert response.headers['WWW-Authenticate'] == 'Basic realm="flower"'
    assert 'Access denied' in response.text


@pytest.mark.parametrize('header', BAD_HEADERS)
def test_the_api_refuses_bad_basic_credentials_without_a_challenge(basic_server, header):
    response = basic_server.get('/api/workers', headers={'Authorization': header} if header else {})
    assert response.status_code == 401
    assert 'WWW-Authenticate' not in response.headers
    assert response.headers['Content-Type'].startswith('text/plain')
    assert response.text == 'Access denied'


def test_right_basic_credentials_get_in(basic_server):
    assert basic_server.get('/workers', auth=('alice', 's3cret')).status_code == 200
    assert basic_server.get('/api/workers', headers={'Authorization': basic('bob:pa:ss')}).json() == {}
    assert (
        basic_server.get(
            '/api/workers', headers={'Authorization': 'basic ' + base64.b64encode(b'alice:s3cret').decode()}
        ).json()
        == {}
    )


def test_metrics_healthcheck_and_static_files_stay_public(basic_server):
    assert basic_server.get('/healthcheck').text == 'OK'
    assert 'flower_events_total' in basic_server.get('/metrics').text
    assert basic_server.get('/static/js/flower.js').status_code == 200
    assert basic_server.get('/no/such/page').status_code == 404


def _signed(name, value, secret=SECRET, **kwargs):
    return create_signed_value(secret, name, value, **kwargs).decode()


@pytest.mark.parametrize(
    'cookie',
    [
        'me@example.com',  # not signed at all
        _signed('user', 'me@example.com', secret='another-secret-' * 4),  # signed by someone else
        _signed('oauth_state', 'me@example.com'),  # our signature, another cookie's
        _signed('user', 'me@example.com')[:-2] + 'ff',  # signature tampered with
        _signed('user', 'me@example.com').replace(
            'bWVAZXhhbXBsZS5jb20=',  # value swapped, signature kept
            'YXR0YWNrZXJAZXZpbC5jb20=',
        ),
        _signed('user', 'me@example.com.evil.com'),  # ours, but not an allowed address
        _signed('user', 'me@example.com', clock=lambda: time.time() - 40 * 86400),  # older than a session lives
        _signed('user', 'me@example.com', version=1),  # old v1 format is not accepted
        '',
    ],
)
def test_forged_or_foreign_session_cookies_do_not_get_in(oauth_server, cookie):
    page = oauth_server.get('/workers', cookies={'user': cookie}, allow_redirects=False)
    assert page.status_code == 302 and page.headers['Location'] == '/login?next=%2Fworkers'
    api = oauth_server.get('/api/workers', cookies={'user': cookie})
    assert api.status_code == 401 and api.text == 'Access denied'
    post = oauth_server.post('/api/task/revoke/x', cookies={'user': cookie, '_xsrf': 'a'}, headers={'X-XSRFToken': 'a'})
    assert post.status_code in (401, 403) and 'Revoked' not in post.text


def test_a_genuine_session_cookie_gets_in(oauth_server):
    cookie = _signed('user', 'me@example.com')
    assert oauth_server.get('/workers', cookies={'user': cookie}).status_code == 200
    assert oauth_server.get('/api/workers', cookies={'user': cookie}).json() == {}


def _has_security_headers(response):
    headers = response.headers
    assert headers['X-Content-Type-Options'] == 'nosniff'
    assert headers['X-Frame-Options'] == 'DENY'
    assert headers['Referrer-Policy'] == 'same-origin'
    csp = headers['Content-Security-Policy']
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and 'unsafe-inline' not in csp


@pytest.mark.parametrize(
    'method, path, kwargs, status',
    [
        ('get', '/workers', {}, 302),
        ('get', '/workers', {'cookies': {'user': _signed('user', 'me@example.com')}}, 200),
        ('get', '/api/workers', {'cookies': {'user': _signed('user', 'me@example.com')}}, 200),
        ('get', '/api/workers', {}, 401),
        ('post', '/api/task/revoke/x', {}, 401),
        ('post', '/api/task/revoke/x', {'headers': {'Origin': 'http://evil.example'}}, 403),
        ('get', '/static/js/flower.js', {}, 200),
        ('get', '/static/no-such-file.js', {}, 404),
        ('get', '/nowhere', {}, 404),
        ('get', '/metrics', {}, 200),
        ('get', '/healthcheck', {}, 200),
        ('get', '/login', {}, 302),
        ('get', '/login?code=x&state=y', {}, 403),
        ('get', '/logout', {}, 200),
        ('options', '/api/workers', {}, 204),
    ],
)
def test_every_kind_of_response_has_the_security_headers(oauth_server, method, path, kwargs, status):
    response = getattr(requests, method)(oauth_server.url + path, allow_redirects=False, timeout=10, **kwargs)
    assert response.status_code == status
    _has_security_headers(response)


def test_cors_only_on_an_open_server_and_never_with_credentials(monkeypatch, oauth_server):
    monkeypatch.setenv('FLOWER_UNAUTHENTICATED_API', 'true')
    open_server = InProcessServer()
    try:
        response = open_server.get('/api/workers', headers={'Origin': 'http://elsewhere.example'})
        assert response.headers['Access-Control-Allow-Origin'] == '*'
        assert 'Access-Control-Allow-Credentials' not in response.headers
        _has_security_headers(response)
    finally:
        open_server.stop()
    for response in (
        oauth_server.get('/api/workers', headers={'Origin': 'http://elsewhere.example'}),
        requests.options(oauth_server.url + '/api/workers', timeout=10),
    ):
        assert 'Access-Control-Allow-Origin' not in response.headers
    monkeypatch.delenv('FLOWER_UNAUTHENTICATED_API')
    closed = InProcessServer()
    try:
        assert 'Access-Control-Allow-Origin' not in closed.get('/api/workers').headers
    finally:
        closed.stop()


def test_basic_auth_logout_asks_on_get_and_says_the_browser_keeps_the_password_on_post(basic_server):
    """Flower's Basic "logout" forgets nothing the server could forget (the browser keeps the credentials);
    it stays a page that says so, now reached by the button's POST, never by a GET another site can make."""
    session = requests.Session()
    session.auth = ('alice', 's3cret')
    ask = session.get(basic_server.url + '/logout', timeout=10)
    assert ask.status_code == 200 and 'Log out of Flower?' in ask.text
    assert 'Signed in as alice.' in ask.text and 'id="logout-basic-note"' in ask.text
    assert 'You have been logged out' not in ask.text
    token = re.search(r'name="_xsrf" value="([^"]+)"', ask.text).group(1)

    bare = session.post(basic_server.url + '/logout', timeout=10)
    assert bare.status_code == 403 and "'_xsrf' argument missing from POST" in html.unescape(bare.text)
    bye = session.post(basic_server.url + '/logout', data={'_xsrf': token}, timeout=10)
    assert bye.status_code == 200 and 'You have been logged out' in bye.text
    assert 'the browser remembers them until you close it' in ' '.join(bye.text.split())
    assert 'id="login-again"' not in bye.text  # no login page to go back to
    assert session.get(basic_server.url + '/workers', timeout=10).status_code == 200  # as in Flower


def test_logout_needs_the_token_even_without_authentication():
    server = InProcessServer()
    try:
        assert 'Log out of Flower?' in server.get('/logout').text
        refused = server.post('/logout', headers={'Origin': 'http://evil.example'})
        assert refused.status_code == 403
    finally:
        server.stop()
