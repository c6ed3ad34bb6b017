"""``--allowed_hosts`` against real servers, with explicit ``Host`` headers: a server on 127.0.0.1 without
authentication answers only loopback names on every route (pages, API, /metrics, /healthcheck, static files,
the /live handshake, login and logout, unknown paths); a given list replaces that default; authentication
makes the default open. Refusals are 400 with the reason, in the route's own error format."""

from __future__ import annotations

import base64
import os
import socket

import pytest
import requests

from tests.support.processes import Server, wait_for

pytestmark = [pytest.mark.redis]

REBINDING = 'rebind.attacker.example'
ROUTES = [
    '/',
    '/workers',
    '/tasks',
    '/tasks/datatable',
    '/broker',
    '/task/x',
    '/worker/x',
    '/api/workers',
    '/api/tasks',
    '/api/task/types',
    '/api/openapi.json',
    '/metrics',
    '/healthcheck',
    '/static/css/flower.css',
    '/login',
    '/logout',
    '/no/such/page',
]


def get(server, path, host, **kwargs):
    return requests.get(
        server.url + path,
        headers={'Host': host, **kwargs.pop('headers', {})},
        timeout=10,
        allow_redirects=False,
        **kwargs,
    )


def handshake(server, host: str) -> str:
    """The status line and headers a /live WebSocket handshake for ``host`` gets (a raw socket: clients set
    Host from the URL)."""
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(('127.0.0.1', server.port), timeout=10) as sock:
        sock.sendall(
            (
                f'GET /live HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                f'Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n'
            ).encode()
        )
        answer = b''
        while b'\r\n\r\n' not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.decode('latin-1')


def refused_message(host):
    return f"Host {host!r} is not allowed on this server (see --allowed_hosts)"


def test_without_authentication_on_loopback_only_loopback_names_are_answered(redis_url, processes):
    server = Server(redis_url)
    processes.append(server)
    port = server.port
    for path in ROUTES:
        answer = get(server, path, REBINDING)
        assert answer.status_code == 400, (path, answer.status_code)
        # API clients, the datatable's script, scrapers, health probes and static file requests read text
        if path.startswith(('/api/', '/static/')) or path in ('/tasks/datatable', '/healthcheck', '/metrics'):
            assert answer.text == refused_message(REBINDING)
            assert answer.headers['Content-Type'].startswith('text/plain')
        else:
            assert answer.headers['Content-Type'].startswith('text/html')
            assert 'Host &#x27;rebind.attacker.example&#x27; is not allowed on this server' in answer.text, path
        assert 'X-Frame-Options' in answer.headers  # the security headers still apply
    for method in ('post', 'put', 'delete', 'options'):  # no XSRF check, 405 or 204 before the Host decides
        answer = requests.request(
            method, server.url + '/api/task/apply/tasks.add', headers={'Host': REBINDING}, timeout=10
        )
        assert (answer.status_code, answer.text) == (400, refused_message(REBINDING)), method
    assert handshake(server, REBINDING).startswith('HTTP/1.1 400 ')
    assert handshake(server, f'127.0.0.1:{port}').startswith('HTTP/1.1 101 ')

    for host in (
        f'localhost:{port}',
        'localhost',
        f'127.0.0.1:{port}',
        '127.0.0.2',
        f'[::1]:{port}',
        f'flower.localhost:{port}',
        'LOCALHOST',
    ):
        answer = get(server, '/workers', host)
        assert answer.status_code == 200 and '<table' in answer.text, host
        assert get(server, '/healthcheck', host).text == 'OK'
        assert get(server, '/metrics', host).text.count('# HELP flower_') > 3
        assert get(server, '/api/task/types', host).json() == {'task-types': []}  # JSON, not refused
    for host in (
        'localhost.attacker.example',
        '127.0.0.1.nip.io',
        '0.0.0.0',
        '2130706433',
        '[::2]',
        '',
        'a b',
        'x' * 300,
    ):
        assert get(server, '/healthcheck', host).status_code == 400, host

    log = server.output()
    assert log.count(f"Refused a request for Host '{REBINDING}'") == 1  # logged once, not per request
    assert 'DNS rebinding' not in log  # loopback only: nothing to warn about
    assert 'Traceback' not in log


def test_a_given_list_replaces_the_default(redis_url, processes):
    server = Server(redis_url, ['--allowed_hosts=flower.example.com,.corp.example,[2001:db8::1]'], wait=False)
    processes.append(server)
    wait_for(lambda: get(server, '/healthcheck', 'flower.example.com').text == 'OK', 30, message='the server')
    for host in (
        'flower.example.com',
        'FLOWER.EXAMPLE.COM:5555',
        'corp.example',
        'a.b.corp.example:80',
        '[2001:db8:0:0::1]:5555',
    ):
        answer = get(server, '/workers', host)
        assert answer.status_code == 200 and '<table' in answer.text, host
    for host in (
        'localhost',
        f'127.0.0.1:{server.port}',
        'example.com',
        'flower.example.com.evil',
        'xcorp.example',
        REBINDING,
    ):
        answer = get(server, '/api/workers', host)
        assert (answer.status_code, answer.text) == (400, refused_message(host)), host


def test_with_authentication_the_default_answers_any_name(redis_url, processes):
    server = Server(redis_url, ['--basic_auth=alice:s3cret'])
    processes.append(server)
    assert get(server, '/workers', REBINDING).status_code == 401  # asked for credentials, not refused
    answer = get(server, '/workers', REBINDING, auth=('alice', 's3cret'))
    assert answer.status_code == 200 and '<table' in answer.text
    assert get(server, '/healthcheck', REBINDING).text == 'OK'


def test_an_invalid_list_stops_start_up_with_the_reason(redis_url, processes):
    server = Server(redis_url, ['--allowed_hosts=https://flower.example.com/'], wait=False)
    processes.append(server)
    assert server.popen.wait(30) != 0
    assert (
        "Invalid '--allowed_hosts': 'https://flower.example.com/' is not a host name, .domain, IP address or *"
    ) in server.output()
