"""The route table (Flower's public ``flower.urls.handlers``) and the default tornado ``settings``.

Order matters: tornado takes the first pattern that matches the whole path, and the catch-all 404 is last.
``--url_prefix`` is applied by :class:`flower.app.Flower`, which rewrites every pattern.
"""

from __future__ import annotations

import os

from tornado.web import StaticFileHandler, url  # noqa: F401 - StaticFileHandler: a name of Flower's flower.urls

from flower.utils import gen_cookie_secret  # noqa: F401 - a name of Flower's flower.urls

from flower.api.control import (
    TaskRateLimit,
    TaskRevoke,
    TaskTimout,
    WorkerPoolAutoscale,
    WorkerPoolGrow,
    WorkerPoolRestart,
    WorkerPoolShrink,
    WorkerQueueAddConsumer,
    WorkerQueueCancelConsumer,
    WorkerShutDown,
)
from flower.api.diagnosis import GetDiagnosis
from flower.api.openapi import OpenApiDocument
from flower.api.tasks import (
    GetQueueLengths,
    ListTasks,
    ListTaskTypes,
    TaskAbort,
    TaskApply,
    TaskAsyncApply,
    TaskInfo,
    TaskResult,
    TaskRetry,
    TaskSend,
)
from flower.api.workers import ListWorkers
from flower.views.assets import StaticFiles
from flower.views.auth import LoginHandler, LogoutHandler
from flower.views.broker import BrokerView
from flower.views.docs import DocsView
from flower.views.error import NotFoundErrorHandler
from flower.views.live import LiveChannel
from flower.views.modules import UI_MODULES
from flower.views.monitor import Healthcheck, Metrics
from flower.views.tasks import TasksDataTable, TasksView, TaskView
from flower.views.workers import WorkersView, WorkerView

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

settings = {
    'template_path': os.path.join(PACKAGE_DIR, 'templates'),
    'static_path': os.path.join(PACKAGE_DIR, 'static'),
    'static_url_prefix': '/static/',
    'login_url': '/login',
    'static_handler_class': StaticFiles,  # errors as text, through the one error renderer
    # the dashboards' fragments ({% module WorkersRows(...) %}): the first load's and the live channel's renderer
    'ui_modules': UI_MODULES,
}

handlers = [
    # Dashboard pages
    url(r'/', WorkersView, name='main'),
    url(r'/workers', WorkersView, name='workers'),
    url(r'/worker/(.+)', WorkerView, name='worker'),
    url(r'/task/(.+)', TaskView, name='task'),
    url(r'/tasks', TasksView, name='tasks'),
    url(r'/tasks/datatable', TasksDataTable, name='tasks-datatable'),
    url(r'/broker', BrokerView, name='broker'),
    url(r'/docs', DocsView, name='docs'),  # beyond Flower: our documentation, served offline
    url(r'/docs/([a-z0-9][a-z0-9._-]*)', DocsView),
    url(r'/live', LiveChannel, name='live'),  # the dashboards' live-update WebSocket
    # REST API
    url(r'/api/workers', ListWorkers),
    url(r'/api/worker/shutdown/(.+)', WorkerShutDown),
    url(r'/api/worker/pool/restart/(.+)', WorkerPoolRestart),
    url(r'/api/worker/pool/grow/(.+)', WorkerPoolGrow),
    url(r'/api/worker/pool/shrink/(.+)', WorkerPoolShrink),
    url(r'/api/worker/pool/autoscale/(.+)', WorkerPoolAutoscale),
    url(r'/api/worker/queue/add-consumer/(.+)', WorkerQueueAddConsumer),
    url(r'/api/worker/queue/cancel-consumer/(.+)', WorkerQueueCancelConsumer),
    url(r'/api/tasks', ListTasks),
    url(r'/api/task/types', ListTaskTypes),
    url(r'/api/queues/length', GetQueueLengths),
    url(r'/api/task/info/(.*)', TaskInfo),
    url(r'/api/task/apply/(.+)', TaskApply),
    url(r'/api/task/async-apply/(.+)', TaskAsyncApply),
    url(r'/api/task/send-task/(.+)', TaskSend),
    url(r'/api/task/result/(.+)', TaskResult),
    url(r'/api/task/abort/(.+)', TaskAbort),
    url(r'/api/task/timeout/(.+)', TaskTimout),
    url(r'/api/task/rate-limit/(.+)', TaskRateLimit),
    url(r'/api/task/revoke/(.+)', TaskRevoke),
    url(r'/api/task/retry/(.+)', TaskRetry),  # beyond Flower
    url(r'/api/diagnosis', GetDiagnosis),  # beyond Flower
    url(r'/api/openapi\.json', OpenApiDocument),  # beyond Flower
    # Monitoring
    url(r'/metrics', Metrics),
    url(r'/healthcheck', Healthcheck),
    # Logging in and out (Flower 2.2: trailing slash accepted on /login, /logout added)
    url(r'/login/?', LoginHandler),
    url(r'/logout', LogoutHandler, name='logout'),
    # Static files
    url(r'/static/(.*)', StaticFiles, {'path': settings['static_path']}),
    # Everything else
    url(r'.*', NotFoundErrorHandler),
]
