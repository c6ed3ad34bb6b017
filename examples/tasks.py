"""The example Celery app of docker-compose.yml: a few tasks, and a schedule that keeps them coming so the
dashboards, metrics and alerts have something to show.

The worker runs it with an embedded beat (``celery -A tasks worker -E -B``); flower loads it with ``-A tasks``
so it knows the registered task names. Outside Docker:

    CELERY_BROKER_URL=redis://localhost:6379/0 celery -A tasks worker -E -B -l info
    CELERY_BROKER_URL=redis://localhost:6379/0 flower -A tasks
"""

import os
import random
import time

from celery import Celery

app = Celery('tasks', broker=os.environ.get('CELERY_BROKER_URL', 'redis://localhost:6379/0'))
app.conf.update(
    worker_send_task_events=True,  # what flower watches (the same as `celery worker -E`)
    task_send_sent_event=True,  # so a task shows up as soon as it is sent, before a worker takes it
    broker_connection_retry_on_startup=True,
    beat_schedule_filename=os.environ.get('CELERY_BEAT_SCHEDULE', '/tmp/celerybeat-schedule'),
    beat_schedule={
        'add-every-2s': {'task': 'tasks.add', 'schedule': 2.0, 'args': (2, 3)},
        'resize-every-5s': {'task': 'tasks.resize_image', 'schedule': 5.0, 'args': ('cat.png', 640)},
        'report-every-30s': {'task': 'tasks.nightly_report', 'schedule': 30.0},
    },
)


@app.task
def add(x, y):
    return x + y


@app.task
def resize_image(name, width):
    """Takes a moment and fails one time in five, so the failure-ratio alert and the runtime panels move."""
    time.sleep(random.uniform(0.05, 1.5))
    if random.random() < 0.2:
        raise OSError(f'cannot read {name}')
    return f'{name} resized to {width}px'


@app.task(bind=True, max_retries=2, default_retry_delay=1)
def nightly_report(self):
    """Slow, and retried once now and then."""
    time.sleep(random.uniform(2, 6))
    if self.request.retries == 0 and random.random() < 0.3:
        raise self.retry(exc=TimeoutError('the reporting database did not answer'))
    return {'rows': random.randint(100, 1000)}
