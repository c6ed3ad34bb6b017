"""The layer rules of DESIGN.md, enforced: import-linter's layers contract, and no domain module importing
tornado.web (import-linter cannot forbid a sub-module of an external package, so this test reads the code)."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

import flower

PACKAGE = Path(flower.__file__).parent
DOMAIN = [
    'events',
    'inspector.py',
    'metrics.py',
    'search',
    'queries.py',
    'runner.py',
    'brokers',
    'cluster.py',
    'auth.py',
    'control',
    'persistence',
    'options.py',
    'utils',
    'live.py',
    'celery_app.py',
]
WEB_ONLY = ('tornado.web', 'flower.views', 'flower.api', 'flower.app', 'flower.urls', 'flower.command')


def _modules(entry: str):
    path = PACKAGE / entry
    if path.is_dir():
        yield from sorted(path.rglob('*.py'))
    elif path.exists():
        yield path


def _imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f'{node.module}.{alias.name}' for alias in node.names)


@pytest.mark.parametrize('entry', DOMAIN)
def test_domain_modules_do_not_import_the_web_layer(entry):
    offenders = [
        (path.relative_to(PACKAGE), name)
        for path in _modules(entry)
        for name in _imports(path)
        if any(name == bad or name.startswith(bad + '.') for bad in WEB_ONLY)
    ]
    assert offenders == []


def test_import_linter_layers_contract():
    exe = shutil.which('lint-imports')
    if exe is None:
        pytest.fail('import-linter is not installed (it is in the test extra)')
    done = subprocess.run([exe], cwd=PACKAGE.parent, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
