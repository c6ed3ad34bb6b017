"""The demo's producer: a process (``python -m flower.demo.producer --rate=N``) that keeps sending the demo's
tasks at a steady rate, in a mix a small shop would produce.

It is a process of its own, not a thread of ``flower demo``: at a high ``--rate`` encoding and writing
messages costs CPU, and in the demo process it would compete with the server it is meant to load for the
GIL; as a separate client it also sends its ``task-sent`` events from a host name of its own, as a web
application would. Its main thread sends; a lifeline thread (:mod:`flower.demo.lifeline`) stops it when the
demo is gone.

It starts sending once the demo's server listens for events (so the first tasks are seen from the start),
begins with one task of every kind (so every state shows up within seconds) and then draws from a weighted
mix. When the workers fall behind and more than ``--max_backlog`` task messages wait in the folder it pauses
sending, which bounds the folder however high the rate is set.
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import string
import sys
import threading
import time
import uuid

from flower.demo import lifeline
from flower.demo.layout import layout_from_environment, monitor_listening, task_backlog

logger = logging.getLogger('flower.demo.producer')

DEFAULT_MAX_BACKLOG = 1000
BACKLOG_CHECK_INTERVAL = 0.25  # seconds between listings of the folder
#: Share of scheduled reminder e-mails revoked before they are due ("the customer unsubscribed").
REVOKE_SHARE = 0.2

UNICODE_SAMPLES = (
    'Grüße aus Köln — crème brûlée',
    '東京の天気は晴れ',
    'Привет, мир',
    'مرحبا بالعالم',
    'שלום עולם',
    'नमस्ते दुनिया',
    '🚀✨🐍 emoji 👩‍💻',
    'Zero\u200bwidth and\ttabs\nnewlines',
    '<script>alert("not executed")</script> & "quotes"',
)
WAREHOUSES = ('berlin-1', 'lyon-2', 'porto-1', 'oslo-3')
REPORTS = ('sales-by-region', 'stock-turnover', 'refunds', 'cohort-retention')


class Mix:
    """What to send next: ``(task name, args, kwargs, options)`` tuples, from a seeded random source."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.order_counter = 1000
        # (weight, builder); weights are percentages
        self.kinds = [
            (30, self.confirm_order),
            (18, self.charge_card),
            (12, self.sync_inventory),
            (12, self.thumbnail),
            (10, self.index_document),
            (10, self.send_reminder),
            (8, self.render_report),
        ]

    def tour(self) -> list[tuple]:
        """One task of every kind, the failing and retrying ones included."""
        return [
            self.confirm_order(),
            self.charge_card(declined=True),
            self.charge_card(declined=False),
            self.sync_inventory(outages=2),
            self.sync_inventory(outages=5),
            self.thumbnail(),
            self.index_document(),
            self.send_reminder(),
            self.render_report(),
        ]

    def next(self) -> tuple:
        total = sum(weight for weight, _ in self.kinds)
        pick = self.rng.uniform(0, total)
        for weight, build in self.kinds:
            pick -= weight
            if pick <= 0:
                return build()
        return self.kinds[-1][1]()

    def _order_id(self) -> int:
        self.order_counter += 1
        return self.order_counter

    def confirm_order(self):
        items = [
            {
                'sku': f'SKU-{self.rng.randint(1, 9999):04d}',
                'quantity': self.rng.randint(1, 4),
                'unit_price': round(self.rng.uniform(2, 120), 2),
                'options': {'gift_wrap': self.rng.random() < 0.2, 'note': None},
            }
            for _ in range(self.rng.randint(1, 5))
        ]
        customer = {
            'id': self.rng.randint(1, 50_000),
            'name': self.rng.choice(UNICODE_SAMPLES[:4]),
            'tier': self.rng.choice(['basic', 'gold', None]),
        }
        return 'shop.orders.confirm', (self._order_id(), items), {'customer': customer}, {}

    def charge_card(self, declined: bool | None = None):
        declined = self.rng.random() < 0.3 if declined is None else declined
        card = '4000 0000 0000 0002' if declined else '4242 4242 4242 4242'
        return (
            'shop.payments.charge',
            (self._order_id(), round(self.rng.uniform(5, 900), 2)),
            {'currency': self.rng.choice(['EUR', 'USD', 'GBP', 'JPY']), 'card': card},
            {},
        )

    def sync_inventory(self, outages: int | None = None):
        if outages is None:
            outages = self.rng.choices([0, 1, 2, 5], weights=[50, 25, 15, 10])[0]
        return (
            'shop.inventory.sync',
            (f'SKU-{self.rng.randint(1, 9999):04d}', self.rng.choice(WAREHOUSES)),
            {'outages': outages},
            {},
        )

    def thumbnail(self):
        image = f'https://cdn.shop.example/images/{uuid.UUID(int=self.rng.getrandbits(128)).hex}.jpg'
        return 'shop.images.thumbnail', (image,), {'sizes': self.rng.sample([32, 64, 128, 256, 512], 3)}, {}

    def index_document(self):
        words = [
            ''.join(self.rng.choices(string.ascii_lowercase, k=self.rng.randint(2, 10)))
            for _ in range(self.rng.randint(200, 3000))
        ]
        document = {
            'title': self.rng.choice(UNICODE_SAMPLES),
            'body': ' '.join(words),  # 1-30 KB: more than any monitor shows in full
            'tags': self.rng.sample(['new', 'sale', 'ünïcødé', 'ß', '日本', 'a"b', "it's", '\\path'], 4),
            'price': self.rng.choice([19.99, 0.1 + 0.2, float(10**12), -0.0]),
            'published': self.rng.random() < 0.5,
            'discontinued': None,
            'variants': [
                {'size': size, 'stock': {'eu': self.rng.randint(0, 9), 'us': [1, [2, [3, [4]]]]}}
                for size in ('S', 'M', 'L')
            ],
        }
        return 'shop.search.index_document', (uuid.UUID(int=self.rng.getrandbits(128)).hex, document), {}, {}

    def send_reminder(self):
        to = f'customer{self.rng.randint(1, 50_000)}@mail.example'
        countdown = self.rng.randint(5, 60)
        return (
            'shop.emails.send_reminder',
            (to, self.rng.choice(['cart-abandoned', 'review-request'])),
            {'context': {'cart_total': round(self.rng.uniform(5, 300), 2), 'locale': 'de_DE'}},
            {'countdown': countdown},
        )

    def render_report(self):
        return (
            'shop.reports.render',
            (self.rng.choice(REPORTS), f'2025-Q{self.rng.randint(1, 4)}'),
            {'filters': {'region': self.rng.choice(['EU', 'US', 'APAC']), 'include_refunds': True}},
            {},
        )


class Producer:
    def __init__(self, app, layout, rate: float, max_backlog: int = DEFAULT_MAX_BACKLOG, seed: int | None = None):
        self.app = app
        self.layout = layout
        self.rate = rate
        self.max_backlog = max_backlog
        self.rng = random.Random(seed)
        self.mix = Mix(self.rng)
        self.sent = 0
        self._paused = False
        self._next_backlog_check = 0.0

    def run(self, stop: threading.Event) -> None:
        self._wait_for_monitor(stop)
        for task in self.mix.tour():
            if stop.is_set():
                return
            self.send(*task)
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            if now < next_at:
                stop.wait(next_at - now)
                continue
            if self._backlog_full(now):
                stop.wait(BACKLOG_CHECK_INTERVAL)
                next_at = time.monotonic()
                continue
            self.send(*self.mix.next())
            next_at += interval
            # after a stall (a paused producer, a busy machine) carry on at the rate; don't burst to catch up
            next_at = max(next_at, now - 1.0)

    def _wait_for_monitor(self, stop: threading.Event) -> None:
        logger.info('Waiting for the server to listen for events')
        while not stop.is_set() and not monitor_listening(self.layout):
            stop.wait(0.1)
        logger.info('Sending about %g tasks a second', self.rate)

    def _backlog_full(self, now: float) -> bool:
        if now < self._next_backlog_check:
            return self._paused
        self._next_backlog_check = now + BACKLOG_CHECK_INTERVAL
        backlog = task_backlog(self.layout)
        if not self._paused and backlog >= self.max_backlog:
            logger.warning('%d task messages are waiting: the workers cannot keep up; pausing', backlog)
            self._paused = True
        elif self._paused and backlog < self.max_backlog // 2:
            logger.warning('Backlog down to %d messages; sending again', backlog)
            self._paused = False
        return self._paused

    def send(self, name: str, args: tuple, kwargs: dict, options: dict) -> None:
        result = self.app.send_task(name, args=args, kwargs=kwargs, **options)
        self.sent += 1
        if name == 'shop.emails.send_reminder' and self.rng.random() < REVOKE_SHARE:
            self.app.control.revoke(result.id)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='python -m flower.demo.producer', description="Sends the demo's tasks (started by `flower demo`)."
    )
    parser.add_argument('--rate', type=float, required=True, help='tasks per second (more than 0)')
    parser.add_argument(
        '--max_backlog', type=int, default=DEFAULT_MAX_BACKLOG, help='pause while this many task messages wait'
    )
    parser.add_argument('--seed', type=int, default=None, help='seed of the random mix')
    args = parser.parse_args(argv)
    if not args.rate > 0:
        parser.error('--rate must be more than 0')
    if args.max_backlog < 1:
        parser.error('--max_backlog must be at least 1')
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='[%(asctime)s %(levelname)s %(name)s] %(message)s')
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    lifeline.watch_parent(on_orphaned=stop.set)
    try:
        layout = layout_from_environment()
    except RuntimeError as exc:
        print(f'Error: {exc}', file=sys.stderr)
        return 2
    from flower.demo import tasks  # the app, configured for this folder

    producer = Producer(tasks.app, layout, args.rate, args.max_backlog, args.seed)
    try:
        producer.run(stop)
    except Exception:
        if stop.is_set() or not layout.data.exists():
            return 0  # the demo is being taken down under us
        logger.exception('The producer failed after sending %d tasks', producer.sent)
        return 1
    logger.info('Stopped after sending %d tasks', producer.sent)
    return 0


if __name__ == '__main__':
    sys.exit(main())
