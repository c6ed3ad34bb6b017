"""Headless Chromium for the dashboard tests: Debian's /usr/bin/chromium driven by Playwright (which cannot
download browsers here), a real server and a real worker on this session's Redis db.

Each test gets fresh browser contexts (Playwright gives every launch a new temporary profile) and a page that
records console errors, uncaught exceptions and dialogs, so a test can assert there were none. Screenshots go
to tests/screenshots/ (git-ignored) for a person to look at."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from tests.conftest import celery_app_for
from tests.support.needs import skip_or_fail
from tests.support.processes import Server, start_worker, wait_for

CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / 'screenshots'
TASKS = 'tests.support.celeryapp'


def _unavailable(reason):
    skip_or_fail(reason, 'the browser tests must run')


# Module scope, not session: Playwright's sync API keeps an asyncio loop running on the main thread while it is
# open, and the other test modules (asyncio.run, IOLoops of their own) must not find one running.
@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        _unavailable(f'{CHROMIUM} is missing (apt-get install -y chromium)')
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable('playwright is not installed (pip install playwright)')
    config_home = tmp_path_factory.mktemp('xdg-config')
    env = dict(os.environ, XDG_CONFIG_HOME=str(config_home))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=env, headless=True)
        yield browser
        browser.close()


class Watched:
    """A page and what went wrong on it: console errors, uncaught exceptions, dialogs (dismissed)."""

    def __init__(self, context, page):
        self.context = context
        self.page = page
        self.console_errors: list[tuple[str, str]] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        page.on('console', self._console)
        page.on('pageerror', lambda exc: self.page_errors.append(str(exc)))
        page.on('dialog', self._dialog)

    def _console(self, message):
        if message.type == 'error':
            self.console_errors.append((message.text, (message.location or {}).get('url', '')))

    def _dialog(self, dialog):
        self.dialogs.append(f'{dialog.type}: {dialog.message}')
        dialog.dismiss()

    def problems(self, allow_document_404: str | None = None, failed_request: str | None = None) -> list[str]:
        """Everything that went wrong; ``allow_document_404`` is the URL of a page that is itself a 404, and
        ``failed_request`` the URL of a request the test made fail on purpose (the browser logs both)."""
        errors = [
            f'console: {text} ({url})'
            for text, url in self.console_errors
            if not (allow_document_404 and url == allow_document_404 and '404' in text)
            and not (failed_request and url == failed_request and 'Failed to load resource' in text)
        ]
        return errors + [f'exception: {e}' for e in self.page_errors] + [f'dialog: {d}' for d in self.dialogs]

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f'{name}.png'
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def open_page(browser):
    """``open_page(width=1280, theme='light')`` -> a :class:`Watched` page in a fresh context."""
    contexts = []

    def make(width: int = 1280, theme: str = 'light', height: int = 900) -> Watched:
        context = browser.new_context(
            viewport={'width': width, 'height': height}, color_scheme='light', device_scale_factor=1
        )
        # the theme the way a user picks it: remembered in localStorage by the theme menu
        if theme != 'auto':
            context.add_init_script(f"try {{ localStorage.setItem('flower-theme', '{theme}'); }} catch (e) {{}}")
        context.set_default_timeout(15000)
        contexts.append(context)
        return Watched(context, context.new_page())

    yield make
    for context in contexts:
        context.close()


class BrowserCluster:
    def __init__(self, redis_url, redis_db, server, worker):
        self.redis_url = redis_url
        self.redis_db = redis_db
        self.server = server
        self.worker = worker
        self.app = celery_app_for(redis_url)

    def url(self, path: str) -> str:
        return self.server.url + path

    def send(self, task, *args, **kwargs):
        return self.app.send_task(f'{TASKS}.{task}', args=args, kwargs=kwargs)

    def wait_state(self, task_id, states, server=None, timeout=60):
        server = server or self.server

        def reached():
            info = server.get(f'/api/task/info/{task_id}')
            return info.status_code == 200 and info.json()['state'] in states

        wait_for(reached, timeout, interval=0.2, message=f'task {task_id} in {states}')


@pytest.fixture(scope='module')
def cluster(redis_url, redis_db):
    # module-scoped, so this worker is gone before other modules' workers consume the same queue
    started = []
    try:
        # the worker boots while the server starts; a worker named in the inspect call answers as soon as it is up
        # (a broadcast would wait the whole inspect timeout), and its heartbeats show it online to a server that
        # subscribed after its worker-online event
        worker = f'browser-{uuid.uuid4().hex[:6]}@{socket.gethostname()}'
        started.append(start_worker(redis_url, worker, pool='prefork', concurrency=2))
        server = Server(redis_url, args=['--inspect_timeout=3000'])
        started.insert(0, server)
        wait_for(lambda: 'receiving events' in server.output(), 20, message='the server to subscribe')
        wait_for(
            lambda: worker in server.get('/api/workers', params={'workername': worker, 'refresh': 1}).json(),
            60,
            interval=0.2,
            message='the worker to answer inspect',
        )
        wait_for(
            lambda: server.get('/api/workers', params={'status': 1}).json().get(worker),
            30,
            interval=0.2,
            message='the worker to show as online',
        )
        yield BrowserCluster(redis_url, redis_db, server, worker)
    finally:
        for proc in reversed(started):
            proc.stop()
