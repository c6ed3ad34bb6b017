"""The layer rules of DESIGN.md, enforced: import-linter's layers contract (which every module of the package
must be in), no domain module importing tornado.web (import-linter cannot forbid a sub-module of an external
package, so this test reads the code), and no import of the package's own modules hidden inside a function
(where a cycle would hide from import-linter's reading of the module's top)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import tomllib
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
    'discovery.py',
    'diagnosis.py',
    'runtime.py',  # the composition root: builds the domain's parts, never a handler
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


def _contract() -> dict:
    pyproject = tomllib.loads((PACKAGE.parent / 'pyproject.toml').read_text())
    (contract,) = pyproject['tool']['importlinter']['contracts']
    return contract


def _top_level_modules() -> set[str]:
    """Every package and module directly under flower/ (what the layers are made of)."""
    names = set()
    for path in PACKAGE.iterdir():
        if path.is_dir() and not path.is_symlink() and (path / '__init__.py').exists():
            names.add(path.name)
        elif path.suffix == '.py' and path.name != '__init__.py':
            names.add(path.stem)
    return names


def test_every_module_of_the_package_is_in_a_layer():
    contract = _contract()
    assert contract['containers'] == ['flower'] and contract['exhaustive'] is True
    layered = {name.strip('() ') for layer in contract['layers'] for name in re.split(r'[:|]', layer)}
    modules = _top_level_modules()
    assert {'persistence', 'demo', 'runtime', 'events', 'utils', '__main__'} <= modules  # the listing works
    assert sorted(modules - layered) == [], 'not in any layer of the import contract (pyproject.toml)'
    assert sorted(layered - modules) == [], 'in the import contract but not in the package'


def test_the_contract_ignores_only_flowers_public_aliases():
    """Imports the contract lets through: only the flower.utils adapters that keep Flower's public names."""
    aliases = {'flower.utils.broker', 'flower.utils.blocking', 'flower.utils.search', 'flower.utils.tasks'}
    importers = {rule.split(' -> ')[0] for rule in _contract()['ignore_imports']}
    assert importers <= aliases


def _function_level_imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield node.lineno, node.module
            elif isinstance(node, ast.Import):
                yield from ((node.lineno, alias.name) for alias in node.names)


# Imports of our own modules that are made inside a function on purpose, and why; none of them dodges a cycle
# between the layers.
DEFERRED_IMPORTS = {
    # celery imports flower.command for every `celery` command (the entry point): the app (tornado.web and every
    # view) is imported only when the server is started
    ('command.py', 'flower.app'),
    ('command.py', 'flower.urls'),
    # importing the demo's tasks module configures its Celery app from the folder the demo just made
    ('demo/cli.py', 'flower.demo'),
    ('demo/producer.py', 'flower.demo'),
    # Flower's public TaskSearchEngine (flower.utils.search, an adapter over the domain that imports the events
    # package) reached from the events package's Flower names: state.search_engine and flower.events.TaskSearchEngine
    ('events/state.py', 'flower.utils.search'),
    ('events/__init__.py', 'flower.utils.search'),
}


def test_no_import_of_our_own_modules_hides_in_a_function():
    found = {
        (str(path.relative_to(PACKAGE)), module)
        for path in sorted(PACKAGE.rglob('*.py'))
        if 'docs' not in path.relative_to(PACKAGE).parts
        for _, module in _function_level_imports(path)
        if module == 'flower' or module.startswith('flower.')
    }
    assert sorted(found - DEFERRED_IMPORTS) == []
