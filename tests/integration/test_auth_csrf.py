"""Cross-site request forgery: a state-changing request that rides on the session cookie needs the XSRF token;
Basic-auth API clients do not; a browser request from another site is refused whatever it carries; a server
without authentication checks nothing (Flower 2.2). The accepted case runs against a real worker."""

from __future__ import annotations

import socket
import uuid

import pytest
import requests
from tornado.web import create_signed_value

from tests.support.inprocess import InProcessServer
from tests.support.processes import Server, start_worker, wait_for

SECRET = 'csrf-tests-cookie-secret-' * 3
SESSION = create_signed_value(SECRET, 'user', 'me@example.com').decode()
OAUTH = {
    'auth': '.*@example.com',
    'cookie_secret': SECRET,
    'oauth2_key': 'key',
    'oauth2_secret': 'secret',
    'auth_provider': 'flower.views.auth.GoogleAuth2LoginHandler',
}
DATATABLE = {
    'draw': 1,
    'start': 0,
    'length': 10,
    'order[0][column]': 0,
    'columns[0][data]': 'name',
    'order[0][dir]': 'asc',
    'search[value]': '',
}


@pytest.fixture(scope='module')
def server():
    server = InProcessServer(dict(OAUTH, basic_auth=['robot:hunter2']))
    yield server
    server.stop()


def logged_in(server) -> tuple[requests.Session, str]:
    """A browser-like session: the session cookie, and the XSRF token a page hands out."""
    session = requests.Session()
    session.cookies.set('user', SESSION)
    page = session.get(server.url + '/tasks', timeout=10)
    assert page.status_code == 200
    token = session.cookies['_xsrf']
    assert 'data-xsrf="2|' in page.text  # the dashboard's scripts send the page's copy
    return session, token


def test_a_session_post_without_the_token_is_refused(server):
    session, _ = logged_in(server)
    refused = session.post(server.url + '/tasks/datatable', data=DATATABLE, timeout=10)
    assert refused.status_code == 403
    assert "'_xsrf' argument missing from POST" in refused.text
    api = session.post(server.url + '/api/task/timeout/tasks.add', data={'workername': 'w', 'soft': 1}, timeout=10)
    assert api.status_code == 403 and api.text == "'_xsrf' argument missing from POST"
    _, someone_elses = logged_in(server)
    forged = session.post(
        server.url + '/tasks/datatable', data=DATATABLE, headers={'X-XSRFToken': someone_elses}, timeout=10
    )
    assert forged.status_code == 403 and 'XSRF cookie does not match POST argument' in forged.text
    malformed = session.post(
        server.url + '/tasks/datatable', data=DATATABLE, headers={'X-XSRFToken': '2|0|1|1'}, timeout=10
    )
    assert malformed.status_code == 403 and "'_xsrf' argument has invalid format" in malformed.text


def test_a_session_post_with_the_token_is_accepted(server):
    session, token = logged_in(server)
    accepted = session.post(server.url + '/tasks/datatable', data=DATATABLE, headers={'X-XSRFToken': token}, timeout=10)
    assert accepted.status_code == 200
    assert accepted.json() == {'draw': 1, 'data': [], 'recordsTotal': 0, 'recordsFiltered': 0}
    as_field = session.post(server.url + '/tasks/datatable', data=dict(DATATABLE, _xsrf=token), timeout=10)
    assert as_field.status_code == 200  # the form-field way tornado also accepts
    # past the XSRF check and authenticated: the endpoint itself answers
    api = session.post(
        server.url + '/api/task/timeout/tasks.add',
        data={'workername': 'w', 'soft': 1},
        headers={'X-XSRFToken': token},
        timeout=10,
    )
    assert api.status_code == 404 and api.text == "Unknown task 'tasks.add'"


@pytest.mark.parametrize(
    'headers',
    [
        {'Origin': 'http://evil.example'},
        {'Origin': 'null'},
        {'Sec-Fetch-Site': 'cross-site'},
        {'Sec-Fetch-Site': 'same-site', 'Origin': 'http://sub.127.0.0.1'},
    ],
)
def test_cross_origin_posts_are_refused_even_with_the_token(server, headers):
    session, token = logged_in(server)
    refused = session.post(
        server.url + '/tasks/datatable', data=DATATABLE, headers=dict(headers, **{'X-XSRFToken': token}), timeout=10
    )
    assert refused.status_code == 403 and 'Cross-origin request forbidden' in refused.text
    robot = requests.post(
        server.url + '/api/task/timeout/tasks.add',
        data={'workername': 'w'},
        auth=('robot', 'hunter2'),
        headers=headers,
        timeout=10,
    )  # cached Basic credentials
    assert robot.status_code == 403 and robot.text == 'Cross-origin request forbidden'


def test_same_origin_browser_posts_pass(server):
    session, token = logged_in(server)
    for headers in ({'Origin': server.url}, {'Sec-Fetch-Site': 'same-origin', 'Origin': 'http://proxy.internal'}):
        response = session.post(
            server.url + '/tasks/datatable', data=DATATABLE, headers=dict(headers, **{'X-XSRFToken': token}), timeout=10
        )
        assert response.status_code == 200, response.text


def test_basic_auth_api_clients_need_no_token(server):
    response = requests.post(
        server.url + '/api/task/timeout/tasks.add',
        data={'workername': 'w', 'soft': 1},
        auth=('robot', 'hunter2'),
        timeout=10,
    )
    assert response.status_code == 404 and response.text == "Unknown task 'tasks.add'"
    # a wrong Authorization header does not excuse a session cookie from the token
    session, _ = logged_in(server)
    riding = session.post(
        server.url + '/api/task/timeout/tasks.add', data={'workername': 'w'}, auth=('robot', 'wrong'), timeout=10
    )
    assert riding.status_code == 403 and '_xsrf' in riding.text


def test_without_a_session_the_answer_is_about_credentials(server):
    response = requests.post(server.url + '/api/task/timeout/tasks.add', timeout=10)
    assert response.status_code == 401 and response.text == 'Access denied'


def test_an_open_server_checks_nothing(monkeypatch):
    monkeypatch.setenv('FLOWER_UNAUTHENTICATED_API', 'true')
    server = InProcessServer()
    try:
        for headers in ({}, {'Origin': 'http://evil.example'}, {'Sec-Fetch-Site': 'cross-site'}):
            response = server.post('/tasks/datatable', data=DATATABLE, headers=headers)
            assert response.status_code == 200 and response.json()['recordsTotal'] == 0
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.redis
def test_growing_a_real_workers_pool_needs_the_token(redis_url, processes):
    args = [f'--{name}={value}' for name, value in OAUTH.items()] + ['--inspect_timeout=3000']
    server = Server(redis_url, args=args, env={'FLOWER_UNAUTHENTICATED_API': ''})
    processes.append(server)
    wait_for(lambda: 'receiving events' in server.output(), 20, message='the server to subscribe')
    worker = f'csrf-{uuid.uuid4().hex[:6]}@{socket.gethostname()}'
    processes.append(start_worker(redis_url, worker, pool='prefork', concurrency=1))
    session, token = logged_in(server)

    def pool_size():
        info = session.get(server.url + '/api/workers', params={'workername': worker, 'refresh': 1}, timeout=10).json()
        return len(info[worker]['stats']['pool']['processes'])

    wait_for(lambda: pool_size() == 1, 60, interval=0.5, message='the worker to answer inspect')

    refused = session.post(server.url + f'/api/worker/pool/grow/{worker}', data={'n': 1}, timeout=30)
    assert refused.status_code == 403 and '_xsrf' in refused.text
    assert pool_size() == 1  # a control call returns after the worker's reply, so a grow would show by now
    accepted = session.post(
        server.url + f'/api/worker/pool/grow/{worker}', data={'n': 1}, headers={'X-XSRFToken': token}, timeout=30
    )
    assert accepted.status_code == 200
    assert accepted.json() == {'message': f"Growing '{worker}' worker's pool by 1"}
    wait_for(lambda: pool_size() == 2, 30, interval=0.5, message='one more pool process')
