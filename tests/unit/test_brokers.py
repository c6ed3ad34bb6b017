"""Broker adapters without a network: URL parsing, the redis-py arguments each Redis flavour gets, kombu's
key names, the factory's dispatch, --broker_api validation, the queue names, Flower's compatibility names,
and counting kombu's filesystem message files."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from celery import Celery
from kombu import Queue

from flower.brokers import (
    BrokerConfigError,
    BrokerError,
    FilesystemQueueBroker,
    RabbitMQQueueBroker,
    RedisQueueBroker,
    UnsupportedBroker,
    broker_for,
    parse_broker_url,
    queue_names,
    redis_connection_spec,
    transport_of,
    validate_broker_api,
)
from flower.brokers.filesystem import count_messages
from flower.brokers.redis_broker import RedisQueueKeys

# -- URL parsing --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    'url, host, port',
    [
        ('redis://127.0.0.1:6379/0', '127.0.0.1', 6379),
        ('redis://[::1]:6380/0', '::1', 6380),
        ('redis://%3A%3A1:6379/2', '::1', 6379),  # how kombu's as_uri writes an IPv6 host
        ('redis://2001%3Adb8%3A%3A1:6379/0', '2001:db8::1', 6379),
        ('redis://my%2Dhost/0', 'my-host', None),
        ('amqp://guest:guest@rabbit.example.com//', 'rabbit.example.com', None),
        ('redis://', None, None),
    ],
)
def test_host_and_port_are_percent_decoded(url, host, port):
    parsed = parse_broker_url(url)
    assert (parsed.host, parsed.port) == (host, port)


def test_credentials_are_percent_decoded_and_never_shown():
    parsed = parse_broker_url('redis://us%40er:p%40ss%2Fw%3Ard@host:6379/1')
    assert (parsed.username, parsed.password) == ('us@er', 'p@ss/w:rd')
    assert 'p@ss' not in repr(parsed) and 'p%40ss' not in repr(parsed)
    assert parsed.redacted() == 'redis://us%40er:**@host:6379/1'


@pytest.mark.parametrize(
    'url, vhost',
    [
        ('amqp://guest:guest@h:5672//', '/'),
        ('amqp://guest:guest@h:5672/', ''),
        ('amqp://guest:guest@h:5672', ''),
        ('amqp://guest:guest@h:5672/a/b', 'a/b'),  # kombu's as_uri writes vhost 'a/b' unencoded
        ('amqp://guest:guest@h:5672/my%20vhost', 'my vhost'),
        ('redis://h:6379/3', '3'),
    ],
)
def test_vhost_is_the_path_without_its_first_slash(url, vhost):
    assert parse_broker_url(url).vhost == vhost


@pytest.mark.parametrize('url', ['redis://h:notaport/0', 'redis://h:70000/0', 'no-scheme-here'])
def test_malformed_urls_are_config_errors(url):
    with pytest.raises(BrokerConfigError, match='Invalid broker URL'):
        parse_broker_url(url)


# -- Redis: keys and connection arguments -------------------------------------------------------------------


def test_keys_follow_kombu_priority_steps_separator_and_prefix():
    assert RedisQueueKeys().for_queue('celery') == ['celery', 'celery\x06\x163', 'celery\x06\x166', 'celery\x06\x169']
    keys = RedisQueueKeys.from_transport_options({'priority_steps': [0, 5, 5], 'sep': ':', 'global_keyprefix': 'app1_'})
    assert keys.for_queue('q') == ['app1_q', 'app1_q:5']  # the repeated step is one list, counted once


def test_plain_redis_arguments():
    spec = redis_connection_spec('redis://user:secret@10.0.0.5:6390/4')
    kw = spec.client_kwargs
    assert spec.kind == 'tcp'
    assert (kw['host'], kw['port'], kw['db'], kw['username'], kw['password']) == ('10.0.0.5', 6390, 4, 'user', 'secret')
    assert (kw['socket_connect_timeout'], kw['socket_timeout']) == (1.0, 2.0)
    assert kw['retry']._retries == 0  # no retries behind the caller's back
    assert 'ssl' not in kw
    assert spec.location == 'redis://10.0.0.5:6390/4' and 'secret' not in spec.location


def test_defaults_and_timeouts_from_transport_options():
    spec = redis_connection_spec('redis://', {'socket_timeout': 0.5, 'socket_connect_timeout': '0.25'})
    kw = spec.client_kwargs
    assert (kw['host'], kw['port'], kw['db']) == ('localhost', 6379, 0)
    assert (kw['socket_timeout'], kw['socket_connect_timeout']) == (0.5, 0.25)


@pytest.mark.parametrize('path', ['abc', '1.5', '-1'])
def test_a_bad_db_is_a_clear_config_error(path):
    with pytest.raises(BrokerConfigError, match=f'Database is int between 0 and limit - 1, not {path}'):
        broker_for(f'redis://localhost:6379/{path}')


def test_ipv6_host_in_location_is_bracketed():
    assert redis_connection_spec('redis://%3A%3A1:6379/2').location == 'redis://[::1]:6379/2'


def test_rediss_and_broker_use_ssl_turn_tls_on():
    spec = redis_connection_spec(
        'rediss://h:6380/0',
        broker_use_ssl={
            'ssl_cert_reqs': 'CERT_REQUIRED',
            'ssl_ca_certs': '/ca.pem',
            'ssl_certfile': '/c.pem',
            'ssl_keyfile': '/k.pem',
        },
    )
    kw = spec.client_kwargs
    assert spec.kind == 'ssl' and kw['ssl'] is True
    assert (kw['ssl_cert_reqs'], kw['ssl_ca_certs'], kw['ssl_certfile'], kw['ssl_keyfile']) == (
        ssl.CERT_REQUIRED,
        '/ca.pem',
        '/c.pem',
        '/k.pem',
    )
    assert spec.location == 'rediss://h:6380/0'

    spec = redis_connection_spec('redis://h:6379/0', broker_use_ssl={'cert_reqs': ssl.CERT_NONE})
    assert spec.kind == 'ssl' and spec.client_kwargs['ssl_cert_reqs'] == ssl.CERT_NONE  # amqp-style name

    assert redis_connection_spec('rediss://h/0').client_kwargs['ssl'] is True  # verifies by default
    assert redis_connection_spec('rediss://h/0?ssl_cert_reqs=none').client_kwargs['ssl_cert_reqs'] == ssl.CERT_NONE
    assert 'ssl' not in redis_connection_spec('redis://h/0', broker_use_ssl=None).client_kwargs


def test_unix_socket_arguments():
    spec = redis_connection_spec('redis+socket:///var/run/redis/redis.sock?virtual_host=3', {'socket_timeout': 1.5})
    kw = spec.client_kwargs
    assert spec.kind == 'socket'
    assert (kw['unix_socket_path'], kw['db'], kw['socket_timeout']) == ('/var/run/redis/redis.sock', 3, 1.5)
    assert 'host' not in kw and kw['retry']._retries == 0


def test_sentinel_arguments():
    spec = redis_connection_spec(
        'sentinel://:pw@s1:26380/2;sentinel://s2',
        {'master_name': 'mymaster', 'sentinel_kwargs': {'password': 'sp'}},
        broker_use_ssl={'ssl_cert_reqs': 'none'},
    )
    assert spec.kind == 'sentinel' and spec.master_name == 'mymaster'
    assert spec.sentinels == [('s1', 26380), ('s2', 26379)]
    assert spec.client_kwargs['password'] == 'pw' and spec.client_kwargs['db'] == 2
    assert spec.client_kwargs['ssl'] is True and spec.client_kwargs['ssl_cert_reqs'] == ssl.CERT_NONE
    assert spec.sentinel_kwargs['password'] == 'sp' and spec.sentinel_kwargs['socket_timeout'] == 2.0
    assert 'pw' not in spec.location and 'mymaster' in spec.location
    assert 'ssl' not in redis_connection_spec('sentinel://s1', {'master_name': 'm'}).client_kwargs


def test_sentinel_without_master_name_is_a_config_error():
    with pytest.raises(BrokerConfigError, match='master_name is required for Sentinel broker'):
        broker_for('sentinel://localhost:26379')


# -- factory ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    'url, cls',
    [
        ('amqp://guest:guest@localhost:5672//', RabbitMQQueueBroker),
        ('amqps://guest:guest@localhost:5671//', RabbitMQQueueBroker),
        ('pyamqp://guest:guest@localhost//', RabbitMQQueueBroker),
        ('redis://localhost:6379/0', RedisQueueBroker),
        ('rediss://localhost:6380/0', RedisQueueBroker),
        ('redis+socket:///tmp/redis.sock', RedisQueueBroker),
        ('filesystem://localhost//', FilesystemQueueBroker),
    ],
)
def test_factory_picks_the_adapter_by_scheme(url, cls):
    assert type(broker_for(url)) is cls


@pytest.mark.parametrize(
    'url, transport',
    [
        ('sqs://key:secret@', 'sqs'),
        ('memory://localhost//', 'memory'),
        ('sqla+postgresql://u:p@h/db', 'sqla'),
        ('qpid://h//', 'qpid'),
    ],
)
def test_other_transports_are_unsupported_in_flowers_words(url, transport):
    with pytest.raises(UnsupportedBroker) as info:
        broker_for(url)
    assert str(info.value) == f"'{transport}' broker is not supported"
    assert isinstance(info.value, NotImplementedError)  # what Flower's callers catch
    assert transport_of(url) == transport


# -- RabbitMQ management API URL ----------------------------------------------------------------------------


def test_default_management_api_is_port_15672_on_the_broker_host():
    broker = broker_for('amqp://user:pw@rabbit.local:5672/prod')
    assert broker.api_url == 'http://rabbit.local:15672/api/'
    assert broker.queues_url == 'http://rabbit.local:15672/api/queues/prod'
    assert (broker.username, broker._password) == ('user', 'pw')
    assert broker_for('amqp://[::1]:5672//').api_url == 'http://[::1]:15672/api/'


@pytest.mark.parametrize(
    'broker_url, vhost_in_url',
    [
        ('amqp://guest:guest@h:5672//', '%2F'),
        ('amqp://guest:guest@h:5672/', '%2F'),
        ('amqp://guest:guest@h:5672/a/b', 'a%2Fb'),
        ('amqp://guest:guest@h:5672/my%20vhost', 'my%20vhost'),
    ],
)
def test_vhost_is_percent_encoded_in_the_api_path(broker_url, vhost_in_url):
    assert broker_for(broker_url).queues_url == f'http://h:15672/api/queues/{vhost_in_url}'


def test_broker_api_credentials_win_and_its_path_is_kept():
    broker = broker_for('amqp://guest:guest@h:5672//', broker_api='https://ad%40min:s3cr%3At@mq.example:443/rmq/api')
    assert broker.api_url == 'https://mq.example:443/rmq/api/'
    assert broker.queues_url == 'https://mq.example:443/rmq/api/queues/%2F'
    assert (broker.username, broker._password) == ('ad@min', 's3cr:t')
    assert 's3cr' not in broker.location
    broker = broker_for('amqp://u:p@h:5672/v', broker_api='http://mq:15672/api/')
    assert (broker.username, broker._password) == ('u', 'p')  # no credentials in the API URL: the broker's
    # Flower joins 'queues/<vhost>' onto the API URL, so a trailing segment (often a vhost) is replaced
    broker = broker_for('amqp://u:p@h:5672/v', broker_api='http://mq:15672/api/oldvhost')
    assert broker.queues_url == 'http://mq:15672/api/queues/v'


@pytest.mark.parametrize(
    'url, problem',
    [
        ('ftp://guest:topsecret@localhost:15672/api/', 'must be an http:// or https:// URL'),
        ('localhost:15672/api/', 'must be an http:// or https:// URL'),
        ('http:///api/', 'has no host'),
        ('http://guest:topsecret@localhost:port/api/', 'Port could not be cast'),
    ],
)
def test_malformed_broker_api_is_refused_at_start_up(url, problem):
    with pytest.raises(BrokerConfigError) as info:
        validate_broker_api(url)
    message = str(info.value)
    assert message.startswith("Invalid '--broker-api' option: ") and problem in message
    assert 'topsecret' not in message


def test_valid_broker_api_passes():
    assert validate_broker_api('http://guest:guest@localhost:15672/api/') == 'http://guest:guest@localhost:15672/api/'
    assert validate_broker_api(None) is None and validate_broker_api('') is None


# -- queue names --------------------------------------------------------------------------------------------


def test_queue_names_are_the_sorted_union_of_workers_and_configuration():
    app = Celery('t', set_as_current=False)
    app.conf.task_queues = [Queue('high'), Queue('celery')]
    app.conf.task_default_queue = 'default'
    workers = {
        'w1@h': {'active_queues': [{'name': 'celery'}, {'name': 'w1.dq'}]},
        'w2@h': {'active_queues': [{'name': 'zeta'}]},
        'w3@h': {'stats': {}},  # not inspected for queues yet
        'w4@h': {'active_queues': 'Error: timed out'},
    }
    assert queue_names(app, workers) == ['celery', 'default', 'high', 'w1.dq', 'zeta']


def test_queue_names_without_workers_or_task_queues():
    app = Celery('t', set_as_current=False)
    assert queue_names(app, {}) == ['celery']
    app.conf.task_queues = {'legacy': {'exchange': 'legacy'}}
    assert queue_names(app, None) == ['celery', 'legacy']


# -- filesystem ---------------------------------------------------------------------------------------------


def test_filesystem_counts_kombu_message_files_per_queue(tmp_path):
    for name in [
        '1700000000000_0b1c.celery.msg',
        '1700000000001_9f2e.celery.msg',
        '1700000000002_aa.jobs.msg',
        '1700000000003_bb.dotted.queue.name.msg',
        'notes.txt',
        'stray',
    ]:
        (tmp_path / name).write_bytes(b'{}')
    assert count_messages(str(tmp_path)) == {'celery': 2, 'jobs': 1, 'dotted.queue.name': 1}
    broker = FilesystemQueueBroker({'data_folder_in': str(tmp_path)})
    assert asyncio.run(broker.queues(['jobs', 'celery', 'empty'])) == [
        {'name': 'jobs', 'messages': 1},
        {'name': 'celery', 'messages': 2},
        {'name': 'empty', 'messages': 0},
    ]


def test_filesystem_missing_folder_is_a_clear_error(tmp_path):
    broker = FilesystemQueueBroker({'data_folder_in': str(tmp_path / 'nope')})
    with pytest.raises(BrokerError, match="data_folder_in .*nope' does not exist"):
        asyncio.run(broker.queues(['celery']))


# -- Flower's public names ----------------------------------------------------------------------------------


def test_flower_compatibility_names():
    from flower.utils import broker as compat

    redis = compat.Broker(
        'redis://:pw@localhost:6380/3',
        http_api=None,
        broker_options={'global_keyprefix': 'pfx', 'priority_steps': [0, 5]},
        broker_use_ssl=None,
    )
    assert type(redis) is compat.Redis and isinstance(redis, compat.BrokerBase)
    assert isinstance(redis, compat.RedisBase)
    assert (redis.host, redis.port, redis.vhost, redis.password, redis.db) == ('localhost', 6380, '3', 'pw', 3)
    assert (redis.priority_steps, redis.broker_prefix, redis.sep) == ([0, 5], 'pfx', '\x06\x16')

    assert type(compat.Broker('redis://h/0', broker_use_ssl={'ssl_cert_reqs': 'none'})) is compat.RedisSsl
    assert type(compat.Broker('rediss://h/0')) is compat.RedisSsl
    assert type(compat.Broker('redis+socket:///tmp/r.sock')) is compat.RedisSocket
    assert type(compat.Broker('sentinel://h:26379', broker_options={'master_name': 'm'})) is compat.RedisSentinel
    rabbit = compat.Broker('amqp://guest:guest@localhost:5672//', 'http://a:b@localhost:15672/api/')
    assert type(rabbit) is compat.RabbitMQ and rabbit.http_api == 'http://a:b@localhost:15672/api/'
    assert rabbit.adapter.username == 'a'
    with pytest.raises(NotImplementedError, match="'sqs' broker is not supported"):
        compat.Broker('sqs://')
    with pytest.raises(ValueError, match='Redis SSL broker requires broker_use_ssl'):
        compat.RedisSsl('redis://h/0')
    with pytest.raises(ValueError, match='master_name is required'):
        compat.RedisSentinel('sentinel://h:26379')
