"""mypy on flower/ ([tool.mypy] in pyproject.toml) reports exactly the errors of mypy-baseline.txt.

A new error fails (fix it: the baseline is not for new code), and so does a listed error that no longer occurs
(delete its line), so the list only shrinks. scripts/mypy_baseline.py regenerates the file when code moves
between files. mypy is in the ``test`` extras; without it the check skips outside CI and fails under CI=true.
A warm run takes well under a second (mypy's cache in .mypy_cache), a cold one a few seconds.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from tests import conftest

REPO = Path(__file__).resolve().parents[2]


def _baseline_module():
    spec = importlib.util.spec_from_file_location('mypy_baseline', REPO / 'scripts' / 'mypy_baseline.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault('mypy_baseline', module)
    spec.loader.exec_module(module)
    return module


baseline = _baseline_module()


def test_mypy_reports_exactly_the_baselined_errors():
    if importlib.util.find_spec('mypy') is None:
        conftest.unavailable("mypy is not installed (pip install -e '.[test]')")
    new, fixed = baseline.compare(baseline.run_mypy(), baseline.read_baseline())
    problems = []
    if new:
        problems.append('mypy finds errors that mypy-baseline.txt does not accept; fix them:\n  ' + '\n  '.join(new))
    if fixed:
        problems.append(
            'these errors of mypy-baseline.txt no longer occur; delete their lines (or, when code '
            'moved between files, run `python scripts/mypy_baseline.py` and check that the diff '
            'adds no error):\n  ' + '\n  '.join(fixed)
        )
    assert not problems, '\n\n'.join(problems)


def test_errors_are_read_without_line_numbers_and_notes():
    output = (
        'flower/a.py:12: error: Item "None" of "X | None" has no attribute "y"  [union-attr]\n'
        'flower/a.py:12: note: See https://mypy.readthedocs.io/en/stable/common_issues.html\n'
        'flower/b/c.py:3:7: error: Need type annotation for "kept"  [var-annotated]\n'
        'Found 2 errors in 2 files (checked 3 source files)\n'
    )
    assert baseline.normalise(output) == [
        'flower/a.py: [union-attr] Item "None" of "X | None" has no attribute "y"',
        'flower/b/c.py: [var-annotated] Need type annotation for "kept"',
    ]


def test_a_new_error_and_a_fixed_one_are_both_reported_counting_repeats():
    accepted = ['flower/a.py: [misc] m', 'flower/a.py: [misc] m', 'flower/b.py: [misc] gone']
    found = ['flower/a.py: [misc] m', 'flower/a.py: [misc] m', 'flower/a.py: [misc] m', 'flower/c.py: [misc] n']
    new, fixed = baseline.compare(found, accepted)
    assert new == ['flower/a.py: [misc] m', 'flower/c.py: [misc] n']
    assert fixed == ['flower/b.py: [misc] gone']
    assert baseline.compare(accepted, accepted) == ([], [])


def test_the_baseline_file_reads_back_what_was_written(tmp_path):
    path = tmp_path / 'baseline.txt'
    errors = ['flower/b.py: [misc] two', 'flower/a.py: [misc] one', 'flower/a.py: [misc] one']
    baseline.write_baseline(errors, path)
    assert path.read_text().startswith('# mypy errors accepted for now')
    assert baseline.read_baseline(path) == sorted(errors)
