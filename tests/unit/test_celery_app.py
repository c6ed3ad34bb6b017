"""Importing the Celery app's task modules when the server is built (flower.celery_app): what a worker imports
at start (``imports=``, ``include=``, Django-style autodiscovery) the server imports too, and a module that
fails is a warning naming it, not a failed start. The whole path through a real server and worker is
tests/integration/test_task_modules.py."""

from __future__ import annotations

import logging
import sys

from celery import Celery, signals

from flower.celery_app import import_task_modules

BROKEN = 'tests.support.importsapp.broken'


def _app(**settings) -> Celery:
    return Celery('unit-modules', broker='memory://', set_as_current=False, **settings)


def test_the_modules_of_imports_and_include_are_imported(monkeypatch):
    for name in ('tests.support.importsapp.jobs', 'tests.support.importsapp.shop.tasks'):
        monkeypatch.delitem(sys.modules, name, raising=False)
    app = _app(imports=['tests.support.importsapp.jobs'], include=['tests.support.importsapp.shop.tasks'])
    assert import_task_modules(app) == []
    assert 'tests.support.importsapp.jobs' in sys.modules and 'tests.support.importsapp.shop.tasks' in sys.modules
    assert {'importsapp.multiply', 'importsapp.shop.total'} <= set(app.tasks)


def test_a_module_that_cannot_be_imported_is_a_warning_and_the_others_are_still_imported(monkeypatch, caplog):
    monkeypatch.delitem(sys.modules, 'tests.support.importsapp.jobs', raising=False)
    app = _app(include=[BROKEN, 'tests.support.importsapp.jobs'])
    with caplog.at_level(logging.WARNING, logger='flower.celery_app'):
        problems = import_task_modules(app)
    assert problems == [
        f"the task module '{BROKEN}' cannot be imported (ModuleNotFoundError: No module named "
        "'flower_tests_package_that_is_not_installed')"
    ]
    assert 'tests.support.importsapp.jobs' in sys.modules  # imported after the broken one failed
    assert [record.getMessage() for record in caplog.records] == [
        f'Celery app unit-modules: {problems[0]}. Its tasks are unknown to this server: the API answers 404 '
        'Unknown task to apply them or to change their limits; monitoring them through events is not affected.'
    ]


def test_a_failing_discovery_is_a_warning_too(caplog):
    app = _app()

    def discover(sender=None, **kwargs):
        if sender is app:
            raise ImportError('shop.tasks needs a database driver')

    signals.import_modules.connect(discover, weak=False)
    try:
        with caplog.at_level(logging.WARNING, logger='flower.celery_app'):
            problems = import_task_modules(app)
    finally:
        signals.import_modules.disconnect(discover)
    assert problems == ['the tasks cannot be discovered (ImportError: shop.tasks needs a database driver)']
    assert [r.levelname for r in caplog.records if r.name == 'flower.celery_app'] == ['WARNING']


def test_an_app_is_prepared_once(caplog):
    app = _app(include=[BROKEN])
    with caplog.at_level(logging.WARNING, logger='flower.celery_app'):
        assert len(import_task_modules(app)) == 1
        assert import_task_modules(app) == []  # a second Flower on the same app: no second import, no warning
    assert len(caplog.records) == 1


def test_the_application_imports_them_when_it_is_built(monkeypatch):
    from flower.app import Flower

    monkeypatch.delitem(sys.modules, 'tests.support.importsapp.jobs', raising=False)
    app = _app(imports=['tests.support.importsapp.jobs'])
    Flower(capp=app, options={'enable_events': False})
    assert 'tests.support.importsapp.jobs' in sys.modules and 'importsapp.multiply' in app.tasks
