"""Schemathesis (from PyPI) against the served ``/api/openapi.json`` of a live server with a real worker and a
Redis result backend, with every check the installed schemathesis has (``--checks all``; in 4.x that is also the
default set): no 500, only documented statuses, content types and bodies, schema-valid requests accepted
(``positive_data_acceptance``), schema-violating ones refused (``negative_data_rejection``), 405 with ``Allow``
for undeclared methods (``unsupported_method``, ``allow_header_conformance``), and the resource checks
(``use_after_free``, ``ensure_resource_availability``, ``ignored_auth``, ``missing_required_header``,
``object_level_authorization``) where they apply. All phases run: examples, coverage, fuzzing, stateful.

Bounded: a fixed number of examples per operation and a time budget for the whole run (60 s here; the phases
share it, so a longer budget tries more cases: bench/api_fuzz_soak.py).

What the fuzzer is told besides the served document, each for a reason that is not a weaker check:

* the worker-name parameters carry the real worker's name as their example, so control commands reach a worker
  that answers: a prefork worker with one process, on a server with ``--max_pool_size=3`` and
  ``--max_pool_step=2``, so the fuzzer's grows really fork (at most two processes more) and meet the 409 of the
  cap, and the pool is checked to have stayed within it;
* ``timeout`` of ``/api/task/result`` and of apply's body are held at short values (a schemathesis config
  override, not a narrower schema): random task ids never finish, so any allowed wait (up to an hour) would be
  waited in full. The strict number parsing they share is fuzzed through ``hard``/``soft`` of the timeout
  operation and unit-tested;
* ``search`` of ``/api/tasks`` is held to a valid query: its language (quotes, parentheses, AND/OR, terms of
  at least 3 characters) cannot be written as a JSON Schema, so schemathesis cannot tell a valid query from an
  invalid one (it would call every refused query a rejected valid request). The grammar is tested in
  tests/unit/test_search*.py.

``ignored_auth`` needs a server that requires credentials, so a second, shorter run (examples and coverage)
goes to a ``--basic_auth`` server, whose document then requires them, with ``ignored_auth`` and the response
checks. It is not the main run because schemathesis 4.32 reports false ``negative_data_rejection`` failures
when ``--auth`` is given: a case meant to lack the Authorization header gets it back from ``--auth``, and one
that also carries unknown query parameters (which the server ignores, as Flower does) is then reported as an
accepted invalid request. The shutdown operation is excluded from both runs: it would stop the worker the rest
of the run talks to. ``object_level_authorization`` has nothing to act on: there is one identity, and the API
has no per-user objects.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess

import pytest
import requests

from tests.support.processes import Server, start_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis]

# The run's bounds: examples per operation and seconds for the whole run (all four phases; the suite's budget).
# bench/api_fuzz_soak.py runs this test with a larger budget through the two variables.
MAX_EXAMPLES = int(os.environ.get('FLOWER_FUZZ_MAX_EXAMPLES', '12'))
MAX_TIME = int(os.environ.get('FLOWER_FUZZ_MAX_TIME', '60'))
CREDENTIALS = 'fuzz:not-a-secret'  # --basic_auth of the second run, which checks the 401s (ignored_auth)
AUTH_MAX_TIME = 30
POOL_CAP = 3  # --max_pool_size of the server: the fuzzer's grows really fork, up to this many processes

# Values held fixed for the fuzzer (see the module docstring for why each is needed).
CONFIG = '''
[[operations]]
include-path = "/api/tasks"
parameters = { "query.search" = "name:add OR state:SUCCESS" }

[[operations]]
include-path-regex = "^/api/task/result/"
parameters = { "query.timeout" = 0.5 }

[[operations]]
include-path-regex = "^/api/task/apply/"
parameters = { "body.timeout" = 0.5 }
'''


def _fuzzing_copy(schema: dict, workername: str) -> dict:
    for operations in schema['paths'].values():
        for operation in operations.values():
            for parameter in operation.get('parameters', ()):
                if parameter['name'] == 'workername':
                    parameter['example'] = workername
    return schema


def _schemathesis() -> list[str]:
    exe = shutil.which('schemathesis') or shutil.which('st')
    if exe is None:
        pytest.fail('schemathesis is not installed (it is a test dependency: pip install schemathesis)')
    return [exe]


def _run(command: list[str], tmp_path, schema: dict, url: str, *args: str, max_time: int) -> str:
    """One schemathesis run against ``url`` with the served ``schema`` (and :data:`CONFIG`); its output."""
    schema_path = tmp_path / 'openapi.json'
    schema_path.write_text(json.dumps(schema))
    config_path = tmp_path / 'schemathesis.toml'
    config_path.write_text(CONFIG)
    done = subprocess.run(
        command
        + [
            '--config-file',
            str(config_path),
            'run',
            str(schema_path),
            '--url',
            url,
            *args,
            '--max-examples',
            str(MAX_EXAMPLES),
            '--max-time',
            str(max_time),
            '--workers',
            '1',
            '--request-timeout',
            '15',
            '--exclude-path-regex',
            '/api/worker/shutdown/',
            '--suppress-health-check',
            'all',
            '--generation-database',
            'none',
            '--no-color',
        ],
        capture_output=True,
        text=True,
        timeout=max_time + 60,
        cwd=tmp_path,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    operations = sum(len(ops) for path, ops in schema['paths'].items() if '/shutdown/' not in path)
    tested = re.search(r'Tested: (\d+)', output)
    assert tested and int(tested.group(1)) == operations, output[-3000:]
    generated = re.search(r'(\d+) generated, (\d+) passed', output)
    assert generated and generated.group(1) == generated.group(2) and int(generated.group(1)) > 10 * operations, output[
        -3000:
    ]
    return output


def test_schemathesis_finds_no_server_error_and_no_schema_violation(redis_url, processes, tmp_path):
    command = _schemathesis()
    # a small prefork worker, so that pool grow/shrink really change a pool; the cap keeps it small
    worker = start_worker(redis_url, 'apifuzz@%h', backend=redis_url, pool='prefork', concurrency=1)
    processes.append(worker)
    server = Server(
        redis_url,
        backend=redis_url,
        args=['--inspect_timeout=2000', f'--max_pool_size={POOL_CAP}', '--max_pool_step=2'],
    )
    processes.append(server)
    workername = 'apifuzz@' + socket.gethostname()
    wait_for(
        lambda: server.get('/api/workers', params={'workername': workername, 'refresh': 1}).status_code == 200,
        60,
        interval=0.5,
        message='the worker in /api/workers',
    )

    served = requests.get(server.url + '/api/openapi.json', timeout=10)
    assert served.status_code == 200
    assert served.headers['Content-Type'].startswith('application/json')
    output = _run(
        command, tmp_path, _fuzzing_copy(served.json(), workername), server.url, '--checks', 'all', max_time=MAX_TIME
    )
    assert server.alive() and worker.alive()
    pool = server.get('/api/workers', params={'workername': workername, 'refresh': 1}).json()[workername]
    assert 1 <= len(pool['stats']['pool']['processes']) <= POOL_CAP
    log = server.output()
    assert 'Traceback' not in log, log[-6000:]
    print(output[-2500:])

    # The same API behind --basic_auth: the served document then requires credentials, and ignored_auth checks
    # that every operation refuses a request without them, or with wrong ones.
    guarded = Server(
        redis_url, backend=redis_url, args=[f'--basic_auth={CREDENTIALS}'], env={'FLOWER_UNAUTHENTICATED_API': ''}
    )
    processes.append(guarded)
    served = requests.get(guarded.url + '/api/openapi.json', timeout=10, auth=tuple(CREDENTIALS.split(':')))
    assert served.json()['security'] == [{'basicAuth': []}]
    assert requests.get(guarded.url + '/api/openapi.json', timeout=10).status_code == 401
    _run(
        command,
        tmp_path,
        _fuzzing_copy(served.json(), workername),
        guarded.url,
        '--auth',
        CREDENTIALS,
        '--checks',
        'ignored_auth,not_a_server_error,status_code_conformance,content_type_conformance',
        '--phases',
        'examples,coverage',
        max_time=AUTH_MAX_TIME,
    )
    assert 'Traceback' not in guarded.output()
