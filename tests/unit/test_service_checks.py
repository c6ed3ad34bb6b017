"""The suite's checks for what its tests need (tests/support/needs.py): outside CI a missing service or program
skips the test at once with the reason; under CI=true the same check fails it, naming CI."""

from __future__ import annotations

import pytest

from tests import conftest
from tests.support import needs
from tests.support.processes import free_port


@pytest.fixture(params=[False, True], ids=['laptop', 'ci'])
def in_ci(request, monkeypatch):
    if request.param:
        monkeypatch.setenv('CI', 'true')
    else:
        monkeypatch.delenv('CI', raising=False)
    return request.param


def _outcome(in_ci):
    return pytest.fail.Exception if in_ci else pytest.skip.Exception


@pytest.mark.parametrize(
    'value, expected', [('true', True), ('TRUE', True), (' true ', True), ('1', False), ('', False)]
)
def test_ci_is_read_from_the_environment_at_each_call(monkeypatch, value, expected):
    monkeypatch.setenv('CI', value)
    assert needs.in_ci() is expected
    monkeypatch.delenv('CI')
    assert needs.in_ci() is False


def test_skip_or_fail_says_the_reason_and_under_ci_why_it_must_run(in_ci):
    with pytest.raises(_outcome(in_ci)) as raised:
        needs.skip_or_fail('nginx is not installed', 'the browser tests must run')
    message = str(raised.value)
    assert message.startswith('nginx is not installed')
    assert message.endswith(' (CI=true: the browser tests must run)') == in_ci
    assert ('CI=true' in message) == in_ci


def test_a_missing_program(in_ci):
    with pytest.raises(_outcome(in_ci)) as raised:
        needs.require_tool('no-such-program-for-flower-tests', 'apt-get install it')
    assert 'no-such-program-for-flower-tests is not installed (apt-get install it)' in str(raised.value)
    assert ('CI=true' in str(raised.value)) == in_ci


def test_a_program_that_is_there_gives_its_path(in_ci):
    assert needs.require_tool('sh', 'never missing').endswith('/sh')


def test_a_management_api_that_is_not_there(in_ci):
    """A closed port is refused at once: the test that needs the API says why instead of waiting a minute for
    queue statistics that never come."""
    url = f'http://127.0.0.1:{free_port()}/api/'
    with pytest.raises(_outcome(in_ci)) as raised:
        needs.require_management_api(url)
    assert f'RabbitMQ management API at {url} is not reachable (ConnectionError)' in str(raised.value)
    assert 'rabbitmq-plugins enable rabbitmq_management' in str(raised.value)


def test_conftest_names_are_the_helpers():
    """Test modules written against tests/conftest.py's names get the same rule."""
    assert conftest.unavailable is needs.skip_or_fail
    assert conftest.require_executable is needs.require_tool
    assert conftest.require_management_api is needs.require_management_api
