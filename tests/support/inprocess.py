"""A real Flower app served by tornado on a free port, in this process, on its own IOLoop thread, with no
broker behind it: tests feed it events directly (on the IOLoop thread, as the events thread would) and talk
HTTP to it. Fast, and enough for everything that does not need a worker."""

from __future__ import annotations

import asyncio
import threading

import requests
from celery import Celery

from flower.options import Options


class InProcessServer:
    def __init__(self, options: dict | None = None, capp=None, handlers=None, **settings):
        self.capp = capp or Celery('inprocess', broker='memory://')
        values = {'port': 0, 'address': '127.0.0.1', 'enable_events': False}
        values.update(options or {})
        self.options = Options(values)
        self._ready = threading.Event()
        self._error = None
        self._handlers = handlers
        self._settings = settings
        self.thread = threading.Thread(target=self._serve, name='inprocess-flower', daemon=True)
        self.thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error

    def _serve(self):
        from flower.app import Flower

        try:
            asyncio.set_event_loop(asyncio.new_event_loop())
            self.app = Flower(capp=self.capp, options=self.options, handlers=self._handlers, **self._settings)
            self.port = self.app.start_http_server()
            self.url = f'http://127.0.0.1:{self.port}'
        except BaseException as exc:  # report start-up failures to the test thread
            self._error = exc
            self._ready.set()
            return
        self.app.io_loop.add_callback(self._ready.set)
        self.app.io_loop.start()

    def on_loop(self, fn, *args):
        """Run ``fn(*args)`` on the IOLoop thread and return its result."""
        done = threading.Event()
        box = {}

        def call():
            try:
                box['value'] = fn(*args)
            except BaseException as exc:
                box['error'] = exc
            done.set()

        self.app.io_loop.add_callback(call)
        if not done.wait(30):
            raise TimeoutError('the IOLoop did not run the call')
        if 'error' in box:
            raise box['error']
        return box.get('value')

    def apply(self, events):
        state = self.app.events.state
        return self.on_loop(lambda: [state.event(ev) for ev in events])

    def get(self, path, **kwargs):
        kwargs.setdefault('timeout', 10)
        return requests.get(self.url + path, **kwargs)

    def post(self, path, **kwargs):
        kwargs.setdefault('timeout', 10)
        return requests.post(self.url + path, **kwargs)

    def stop(self):
        self.app.io_loop.add_callback(self.app.stop)
        self.thread.join(10)
