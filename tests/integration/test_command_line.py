"""The command line as users type it: precedence of command line, config file and FLOWER_* variables, clear
errors for misspelt options and bad values, and the three ways to start (flower, celery flower,
python -m flower)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from tests.support.processes import REPO, Process, free_port, wait_for

pytestmark = pytest.mark.redis


def _serving(port, path='/healthcheck'):
    try:
        return requests.get(f'http://127.0.0.1:{port}{path}', timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _start(args, env, cwd, processes):
    # this checkout's flower, whatever the interpreter has installed (the server runs in another directory)
    env = {'PYTHONPATH': str(REPO), **env}
    proc = Process([sys.executable, '-m', 'flower', *args], env=env, cwd=cwd, name='cli')
    processes.append(proc)
    return proc


def test_precedence_command_line_over_file_over_environment(redis_url, tmp_path, processes):
    env_port, file_port, cli_port = free_port(), free_port(), free_port()
    (tmp_path / 'flowerconfig.py').write_text(f'port = {file_port}\nurl_prefix = "fromfile"\n')
    env = {
        'FLOWER_PORT': str(env_port),
        'FLOWER_URL_PREFIX': 'fromenv',
        'FLOWER_ADDRESS': '127.0.0.1',
        'CELERY_BROKER_URL': redis_url,
    }

    proc = _start([f'--port={cli_port}'], env, tmp_path, processes)
    wait_for(lambda: _serving(cli_port, '/fromfile/healthcheck'), 20, message='server on the CLI port')
    assert not _serving(file_port) and not _serving(env_port)
    assert not _serving(cli_port, '/healthcheck')  # the prefix from the file applies
    proc.stop()

    proc = _start([], env, tmp_path, processes)
    wait_for(lambda: _serving(file_port, '/fromfile/healthcheck'), 20, message='server on the config file port')
    proc.stop()

    (tmp_path / 'flowerconfig.py').unlink()
    proc = _start([], env, tmp_path, processes)
    wait_for(lambda: _serving(env_port, '/fromenv/healthcheck'), 20, message='server on the env port')
    assert f'Visit me at http://127.0.0.1:{env_port}/fromenv/' in wait_for(
        lambda: proc.output() if 'Visit me' in proc.output() else None, 10
    )


def test_a_misspelt_variable_is_reported_and_the_prefix_alone_redirects(redis_url, tmp_path, processes):
    """FLOWER_PROT is reported as --prot is (with the variable meant), the variables read directly and other
    tools' are not; ``/<prefix>`` leads to ``/<prefix>/`` instead of a 404."""
    port = free_port()
    env = {
        'FLOWER_PROT': '5555',
        'FLOWER_UNAUTHENTICATED_APl': 'true',
        'FLOWER_UNAUTHENTICATED_API': 'false',
        'FLOWER_DATA_DIR': '/data',
        'FLOWER_PASSWORD': 'for-compose',
        'CELERY_BROKER_URL': redis_url,
    }
    proc = _start([f'--port={port}', '--address=127.0.0.1', '--url_prefix=mon'], env, tmp_path, processes)
    wait_for(lambda: _serving(port, '/mon/healthcheck'), 20, message='the server under its prefix')
    output = proc.output()
    assert 'Environment variable FLOWER_PROT is not an option; did you mean FLOWER_PORT?' in output
    assert (
        'Environment variable FLOWER_UNAUTHENTICATED_APl is not an option; did you mean FLOWER_UNAUTHENTICATED_API?'
    ) in output
    assert 'FLOWER_DATA_DIR' not in output and 'FLOWER_PASSWORD' not in output
    assert 'FLOWER_UNAUTHENTICATED_API is not' not in output

    bare = requests.get(f'http://127.0.0.1:{port}/mon', params={'state': 'FAILURE'}, allow_redirects=False, timeout=10)
    assert bare.status_code == 302 and bare.headers['Location'] == '/mon/?state=FAILURE'
    followed = requests.get(f'http://127.0.0.1:{port}/mon', timeout=10)
    assert followed.status_code == 200 and followed.url.endswith('/mon/') and 'data-url-prefix="/mon"' in followed.text
    assert requests.get(f'http://127.0.0.1:{port}/monx', timeout=10).status_code == 404
    assert requests.get(f'http://127.0.0.1:{port}/mon/nowhere', timeout=10).status_code == 404


@pytest.mark.parametrize(
    'args, expected',
    [
        (['--prot=5555'], "Unknown option '--prot' (did you mean '--port'?)"),
        (
            ['--max_tasks=lots'],
            "Invalid value 'lots' for option '--max_tasks' (from command line): expected an integer",
        ),
        (['--auth=.*@.*.com'], "Invalid '--auth' option: .*@.*.com (use at most one wildcard (*))"),
        (
            ['--auth=*@corp.com|bob@x.com'],
            "Invalid '--auth' option: *@corp.com|bob@x.com (a wildcard (*) cannot be "
            "combined with a list of addresses (|))",
        ),
        (['--auth=alice@*.com'], "(the wildcard (*) can only stand before the @, not in the domain)"),
    ],
)
def test_bad_options_stop_start_up_with_a_message(tmp_path, args, expected):
    done = subprocess.run(
        [sys.executable, '-m', 'flower', '--broker=redis://127.0.0.1:1/0', *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={'PATH': '/usr/bin:/bin', 'PYTHONPATH': str(REPO)},
    )
    assert done.returncode in (1, 2)
    assert expected in done.stderr + done.stdout
    assert 'Traceback' not in done.stderr


def test_help_lists_every_option(tmp_path):
    from flower.options import ALL_OPTIONS

    done = subprocess.run(
        [sys.executable, '-m', 'flower', '--help'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={'PATH': '/usr/bin:/bin', 'PYTHONPATH': str(REPO)},
    )
    assert done.returncode == 0
    for name in ALL_OPTIONS:
        assert f'--{name}' in done.stdout


@pytest.mark.parametrize('launcher', ['celery', 'flower-style-module'])
def test_other_launchers(redis_url, processes, launcher):
    port = free_port()
    if launcher == 'celery':
        cmd = [
            sys.executable,
            '-m',
            'celery',
            '-A',
            'tests.support.celeryapp',
            f'--broker={redis_url}',
            'flower',
            f'--port={port}',
            '--address=127.0.0.1',
        ]
    else:
        cmd = [
            sys.executable,
            '-m',
            'flower',
            '-A',
            'tests.support.celeryapp',
            f'--broker={redis_url}',
            'flower',
            f'--port={port}',
            '--address=127.0.0.1',
        ]
    proc = Process(cmd, env={'PYTHONPATH': str(REPO)}, name=launcher)
    processes.append(proc)
    wait_for(lambda: _serving(port), 30, message=f'{launcher} server')
    output = wait_for(lambda: proc.output() if 'Registered tasks' in proc.output() else None, 10)
    assert 'tests.support.celeryapp.add' in output
    assert redis_url.rsplit('/', 1)[0].replace('redis://', 'redis://:**@') in output or 'Broker: redis://' in output


def test_unknown_app_is_a_clear_error(tmp_path):
    done = subprocess.run(
        [sys.executable, '-m', 'flower', '-A', 'no_such_module_here'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={'PATH': '/usr/bin:/bin', 'PYTHONPATH': str(REPO)},
    )
    assert done.returncode == 2
    assert 'Unable to load celery application: the module no_such_module_here was not found' in done.stderr
    assert 'Traceback' not in done.stderr


def test_sigterm_during_start_up_exits_cleanly(redis_url, processes):
    """Stopping must not deadlock whatever the server was doing when the signal came (the signal is handled
    by the event loop, not in the middle of a lock the shutdown needs)."""
    import signal

    for _ in range(3):
        port = free_port()
        proc = Process(
            [sys.executable, '-m', 'flower', f'--broker={redis_url}', f'--port={port}', '--address=127.0.0.1'],
            name='sigterm',
        )
        processes.append(proc)
        wait_for(lambda: _serving(port), 30, interval=0.02, message='server')
        proc.send_signal(signal.SIGTERM)
        assert proc.popen.wait(15) == 0
