"""A Celery app laid out the way Django projects lay theirs out: the ``-A`` module defines no task. Its tasks
are in modules Celery imports only when asked to (``imports=``, and ``autodiscover_tasks``, which finds
``<package>.tasks`` as Django's ``app.autodiscover_tasks()`` finds each Django app's), as a worker does when it
starts and as the server must, or its API calls them unknown.

``FLOWER_TEST_BROKEN_MODULE=1`` adds a module that cannot be imported (a dependency that is not installed), as
a server may meet one a worker host has: the server must warn and go on."""

import os

from celery import Celery

IMPORTS = ['tests.support.importsapp.jobs']
if os.environ.get('FLOWER_TEST_BROKEN_MODULE') == '1':
    IMPORTS.append('tests.support.importsapp.broken')

app = Celery(
    'importsapp',
    broker=os.environ.get('FLOWER_TEST_BROKER', 'redis://127.0.0.1:6379/15'),
    backend=os.environ.get('FLOWER_TEST_BACKEND') or None,
    imports=IMPORTS,
)
app.conf.update(
    task_send_sent_event=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
app.autodiscover_tasks(['tests.support.importsapp.shop'])
