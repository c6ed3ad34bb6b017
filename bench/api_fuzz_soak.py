"""The API fuzz with a long budget: tests/integration/test_api_fuzz.py (schemathesis, every check, all four
phases, against a live server with a real worker) run with ``--seconds`` for the whole run (the suite gives it
60) and ``--examples`` per operation (the suite: 12). Exits as pytest does: 0 when nothing was found.

    python bench/api_fuzz_soak.py --seconds 900 --examples 100

Uses the suite's fixtures (a Redis db of its own on 127.0.0.1:6379, processes stopped by PID afterwards).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seconds', type=int, default=600, help='time budget of the main run (default 600)')
    parser.add_argument('--examples', type=int, default=50, help='examples per operation (default 50)')
    args = parser.parse_args()
    env = dict(
        os.environ,
        FLOWER_FUZZ_MAX_TIME=str(args.seconds),
        FLOWER_FUZZ_MAX_EXAMPLES=str(args.examples),
        PYTHONPATH=str(REPO),
    )
    command = [
        sys.executable,
        '-m',
        'pytest',
        '-q',
        '-s',
        '-p',
        'no:cacheprovider',
        '--timeout',
        str(args.seconds + 600),
    ]
    return subprocess.run([*command, 'tests/integration/test_api_fuzz.py'], cwd=REPO, env=env).returncode


if __name__ == '__main__':
    sys.exit(main())
