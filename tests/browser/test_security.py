"""Security in headless Chromium with a real worker: every page keeps to the Content-Security-Policy (no
violation at all, interactions included); script payloads a worker carries in args, kwargs, results, exceptions
and tracebacks show as text and never run; and a person who logs in through OAuth uses the dashboard, whose
control buttons send the XSRF token, then logs out."""

from __future__ import annotations

import re
import socket
import uuid
from urllib.parse import quote

import pytest
from tornado.web import create_signed_value

from tests.conftest import celery_app_for
from tests.support.fake_oauth import CLIENT_ID, CLIENT_SECRET, FakeOAuthProvider
from tests.support.inprocess import InProcessServer
from tests.browser.conftest import Watched
from tests.support.processes import Server, start_worker, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.redis]

SCRIPT = '<script>alert(1)</script>'
IMG = '"><img src=x onerror=alert(1)>'
# records every CSP violation of a document, before any of its scripts run
CSP_RECORDER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || ''));
});
"""


def _worker_path(name):
    return '/worker/' + quote(name, safe='')


def watch(open_page, **kwargs):
    watched = open_page(**kwargs)
    watched.context.add_init_script(CSP_RECORDER)
    return watched


def clean(watched, allow_document_404=None, failed_request=None):
    """Nothing went wrong on the current document: no CSP violation, no console error, no dialog (a payload's
    alert), no exception."""
    page = watched.page
    assert page.evaluate('window.__csp') == [], page.url
    assert watched.problems(allow_document_404=allow_document_404, failed_request=failed_request) == []


def goto(watched, url, status=200):
    response = watched.page.goto(url)
    assert response.status == status, url
    csp = response.headers['content-security-policy']
    assert "script-src 'self'" in csp and 'unsafe-inline' not in csp
    assert response.headers['x-frame-options'] == 'DENY'
    watched.page.wait_for_load_state('networkidle')
    return response


@pytest.fixture(scope='module')
def finished(cluster):
    ok = cluster.send('add', 1, 2)
    bad = cluster.send('fail', 'plain failure')
    cluster.wait_state(ok.id, {'SUCCESS'})
    cluster.wait_state(bad.id, {'FAILURE'})
    return ok.id, bad.id


def test_every_page_and_interaction_keeps_to_the_policy(cluster, finished, open_page):
    ok, bad = finished
    watched = watch(open_page)
    page = watched.page

    goto(watched, cluster.url('/workers'))
    page.wait_for_selector('#workers-table tbody tr')
    page.click('#theme-menu')
    page.click('[data-theme-choice="dark"]')
    clean(watched)

    goto(watched, cluster.url(_worker_path(cluster.worker)))
    page.click('button.dropdown-toggle:has-text("Actions")')  # Popper positions the menu
    page.wait_for_selector('.page-actions .dropdown-menu.show')
    page.keyboard.press('Escape')
    for tab in ('queues', 'tasks', 'limits', 'config', 'system', 'pool'):
        page.click(f'#tab-{tab}')
    clean(watched)

    goto(watched, cluster.url('/tasks'))
    page.wait_for_selector('#tasks-table tbody tr')
    page.click('#tasks-table thead th >> nth=0')
    page.fill('#tasks-search', 'state:FAILURE')
    page.wait_for_selector(f'tr[id="task-{bad}"]')
    page.click('#search-help-toggle')
    clean(watched)

    for path in (f'/task/{ok}', f'/task/{bad}', '/broker'):
        goto(watched, cluster.url(path))
        clean(watched)
    goto(watched, cluster.url('/no/such/page'), status=404)
    clean(watched, allow_document_404=page.url)

    # and the policy is enforced: markup that slipped into a page could not run
    page.evaluate('''() => {
      const script = document.createElement('script');
      script.textContent = 'window.__ran = true';
      document.body.appendChild(script);
      document.querySelector('main').insertAdjacentHTML('beforeend', '<img src="data:," onerror="window.__ran = true">');
    }''')
    wait_for(lambda: len(page.evaluate('window.__csp')) == 2, 5, interval=0.1, message='two CSP violations')
    assert page.evaluate('window.__ran') is None
    assert watched.dialogs == []


@pytest.fixture(scope='module')
def hostile(cluster):
    """A second server that shows every text column, and a worker's tasks carrying script payloads in each
    field a task's sender or code controls."""
    server = Server(
        cluster.redis_url,
        args=['--inspect_timeout=3000', '--tasks_columns=name,uuid,state,args,kwargs,result,exception,worker'],
    )
    try:
        wait_for(lambda: 'receiving events' in server.output(), 20, message='the second server to subscribe')
        echoed = cluster.send('echo', SCRIPT, IMG, note=SCRIPT, other=IMG)
        failed = cluster.send('fail', SCRIPT + IMG)
        cluster.wait_state(echoed.id, {'SUCCESS'}, server=server)
        cluster.wait_state(failed.id, {'FAILURE'}, server=server)
        yield server, echoed.id, failed.id
    finally:
        server.stop()


def test_script_payloads_from_a_worker_stay_text(cluster, hostile, open_page):
    server, echoed, failed = hostile
    info = server.get(f'/api/task/info/{failed}').json()
    assert SCRIPT in info['exception'] and SCRIPT in info['traceback']  # the payloads did reach the server
    watched = watch(open_page)
    page = watched.page

    goto(watched, server.url + '/tasks?search=alert')
    for task_id in (echoed, failed):
        page.wait_for_selector(f'tr[id="task-{task_id}"]')
    row = page.inner_text(f'tr[id="task-{echoed}"]')
    assert SCRIPT in row and IMG in row
    assert SCRIPT in page.inner_text(f'tr[id="task-{failed}"] td.col-exception')
    assert page.locator('#tasks-table img, #tasks-table script').count() == 0
    clean(watched)

    goto(watched, server.url + f'/task/{echoed}')
    for field in ('args', 'kwargs', 'result'):
        text = page.inner_text(f'#value-{field}')
        assert SCRIPT in text and IMG in text, field
    assert page.locator('main img, main script').count() == 0
    clean(watched)

    goto(watched, server.url + f'/task/{failed}')
    assert SCRIPT + IMG in page.inner_text('#value-traceback')
    assert SCRIPT in page.inner_text('[data-field="exception"]')
    assert page.locator('main img, main script').count() == 0
    clean(watched)

    goto(watched, server.url + '/workers')
    page.wait_for_selector('#workers-table tbody tr')
    goto(watched, server.url + _worker_path(cluster.worker))
    page.click('#tab-tasks')
    clean(watched)
    assert watched.dialogs == []


@pytest.fixture(scope='module')
def oauth_cluster(redis_url):
    """A server with Google login (against the fake provider) in this process, watching a real worker of its
    own through the session's Redis."""
    fake = FakeOAuthProvider()
    fake.sign_in_as('google', email='me@example.com')
    started = []
    server = InProcessServer(
        {
            'auth': '.*@example.com',
            'auth_provider': 'flower.views.auth.GoogleAuth2LoginHandler',
            'oauth2_key': CLIENT_ID,
            'oauth2_secret': CLIENT_SECRET,
            'cookie_secret': 'browser-oauth-' * 5,
            'inspect_timeout': 3000,
        },
        capp=celery_app_for(redis_url),
        oauth_endpoints=fake.endpoints(),
    )
    try:
        server.on_loop(server.app.start_background)
        worker = f'oauth-{uuid.uuid4().hex[:6]}@{socket.gethostname()}'
        started.append(start_worker(redis_url, worker, pool='prefork', concurrency=1))
        wait_for(
            lambda: server.on_loop(lambda: worker in server.app.events.state.workers),
            60,
            interval=0.3,
            message='the worker online',
        )
        yield server, fake, worker
    finally:
        for proc in started:
            proc.stop()
        server.stop()
        fake.stop()


def _pool_size(server, worker):
    session = create_signed_value(server.options.cookie_secret, 'user', 'me@example.com').decode()
    info = server.get('/api/workers', params={'workername': worker, 'refresh': 1}, cookies={'user': session})
    return len(info.json()[worker]['stats']['pool']['processes'])


def test_log_in_use_the_controls_and_log_out(oauth_cluster, open_page):
    server, fake, worker = oauth_cluster
    watched = watch(open_page)
    page = watched.page

    page.goto(server.url + _worker_path(worker))  # -> /login -> the provider -> back -> the worker page
    page.wait_for_url(re.compile(re.escape(_worker_path(worker)) + '$'))
    assert page.inner_text('#workername') == worker
    assert page.get_attribute('#nav-logout', 'title') == 'Signed in as me@example.com'
    cookies = {cookie['name']: cookie for cookie in watched.context.cookies()}
    assert cookies['user']['httpOnly'] and cookies['user']['sameSite'] == 'Lax'
    clean(watched)

    bare = page.evaluate(
        '''(path) => fetch(path, {method: 'POST', body: new URLSearchParams({n: '1'})})
                             .then(r => r.text().then(t => [r.status, t]))''',
        f'/api/worker/pool/grow/{worker}',
    )
    assert bare == [403, "'_xsrf' argument missing from POST"]  # a POST without the token is refused
    watched.console_errors.clear()  # the browser logs that 403

    before = _pool_size(server, worker)
    page.fill('#pool-size', '1')
    page.click('#pool-grow')  # a POST with the session cookie: refused without the token flower.js sends
    toast = page.wait_for_selector('.toast.toast-success')
    assert f"Growing '{worker}' worker's pool by 1" in toast.inner_text()
    wait_for(lambda: _pool_size(server, worker) == before + 1, 30, interval=0.5, message='one more process')
    page.click('#pool-shrink')
    page.wait_for_selector('.toast.toast-success >> text=Shrinking')
    clean(watched)

    goto(watched, server.url + '/tasks')  # the table's POSTs carry the token too
    page.wait_for_selector('#tasks-table tbody tr')
    assert page.locator('.toast.toast-error').count() == 0
    clean(watched)

    # a bookmark to /logout (or another site's <img src=/logout>) only asks
    goto(watched, server.url + '/logout')
    assert page.inner_text('#logout-title') == 'Log out of Flower?'
    assert page.inner_text('#logout-user') == 'Signed in as me@example.com.'
    watched.screenshot('logout-asks')
    assert 'user' in {cookie['name'] for cookie in watched.context.cookies()}
    goto(watched, server.url + '/tasks')
    page.wait_for_selector('#tasks-table tbody tr')

    page.click('#nav-logout')  # the navigation bar's button: a POST with the token
    page.wait_for_selector('#logout-title')
    assert page.inner_text('#logout-title') == 'You have been logged out'
    watched.screenshot('logout')
    assert 'user' not in {cookie['name'] for cookie in watched.context.cookies()}
    clean(watched)
    page.goto(server.url + '/workers')  # the session is gone: back to the provider, who signs in again
    page.wait_for_url(re.compile(r'/workers$'))
    goto(watched, server.url + '/logout')
    page.click('#logout-confirm')  # the button of the page a bookmark opens
    page.wait_for_selector('#login-again')
    assert page.inner_text('#logout-title') == 'You have been logged out'
    assert 'user' not in {cookie['name'] for cookie in watched.context.cookies()}
    clean(watched)

    fake.sign_in_as('google', email='me@example.com.evil.com')  # another person at the same browser
    page.click('#login-again')
    page.wait_for_selector('#login-message')
    assert "Access denied for 'me@example.com.evil.com'" in page.inner_text('#login-message')
    assert page.is_visible('#login-retry')
    watched.screenshot('login-denied')
    # the 403 of the failure page itself is the only console error
    problems = [p for p in watched.problems() if '403' not in p]
    assert problems == [] and page.evaluate('window.__csp') == []


def test_basic_auth_logout_button(browser):
    """Under --basic_auth, /logout asks, and its button posts with the token and says the browser keeps the
    password until it is closed (Flower's Basic "logout": a server cannot make a browser forget it)."""
    server = InProcessServer({'basic_auth': ['alice:s3cret']})
    context = browser.new_context(
        http_credentials={'username': 'alice', 'password': 's3cret'}, viewport={'width': 1280, 'height': 900}
    )
    try:
        context.add_init_script(CSP_RECORDER)
        watched = Watched(context, context.new_page())
        page = watched.page
        goto(watched, server.url + '/workers')  # the browser answers the challenge and keeps the password
        goto(watched, server.url + '/logout')
        assert page.inner_text('#logout-title') == 'Log out of Flower?'
        assert page.inner_text('#logout-user') == 'Signed in as alice.'
        assert page.locator('#nav-logout').count() == 0  # no session to end: no button in the bar, as before
        page.click('#logout-confirm')
        page.wait_for_selector('#logout-basic-note')
        assert page.inner_text('#logout-title') == 'You have been logged out'
        assert 'browser remembers them until you close it' in page.inner_text('#logout-basic-note')
        watched.screenshot('logout-basic')
        clean(watched)
    finally:
        context.close()
        server.stop()
