"""The demo's Celery app and its tasks: a small web shop's background jobs, chosen so that a minute of the demo
shows every state and kind of value a monitor has to display.

=============================  ===============================================================================
``shop.orders.confirm``        fast, succeeds; nested arguments (a list of item dicts)
``shop.payments.charge``       fails with ``CardDeclined`` for the test card numbers ending in 0002
``shop.inventory.sync``        retries with back-off while its warehouse is "down" (``outages`` attempts), then
                               succeeds, or fails once the outages outlast ``max_retries``
``shop.images.thumbnail``      a fraction of a second of work
``shop.reports.render``        slow (seconds); routed to the ``reports`` queue
``shop.search.index_document`` large and odd arguments: a long text, unicode from several scripts, markup,
                               nested structures, ``None``/booleans/floats
``shop.emails.send_reminder``  sent with a countdown (an ETA), some revoked before they are due
=============================  ===============================================================================

Loaded by every process of the demo: the workers (``celery -A flower.demo.tasks worker``), the producer and
the ``flower demo`` process itself, each given the demo folder in ``FLOWERDEMO_FOLDER``. Tasks run on the
workers' pool processes (or threads).
"""

from __future__ import annotations

import hashlib
import random
import time

from celery import Celery
from celery.signals import worker_init

from flower.demo import lifeline
from flower.demo.layout import layout_from_environment

layout = layout_from_environment()
app = Celery('flower_demo')
app.conf.update(layout.celery_config())

#: Card numbers that are declined, like a payment provider's test cards.
DECLINED_CARD_SUFFIX = '0002'


class CardDeclined(Exception):
    """The payment provider refused the card."""


class WarehouseUnavailable(ConnectionError):
    """The warehouse's stock API did not answer."""


@worker_init.connect
def _stop_with_the_demo(**_):
    """Worker main process: shut down warm when the ``flower demo`` that started it is gone."""
    lifeline.watch_parent(on_orphaned=lifeline.terminate_self)


def _work(low: float, high: float) -> float:
    seconds = random.uniform(low, high)
    time.sleep(seconds)  # stands in for the I/O a real task would wait on
    return seconds


@app.task(name='shop.orders.confirm')
def confirm_order(order_id, items, customer=None):
    _work(0.005, 0.05)
    total = sum(item['quantity'] * item['unit_price'] for item in items)
    return {
        'order_id': order_id,
        'status': 'confirmed',
        'lines': len(items),
        'total': round(total, 2),
        'customer': customer,
    }


@app.task(name='shop.payments.charge')
def charge_card(order_id, amount, currency='EUR', card='4242 4242 4242 4242'):
    _work(0.05, 0.3)
    if card.replace(' ', '').endswith(DECLINED_CARD_SUFFIX):
        raise CardDeclined(
            f'card ending in {card[-4:]} declined for order {order_id}: insufficient funds for {amount:.2f} {currency}'
        )
    return {
        'order_id': order_id,
        'charged': round(amount, 2),
        'currency': currency,
        'authorization': hashlib.sha1(f'{order_id}{amount}'.encode()).hexdigest()[:12],
    }


@app.task(name='shop.inventory.sync', bind=True, max_retries=3)
def sync_inventory(self, sku, warehouse, outages=0):
    """``outages``: how many attempts find the warehouse down (the producer decides, so the demo shows retries
    that recover and retries that give up)."""
    _work(0.02, 0.2)
    if self.request.retries < outages:
        error = WarehouseUnavailable(f'warehouse {warehouse!r} did not answer (attempt {self.request.retries + 1})')
        countdown = 2**self.request.retries  # 1, 2, 4 seconds: back-off, as a real client would
        if self.request.retries >= self.max_retries:
            raise error
        # Send the retry first, then close the (pretend) connection, then report the retry. On a broker that
        # pushes messages (Redis, RabbitMQ) a worker takes the retry message before the task has even
        # finished, so a monitor shows RETRY until the countdown is over; the filesystem broker is polled,
        # and this pause lets the demo look the same.
        retry = self.retry(exc=error, countdown=countdown, throw=False)
        time.sleep(0.4)
        raise retry
    return {
        'sku': sku,
        'warehouse': warehouse,
        'in_stock': random.randint(0, 500),
        'attempts': self.request.retries + 1,
    }


@app.task(name='shop.images.thumbnail')
def thumbnail(image_url, sizes=(64, 256)):
    _work(0.1, 0.6)
    return {'image': image_url, 'thumbnails': {str(size): f'{image_url}?w={size}' for size in sizes}}


@app.task(name='shop.reports.render')
def render_report(report, period, filters=None):
    seconds = _work(0.5, 3.0)
    return {'report': report, 'period': period, 'rows': int(seconds * 1000), 'filters': filters or {}}


@app.task(name='shop.search.index_document')
def index_document(doc_id, document):
    _work(0.01, 0.1)
    text = ' '.join(str(value) for value in _leaves(document))
    return {
        'doc_id': doc_id,
        'tokens': len(text.split()),
        'characters': len(text),
        'title': document.get('title') if isinstance(document, dict) else None,
    }


@app.task(name='shop.emails.send_reminder')
def send_reminder(to, template, context=None):
    _work(0.01, 0.1)
    return {'to': to, 'template': template, 'message_id': f'<{random.getrandbits(64):x}@shop.example>'}


def _leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield value
