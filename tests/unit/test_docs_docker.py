"""The Dockerfile and the files of examples/ agree with the package and with each other.

Docker cannot build on these machines, so the Dockerfile is parsed: its entry point must be the package's
console script, its exposed port the default ``--port``, its health check the ``/healthcheck`` route, and it
must run as an unprivileged user with ``FLOWER_DATA_DIR`` as the working directory and a volume. The compose
file, the Prometheus configuration, the Grafana provisioning and dashboard, and the nginx configurations are
parsed and checked against each other and against the code (option names, routes, the live channel).
(tests/integration/test_docs_examples.py runs them against a live server.)
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tornado.web
import yaml

from flower import urls
from flower.options import ALL_OPTIONS, DIRECT_ENV_VARIABLES, resolve
from flower.views.live import LiveChannel
from flower.views.monitor import Healthcheck

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / 'examples'


# -- a Dockerfile reader ---------------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str] | None:
        return json.loads(self.args) if self.args.startswith('[') else None


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        values = {}
        for instruction in self.all('ENV'):
            words = shlex.split(instruction.args)
            if words and '=' not in words[0]:  # the old `ENV key value` form
                values[words[0]] = ' '.join(words[1:])
            else:
                values.update(word.split('=', 1) for word in words)
        return values


def read_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, with continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending, start = '', 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith('#'):
            continue  # comments may sit inside a continued instruction too
        if not pending:
            start = number
        if stripped.endswith('\\'):
            pending += stripped[:-1] + ' '
            continue
        full = pending + stripped
        pending = ''
        keyword, _, args = full.partition(' ')
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
    assert not pending, 'the Dockerfile ends inside a continued line'
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == 'ARG' and not stages:
            name, _, default = instruction.args.partition('=')
            args[name] = default
        elif instruction.keyword == 'FROM':
            words = instruction.args.split()
            base = re.sub(r'\$\{(\w+)\}|\$(\w+)', lambda m: args[m.group(1) or m.group(2)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == 'AS' else None
            stages.append(Stage(base, name))
        else:
            assert stages, f'{instruction.keyword} before FROM'
            stages[-1].instructions.append(instruction)
    return args, stages


def healthcheck_command(stage: Stage) -> list[str]:
    instruction = stage.last('HEALTHCHECK')
    assert instruction is not None, 'no HEALTHCHECK'
    match = re.fullmatch(r'((?:--[\w-]+=\S+\s+)*)CMD\s+(\[.*\])', instruction.args, re.S)
    assert match, f'HEALTHCHECK should be [OPTIONS] CMD ["exec", "form"]: {instruction.args}'
    command = json.loads(match.group(2))
    assert isinstance(command, list)
    return command


@pytest.fixture(scope='module')
def dockerfile():
    return read_dockerfile((REPO / 'Dockerfile').read_text())


@pytest.fixture(scope='module')
def pyproject():
    tomllib = pytest.importorskip('tomllib', reason='tomllib is Python 3.11+')
    return tomllib.loads((REPO / 'pyproject.toml').read_text())


def test_the_reader_joins_lines_and_resolves_stages():
    args, stages = read_dockerfile(
        'ARG BASE=python:3.12-slim\n# c\nFROM ${BASE} AS build\nRUN a \\\n  # inner\n'
        '  && b\nFROM $BASE\nENV A=1 B="two words"\nENV C 3\nUSER nobody\n'
    )
    assert args == {'BASE': 'python:3.12-slim'}
    assert [(s.base, s.name) for s in stages] == [('python:3.12-slim', 'build'), ('python:3.12-slim', None)]
    assert stages[0].all('RUN')[0].args == 'a  && b'
    assert stages[1].env() == {'A': '1', 'B': 'two words', 'C': '3'}


def test_entry_point_is_the_packages_console_script(dockerfile, pyproject):
    _, stages = dockerfile
    final = stages[-1]
    entrypoint = final.last('ENTRYPOINT').exec_form()
    scripts = pyproject['project']['scripts']
    assert entrypoint and entrypoint[0] in scripts, (entrypoint, scripts)
    module, _, function = scripts[entrypoint[0]].partition(':')
    assert module == 'flower.__main__'  # the server's command line, and `flower demo`
    import flower.__main__

    assert callable(getattr(flower.__main__, function))
    cmd = final.last('CMD')
    assert cmd is None or cmd.exec_form() == [], 'arguments after the image name go to the entry point alone'


def test_exposes_the_default_port(dockerfile):
    _, stages = dockerfile
    exposed = [word.split('/')[0] for i in stages[-1].all('EXPOSE') for word in i.args.split()]
    assert exposed == [str(ALL_OPTIONS['port'].default)]


def test_runs_as_an_unprivileged_user_created_in_the_image(dockerfile):
    _, stages = dockerfile
    final = stages[-1]
    user = final.last('USER')
    assert user is not None
    name = user.args.split(':')[0]
    assert name not in ('root', '0', '')
    position = final.instructions.index(user)
    assert position < final.instructions.index(final.last('ENTRYPOINT'))
    runs = ' '.join(i.args for i in final.instructions[:position] if i.keyword == 'RUN')
    created = re.search(rf'useradd\b[^&;]*--uid (\d+)[^&;]*\s{re.escape(name)}(\s|$)', runs)
    assert created and int(created.group(1)) >= 1000, runs


def test_the_data_directory_is_the_working_directory_a_volume_and_owned_by_the_user(dockerfile):
    _, stages = dockerfile
    final = stages[-1]
    data = final.env().get('FLOWER_DATA_DIR')
    assert data == '/data'
    assert 'FLOWER_DATA_DIR' in DIRECT_ENV_VARIABLES  # not mistaken for a misspelt option at start-up
    assert final.last('WORKDIR').args == data
    volumes = [v for i in final.all('VOLUME') for v in (i.exec_form() or i.args.split())]
    assert data in volumes
    user = final.last('USER').args.split(':')[0]
    runs = ' '.join(i.args for i in final.all('RUN'))
    assert re.search(rf'chown {re.escape(user)}(:{re.escape(user)})? {re.escape(data)}\b', runs), runs
    # --db is relative by default, so --persistent writes into the volume
    assert not ALL_OPTIONS['db'].default.startswith('/')


def test_base_image_is_a_pinned_slim_python_the_package_supports(dockerfile, pyproject):
    _, stages = dockerfile
    for stage in stages:
        match = re.fullmatch(r'python:(3)\.(\d+)\.(\d+)-slim(-\w+)?', stage.base)
        assert match, f'{stage.base}: pin a full version of a slim Python image'
        minimum = re.search(r'>=\s*3\.(\d+)', pyproject['project']['requires-python'])
        assert int(match.group(2)) >= int(minimum.group(1))


def test_health_check_asks_the_healthcheck_route_on_the_default_port(dockerfile):
    _, stages = dockerfile
    command = healthcheck_command(stages[-1])
    assert command[:2] == ['python', '-c']
    code = command[2]
    compile(code, 'HEALTHCHECK', 'exec')
    assert 'urllib.request' in code and 'curl' not in code
    default_port = re.search(r"os\.environ\.get\('FLOWER_PORT'\) or '(\d+)'", code)
    assert default_port and int(default_port.group(1)) == ALL_OPTIONS['port'].default
    path = re.search(r"(/[a-z]+)'", code).group(1)
    routes = {
        (spec.regex.pattern.rstrip('$')): spec.handler_class
        for spec in urls.handlers
        if isinstance(spec, tornado.web.URLSpec)
    }
    assert routes.get(path) is Healthcheck and Healthcheck.public
    # the prefix and the port come from the same variables the server reads its options from
    for name in ('FLOWER_URL_PREFIX', 'FLOWER_PORT', 'FLOWER_CERTFILE'):
        assert name in code and name[len('FLOWER_') :].lower() in ALL_OPTIONS


# -- the build context -------------------------------------------------------------------------------------


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern matching the path (or a directory above it) decides; ``!`` re-includes."""
    excluded = False
    parts = path.split('/')
    for raw in patterns:
        negated = raw.startswith('!')
        pattern = raw[1:] if negated else raw
        pattern = pattern.strip('/')
        regex = (
            re.escape(pattern)
            .replace(r'\*\*/', '(.*/)?')
            .replace(r'\*\*', '.*')
            .replace(r'\*', '[^/]*')
            .replace(r'\?', '[^/]')
        )
        regex = re.sub(r'\\\[(.*?)\\\]', lambda m: '[' + m.group(1).replace('\\', '') + ']', regex)
        candidates = ['/'.join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def dockerignore() -> list[str]:
    return [
        line.strip()
        for line in (REPO / '.dockerignore').read_text().splitlines()
        if line.strip() and not line.strip().startswith('#')
    ]


def test_dockerignore_matcher():
    patterns = ['*', '!flower/', '**/__pycache__', '**/*.py[cod]']
    assert dockerignore_excludes(patterns, 'tests/unit/test_x.py')
    assert not dockerignore_excludes(patterns, 'flower/app.py')
    assert dockerignore_excludes(patterns, 'flower/__pycache__/app.cpython-311.pyc')
    assert dockerignore_excludes(patterns, 'flower/views/x.pyc')
    assert fnmatch.fnmatch('x.pyc', '*.py[cod]')


def test_the_build_stage_copies_what_building_the_package_needs_and_nothing_ignored(dockerfile, pyproject):
    _, stages = dockerfile
    build = stages[0]
    patterns = dockerignore()
    copied = []
    for instruction in build.all('COPY'):
        words = instruction.args.split()
        assert not any(w.startswith('--from') for w in words)
        copied += words[:-1]
    for source in copied:
        assert (REPO / source).exists(), source
        assert not dockerignore_excludes(patterns, source), f'{source} is excluded by .dockerignore'
    assert 'pyproject.toml' in copied and pyproject['project']['readme'] in copied
    assert 'flower' in copied
    for package_file in (
        'flower/__init__.py',
        'flower/templates/base.html',
        'flower/static/js/flower.js',
        'docs/index.md',
        'flower/docs/index.md',
    ):  # the docs /docs serves, through the link
        assert (REPO / package_file).exists() and not dockerignore_excludes(patterns, package_file)
    for private in ('tests/conftest.py', 'bench/README.md', '.git/HEAD', 'flower.db', 'examples/tasks.py'):
        assert dockerignore_excludes(patterns, private), private
    assert any(re.search(r'pip (wheel|install)\b.*\s\.$', i.args) for i in build.all('RUN'))
    final = stages[-1]
    assert any(f'--from={build.name}' in i.args for i in final.all('COPY'))
    assert any(re.search(r'pip install\b.*\.whl', i.args) for i in final.all('RUN'))


# -- the compose example -------------------------------------------------------------------------------------


def interpolate(value: str, environ: dict | None = None) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``$$``."""
    environ = environ or {}

    def one(match):
        name, default = match.group(1), match.group(3)
        return environ.get(name) or (default if default is not None else '')

    return re.sub(r'\$\{(\w+)(:?-([^}]*))?\}', one, value).replace('$$', '$')


@pytest.fixture(scope='module')
def compose():
    return yaml.safe_load((EXAMPLES / 'docker-compose.yml').read_text())


def service_env(service: dict) -> dict[str, str]:
    env = service.get('environment') or {}
    if isinstance(env, list):
        env = dict(item.split('=', 1) for item in env)
    return {key: interpolate(str(value)) for key, value in env.items()}


def test_compose_has_the_whole_setup_with_pinned_images(compose):
    services = compose['services']
    assert {'redis', 'worker', 'flower', 'nginx', 'prometheus', 'grafana'} <= set(services)
    for name, service in services.items():
        if 'build' in service:
            context = (EXAMPLES / service['build']['context']).resolve()
            assert (context / service['build'].get('dockerfile', 'Dockerfile')).samefile(REPO / 'Dockerfile')
            continue
        image = service['image']
        assert re.fullmatch(r'[\w./-]+:v?\d+(\.\d+)+(-\w+)?', image), f'{name}: pin {image}'
    for name, service in services.items():
        for port in service.get('ports') or []:
            assert str(port).startswith('127.0.0.1:'), f'{name} publishes {port} beyond this machine'


def test_compose_mounts_files_that_exist(compose):
    mounts = 0
    for name, service in compose['services'].items():
        for volume in service.get('volumes') or []:
            source = volume.split(':')[0]
            if source.startswith('.'):
                assert (EXAMPLES / source).exists(), f'{name} mounts {source}'
                mounts += 1
            else:
                assert source in compose['volumes'], f'{name} uses an undeclared volume {source}'
    assert mounts >= 8


def test_compose_flower_environment_is_made_of_real_options(compose, dockerfile):
    flower = compose['services']['flower']
    env = service_env(flower)
    for key in env:
        if key.startswith('FLOWER_'):
            assert key in DIRECT_ENV_VARIABLES or key[len('FLOWER_') :].lower() in ALL_OPTIONS, key
    command = flower['command']
    flower_args = [a for i, a in enumerate(command) if a != '-A' and (i == 0 or command[i - 1] != '-A')]
    resolved = resolve(flower_args, environ=env, cwd=str(EXAMPLES))
    assert resolved.warnings == []
    options = resolved.options
    assert options.url_prefix == 'flower' and options.xheaders is True and options.persistent is True
    assert options.basic_auth and all(':' in entry for entry in options.basic_auth)
    assert command[:2] == ['-A', 'tasks'] and env['PYTHONPATH'] == '/app'
    assert './tasks.py:/app/tasks.py:ro' in flower['volumes']
    # the image's FLOWER_DATA_DIR is flower's volume
    _, stages = dockerfile
    data = stages[-1].env()['FLOWER_DATA_DIR']
    assert any(v.endswith(':' + data) for v in flower['volumes'])


def test_compose_worker_runs_the_example_app_with_events(compose):
    worker = compose['services']['worker']
    assert worker['entrypoint'] == ['celery']
    assert worker['command'][:3] == ['-A', 'tasks', 'worker'] and '-E' in worker['command']
    assert './tasks.py:/app/tasks.py:ro' in worker['volumes']
    assert worker['healthcheck']['test'][0] in ('CMD', 'CMD-SHELL')  # not flower's health check


def test_prometheus_scrapes_flower_where_compose_serves_it(compose, dockerfile):
    config = yaml.safe_load((EXAMPLES / 'prometheus' / 'prometheus.yml').read_text())
    jobs = {job['job_name']: job for job in config['scrape_configs']}
    flower_job = jobs['flower']
    prefix = service_env(compose['services']['flower'])['FLOWER_URL_PREFIX']
    assert flower_job['metrics_path'] == f'/{prefix}/metrics'
    _, stages = dockerfile
    port = stages[-1].last('EXPOSE').args
    assert flower_job['static_configs'][0]['targets'] == [f'flower:{port}']
    mounted = {v.split(':')[1]: v.split(':')[0] for v in compose['services']['prometheus']['volumes']}
    for rule_file in config['rule_files']:
        assert Path(EXAMPLES / mounted[rule_file]).name == 'alerts.yml'
    # the FlowerDown rule watches this job
    rules = yaml.safe_load((EXAMPLES / 'prometheus' / 'alerts.yml').read_text())
    exprs = [r['expr'] for g in rules['groups'] for r in g['rules']]
    assert 'up{job="flower"} == 0' in exprs


def test_alert_rules_are_well_formed():
    rules = yaml.safe_load((EXAMPLES / 'prometheus' / 'alerts.yml').read_text())
    names = [rule['alert'] for group in rules['groups'] for rule in group['rules']]
    assert len(names) == len(set(names)) >= 8
    for group in rules['groups']:
        for rule in group['rules']:
            assert set(rule) <= {'alert', 'expr', 'for', 'labels', 'annotations', 'keep_firing_for'}
            assert rule['labels']['severity'] in ('critical', 'warning', 'info')
            assert rule['annotations']['summary'] and rule['annotations']['description']
            if 'for' in rule:
                assert re.fullmatch(r'\d+[smh]', rule['for'])
    joined = ' '.join(str(r['expr']) for g in rules['groups'] for r in g['rules'])
    for metric in (
        'flower_worker_online',
        'flower_events_total',
        'flower_queue_length',
        'flower_events_backlog_bytes',
        'flower_events_stream_interruptions_total',
    ):
        assert metric in joined
    tests = yaml.safe_load((EXAMPLES / 'prometheus' / 'alerts_test.yml').read_text())
    tested = {case['alertname'] for t in tests['tests'] for case in t['alert_rule_test']}
    assert set(names) - tested <= {'CeleryTaskRuntimeSlow'}


def test_grafana_provisioning_points_at_the_compose_services(compose):
    datasources = yaml.safe_load((EXAMPLES / 'grafana/provisioning/datasources/prometheus.yml').read_text())
    source = datasources['datasources'][0]
    assert source['type'] == 'prometheus' and source['url'] == 'http://prometheus:9090'
    assert any(p.endswith(':9090') for p in compose['services']['prometheus']['ports'])
    providers = yaml.safe_load((EXAMPLES / 'grafana/provisioning/dashboards/flower.yml').read_text())
    path = providers['providers'][0]['options']['path']
    mounted = {v.split(':')[1]: v.split(':')[0] for v in compose['services']['grafana']['volumes']}
    assert (EXAMPLES / mounted[path] / 'flower.json').exists()
    home = service_env(compose['services']['grafana'])['GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH']
    assert home == f'{path}/flower.json'


def test_grafana_dashboard_has_what_grafana_needs():
    dashboard = json.loads((EXAMPLES / 'grafana/dashboards/flower.json').read_text())
    assert dashboard['title'] and re.fullmatch(r'[\w-]{1,40}', dashboard['uid'])
    assert isinstance(dashboard['schemaVersion'], int) and dashboard['time']['from']
    variables = {v['name']: v for v in dashboard['templating']['list']}
    assert variables['datasource']['type'] == 'datasource' and variables['datasource']['query'] == 'prometheus'
    ids, cells = set(), set()
    targets = 0
    for panel in dashboard['panels']:
        assert panel['id'] not in ids
        ids.add(panel['id'])
        grid = panel['gridPos']
        assert all(isinstance(grid[k], int) for k in 'hwxy') and grid['x'] + grid['w'] <= 24 and grid['h'] > 0
        covered = {
            (x, y) for x in range(grid['x'], grid['x'] + grid['w']) for y in range(grid['y'], grid['y'] + grid['h'])
        }
        assert not covered & cells, f'panel {panel["title"]!r} overlaps another'
        cells |= covered
        assert panel['title']
        if panel['type'] == 'row':
            continue
        assert panel['type'] in ('stat', 'timeseries', 'gauge', 'table', 'bargauge', 'state-timeline')
        assert panel['datasource'] == {'type': 'prometheus', 'uid': '${datasource}'}
        refs = [t['refId'] for t in panel['targets']]
        assert refs and len(refs) == len(set(refs))
        for target in panel['targets']:
            assert target['expr'].strip()
            targets += 1
            for used in re.findall(r'\$\{?(\w+)', target['expr']):
                assert used in variables or used.startswith('__'), f'{panel["title"]}: ${used} is not defined'
    assert targets >= 20


# -- the nginx configurations ----------------------------------------------------------------------------------


@dataclass
class Block:
    name: str
    args: list[str]
    directives: list[tuple[str, list[str]]] = field(default_factory=list)
    blocks: list['Block'] = field(default_factory=list)

    def values(self, name: str) -> list[list[str]]:
        return [args for directive, args in self.directives if directive == name]

    def find(self, name: str, *args: str) -> list['Block']:
        found = [b for b in self.blocks if b.name == name and (not args or b.args == list(args))]
        for block in self.blocks:
            found += block.find(name, *args)
        return found


def read_nginx(text: str) -> Block:
    tokens = re.findall(r'"(?:\\.|[^"\\])*"|\'[^\']*\'|[{};]|[^\s{};#"\']+|#[^\n]*', text)
    root = Block('main', [])
    stack, words = [root], []
    for token in tokens:
        if token.startswith('#'):
            continue
        if token == '{':
            block = Block(words[0], words[1:])
            stack[-1].blocks.append(block)
            stack.append(block)
            words = []
        elif token == ';':
            stack[-1].directives.append((words[0], [w.strip('"\'') for w in words[1:]]))
            words = []
        elif token == '}':
            assert not words, f'unterminated directive {words}'
            stack.pop()
        else:
            words.append(token)
    assert len(stack) == 1 and not words, 'unbalanced braces'
    return root


def live_route() -> str:
    for spec in urls.handlers:
        if isinstance(spec, tornado.web.URLSpec) and spec.handler_class is LiveChannel:
            return spec.regex.pattern.rstrip('$')
    raise AssertionError('no live-update route')


def _seconds(value: str) -> int:
    return int(value[:-1]) * {'s': 1, 'm': 60, 'h': 3600}[value[-1]] if value[-1] in 'smh' else int(value)


@pytest.mark.parametrize('conf', ['flower.conf', 'flower-tls.conf'])
def test_nginx_serves_the_prefix_and_the_live_channel(conf, compose):
    root = read_nginx((EXAMPLES / 'nginx' / conf).read_text())
    prefix = '/' + service_env(compose['services']['flower'])['FLOWER_URL_PREFIX']
    upstream = root.find('upstream')[0]
    servers = upstream.values('server')
    assert servers and re.fullmatch(r'[\w.]+:5555', servers[0][0])

    main = root.find('location', f'{prefix}/')
    assert len(main) == 1
    location = main[0]
    proxy_pass = location.values('proxy_pass')[0][0]
    assert re.fullmatch(rf'http://{upstream.args[0]}', proxy_pass), 'proxy_pass must not strip the prefix'
    headers = {args[0]: args[1] for args in location.values('proxy_set_header')}
    assert headers == {
        'Host': '$http_host',
        'X-Real-IP': '$remote_addr',
        'X-Forwarded-For': '$proxy_add_x_forwarded_for',
        'X-Forwarded-Proto': '$scheme',
    }

    live = root.find('location', '=', prefix + live_route())
    assert len(live) == 1, f'no location = {prefix}{live_route()} for the live channel'
    live = live[0]
    assert live.values('proxy_pass')[0][0] == proxy_pass and live.values('proxy_http_version') == [['1.1']]
    headers = {args[0]: args[1] for args in live.values('proxy_set_header')}
    assert headers['Upgrade'] == '$http_upgrade' and headers['Host'] == '$http_host'
    assert headers['X-Forwarded-Proto'] == '$scheme'
    connection_map = [b for b in root.find('map') if b.args == ['$http_upgrade', headers['Connection']]]
    assert connection_map and dict(connection_map[0].directives)['default'] == ['upgrade']
    assert _seconds(live.values('proxy_read_timeout')[0][0]) > 25  # the server pings every 25 s
    assert live.values('proxy_buffering') == [['off']]

    redirect = root.find('location', '=', prefix)
    assert redirect and redirect[0].values('return') == [['301', f'{prefix}/']]
    metrics = root.find('location', '=', f'{prefix}/metrics')
    assert metrics and ['all'] in metrics[0].values('deny')


def test_nginx_tls_redirects_plain_http_and_sets_hsts():
    root = read_nginx((EXAMPLES / 'nginx' / 'flower-tls.conf').read_text())
    servers = root.find('server')
    plain = [s for s in servers if ['80'] in s.values('listen')]
    assert plain and plain[0].values('return')[0][:2] == ['301', 'https://$host$request_uri']
    tls = [s for s in servers if ['443', 'ssl'] in s.values('listen')][0]
    assert tls.values('ssl_certificate') and tls.values('ssl_certificate_key')
    assert ['TLSv1.2', 'TLSv1.3'] in tls.values('ssl_protocols')
    assert any(args[0] == 'Strict-Transport-Security' for args in tls.values('add_header'))


def test_compose_mounts_the_nginx_configuration_and_waits_for_a_healthy_flower(compose):
    nginx = compose['services']['nginx']
    assert './nginx/flower.conf:/etc/nginx/conf.d/default.conf:ro' in nginx['volumes']
    assert nginx['depends_on']['flower']['condition'] == 'service_healthy'
    upstream = read_nginx((EXAMPLES / 'nginx' / 'flower.conf').read_text()).find('upstream')[0]
    host, port = upstream.values('server')[0][0].split(':')
    assert host == 'flower' and host in compose['services']
