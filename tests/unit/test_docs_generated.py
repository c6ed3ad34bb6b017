"""The reference docs cannot drift from the code.

- docs/configuration.md, docs/api.md and docs/metrics.md are what scripts/gen_docs.py writes today.
- Every option is in configuration.md with its real environment variable, type and default: the table is read
  back and each default, typed the way a user would type it, must give the option's default.
- Every route of the app's API is in api.md; every metric family /metrics exports is explained.
- The hand-written pages link to pages and anchors that exist, index.md lists every page, and the nginx
  snippets in the docs are the ones in examples/nginx/.
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from pathlib import Path

import pytest
import tornado.web

from flower import urls
from flower.api.openapi import document
from flower.options import ALL_OPTIONS, DIRECT_ENV_VARIABLES, OptionError, options_from_environment

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / 'docs'
# pages written by this task (the others' links are theirs to keep)
OWN_PAGES = ('index.md', 'configuration.md', 'api.md', 'metrics.md', 'reverse-proxy.md', 'docker.md')
# every page and the README: links and anchors checked
ALL_PAGES = tuple(sorted(path.name for path in DOCS.glob('*.md')))


def load_script(name: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / 'scripts' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gen_docs = load_script('gen_docs')


@pytest.fixture(scope='module')
def generated():
    return gen_docs.generate()


# -- generated pages are committed as generated -------------------------------------------------------------


@pytest.mark.parametrize('page', sorted(gen_docs.PAGES))
def test_committed_page_is_what_the_generator_writes(page, generated):
    committed = (DOCS / page).read_text()
    assert committed == generated[page], (
        f'docs/{page} differs from what scripts/gen_docs.py writes: run `python scripts/gen_docs.py`'
    )


def test_check_mode_reports_a_stale_page(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gen_docs, 'DOCS', tmp_path)
    for name, text in gen_docs.generate().items():
        (tmp_path / name).write_text(text)
    assert gen_docs.main(['--check']) == 0
    page = tmp_path / 'configuration.md'
    page.write_text(
        page.read_text().replace(
            '| `--port` | `FLOWER_PORT` | integer | `5555` |', '| `--port` | `FLOWER_PORT` | integer | `5556` |'
        )
    )
    assert gen_docs.main(['--check']) == 1
    out = capsys.readouterr()
    assert '-| `--port` | `FLOWER_PORT` | integer | `5556` |' in out.out and 'configuration.md' in out.err
    assert gen_docs.main([]) == 0 and gen_docs.main(['--check']) == 0  # rewritten


# -- configuration.md: every option, its variable, type and real default -----------------------------------

TYPES = {
    'integer': int,
    'number': float,
    'string': str,
    'boolean': bool,
    'function': 'function',
    'duration': 'duration',
}


def option_rows(markdown: str) -> dict[str, list[str]]:
    """``{option name: [env, type, default, description]}`` from every option table."""
    rows = {}
    for line in markdown.splitlines():
        match = re.match(r'^\| `--([a-z0-9_]+)` \|(.*)\|$', line)
        if match:
            cells = [c.strip() for c in re.split(r'(?<!\\)\|', match.group(2))]
            rows[match.group(1)] = cells
    return rows


def _typed(opt, text: str):
    if text == '*unset*':
        return None
    if text == '*empty*':
        return [] if opt.multiple else ''
    if not (text.startswith('`') and text.endswith('`')):
        raise ValueError(f'default {text!r} is neither code nor *unset*/*empty*')
    return opt.convert(text.strip('`'), 'docs')


def _same(a, b) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return a == b or (math.isinf(a) and math.isinf(b) and (a > 0) == (b > 0))
    return type(a) is type(b) and a == b


def configuration_problems(markdown: str) -> list[str]:
    rows = option_rows(markdown)
    problems = [f'--{name} is documented but is not an option' for name in sorted(set(rows) - set(ALL_OPTIONS))]
    for name, opt in ALL_OPTIONS.items():
        if name not in rows:
            problems.append(f'--{name} is not documented')
            continue
        env, type_cell, default_cell, description = rows[name]
        if opt.type == 'function':
            if env != 'config file only':
                problems.append(f'--{name}: only a config file can set it, the docs say {env}')
        elif env != f'`FLOWER_{name.upper()}`':
            problems.append(f'--{name}: environment variable {env}')
        kind = type_cell.removeprefix('list of ')
        kind = {'integers': 'integer', 'numbers': 'number', 'strings': 'string'}.get(kind, kind)
        if TYPES.get(kind) != opt.type or type_cell.startswith('list of ') != opt.multiple:
            problems.append(
                f'--{name}: type {type_cell!r}, the option is {opt.type}{" (multiple)" if opt.multiple else ""}'
            )
        try:
            documented = _typed(opt, default_cell)
        except (OptionError, ValueError) as exc:
            problems.append(f'--{name}: default {default_cell} cannot be read: {exc}')
            continue
        if not _same(documented, opt.default):
            problems.append(
                f'--{name}: documented default {default_cell} is {documented!r}, the option\'s is {opt.default!r}'
            )
            continue
        if opt.type != 'function' and documented not in (None, '', []):
            # the default as documented, given through the documented variable, is the default
            values, _ = options_from_environment({env.strip('`'): default_cell.strip('`')})
            if not _same(values.get(name), opt.default):
                problems.append(f'--{name}: {env}={default_cell} gives {values.get(name)!r}')
        if not description.startswith(opt.help.replace('|', r'\|')):
            problems.append(f'--{name}: description does not start with the option\'s help {opt.help!r}')
    for variable in sorted(DIRECT_ENV_VARIABLES):
        if not re.search(rf'^\| `{variable}` \| \S', markdown, re.M):
            problems.append(f'{variable} is read by the server and not documented')
    return problems


def test_every_option_is_documented_with_its_variable_type_and_real_default():
    markdown = (DOCS / 'configuration.md').read_text()
    assert len(option_rows(markdown)) == len(ALL_OPTIONS) >= 40
    assert configuration_problems(markdown) == []


@pytest.mark.parametrize(
    'change, expected',
    [
        (
            ('| `--port` | `FLOWER_PORT` | integer | `5555` |', '| `--port` | `FLOWER_PORT` | integer | `5556` |'),
            '--port: documented default `5556`',
        ),
        (('| `--max_tasks` | `FLOWER_MAX_TASKS` | integer | `100000` |', ''), '--max_tasks is not documented'),
        (
            (
                '| `--persistent` | `FLOWER_PERSISTENT` | boolean | `false` |',
                '| `--persistent` | `FLOWER_PERSISTENT` | boolean | `true` |',
            ),
            '--persistent: documented default',
        ),
        (
            (
                '| `--url_prefix` | `FLOWER_URL_PREFIX` | string | *unset* |',
                '| `--url_prefix` | `FLOWER_URL_PREFIX` | string | *empty* |',
            ),
            '--url_prefix: documented default',
        ),
        (('0.75,1,2.5,5,7.5,10,+Inf', '0.75,1,2.5,5,10,+Inf'), '--task_runtime_metric_buckets: documented default'),
        (
            (
                '| `--inspect_timeout` | `FLOWER_INSPECT_TIMEOUT` | number |',
                '| `--inspect_timeout` | `FLOWER_INSPECTTIMEOUT` | number |',
            ),
            '--inspect_timeout: environment variable',
        ),
        (
            ('| `--xheaders` | `FLOWER_XHEADERS` | boolean |', '| `--xheaders` | `FLOWER_XHEADERS` | string |'),
            '--xheaders: type',
        ),
        (
            ('| `FLOWER_UNAUTHENTICATED_API` |', '| `FLOWER_UNAUTHENTICATED` |'),
            'FLOWER_UNAUTHENTICATED_API is read by the server and not documented',
        ),
    ],
)
def test_the_option_check_catches_a_wrong_or_missing_entry(change, expected):
    markdown = (DOCS / 'configuration.md').read_text()
    old, new = change
    assert old in markdown
    problems = configuration_problems(markdown.replace(old, new))
    assert any(problem.startswith(expected) for problem in problems), problems


# -- api.md: every route and method of the app --------------------------------------------------------------

VERBS = ('get', 'post', 'put', 'patch', 'delete')


def api_routes() -> list[tuple[str, type]]:
    routes = []
    for spec in urls.handlers:
        pattern = spec.regex.pattern if isinstance(spec, tornado.web.URLSpec) else spec[0]
        handler = spec.handler_class if isinstance(spec, tornado.web.URLSpec) else spec[1]
        pattern = pattern.rstrip('$')
        if pattern.startswith('/api/') or pattern in ('/metrics', '/healthcheck'):
            routes.append((pattern, handler))
    return routes


def api_problems(markdown: str) -> list[str]:
    headings = set(re.findall(r'^### ([A-Z]+ \S+)$', markdown, re.M))
    problems = []
    for pattern, handler in api_routes():
        # a capture group in the route is a {parameter} in the docs
        documented = (
            '^'
            + re.sub(
                r'\\\{[^}]*\\\}', r'\\{[a-z_]+\\}', re.escape(re.sub(r'\(\.[*+]\)', '{}', pattern).replace('\\.', '.'))
            )
            + '$'
        )
        for verb in VERBS:
            if getattr(handler, verb) is getattr(tornado.web.RequestHandler, verb):
                continue
            if not any(
                re.match(documented, heading.split(' ', 1)[1]) and heading.startswith(verb.upper() + ' ')
                for heading in headings
            ):
                problems.append(f'{verb.upper()} {pattern} ({handler.__name__}) is not in api.md')
    for path, operations in document()['paths'].items():
        for verb in operations:
            if f'{verb.upper()} {path}' not in headings:
                problems.append(f'{verb.upper()} {path} of the OpenAPI document is not in api.md')
    return problems


def test_every_api_route_and_method_is_documented():
    markdown = (DOCS / 'api.md').read_text()
    assert len(api_routes()) >= 24
    assert api_problems(markdown) == []


def test_the_api_check_catches_a_missing_route():
    markdown = (DOCS / 'api.md').read_text()
    removed = markdown.replace('### POST /api/task/revoke/{taskid}', '### POST /api/task/revoked/{taskid}')
    assert api_problems(removed) == [
        'POST /api/task/revoke/(.+) (TaskRevoke) is not in api.md',
        'POST /api/task/revoke/{taskid} of the OpenAPI document is not in api.md',
    ]


def test_api_page_shows_parameters_bodies_and_responses():
    markdown = (DOCS / 'api.md').read_text()
    section = markdown.split('### POST /api/worker/pool/autoscale/{workername}')[1].split('\n### ')[0]
    assert '| `min` | query | yes | integer (≥ 0, ≤' in section
    assert '| 403 | text |' in section and 'Read only mode' in section
    section = markdown.split('### POST /api/task/async-apply/{taskname}')[1].split('\n### ')[0]
    assert 'Request body (`application/json`, optional)' in section and '| `countdown` | number' in section
    assert '| 200 | JSON: [TaskSent](#tasksent) |' in section
    assert '### TaskSent' in markdown


# -- metrics.md: every family explained --------------------------------------------------------------------


def test_every_family_of_a_fresh_app_is_explained_with_its_labels():
    families = gen_docs.exported_families(gen_docs.fresh_app_metrics())
    markdown = (DOCS / 'metrics.md').read_text()
    assert len(families) >= 13
    for family in families:
        name = gen_docs.documented_name(family)
        assert f'\n### {name}\n' in markdown
        row = re.search(rf'^\| \[`{name}`\]\(#{name}\) \| (\w+) \| (.*) \|$', markdown, re.M)
        assert row and row.group(1) == family.type
        if family.labels is not None:
            assert set(re.findall(r'`(\w+)`', row.group(2))) == set(family.labels)
    for name in (
        'flower_events_total',
        'flower_task_runtime_seconds',
        'flower_queue_length',
        'flower_events_stream_interruptions_total',
        'flower_events_backlog_bytes',
    ):
        assert f'\n### {name}\n' in markdown


def test_an_unexplained_or_relabelled_family_stops_the_generator():
    fresh = gen_docs.fresh_app_metrics()
    extra = fresh + '# HELP flower_new_thing Something new\n# TYPE flower_new_thing gauge\nflower_new_thing 1.0\n'
    with pytest.raises(gen_docs.GenerationError, match=r"explain \['flower_new_thing'\]"):
        gen_docs.metrics_md(extra)
    relabelled = fresh.replace('flower_worker_online{worker=', 'flower_worker_online{hostname=')
    with pytest.raises(gen_docs.GenerationError, match='flower_worker_online: the notes say labels'):
        gen_docs.metrics_md(relabelled)
    gone = re.sub(r'# HELP flower_events_backlog_bytes.*?\n(?=# HELP)', '', fresh, flags=re.S)
    with pytest.raises(gen_docs.GenerationError, match=r"no longer exported: \['flower_events_backlog_bytes'\]"):
        gen_docs.metrics_md(gone)


def test_notes_name_real_options_and_variables(monkeypatch):
    monkeypatch.setitem(gen_docs.OPTION_NOTES, 'max_taks', 'typo')
    with pytest.raises(gen_docs.GenerationError, match='max_taks'):
        gen_docs.configuration_md()
    monkeypatch.delitem(gen_docs.OPTION_NOTES, 'max_taks')
    monkeypatch.delitem(gen_docs.DIRECT_ENV_NOTES, 'FLOWER_UNAUTHENTICATED_API')
    with pytest.raises(gen_docs.GenerationError, match='FLOWER_UNAUTHENTICATED_API'):
        gen_docs.configuration_md()


# -- links, the table of contents, snippets -----------------------------------------------------------------


def _anchors(path: Path) -> set[str]:
    text = re.sub(r'^```.*?^```', '', path.read_text(), flags=re.M | re.S)
    return {gen_docs.github_anchor(h) for h in re.findall(r'^#{1,6} (.+)$', text, re.M)}


def link_problems(page: Path) -> list[str]:
    text = re.sub(r'^```.*?^```', '', page.read_text(), flags=re.M | re.S)
    text = re.sub(r'`[^`\n]*`', '', text)
    problems = []
    for target in re.findall(r'\]\(([^)\s]+)\)', text):
        if re.match(r'^[a-z]+:', target):
            continue
        file_part, _, anchor = target.partition('#')
        resolved = (page.parent / file_part).resolve() if file_part else page
        if not resolved.exists():
            problems.append(f'{page.name}: {target} does not exist')
            continue
        if anchor and resolved.suffix == '.md' and anchor not in _anchors(resolved):
            problems.append(f'{page.name}: {target}: no heading with anchor #{anchor}')
    return problems


@pytest.mark.parametrize('page', ALL_PAGES + ('../README.md',))
def test_links_lead_to_existing_pages_and_headings(page):
    assert link_problems(DOCS / page) == []


def test_the_link_check_catches_a_broken_link_and_anchor(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], 'DOCS', tmp_path)
    (tmp_path / 'a.md').write_text('# Title\n\n## Some part\n')
    page = tmp_path / 'b.md'
    page.write_text(
        '[ok](a.md#some-part) [gone](nowhere.md) [bad](a.md#other) [also gone](benchmarks.md) '
        '[web](https://example.com) `[code](x.md)`\n'
    )
    assert link_problems(page) == [
        'b.md: nowhere.md does not exist',
        'b.md: a.md#other: no heading with anchor #other',
        'b.md: benchmarks.md does not exist',
    ]


def test_index_lists_every_page():
    index = (DOCS / 'index.md').read_text()
    linked = set(re.findall(r'\]\(([\w-]+\.md)(?:#[^)]*)?\)', index))
    pages = {path.name for path in DOCS.glob('*.md')} - {'index.md'}
    assert pages - linked == set()
    assert {
        'demo.md',
        'configuration.md',
        'api.md',
        'metrics.md',
        'authentication.md',
        'reverse-proxy.md',
        'docker.md',
        'persistence.md',
        'dashboards.md',
        'live-updates.md',
        'benchmarks.md',
    } <= linked


def _directives(text: str) -> list[str]:
    return [' '.join(line.split()) for line in text.splitlines() if line.strip() and not line.strip().startswith('#')]


def test_nginx_snippets_in_the_docs_are_the_example_configuration():
    shipped = set()
    for conf in (REPO / 'examples' / 'nginx').glob('*.conf'):
        shipped.update(_directives(conf.read_text()))
    blocks = 0
    for page in OWN_PAGES:
        for block in re.findall(r'^```nginx\n(.*?)^```', (DOCS / page).read_text(), re.M | re.S):
            blocks += 1
            assert [line for line in _directives(block) if line not in shipped] == [], page
    assert blocks >= 2
    full = re.findall(r'^```nginx\n(.*?)^```', (DOCS / 'reverse-proxy.md').read_text(), re.M | re.S)[0]
    assert _directives(full) == _directives((REPO / 'examples' / 'nginx' / 'flower.conf').read_text())
