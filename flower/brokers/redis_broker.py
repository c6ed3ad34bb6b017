"""Queue lengths on the Redis family of kombu transports: ``redis://``, ``rediss://`` (or ``redis://`` with
``broker_use_ssl``), ``redis+socket://`` and ``sentinel://``.

kombu keeps a queue as Redis lists, one per priority step: step 0 is ``<global_keyprefix><queue>``, any other
step ``<global_keyprefix><queue><sep><step>``. A queue's length is the sum of ``LLEN`` over its steps, and
every length of every queue is read in one pipelined round trip (10,000 queues x 4 steps is one write and
one read; the sums are done by a short Lua script, see :data:`SUM_LENGTHS_SCRIPT`), with redis-py's retries
off so a dead broker fails within the socket timeouts instead of being retried behind the caller's back.

Building the connection arguments (:func:`redis_connection_spec`) is a pure function so it can be tested
without a server; :class:`RedisQueueBroker` opens an asyncio client per call and is used only on the IOLoop thread.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flower.brokers.base import QueueBroker
from flower.brokers.errors import BrokerConfigError, BrokerError, BrokerUnreachable
from flower.brokers.urls import BrokerURL, parse_broker_url

logger = logging.getLogger(__name__)

PRIORITY_STEPS = (0, 3, 6, 9)
SEP = '\x06\x16'
SOCKET_CONNECT_TIMEOUT = 1.0
SOCKET_TIMEOUT = 2.0
SENTINEL_PORT = 26379
REDIS_PORT = 6379

REDIS_SCHEMES = ('redis', 'rediss', 'redis+socket', 'sentinel')


@dataclass(frozen=True)
class RedisQueueKeys:
    """kombu's key names for a queue: one list per priority step."""

    priority_steps: tuple[int, ...] = PRIORITY_STEPS
    sep: str = SEP
    prefix: str = ''

    @classmethod
    def from_transport_options(cls, options: Mapping[str, Any] | None) -> RedisQueueKeys:
        options = options or {}
        # A step listed twice is one list in Redis; counting it twice would double the queue.
        steps = tuple(dict.fromkeys(int(step) for step in options.get('priority_steps', PRIORITY_STEPS)))
        return cls(
            priority_steps=steps or (0,),
            sep=str(options.get('sep', SEP)),
            prefix=str(options.get('global_keyprefix', '') or ''),
        )

    def for_queue(self, queue: str) -> list[str]:
        return [
            f'{self.prefix}{queue}{self.sep}{step}' if step else f'{self.prefix}{queue}' for step in self.priority_steps
        ]


@dataclass
class RedisConnectionSpec:
    """Everything needed to open the asyncio client, and a password-free ``location`` for messages."""

    kind: str  # 'tcp', 'ssl', 'socket' or 'sentinel'
    location: str
    client_kwargs: dict[str, Any]
    sentinels: list[tuple[str, int]] = field(default_factory=list)
    master_name: str | None = None
    sentinel_kwargs: dict[str, Any] = field(default_factory=dict)


def parse_db(text: str) -> int:
    """The Redis database number from the URL path (``''`` and ``'/'`` are 0, as in kombu)."""
    text = text.strip('/')
    if not text:
        return 0
    try:
        db = int(text)
    except ValueError:
        db = -1
    if db < 0:
        raise BrokerConfigError(
            f'Invalid Redis database in the broker URL: {text!r}. Database is int between 0 and limit - 1, not {text}'
        )
    return db


def redis_connection_spec(
    broker_url: str, transport_options: Mapping[str, Any] | None = None, broker_use_ssl: Any = None
) -> RedisConnectionSpec:
    """Translate a kombu Redis-family URL and Celery's ``broker_transport_options``/``broker_use_ssl`` into
    redis-py arguments. Raises :class:`BrokerConfigError` for a bad db, a missing sentinel ``master_name``
    or an unknown scheme."""
    options = dict(transport_options or {})
    # ';' separates alternative hosts in kombu URLs; sentinel uses them all, the others the first one.
    urls = [parse_broker_url(part) for part in broker_url.split(';') if part.strip()]
    if not urls:
        raise BrokerConfigError('Invalid broker URL: it is empty')
    url = urls[0]
    if url.scheme not in REDIS_SCHEMES:
        raise BrokerConfigError(f"'{url.scheme}://' is not a Redis broker URL")

    common: dict[str, Any] = {
        'username': url.username,
        'password': url.password,
        'socket_timeout': _seconds(options.get('socket_timeout', SOCKET_TIMEOUT)),
        'socket_connect_timeout': _seconds(options.get('socket_connect_timeout', SOCKET_CONNECT_TIMEOUT)),
        'retry': _no_retry(),
    }
    if url.scheme == 'redis+socket':
        path = '/' + url.vhost.lstrip('/')
        db = parse_db(url.query.get('virtual_host', ''))
        return RedisConnectionSpec(
            'socket', f'redis+socket://{path}?virtual_host={db}', {**common, 'unix_socket_path': path, 'db': db}
        )

    db = parse_db(url.vhost)
    ssl_kwargs = _ssl_kwargs(url, broker_use_ssl)
    if url.scheme == 'sentinel':
        master_name = options.get('master_name')
        if not master_name:
            raise BrokerConfigError(
                'master_name is required for Sentinel broker (set broker_transport_options = {\'master_name\': ...})'
            )
        sentinels = [(u.host or 'localhost', u.port or SENTINEL_PORT) for u in urls]
        sentinel_kwargs = {
            'socket_timeout': common['socket_timeout'],
            'socket_connect_timeout': common['socket_connect_timeout'],
            'retry': _no_retry(),
            **(options.get('sentinel_kwargs') or {}),
        }
        hosts = ','.join(u.netloc(default_port=SENTINEL_PORT) for u in urls)
        return RedisConnectionSpec(
            'sentinel',
            f'sentinel://{hosts}/{db} (master {master_name!r})',
            {**common, 'db': db, **ssl_kwargs},
            sentinels=sentinels,
            master_name=str(master_name),
            sentinel_kwargs=sentinel_kwargs,
        )

    kind = 'ssl' if ssl_kwargs else 'tcp'
    netloc = url.netloc(default_port=REDIS_PORT)
    return RedisConnectionSpec(
        kind,
        f'{"rediss" if ssl_kwargs else "redis"}://{netloc}/{db}',
        {**common, 'host': url.host or 'localhost', 'port': url.port or REDIS_PORT, 'db': db, **ssl_kwargs},
    )


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value)


def _no_retry():
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return Retry(NoBackoff(), 0)


# Celery users write the amqp-style names too; redis-py wants them with an ``ssl_`` prefix.
_SSL_ALIASES = {
    'keyfile': 'ssl_keyfile',
    'certfile': 'ssl_certfile',
    'ca_certs': 'ssl_ca_certs',
    'cert_reqs': 'ssl_cert_reqs',
}
_CERT_REQS = {
    'none': ssl.CERT_NONE,
    'cert_none': ssl.CERT_NONE,
    'optional': ssl.CERT_OPTIONAL,
    'cert_optional': ssl.CERT_OPTIONAL,
    'required': ssl.CERT_REQUIRED,
    'cert_required': ssl.CERT_REQUIRED,
}


def _ssl_kwargs(url: BrokerURL, broker_use_ssl: Any) -> dict[str, Any]:
    """``{}`` for plain TCP; otherwise ``ssl=True`` plus the certificate settings.

    TLS is on for ``rediss://`` or a truthy ``broker_use_ssl`` (a dict of settings, or ``True`` for the
    defaults, which verify the server certificate). Settings in the URL query (``?ssl_cert_reqs=required``)
    are read too, though kombu's ``as_uri`` drops them; ``broker_use_ssl`` wins over the query.
    """
    query = {key: value for key, value in url.query.items() if key.startswith('ssl_')}
    if url.scheme != 'rediss' and not broker_use_ssl:
        return {}
    # broker_use_ssl values are the user's objects (``ssl.CERT_REQUIRED``, paths...), not only query text
    settings: dict[str, object] = dict(query)
    if isinstance(broker_use_ssl, Mapping):
        settings.update(broker_use_ssl)
    kwargs: dict[str, Any] = {'ssl': True}
    for key, value in settings.items():
        key = _SSL_ALIASES.get(key, key)
        if not key.startswith('ssl_'):
            continue  # not a redis-py TLS setting (e.g. 'server_hostname' for amqp)
        if key == 'ssl_cert_reqs' and isinstance(value, str):
            value = _CERT_REQS.get(value.lower(), value)
        kwargs[key] = value
    if url.scheme == 'sentinel' and not isinstance(broker_use_ssl, Mapping) and not query:
        return {}  # Flower's rule: a sentinel's master is reached over TLS only with a dict of settings
    return kwargs


# Summing the steps of each queue on the server: redis-py spends ~25 us of Python per pipelined command
# (packing, a timeout context and a parse per reply), so 40,000 LLEN replies take about a second, while one
# EVAL per chunk of queues answers the same question in a tenth of that. LLEN through ``pcall`` so that a
# key of another type under a queue's name counts 0 instead of failing the whole table.
SUM_LENGTHS_SCRIPT = """
local steps = tonumber(ARGV[1])
local sums = {}
for first = 1, #KEYS, steps do
  local total = 0
  for i = first, first + steps - 1 do
    local n = redis.pcall('LLEN', KEYS[i])
    if type(n) == 'number' then total = total + n end
  end
  sums[#sums + 1] = total
end
return sums
"""
#: Queues per EVAL: bounds how long one script holds the (single-threaded) server, about a millisecond.
QUEUES_PER_SCRIPT = 1000


class RedisQueueBroker(QueueBroker):
    """Queue lengths from a Redis-family broker.

    All queues are counted in one pipelined round trip: one EVAL of :data:`SUM_LENGTHS_SCRIPT` per
    :data:`QUEUES_PER_SCRIPT` queues. A server that refuses scripts (an ACL without ``@scripting``, a
    Redis-compatible server without Lua) is asked with plain pipelined ``LLEN`` instead, from then on.

    Each call opens a client, asks, and closes it. A pooled connection would save a loopback connect per
    call (the monitor's cache makes calls rare anyway), but with retries off a connection left over from
    before a Redis restart fails the first call after it; a fresh connection reads a restarted Redis at once.
    """

    transport = 'redis'
    source = 'redis'

    def __init__(self, broker_url: str, transport_options: Mapping[str, Any] | None = None, broker_use_ssl: Any = None):
        self.spec = redis_connection_spec(broker_url, transport_options, broker_use_ssl)
        self.keys = RedisQueueKeys.from_transport_options(transport_options)
        self.use_script = True

    @property
    def location(self) -> str:
        return self.spec.location

    async def queues(self, names: Sequence[str]) -> list[dict]:
        names = list(names)
        if not names:
            return []
        client, sentinel = _open_client(self.spec)
        try:
            lengths = await self._lengths(client, names)
        finally:
            await _close_client(client, sentinel)
        return [{'name': name, 'messages': messages} for name, messages in zip(names, lengths)]

    async def _lengths(self, client, names: list[str]) -> list[int]:
        if self.use_script:
            replies = await self._pipeline(client, self._queue_scripts, names)
            if not any(isinstance(reply, Exception) for reply in replies):
                return [n for reply in replies for n in reply]
            self._check_replies(replies, scripted=True)
            script_error = next(reply for reply in replies if isinstance(reply, Exception))
        replies = await self._pipeline(client, self._queue_llens, names)
        self._check_replies(replies, scripted=False)
        if self.use_script:
            # LLEN worked where the script did not: the server refuses scripts, not a passing hiccup.
            logger.info(
                'Redis at %s refused the queue-length script (%s); counting with LLEN from now on',
                self.location,
                script_error,
            )
            self.use_script = False
        steps = len(self.keys.priority_steps)
        return [sum(_list_length(reply) for reply in replies[i : i + steps]) for i in range(0, len(replies), steps)]

    def _queue_scripts(self, pipe, names: list[str]) -> None:
        steps = len(self.keys.priority_steps)
        for first in range(0, len(names), QUEUES_PER_SCRIPT):
            keys = [key for name in names[first : first + QUEUES_PER_SCRIPT] for key in self.keys.for_queue(name)]
            pipe.eval(SUM_LENGTHS_SCRIPT, len(keys), *keys, steps)

    def _queue_llens(self, pipe, names: list[str]) -> None:
        for name in names:
            for key in self.keys.for_queue(name):
                pipe.llen(key)

    async def _pipeline(self, client, queue_commands, names: list[str]) -> list:
        """Send every command in one round trip. Connection-level failures raise a BrokerError;
        per-command errors come back in the list."""
        import redis.exceptions as rex

        try:
            async with client.pipeline(transaction=False) as pipe:
                queue_commands(pipe, names)
                return await pipe.execute(raise_on_error=False)
        except rex.AuthenticationError as exc:
            raise BrokerError(f'Redis at {self.location} refused the credentials: {exc}') from None
        except (rex.TimeoutError, asyncio.TimeoutError) as exc:
            option = 'socket_connect_timeout' if 'connecting' in str(exc) else 'socket_timeout'
            seconds = self.spec.client_kwargs.get(option)
            raise BrokerUnreachable(
                f'Redis at {self.location} did not answer within {seconds} s ({option}): {exc or "timed out"}'
            ) from None
        except (rex.ConnectionError, OSError) as exc:
            raise BrokerUnreachable(f'Redis at {self.location} could not be reached: {exc}') from None
        except rex.RedisError as exc:
            raise BrokerError(f'Redis at {self.location} failed to report queue lengths: {exc}') from None

    def _check_replies(self, replies: list, scripted: bool) -> None:
        """Raise for errors that would fail any command (credentials, a db the server lacks); with
        ``scripted`` other errors are left for the LLEN fallback to settle."""
        for reply in replies:
            if not isinstance(reply, Exception) or _is_wrong_type(reply):
                continue
            if str(reply).startswith(('NOAUTH', 'WRONGPASS')):
                raise BrokerError(f'Redis at {self.location} refused the credentials: {reply}')
            if not scripted:
                raise BrokerError(f'Redis at {self.location} failed to report queue lengths: {reply}')


def _open_client(spec: RedisConnectionSpec):
    """(client, sentinel-or-None). Opening does no I/O: redis-py connects on the first command."""
    import redis.asyncio as aioredis

    if spec.kind == 'sentinel':
        from redis.asyncio.sentinel import Sentinel

        sentinel = Sentinel(spec.sentinels, sentinel_kwargs=dict(spec.sentinel_kwargs), **spec.client_kwargs)
        assert spec.master_name is not None, 'redis_connection_spec refuses a sentinel URL without master_name'
        return sentinel.master_for(spec.master_name), sentinel
    return aioredis.Redis(**spec.client_kwargs), None


async def _close_client(client, sentinel) -> None:
    await client.aclose()
    for sentinel_client in getattr(sentinel, 'sentinels', None) or ():
        await sentinel_client.aclose()


def _is_wrong_type(reply: Exception) -> bool:
    # A key of another type under a queue's name (a clash with some other application's key) holds no
    # messages of this queue; counting it as 0 beats failing the whole table.
    return str(reply).startswith('WRONGTYPE')


def _list_length(reply: Any) -> int:
    return reply if isinstance(reply, int) else 0
