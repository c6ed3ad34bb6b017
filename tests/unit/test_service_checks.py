"""The suite's checks for what its tests need (tests/conftest.py): outside CI a missing service or program
skips the test at once with the reason; under CI=true the same check fails it."""

from __future__ import annotations

import pytest

from tests import conftest
from tests.support.processes import free_port


@pytest.fixture(params=[False, True], ids=['laptop', 'ci'])
def in_ci(request, monkeypatch):
    monkeypatch.setattr(conftest, 'IN_CI', request.param)
    return request.param


def _outcome(in_ci):
    return pytest.fail.Exception if in_ci else pytest.skip.Exception


def test_a_missing_program(in_ci):
    with pytest.raises(_outcome(in_ci)) as raised:
        conftest.require_executable('no-such-program-for-flower-tests', 'apt-get install it')
    assert 'no-such-program-for-flower-tests is not installed (apt-get install it)' in str(raised.value)
    assert ('CI=true' in str(raised.value)) == in_ci
    assert conftest.require_executable('sh', 'never missing').endswith('/sh')


def test_a_management_api_that_is_not_there(in_ci):
    """A closed port is refused at once: the test that needs the API says why instead of waiting a minute for
    queue statistics that never come."""
    url = f'http://127.0.0.1:{free_port()}/api/'
    with pytest.raises(_outcome(in_ci)) as raised:
        conftest.require_management_api(url)
    assert f'RabbitMQ management API at {url} is not reachable (ConnectionError)' in str(raised.value)
    assert 'rabbitmq-plugins enable rabbitmq_management' in str(raised.value)
