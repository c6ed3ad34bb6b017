"""Redis queue lengths against real servers: the shared Redis on 6379 (a db number claimed with the suite's
lock keys, never flushed: every test deletes the keys carrying its own tag) for real Celery messages, and
private redis-servers on free ports for the unix socket, TLS, sentinel, password and outage cases (stopped
by PID). Also the queue-length monitor moving with messages queued and drained.

When the shared Redis or redis-server is missing the tests skip with a one-line reason, except under
CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import closing
from pathlib import Path

import pytest
from celery import Celery

from flower.brokers import BrokerError, BrokerUnreachable, QueueLengthMonitor, broker_for
from tests.support.needs import require_tool, skip_or_fail
from tests.support.processes import Process, free_port, wait_for

pytestmark = pytest.mark.redis

HOST, PORT = '127.0.0.1', 6379
SEP = '\x06\x16'


def sync_client(db: int = 0, **kwargs):
    import redis

    return redis.Redis(host=HOST, port=PORT, db=db, socket_timeout=2, socket_connect_timeout=2, **kwargs)


@pytest.fixture(scope='module')
def db():
    """A db number of this module's own, claimed with the same lock keys as tests/conftest.py (so no other
    session uses it meanwhile) and released afterwards. It is never flushed."""
    try:
        lock = sync_client(0)
        lock.ping()
    except Exception as exc:
        skip_or_fail(f'Redis on {HOST}:{PORT} is not reachable: {exc}')
    token = f'brokers-{os.getpid()}-{uuid.uuid4().hex[:8]}'
    for number in [11, 12, 13, 14, *range(1, 11), 15]:
        if lock.set(f'flower-tests:db:{number}', token, nx=True, ex=3600):
            break
    else:
        skip_or_fail('no free Redis db number for the broker tests')
    yield number
    if lock.get(f'flower-tests:db:{number}') == token.encode():
        lock.delete(f'flower-tests:db:{number}')


@pytest.fixture
def tag(db):
    """A unique word for this test's queue and key names; every key containing it is deleted afterwards."""
    value = f'bq{uuid.uuid4().hex[:10]}'
    yield value
    client = sync_client(db)
    keys = list(client.scan_iter(match=f'*{value}*', count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def url(db):
    return f'redis://{HOST}:{PORT}/{db}'


def producer_app(broker_url: str, **transport_options) -> Celery:
    app = Celery('brokertests', broker=broker_url, set_as_current=False)
    app.conf.broker_transport_options = transport_options
    app.conf.broker_connection_retry_on_startup = False
    return app


def send(app: Celery, queue: str, count: int, priority: int | None = None) -> None:
    with app.producer_or_acquire() as producer:
        for i in range(count):
            app.send_task('brokertests.noop', args=(i,), queue=queue, priority=priority, producer=producer)


def lengths(broker, names) -> list[dict]:
    async def ask():
        try:
            return await broker.queues(names)
        finally:
            await broker.close()

    return asyncio.run(ask())


# -- counting on the shared Redis ---------------------------------------------------------------------------


def test_counts_real_celery_messages_per_queue(url, tag):
    app = producer_app(url)
    send(app, f'{tag}-a', 3)
    send(app, f'{tag}-b', 2)
    app.close()
    names = [f'{tag}-b', f'{tag}-a', f'{tag}-empty']
    assert lengths(broker_for(url), names) == [
        {'name': f'{tag}-b', 'messages': 2},
        {'name': f'{tag}-a', 'messages': 3},
        {'name': f'{tag}-empty', 'messages': 0},
    ]


def test_counts_messages_in_every_priority_list(url, tag, db):
    app = producer_app(url)
    queue = f'{tag}-prio'
    for priority, count in [(None, 1), (0, 1), (2, 2), (4, 1), (7, 3), (9, 1)]:
        send(app, queue, count, priority=priority)
    app.close()
    client = sync_client(db)
    # kombu's steps 0,3,6,9 (priorities 0-2 -> step 0, 4 -> 3, 7 -> 6, 9 -> 9): all four lists are in use
    assert [client.llen(key) for key in [queue, f'{queue}{SEP}3', f'{queue}{SEP}6', f'{queue}{SEP}9']] == [4, 1, 3, 1]
    assert lengths(broker_for(url), [queue]) == [{'name': queue, 'messages': 9}]


def test_global_keyprefix_custom_steps_and_separator(url, tag, db):
    options = {'global_keyprefix': f'{tag}:', 'priority_steps': [0, 5], 'sep': '::'}
    app = producer_app(url, **options)
    queue = f'{tag}-pfx'
    send(app, queue, 2, priority=1)
    send(app, queue, 3, priority=8)
    app.close()
    assert sync_client(db).llen(f'{tag}:{queue}::5') == 3  # the key kombu wrote, as the adapter computes it
    assert lengths(broker_for(url, transport_options=options), [queue]) == [{'name': queue, 'messages': 5}]
    # Without the transport options the same queue looks empty: the options are what make the count right.
    assert lengths(broker_for(url), [queue]) == [{'name': queue, 'messages': 0}]


def test_a_key_of_another_type_counts_zero_without_failing_the_rest(url, tag, db):
    client = sync_client(db)
    client.set(f'{tag}-clash', 'not a list')
    client.lpush(f'{tag}-ok', 'm1', 'm2')
    assert lengths(broker_for(url), [f'{tag}-clash', f'{tag}-ok']) == [
        {'name': f'{tag}-clash', 'messages': 0},
        {'name': f'{tag}-ok', 'messages': 2},
    ]


def test_many_queues_in_one_call_and_the_llen_fallback_agree(url, tag, db):
    client = sync_client(db)
    names = [f'{tag}-{i}' for i in range(2500)]  # more than one script chunk
    pipe = client.pipeline(transaction=False)
    for i, name in enumerate(names):
        pipe.rpush(name, *range(i % 3 + 1))
        if i % 2:
            pipe.rpush(f'{name}{SEP}6', 'x')
    pipe.execute()
    expected = [{'name': name, 'messages': i % 3 + 1 + i % 2} for i, name in enumerate(names)]
    scripted = broker_for(url)
    assert lengths(scripted, names) == expected
    plain = broker_for(url)
    plain.use_script = False
    assert lengths(plain, names) == expected


# -- private servers ----------------------------------------------------------------------------------------


def redis_server_exe() -> str:
    if Path('/usr/bin/redis-server').exists() and not shutil.which('redis-server'):
        return '/usr/bin/redis-server'  # a PATH without /usr/bin
    return require_tool('redis-server', 'apt-get install redis-server')


class PrivateServer:
    """A redis-server (or sentinel) of this test's own; stopped by PID. ``args`` follow the executable;
    without ``config`` it is a throw-away server on ``port`` (a free one by default; 0 for no TCP port)."""

    def __init__(self, *args: str, port: int | None = None, config: Path | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix='flowertest-brokers-'))
        self.port = free_port() if port is None else port
        head = (
            [str(config)]
            if config
            else [
                '--port',
                str(self.port),
                '--bind',
                '127.0.0.1',
                '--save',
                '',
                '--appendonly',
                'no',
                '--dir',
                str(self.dir),
            ]
        )
        self.process = Process([redis_server_exe(), *head, *args], name=f'redis-{self.port}')

    def wait_ready(self, ping) -> None:
        def ready():
            if not self.process.alive():
                raise AssertionError(f'redis-server exited:\n{self.process.output()}')
            return ping()

        wait_for(ready, 15, message=f'private redis-server {self.process.args[1:]}')

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.process.log_path.unlink(missing_ok=True)


@pytest.fixture
def servers():
    started: list[PrivateServer] = []
    yield started
    for server in reversed(started):
        server.stop()


def start_plain(servers, *args, port: int | None = None) -> PrivateServer:
    import redis

    server = PrivateServer(*args, port=port)
    servers.append(server)
    password = args[args.index('--requirepass') + 1] if '--requirepass' in args else None
    server.wait_ready(lambda: redis.Redis(port=server.port, password=password, socket_timeout=0.5).ping())
    return server


def test_a_dead_redis_is_a_clear_error_within_seconds_and_a_restarted_one_is_read_at_once(servers):
    import redis

    server = start_plain(servers)
    redis.Redis(port=server.port).lpush('q', 'm')
    url = f'redis://127.0.0.1:{server.port}/0'
    broker = broker_for(url)

    async def before_during_and_after():
        assert await broker.queues(['q']) == [{'name': 'q', 'messages': 1}]
        server.process.stop()
        started = time.monotonic()
        with pytest.raises(BrokerUnreachable) as info:
            await broker.queues(['q'])
        elapsed = time.monotonic() - started
        # Same port again (an empty server: nothing is saved): the very next call must read it, with no
        # failure left over from the connection the dead server had.
        restarted = start_plain(servers, port=server.port)
        redis.Redis(port=restarted.port).rpush('q', 'a', 'b')
        return elapsed, str(info.value), await broker.queues(['q'])

    elapsed, message, after_restart = asyncio.run(before_during_and_after())
    assert elapsed < 3
    assert message.startswith(
        f'Redis at redis://127.0.0.1:{server.port}/0 could not be reached: '
        f'Error 111 connecting to 127.0.0.1:{server.port}.'
    )
    assert after_restart == [{'name': 'q', 'messages': 2}]


def test_a_server_that_refuses_scripts_is_counted_with_llen(servers):
    import redis

    server = start_plain(servers)
    admin = redis.Redis(port=server.port)
    admin.execute_command('ACL', 'SETUSER', 'noscripts', 'on', '>pw', '~*', '+@all', '-@scripting')
    admin.rpush('q', 'a', 'b')
    admin.rpush(f'q{SEP}9', 'c')
    broker = broker_for(f'redis://noscripts:pw@127.0.0.1:{server.port}/0')
    assert lengths(broker, ['q', 'other']) == [{'name': 'q', 'messages': 3}, {'name': 'other', 'messages': 0}]
    assert broker.use_script is False  # decided once, not re-tried on every call
    assert lengths(broker, ['q']) == [{'name': 'q', 'messages': 3}]


def test_a_redis_that_never_answers_times_out_within_seconds():
    # A listening socket that never accepts: the TCP handshake completes in the kernel, no reply ever comes.
    with closing(socket.socket()) as silent:
        silent.bind(('127.0.0.1', 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        broker = broker_for(f'redis://127.0.0.1:{port}/0')
        started = time.monotonic()
        with pytest.raises(BrokerUnreachable) as info:
            lengths(broker, ['q'])
        elapsed = time.monotonic() - started
    assert elapsed < 3
    assert f'Redis at redis://127.0.0.1:{port}/0 did not answer within 2.0 s' in str(info.value)


def test_password_protected_redis(servers):
    import redis

    server = start_plain(servers, '--requirepass', 'top-secret')
    redis.Redis(port=server.port, password='top-secret').rpush('q', 'a', 'b')
    for url in [f'redis://127.0.0.1:{server.port}/0', f'redis://:wrong-guess@127.0.0.1:{server.port}/0']:
        with pytest.raises(BrokerError) as info:
            lengths(broker_for(url), ['q'])
        message = str(info.value)
        assert message.startswith(f'Redis at redis://127.0.0.1:{server.port}/0 refused the credentials')
        assert 'wrong-guess' not in message and 'top-secret' not in message
    assert lengths(broker_for(f'redis://:top-secret@127.0.0.1:{server.port}/0'), ['q']) == [
        {'name': 'q', 'messages': 2}
    ]


def test_a_db_the_server_does_not_have(servers):
    server = start_plain(servers, '--databases', '2')
    with pytest.raises(BrokerError, match='DB index is out of range'):
        lengths(broker_for(f'redis://127.0.0.1:{server.port}/5'), ['q'])


def test_unix_socket(servers):
    import redis

    path_dir = Path(tempfile.mkdtemp(prefix='flowertest-sock-'))
    sock = path_dir / 'redis.sock'
    server = PrivateServer('--unixsocket', str(sock), '--unixsocketperm', '700', port=0)
    servers.append(server)
    try:
        server.wait_ready(lambda: redis.Redis(unix_socket_path=str(sock), socket_timeout=0.5).ping())
        redis.Redis(unix_socket_path=str(sock), db=1).rpush(f'q{SEP}3', 'a', 'b', 'c')
        assert lengths(broker_for(f'redis+socket://{sock}?virtual_host=1'), ['q']) == [{'name': 'q', 'messages': 3}]
        assert lengths(broker_for(f'redis+socket://{sock}'), ['q']) == [{'name': 'q', 'messages': 0}]  # db 0
    finally:
        shutil.rmtree(path_dir, ignore_errors=True)


def make_certificate(folder: Path) -> tuple[Path, Path]:
    openssl = require_tool('openssl', 'apt-get install openssl; needed to make a TLS certificate')
    cert, key = folder / 'cert.pem', folder / 'key.pem'
    subprocess.run(
        [
            openssl,
            'req',
            '-x509',
            '-newkey',
            'rsa:2048',
            '-nodes',
            '-keyout',
            str(key),
            '-out',
            str(cert),
            '-days',
            '1',
            '-subj',
            '/CN=127.0.0.1',
            '-addext',
            'subjectAltName=IP:127.0.0.1',
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_tls_with_broker_use_ssl(servers, tmp_path):
    import redis

    cert, key = make_certificate(tmp_path)
    tls_port = free_port()
    server = PrivateServer(
        '--tls-port',
        str(tls_port),
        '--tls-cert-file',
        str(cert),
        '--tls-key-file',
        str(key),
        '--tls-ca-cert-file',
        str(cert),
        '--tls-auth-clients',
        'no',
        port=0,
    )
    servers.append(server)

    def tls_client(**kwargs):
        return redis.Redis(
            host='127.0.0.1', port=tls_port, ssl=True, ssl_ca_certs=str(cert), socket_timeout=0.5, **kwargs
        )

    server.wait_ready(lambda: tls_client().ping())
    tls_client(db=2).rpush('q', 'a', 'b')
    trusted = {'ssl_cert_reqs': 'required', 'ssl_ca_certs': str(cert)}
    assert lengths(broker_for(f'rediss://127.0.0.1:{tls_port}/2', broker_use_ssl=trusted), ['q']) == [
        {'name': 'q', 'messages': 2}
    ]
    assert lengths(broker_for(f'redis://127.0.0.1:{tls_port}/2', broker_use_ssl=trusted), ['q']) == [
        {'name': 'q', 'messages': 2}
    ]
    # Verification is on by default: a self-signed server certificate is refused, and the message says so.
    with pytest.raises(BrokerUnreachable, match='certificate verify failed'):
        lengths(broker_for(f'rediss://127.0.0.1:{tls_port}/2'), ['q'])


def test_sentinel(servers, tmp_path):
    import redis

    master = start_plain(servers)
    redis.Redis(port=master.port, db=3).rpush('q', *range(4))
    sentinel_port = free_port()
    conf = tmp_path / 'sentinel.conf'
    conf.write_text(
        f'port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n'
        f'sentinel monitor flowermaster 127.0.0.1 {master.port} 1\n'
    )
    sentinel = PrivateServer('--sentinel', port=sentinel_port, config=conf)
    servers.append(sentinel)
    sentinel.wait_ready(
        lambda: redis.Redis(port=sentinel_port, socket_timeout=0.5).execute_command(
            'SENTINEL', 'get-master-addr-by-name', 'flowermaster'
        )
    )
    url = f'sentinel://127.0.0.1:{sentinel_port}/3'
    assert lengths(broker_for(url, transport_options={'master_name': 'flowermaster'}), ['q']) == [
        {'name': 'q', 'messages': 4}
    ]
    with pytest.raises(BrokerUnreachable, match="No master found for 'nosuchmaster'"):
        lengths(broker_for(url, transport_options={'master_name': 'nosuchmaster'}), ['q'])


# -- the monitor on real Redis ------------------------------------------------------------------------------


def test_monitor_gauge_moves_when_messages_are_queued_and_drained(url, tag):
    from kombu import Connection

    queue = f'{tag}-gauge'
    app = producer_app(url)

    async def scenario():
        monitor = QueueLengthMonitor(broker_for(url), lambda: [queue], ttl=0.05)
        monitor.start(0.05)

        async def gauge_reads(expected: int, what: str):
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while [q['messages'] for q in monitor.last_lengths().queues] != [expected]:
                assert loop.time() < deadline, f'gauge never read {expected} ({what}): {monitor.last_lengths()}'
                await asyncio.sleep(0.02)

        try:
            await gauge_reads(0, 'before')
            # Publishing and consuming are blocking kombu calls: off the loop, as the server would do them.
            await asyncio.to_thread(send, app, queue, 4, None)
            await asyncio.to_thread(send, app, queue, 2, 8)
            await gauge_reads(6, 'queued')

            def drain(count):
                with Connection(url) as conn:
                    simple = conn.SimpleQueue(queue)
                    for _ in range(count):
                        simple.get(timeout=5).ack()
                    simple.close()

            await asyncio.to_thread(drain, 6)
            await gauge_reads(0, 'drained')
            assert monitor.last_error is None
        finally:
            await monitor.close()
            app.close()

    asyncio.run(scenario())
