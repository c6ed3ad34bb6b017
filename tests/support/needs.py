"""What a test needs from the machine (a program, a service, a Python package), checked in one place.

On a developer's machine a test whose program or service is missing skips at once with a one-line reason
(a missing executable or a refused connection is known in a second or two, so nothing waits for a deadline).
Under ``CI=true`` (``.ci/run`` exports it, and installs and starts everything) the same check fails the
test with that reason, so a missing install step shows as a failure instead of a green run that tested less.

``CI`` is read at each call, not at import, so a test can set it with ``monkeypatch.setenv``. Runs on the
test's thread.
"""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    """Whether this run is CI's (``CI=true``, as .ci/run and most CI systems set it)."""
    return os.environ.get('CI', '').strip().lower() == 'true'


def skip_or_fail(reason: str, what: str = 'services and programs the tests use must be there'):
    """Skip the calling test with ``reason``; under CI=true fail it instead (``what`` says why it must run)."""
    if in_ci():
        pytest.fail(f'{reason} (CI=true: {what})')
    pytest.skip(reason)


def require_tool(name: str, install_hint: str) -> str:
    """The path of the program ``name``; skips the test (fails it under CI=true) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f'{name} is not installed ({install_hint})')
    return path  # type: ignore[return-value]  # skip_or_fail raised


def require_management_api(url: str) -> str:
    """``url`` when the RabbitMQ management API answers there (queue lengths need its plugin); checked once,
    so a test does not wait a minute for statistics that never come."""
    import requests

    try:
        requests.get(url + 'overview', auth=('guest', 'guest'), timeout=5).raise_for_status()
    except requests.RequestException as exc:
        skip_or_fail(
            f'RabbitMQ management API at {url} is not reachable ({exc.__class__.__name__}): '
            'enable it with `rabbitmq-plugins enable rabbitmq_management`'
        )
    return url
