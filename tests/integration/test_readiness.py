"""``/healthcheck?ready=1`` over HTTP on an in-process server (no broker: the test plays the events thread and
tells the stream's health what happened). The outage on a real Redis is in test_broker_outage.py."""

from __future__ import annotations

import re

import pytest

from tests.support.inprocess import InProcessServer


@pytest.fixture
def server():
    server = InProcessServer({'basic_auth': ['alice:secret']})  # readiness stays public with auth on
    yield server
    server.stop()


def test_not_ready_before_the_first_connection_ready_once_connected_and_not_after_a_loss(server):
    health = server.app.events.health
    response = server.get('/healthcheck', params={'ready': '1'})
    assert response.status_code == 503
    assert response.headers['Content-Type'].startswith('text/plain')
    assert re.fullmatch(
        r'NOT READY: event stream down since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: not connected to '
        r'the broker yet',
        response.text,
    ), response.text
    assert server.get('/healthcheck').text == 'OK'  # liveness does not care

    health.connected()
    for value in ('1', 'true', 'yes'):
        response = server.get('/healthcheck', params={'ready': value})
        assert (response.status_code, response.text) == (200, 'OK')

    health.lost('connection refused (broker down or restarted): Error 111', was_receiving=True)
    response = server.get('/healthcheck', params={'ready': '1'})
    assert response.status_code == 503
    assert response.text.endswith(': connection refused (broker down or restarted): Error 111')
    for value in ('0', 'false', 'no'):
        response = server.get('/healthcheck', params={'ready': value})
        assert (response.status_code, response.text) == (200, 'OK')


@pytest.mark.parametrize('value', ['', '2', 'TRUE', 'ready', ' 1'])
def test_an_invalid_ready_value_is_a_400_that_says_what_is_accepted(server, value):
    response = server.get('/healthcheck', params={'ready': value})
    assert response.status_code == 400
    assert response.headers['Content-Type'].startswith('text/plain')
    assert response.text == (f"Invalid argument '{value}' for 'ready': expected one of 1, true, yes, 0, false, no")
