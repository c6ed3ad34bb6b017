"""The broker-outage scenario as a soak: a server and a worker on a private Redis, Redis killed for ``--seconds``
(default 45, less than the minute after which "still down" is logged), then restarted. Fails (exit 1) unless the
server answered /healthcheck and 503 to /healthcheck?ready=1 all the while, logged the outage once each way, and
had events flowing again within 2 s of the restart. The suite's tests/integration/test_broker_outage.py runs the
same scenario with a 10 s outage; this is the long one.

    python bench/broker_outage_soak.py --seconds 55

Everything it starts (Redis, the server, the worker) listens on 127.0.0.1 and is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault('FLOWER_THREAD_GUARD', '1')  # as in the suite: state written off the IOLoop thread fails

from tests.integration.test_broker_outage import outage_run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seconds', type=float, default=45.0, help='how long Redis stays down (default 45, < 60)')
    args = parser.parse_args()
    if not 0 < args.seconds < 55:
        parser.error('--seconds must be more than 0 and less than 55 (a minute down logs "still down")')
    started: list = []
    try:
        print(outage_run(started, args.seconds))
    except AssertionError as exc:
        print(f'FAILED: {exc}', file=sys.stderr)
        return 1
    finally:
        for process in reversed(started):
            process.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
