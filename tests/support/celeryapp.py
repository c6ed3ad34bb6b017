"""The Celery app the test workers run: a handful of tasks that succeed, fail, retry, run long or carry odd
arguments. Broker and backend come from the environment so each test session can use its own."""

import os
import time

from celery import Celery
from celery.contrib.abortable import AbortableTask

app = Celery(
    'flowertests',
    broker=os.environ.get('FLOWER_TEST_BROKER', 'redis://127.0.0.1:6379/15'),
    backend=os.environ.get('FLOWER_TEST_BACKEND') or None,
)
app.conf.update(
    # a test of a worker that sends no task events (no -E) sets FLOWER_TEST_TASK_EVENTS=0
    worker_send_task_events=os.environ.get('FLOWER_TEST_TASK_EVENTS', '1') == '1',
    task_send_sent_event=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    result_extended=True,
    # pool restarts are off by default in celery; a test that restarts a pool asks for them
    worker_pool_restarts=os.environ.get('FLOWER_TEST_POOL_RESTARTS') == '1',
)


@app.task
def add(x, y):
    return x + y


@app.task
def fail(message='boom'):
    raise ValueError(message)


@app.task(bind=True, max_retries=1, default_retry_delay=0.2)
def retry_once(self, value=0):
    if self.request.retries == 0:
        raise self.retry(exc=RuntimeError('first attempt fails'))
    return value


@app.task
def sleep(seconds=1.0):
    time.sleep(seconds)
    return seconds


@app.task
def echo(*args, **kwargs):
    return {'args': list(args), 'kwargs': kwargs}


@app.task(bind=True, base=AbortableTask)
def abortable_loop(self, seconds=10.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if self.is_aborted():
            return 'aborted'
        time.sleep(0.05)
    return 'finished'


@app.task(rate_limit='100/m')
def limited(value=0):
    """Has a rate limit of its own, so workers report it as ``'...limited [rate_limit=100/m]'``."""
    return value
