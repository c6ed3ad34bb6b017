"""The demo's disk bound as a soak: ``flower demo`` at 300 tasks/s with the smallest budget (10 MB) for
``--seconds`` (default 120), its folder's disk use sampled every second; fails (exit 1) when the folder grew past
its documented bound, when the budget was never enforced, or (runs of 90 s or more) when a file other than a task
message outlived the janitor's 60-s rule. The suite's tests/integration/test_demo.py runs the same check for as
long as it takes the budget to be enforced (about 20 s); this is the long run.

    python bench/demo_folder_soak.py --seconds 600

Everything it starts is stopped by PID at the end; its folder is a temporary one, removed afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.test_demo import folder_bound_run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seconds', type=float, default=120.0, help='how long to sample (default 120)')
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix='flower-demo-soak-'))
    try:
        print(folder_bound_run(folder, seconds=args.seconds, deadline=args.seconds + 120))
    except AssertionError as exc:
        print(f'FAILED: {exc}', file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
