"""The examples and the docs against a live server.

One server runs the way examples/docker-compose.yml runs it (its command and ``FLOWER_*`` environment, the
example Celery app, under ``/flower``), fed by a real Celery worker running examples/tasks.py the way the
compose file starts it, on this session's Redis. Then:

- every metric name and label the alert rules, the Grafana dashboard and the docs' PromQL use is one this
  server exports (a renamed metric would leave a silent, always-empty alert);
- every family the server exports is explained in docs/metrics.md, with the labels it really has;
- the Dockerfile's health check command passes against it, and fails on a wrong port or prefix;
- Prometheus' scrape path from examples/prometheus/prometheus.yml serves the metrics;
- with nginx installed, examples/nginx/flower.conf and flower-tls.conf really proxy pages, the live-update
  WebSocket and the forwarded scheme; with promtool installed, the alert rules' unit tests pass;
- the Dockerfile's build stage, run on the build context it would get, makes a wheel with the console script,
  the templates and the static files.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import celery_app_for
from tests.support.needs import require_tool
from tests.support.processes import REPO, Process, Server, free_port, wait_for
from tests.unit.test_docs_docker import (
    dockerignore,
    dockerignore_excludes,
    healthcheck_command,
    interpolate,
    read_dockerfile,
)
from tests.unit.test_docs_promql import load_script

pytestmark = [pytest.mark.slow, pytest.mark.redis]

EXAMPLES = REPO / 'examples'
DOCS = REPO / 'docs'
WORKER_NAME = 'docs-example'
checker = load_script('check_metric_names')
gen_docs = load_script('gen_docs')


def compose_service(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / 'docker-compose.yml').read_text())['services'][name]


def compose_env(name: str) -> dict[str, str]:
    return {key: interpolate(str(value)) for key, value in compose_service(name)['environment'].items()}


class Cluster:
    def __init__(self, server: Server, env: dict[str, str], prefix: str, auth: tuple[str, str]):
        self.server = server
        self.env = env
        self.prefix = prefix
        self.auth = auth
        self.scrape = ''

    def metrics(self) -> str:
        response = self.server.get(f'{self.prefix}/metrics')
        assert response.status_code == 200, response.text
        return response.text


@pytest.fixture(scope='module')
def cluster(redis_url):
    started: list[Process] = []
    data_dir = tempfile.mkdtemp(prefix='flowertest-data-')
    try:
        env = compose_env('flower')
        env.pop('CELERY_BROKER_URL')  # this session's Redis instead (Server passes --broker)
        env['PYTHONPATH'] = f'{EXAMPLES}{os.pathsep}{REPO}'  # the compose file mounts tasks.py on /app
        env['FLOWER_QUEUE_LENGTH_INTERVAL'] = '0.5'  # 15 s in the example: too slow for a test
        prefix = '/' + env['FLOWER_URL_PREFIX'].strip('/')
        user, password = env['FLOWER_BASIC_AUTH'].split(',')[0].split(':', 1)
        server = Server(
            redis_url, app=None, args=list(compose_service('flower')['command']), env=env, cwd=data_dir, wait=False
        )
        started.append(server)
        server.wait_ready(prefix=prefix)

        worker_command = compose_service('worker')['command']
        worker_env = compose_env('worker')
        worker_env.update(
            CELERY_BROKER_URL=redis_url,
            PYTHONPATH=str(EXAMPLES),
            CELERY_BEAT_SCHEDULE=os.path.join(data_dir, 'celerybeat-schedule'),
        )
        worker = Process(
            [
                sys.executable,
                '-m',
                'celery',
                *worker_command,
                '-n',
                f'{WORKER_NAME}@%h',
                '--without-gossip',
                '--without-mingle',
            ],
            env=worker_env,
            cwd=EXAMPLES,
            name='example-worker',
        )
        started.append(worker)

        app = celery_app_for(redis_url)
        cluster = Cluster(server, env, prefix, (user, password))

        def everything_exported():
            if not worker.alive():
                raise AssertionError(f'the example worker exited:\n{worker.output()}')
            app.send_task('tasks.add', args=(2, 3))
            app.send_task('tasks.add', args=('a', 1))  # TypeError: a failure
            text = cluster.metrics()
            exported = checker.exported_names(text)
            needed = (
                'flower_worker_online',
                'flower_events_total',
                'flower_task_runtime_seconds_bucket',
                'flower_task_prefetch_time_seconds',
                'flower_worker_prefetched_tasks',
                'flower_worker_number_of_currently_executing_tasks',
                'flower_queue_length',
            )
            failed = re.search(r'^flower_events_total\{[^}]*type="task-failed"', text, re.M)
            return text if all(n in exported.with_samples for n in needed) and failed else None

        cluster.scrape = wait_for(
            everything_exported, 60, interval=1, message='the example worker\'s events in /metrics'
        )
        yield cluster
    finally:
        for process in reversed(started):
            process.stop()
        try:  # beat kept sending: leave the session's queue empty for the tests after these
            celery_app_for(redis_url).control.purge()
        except Exception:
            pass
        shutil.rmtree(data_dir, ignore_errors=True)


# -- metric names ------------------------------------------------------------------------------------------


def example_expressions():
    rules = checker.expressions_in(EXAMPLES / 'prometheus' / 'alerts.yml')
    dashboard = checker.expressions_in(EXAMPLES / 'grafana' / 'dashboards' / 'flower.json')
    docs = [e for page in sorted(DOCS.glob('*.md')) for e in checker.expressions_in(page)]
    return rules, dashboard, docs


def test_rules_dashboard_and_docs_use_only_exported_metrics_and_labels(cluster):
    rules, dashboard, docs = example_expressions()
    assert len(rules) >= 10 and len(dashboard) >= 25 and len(docs) >= 5
    exported = checker.exported_names(cluster.scrape)
    assert checker.check(rules + dashboard + docs, exported) == []
    used = set().union(*(e.usage().metrics for e in rules + dashboard))
    assert {
        'flower_worker_online',
        'flower_events_total',
        'flower_queue_length',
        'flower_events_backlog_bytes',
        'flower_events_stream_interruptions_total',
        'flower_task_runtime_seconds_bucket',
    } <= used

    # and the check does see a rule that uses what the server does not export
    renamed = checker.Expression('renamed', 'sum by (worker) (flower_worker_up) == 0')
    relabelled = checker.Expression('relabelled', 'flower_queue_length{queue_name="celery"} > 1')
    assert len(checker.check([renamed, relabelled], exported)) == 2


def test_every_exported_family_is_explained_in_metrics_md(cluster):
    markdown = (DOCS / 'metrics.md').read_text()
    documented = {}
    for name, kind, labels in re.findall(r'^\| \[`(\w+)`\]\(#\w+\) \| (\w+) \| (.*) \|$', markdown, re.M):
        documented[name] = (kind, set(re.findall(r'`(\w+)`', labels)))
    live = gen_docs.exported_families(cluster.scrape)
    assert len(live) >= 13
    for family in live:
        name = gen_docs.documented_name(family)
        assert name in documented, f'{name} is exported and not explained in docs/metrics.md'
        assert documented[name][0] == family.type, name
        if family.labels is not None:
            assert documented[name][1] == set(family.labels), name
    assert set(documented) == {gen_docs.documented_name(f) for f in live}
    queue = re.search(r'^flower_queue_length\{queue="celery"\} \d', cluster.scrape, re.M)
    assert queue, 'flower_queue_length has a series per queue'


# -- the image's health check and Prometheus' scrape path ------------------------------------------------


def run_healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess:
    _, stages = read_dockerfile((REPO / 'Dockerfile').read_text())
    command = healthcheck_command(stages[-1])
    clean = {k: v for k, v in os.environ.items() if not k.startswith('FLOWER_')}
    return subprocess.run(
        [sys.executable, *command[1:]], env={**clean, **env}, capture_output=True, text=True, timeout=30
    )


def test_the_images_health_check_passes_against_the_compose_configuration(cluster):
    env = {k: v for k, v in cluster.env.items() if k.startswith('FLOWER_')}
    env['FLOWER_PORT'] = str(cluster.server.port)
    assert run_healthcheck(env).returncode == 0

    closed = run_healthcheck({**env, 'FLOWER_PORT': str(free_port())})
    assert closed.returncode != 0 and 'Connection refused' in closed.stderr
    no_prefix = run_healthcheck({k: v for k, v in env.items() if k != 'FLOWER_URL_PREFIX'})
    assert no_prefix.returncode != 0 and '404' in no_prefix.stderr


def test_prometheus_scrape_path_serves_the_metrics(cluster):
    config = yaml.safe_load((EXAMPLES / 'prometheus' / 'prometheus.yml').read_text())
    job = next(job for job in config['scrape_configs'] if job['job_name'] == 'flower')
    response = requests.get(cluster.server.url + job['metrics_path'], timeout=10)  # no credentials
    assert response.status_code == 200 and response.headers['Content-Type'].startswith('text/plain')
    assert 'flower_worker_online{worker="' + WORKER_NAME in response.text
    # the pages themselves are not public
    assert cluster.server.get(f'{cluster.prefix}/').status_code == 401


def test_the_example_app_is_loaded_and_its_tasks_run(cluster):
    response = cluster.server.get(f'{cluster.prefix}/api/workers?refresh=1', auth=cluster.auth)
    assert response.status_code == 200, response.text
    registered = next(info for name, info in response.json().items() if name.startswith(WORKER_NAME))['registered']
    assert {'tasks.add', 'tasks.resize_image', 'tasks.nightly_report'} <= set(registered)
    types = cluster.server.get(f'{cluster.prefix}/api/task/types', auth=cluster.auth).json()['task-types']
    assert 'tasks.add' in types


# -- nginx, for real when it is installed -------------------------------------------------------------------


@pytest.fixture
def nginx_installed():
    return require_tool('nginx', 'apt-get install nginx-light')


needs_nginx = pytest.mark.usefixtures('nginx_installed')


class Nginx(Process):
    def __init__(self, conf: str, substitutions: list[tuple[str, str]], directory: Path):
        for old, new in substitutions:
            assert re.search(old, conf, re.M), old
            conf = re.sub(old, new, conf, flags=re.M)
        (directory / 'site.conf').write_text(conf)
        temp = directory / 'temp'
        temp.mkdir(mode=0o777)
        temp.chmod(0o777)
        (directory / 'nginx.conf').write_text(f'''
pid {directory}/nginx.pid;
error_log {directory}/error.log;
daemon off;
events {{}}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {directory}/site.conf;
}}
''')
        exe = shutil.which('nginx')
        test = subprocess.run([exe, '-t', '-c', str(directory / 'nginx.conf')], capture_output=True, text=True)
        assert test.returncode == 0, test.stderr
        super().__init__([exe, '-c', str(directory / 'nginx.conf')], name='nginx')
        self.directory = directory


def nginx_directory() -> Path:
    directory = Path(tempfile.mkdtemp(prefix='flowertest-nginx-'))
    directory.chmod(0o755)  # nginx's workers run as an unprivileged user
    return directory


async def live_update(url: str, origin: str, auth: tuple[str, str], ssl_context=None) -> dict:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    token = base64.b64encode(':'.join(auth).encode()).decode()
    request = HTTPRequest(
        url, headers={'Origin': origin, 'Authorization': f'Basic {token}'}, ssl_options=ssl_context, request_timeout=10
    )
    connection = await websocket_connect(request)
    try:
        await connection.write_message(json.dumps({'type': 'watch', 'seq': 1, 'page': 'workers'}))
        message = await asyncio.wait_for(connection.read_message(), 10)
    finally:
        connection.close()
    return json.loads(message)


@needs_nginx
def test_nginx_example_proxies_pages_redirects_and_the_live_channel(cluster):
    directory = nginx_directory()
    port = free_port()
    nginx = Nginx(
        (EXAMPLES / 'nginx' / 'flower.conf').read_text(),
        [
            (r'server flower:5555;', f'server 127.0.0.1:{cluster.server.port};'),
            (r'^    listen 80;', f'    listen 127.0.0.1:{port};'),
        ],
        directory,
    )
    base = f'http://127.0.0.1:{port}'
    try:
        wait_for(
            lambda: requests.get(base + '/flower/healthcheck', timeout=1).text == 'OK',
            10,
            message='nginx in front of flower',
        )
        bare = requests.get(base + '/flower', allow_redirects=False, timeout=5)
        assert bare.status_code == 301 and bare.headers['Location'] == '/flower/'
        page = requests.get(base + '/flower/', auth=cluster.auth, timeout=10)
        assert page.status_code == 200 and '/flower/static/' in page.text and WORKER_NAME in page.text
        static = re.search(r'(/flower/static/[^"?]+\.css)', page.text).group(1)
        assert requests.get(base + static, timeout=5).status_code == 200
        assert requests.get(base + '/flower/metrics', timeout=5).status_code == 403
        api = requests.get(base + '/flower/api/task/types', auth=cluster.auth, timeout=10)
        assert 'tasks.add' in api.json()['task-types']

        # the WebSocket upgrade goes through, on a port that is not 80 (Host keeps the port)
        update = asyncio.run(live_update(f'ws://127.0.0.1:{port}/flower/live', base, cluster.auth))
        assert update['type'] == 'update' and update['view'] == 'workers'
        # the workers page's fragments, rendered on the server (docs/live-updates.md), name the worker
        assert any(WORKER_NAME in html for html in update['data']['fragments'].values())
    finally:
        nginx.stop()
        shutil.rmtree(directory, ignore_errors=True)


@needs_nginx
@pytest.mark.filterwarnings('ignore::urllib3.exceptions.InsecureRequestWarning')  # our own self-signed cert
def test_nginx_tls_example_forwards_the_scheme(cluster):
    import ssl

    require_tool('openssl', 'apt-get install openssl')
    directory = nginx_directory()
    subprocess.run(
        [
            'openssl',
            'req',
            '-x509',
            '-newkey',
            'rsa:2048',
            '-nodes',
            '-days',
            '1',
            '-subj',
            '/CN=127.0.0.1',
            '-keyout',
            str(directory / 'key.pem'),
            '-out',
            str(directory / 'cert.pem'),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    http_port, https_port = free_port(), free_port()
    nginx = Nginx(
        (EXAMPLES / 'nginx' / 'flower-tls.conf').read_text(),
        [
            (r'server 127\.0\.0\.1:5555;', f'server 127.0.0.1:{cluster.server.port};'),
            (r'^    listen \[::\]:\d+( ssl)?;\n', ''),  # no IPv6 in every sandbox
            (r'^    listen 80;', f'    listen 127.0.0.1:{http_port};'),
            (r'^    listen 443 ssl;', f'    listen 127.0.0.1:{https_port} ssl;'),
            (r'ssl_certificate +\S+;', f'ssl_certificate {directory}/cert.pem;'),
            (r'ssl_certificate_key +\S+;', f'ssl_certificate_key {directory}/key.pem;'),
        ],
        directory,
    )
    base = f'https://127.0.0.1:{https_port}'
    try:
        wait_for(
            lambda: requests.get(base + '/flower/healthcheck', verify=False, timeout=1).text == 'OK',
            10,
            message='nginx with TLS in front of flower',
        )
        plain = requests.get(f'http://127.0.0.1:{http_port}/flower/', allow_redirects=False, timeout=5)
        assert plain.status_code == 301 and plain.headers['Location'].startswith('https://')
        page = requests.get(base + '/flower/', auth=cluster.auth, verify=False, timeout=10)
        assert page.status_code == 200 and page.headers['Strict-Transport-Security'].startswith('max-age=')
        # X-Forwarded-Proto and --xheaders: the server knows the page was HTTPS, so its cookies are Secure
        cookies = [c for c in page.raw.headers.getlist('Set-Cookie') if c.startswith('_xsrf=')]
        assert cookies and 'Secure' in cookies[0]
        direct = requests.get(cluster.server.url + '/flower/', auth=cluster.auth, timeout=10)
        assert all('Secure' not in c for c in direct.raw.headers.getlist('Set-Cookie'))

        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        update = asyncio.run(live_update(f'wss://127.0.0.1:{https_port}/flower/live', base, cluster.auth, context))
        assert update['type'] == 'update'
    finally:
        nginx.stop()
        shutil.rmtree(directory, ignore_errors=True)


# -- promtool, when it is installed ----------------------------------------------------------------------------


def test_promtool_accepts_the_config_and_the_rules_pass_their_unit_tests(tmp_path):
    promtool = require_tool('promtool', 'apt-get install prometheus')
    prometheus = EXAMPLES / 'prometheus'
    checked = subprocess.run(
        [promtool, 'check', 'rules', 'alerts.yml'], cwd=prometheus, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, 'test', 'rules', 'alerts_test.yml'], cwd=prometheus, capture_output=True, text=True, timeout=60
    )
    assert tested.returncode == 0 and 'SUCCESS' in tested.stdout, tested.stdout + tested.stderr
    # the configuration, with the rule file where compose mounts it replaced by the file itself
    config = yaml.safe_load((prometheus / 'prometheus.yml').read_text())
    config['rule_files'] = [str(prometheus / 'alerts.yml')]
    (tmp_path / 'prometheus.yml').write_text(yaml.safe_dump(config))
    checked = subprocess.run(
        [promtool, 'check', 'config', str(tmp_path / 'prometheus.yml')], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# -- the Dockerfile's build stage, on its build context -------------------------------------------------------


def test_the_build_context_makes_a_wheel_with_the_console_script_and_the_package_data(tmp_path):
    _, stages = read_dockerfile((REPO / 'Dockerfile').read_text())
    build = stages[0]
    patterns = dockerignore()
    context = tmp_path / 'context'
    workdir = context / build.last('WORKDIR').args.lstrip('/')
    workdir.mkdir(parents=True)
    for instruction in build.all('COPY'):
        *sources, destination = instruction.args.split()
        for source in sources:
            target = workdir / destination if not destination.endswith('/') else workdir / destination / source
            target = workdir / source if destination in ('./', '.') else target
            path = REPO / source
            if path.is_dir():
                shutil.copytree(
                    path,
                    target,
                    ignore=lambda d, names: [
                        n for n in names if dockerignore_excludes(patterns, str((Path(d) / n).relative_to(REPO)))
                    ],
                )
            else:
                shutil.copy(path, target)
    run = next(i.args for i in build.all('RUN') if 'pip wheel' in i.args)
    wheels = tmp_path / 'wheels'
    command = run.replace('/wheels', str(wheels)).split()
    assert command[:2] == ['pip', 'wheel']
    result = subprocess.run([sys.executable, '-m', *command], cwd=workdir, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    built = list(wheels.glob('flower-*.whl'))
    assert len(built) == 1
    with zipfile.ZipFile(built[0]) as wheel:
        names = set(wheel.namelist())
        entry_points = wheel.read(next(n for n in names if n.endswith('entry_points.txt'))).decode()
    assert re.search(r'^\[console_scripts\]\nflower = flower\.__main__:main$', entry_points, re.M)
    assert 'flower = flower.command:flower' in entry_points  # celery's `celery flower`
    shipped = [
        str(p.relative_to(REPO))
        for folder in ('templates', 'static')
        for p in (REPO / 'flower' / folder).rglob('*')
        if p.is_file() and '__pycache__' not in p.parts
    ]
    assert len(shipped) > 20
    assert [name for name in shipped if name not in names] == []
    assert not any(name.startswith(('tests/', 'bench/', 'examples/')) for name in names)
