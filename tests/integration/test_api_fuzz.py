"""Schemathesis (from PyPI) against the served ``/api/openapi.json`` of a live server with a real worker and a
Redis result backend: generated valid and invalid requests to every operation find no 500, no status the
document does not list, no content type it does not declare, and no body that breaks its schema.

Bounded: a fixed number of examples per operation and a time budget for the whole run. The fuzzer gets the
served document with two changes, made here so they are visible: the worker-name parameters carry the real
worker's name as their example (so control commands reach a worker that answers), and the waits it may ask
for (``timeout`` of apply and result) are capped at one second. The shutdown operation is excluded: it would
stop the worker the rest of the run talks to.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess

import pytest
import requests

from tests.support.processes import Server, start_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis]

CHECKS = 'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance'
MAX_EXAMPLES = 12
MAX_TIME = 45  # seconds for the whole schemathesis run



def _fuzzing_copy(schema: dict, workername: str) -> dict:
    for operations in schema['paths'].values():
        for operation in operations.values():
            for parameter in operation.get('parameters', ()):
                if parameter['name'] == 'workername':
                    parameter['example'] = workername
                if parameter['name'] == 'timeout':
                    parameter['schema']['maximum'] = 1
            body = operation.get('requestBody', {}).get('content', {}).get('application/json', {})
            if 'timeout' in body.get('schema', {}).get('properties', {}):
                body['schema']['properties']['timeout']['maximum'] = 1
    return schema


def _schemathesis() -> list[str]:
    exe = shutil.which('schemathesis') or shutil.which('st')
    if exe is None:
        pytest.fail('schemathesis is not installed (it is a test dependency: pip install schemathesis)')
    return [exe]


def test_schemathesis_finds_no_server_error_and_no_schema_violation(redis_url, processes, tmp_path):
    command = _schemathesis()
    worker = start_worker(redis_url, 'apifuzz@%h', backend=redis_url, pool='solo', concurrency=1)
    processes.append(worker)
    server = Server(redis_url, backend=redis_url, args=['--inspect_timeout=2000'])
    processes.append(server)
    workername = 'apifuzz@' + socket.gethostname()
    wait_for(lambda: server.get('/api/workers', params={'workername': workername, 'refresh': 1}).status_code == 200,
             60, interval=0.5, message='the worker in /api/workers')

    served = requests.get(server.url + '/api/openapi.json', timeout=10)
    assert served.status_code == 200
    assert served.headers['Content-Type'].startswith('application/json')
    schema_path = tmp_path / 'openapi.json'
    schema_path.write_text(json.dumps(_fuzzing_copy(served.json(), workername)))

    done = subprocess.run(
        command + ['run', str(schema_path), '--url', server.url, '--checks', CHECKS,
                   '--max-examples', str(MAX_EXAMPLES), '--max-time', str(MAX_TIME), '--workers', '1',
                   '--request-timeout', '15', '--exclude-path-regex', '/api/worker/shutdown/',
                   '--suppress-health-check', 'all', '--generation-database', 'none', '--no-color'],
        capture_output=True, text=True, timeout=MAX_TIME + 60, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    operations = sum(len(ops) for path, ops in served.json()['paths'].items() if '/shutdown/' not in path)
    tested = re.search(r'Tested: (\d+)', output)
    assert tested and int(tested.group(1)) == operations, output[-3000:]
    generated = re.search(r'(\d+) generated, (\d+) passed', output)
    assert generated and generated.group(1) == generated.group(2) and int(generated.group(1)) > 10 * operations, \
        output[-3000:]
    assert server.alive() and worker.alive()
    log = server.output()
    assert 'Traceback' not in log, log[-6000:]
    print(output[-2500:])
