#!/usr/bin/env python
"""Write mypy-baseline.txt: the mypy errors flower/ still has, reviewed and accepted for now.

    python scripts/mypy_baseline.py            # run mypy (config: [tool.mypy] in pyproject.toml), (re)write the file
    python scripts/mypy_baseline.py --check    # change nothing; exit 1 and list new and fixed errors

Each line is one error without its line number (``path: [code] message``), so editing code above an accepted
error does not disturb it; an error that occurs twice in a file is listed twice. tests/unit/test_type_check.py
fails on an error that is not listed (fix it) and on a listed error that no longer occurs (delete its line, or
run this script): the list only shrinks. Rewrite it wholesale only when code moves between files (an accepted
error then changes its path) and review the diff: it must not gain errors.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / 'mypy-baseline.txt'
HEADER = (
    '# mypy errors accepted for now (see scripts/mypy_baseline.py): "path: [code] message", one per error.\n'
    '# Only delete lines: a fixed error must leave this file, a new one must be fixed rather than added.\n'
)

_ERROR = re.compile(r'^(?P<path>[^:\s]+\.pyi?):\d+(?::\d+)?: error: (?P<message>.*?)  \[(?P<code>[a-z0-9-]+)\]$')


def normalise(output: str) -> list[str]:
    """mypy's error lines as ``path: [code] message`` (notes and the summary dropped), sorted."""
    errors = []
    for line in output.splitlines():
        match = _ERROR.match(line.strip())
        if match:
            errors.append(f"{match['path']}: [{match['code']}] {match['message']}")
    return sorted(errors)


def run_mypy() -> list[str]:
    """The normalised errors of ``mypy`` run with the project's configuration (incremental, .mypy_cache)."""
    done = subprocess.run(
        [sys.executable, '-m', 'mypy', '--no-pretty', '--no-error-summary', '--show-error-codes'],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode not in (0, 1) or (done.returncode == 1 and not normalise(done.stdout)):
        raise RuntimeError(f'mypy did not run (exit {done.returncode}):\n{done.stdout}{done.stderr}')
    return normalise(done.stdout)


def read_baseline(path: Path = BASELINE) -> list[str]:
    if not path.exists():
        return []
    return sorted(line for line in path.read_text().splitlines() if line.strip() and not line.startswith('#'))


def compare(found: list[str], accepted: list[str]) -> tuple[list[str], list[str]]:
    """(new errors: found more often than accepted, fixed errors: accepted more often than found)."""
    found_counts, accepted_counts = Counter(found), Counter(accepted)
    new = sorted((found_counts - accepted_counts).elements())
    fixed = sorted((accepted_counts - found_counts).elements())
    return new, fixed


def write_baseline(errors: list[str], path: Path = BASELINE) -> None:
    path.write_text(HEADER + ''.join(f'{error}\n' for error in sorted(errors)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--check', action='store_true', help='change nothing; exit 1 on new or fixed errors')
    args = parser.parse_args(argv)
    found = run_mypy()
    if args.check:
        new, fixed = compare(found, read_baseline())
        for error in new:
            print(f'new:   {error}')
        for error in fixed:
            print(f'fixed: {error}')
        return 1 if new or fixed else 0
    write_baseline(found)
    print(f'wrote {len(found)} errors to {BASELINE.relative_to(REPO)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
