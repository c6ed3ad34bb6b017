"""Queue lengths on RabbitMQ (``amqp://``, ``amqps://``, ``pyamqp://``), read from its management HTTP API.

AMQP itself can only report a queue's ready messages by declaring it; the management API reports every
queue of a vhost in one request, with ``messages``, ``messages_ready``, ``messages_unacknowledged``,
``consumers``, ``idle_since`` and the rest, which the broker page shows as they are.

Which API: ``--broker_api`` when given, else ``http://<broker host>:15672/api/`` (Flower 2.2's default; 2.1
wrongly reused the AMQP port). Credentials in the API URL win over the broker's. Unlike Flower, which logs
and shows an empty table, an API that cannot be reached or refuses the credentials raises a
:class:`~flower.brokers.errors.BrokerError` saying so, without the password.

Every queue of the vhost is listed, not only the ones asked for (those come first, the others after them in
name order): a queue with messages and no consumer is exactly the one an operator needs to see. Celery's own
plumbing (``celeryev.*`` event queues, ``*.pidbox`` control queues, exclusive and server-named queues) is
left out, and at most :data:`MAX_OTHER_QUEUES` others are added (they become labels of the gauge).

When the management API is missing or refuses (not reachable, 401, 403, 404, not JSON), the lengths are read
over AMQP instead (:mod:`flower.brokers.amqp_counts`, passive declares of the named queues, on a worker
thread); ``source`` says which was used and ``source_note`` why. Only when both fail is an error raised,
with both reasons.

Requests go through tornado's ``AsyncHTTPClient`` (no ``tornado.web``) on the IOLoop thread, the only
thread that uses this module's objects.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urljoin, urlsplit, urlunsplit, unquote

from flower.brokers.amqp_counts import amqp_queue_counts
from flower.brokers.base import QueueBroker
from flower.brokers.errors import BrokerConfigError, BrokerError, BrokerUnreachable
from flower.brokers.urls import parse_broker_url

AMQP_SCHEMES = ('amqp', 'amqps', 'pyamqp', 'librabbitmq')
MANAGEMENT_PORT = 15672
CONNECT_TIMEOUT = 1.0
REQUEST_TIMEOUT = 2.0
ENABLE_HINT = 'Enable it with `rabbitmq-plugins enable rabbitmq_management` or pass --broker_api'
# A big vhost answers with megabytes of JSON; decoding that on the IOLoop would stall every request.
_PARSE_OFF_LOOP_BYTES = 1 << 20
#: How many queues nobody asked about are listed (each one is a label value of flower_queue_length).
MAX_OTHER_QUEUES = 1000
MANAGEMENT_API = 'management-api'
AMQP = 'amqp'


def validate_broker_api(url: str | None) -> str | None:
    """Check ``--broker_api`` at start-up; returns it unchanged (``None`` when not set).

    Raises :class:`BrokerConfigError` ``Invalid '--broker-api' option: ...`` for a scheme other than
    http/https, no host, or a bad port (Flower 2.2 exits 1 on these)."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError as exc:
        raise BrokerConfigError(f"Invalid '--broker-api' option: {_redact(url)}: {exc}") from None
    if parts.scheme not in ('http', 'https'):
        raise BrokerConfigError(
            f"Invalid '--broker-api' option: {_redact(url)} must be an http:// or https:// "
            'URL, e.g. http://guest:guest@localhost:15672/api/'
        )
    if not parts.hostname:
        raise BrokerConfigError(f"Invalid '--broker-api' option: {_redact(url)} has no host")
    return url


class RabbitMQQueueBroker(QueueBroker):
    """Queue objects of one vhost from the RabbitMQ management API (the requested names first, then the
    vhost's other queues), or the requested queues' counts over AMQP when the API can't answer."""

    transport = 'amqp'
    source = MANAGEMENT_API

    def __init__(
        self,
        broker_url: str,
        broker_api: str | None = None,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        request_timeout: float = REQUEST_TIMEOUT,
        validate_cert: bool = True,
        broker_use_ssl: Any = None,
    ):
        self._broker_url = broker_url.split(';')[0]
        self.broker_use_ssl = broker_use_ssl
        broker = parse_broker_url(self._broker_url)
        self.broker_location = broker.netloc(default_port=5672) + '/' + (broker.vhost or '')
        self.vhost = broker.vhost or '/'
        username, password = broker.username or 'guest', broker.password or 'guest'
        if broker_api:
            validate_broker_api(broker_api)
            api = urlsplit(broker_api)
            if api.username is not None:
                username, password = unquote(api.username), unquote(api.password or '')
            host = api.hostname or ''  # validate_broker_api refused a URL without a host
            netloc = host if ':' not in host else f'[{host}]'
            if api.port:
                netloc += f':{api.port}'
            # Flower resolves 'queues/<vhost>' against the API URL; '/api' without its slash would lose it.
            path = api.path + '/' if api.path.endswith('/api') else (api.path or '/')
            self.api_url = urlunsplit((api.scheme, netloc, path, '', ''))
        else:
            host = broker.host or 'localhost'
            self.api_url = f'http://{f"[{host}]" if ":" in host else host}:{MANAGEMENT_PORT}/api/'
        self.username = username
        self._password = password
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.validate_cert = validate_cert

    @property
    def location(self) -> str:
        return self.api_url

    @property
    def queues_url(self) -> str:
        return urljoin(self.api_url, 'queues/' + quote(self.vhost, safe=''))

    async def queues(self, names: Sequence[str]) -> list[dict]:
        names = list(names)
        try:
            listed = await self._fetch_vhost_queues()
        except BrokerConfigError:
            raise
        except BrokerError as api_error:
            answer = await self._amqp_queues(names, api_error)
            self.source, self.source_note = AMQP, f'{api_error}. Read over AMQP instead (ready messages only).'
            return answer
        self.source, self.source_note = MANAGEMENT_API, None
        by_name = {queue.get('name'): queue for queue in listed if isinstance(queue, dict)}
        asked = set(names)
        others = sorted(
            name
            for name, queue in by_name.items()
            if isinstance(name, str) and name not in asked and not is_internal_queue(queue)
        )
        return [by_name[name] for name in names + others[:MAX_OTHER_QUEUES] if name in by_name]

    async def _amqp_queues(self, names: list[str], api_error: BrokerError) -> list[dict]:
        if not names:
            return []
        try:
            return await asyncio.to_thread(
                amqp_queue_counts, self._broker_url, names, ssl=self.broker_use_ssl, location=self.broker_location
            )
        except BrokerError as amqp_error:
            raise type(amqp_error)(f'{api_error}. Reading over AMQP failed too: {amqp_error}') from None

    async def _fetch_vhost_queues(self) -> list[Any]:
        from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

        token = base64.b64encode(f'{self.username}:{self._password}'.encode()).decode()
        request = HTTPRequest(
            self.queues_url,
            headers={'Authorization': f'Basic {token}', 'Accept': 'application/json'},
            connect_timeout=self.connect_timeout,
            request_timeout=self.request_timeout,
            validate_cert=self.validate_cert,
            follow_redirects=False,
        )
        where = f'RabbitMQ management API at {self.api_url}'
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except HTTPClientError as exc:  # 599: timeouts and dropped connections
            raise BrokerUnreachable(f'{where} could not be reached: {exc.message or exc}. {ENABLE_HINT}') from None
        except OSError as exc:  # refused, unresolvable host, TLS failure
            raise BrokerUnreachable(f'{where} could not be reached: {exc}. {ENABLE_HINT}') from None
        if response.code == 599:  # tornado reports some transport errors as a response
            raise BrokerUnreachable(f'{where} could not be reached: {response.error}. {ENABLE_HINT}')
        if response.code == 401:
            raise BrokerError(f'{where} refused the credentials of user {self.username!r} (401)')
        if response.code == 403:
            raise BrokerError(
                f'{where} refused access to vhost {self.vhost!r} for user {self.username!r} (403): '
                "the user needs the 'monitoring' or 'management' tag"
            )
        if response.code == 404:
            raise BrokerError(f'{where} knows no vhost {self.vhost!r} (404)')
        if response.code != 200:
            raise BrokerError(f'{where} answered {response.code} {response.reason}: {_snippet(response.body)}')
        body = response.body or b''
        try:
            if len(body) > _PARSE_OFF_LOOP_BYTES:
                queues = await asyncio.to_thread(json.loads, body)
            else:
                queues = json.loads(body)
        except ValueError:
            raise BrokerError(
                f'{where} did not answer with JSON; is --broker_api the management API URL '
                f'(e.g. http://guest:guest@localhost:15672/api/)?'
            ) from None
        if not isinstance(queues, list):
            raise BrokerError(f'{where} answered {type(queues).__name__} instead of a list of queues')
        return queues


def is_internal_queue(queue: dict) -> bool:
    """Celery's plumbing rather than a work queue: event and control (pidbox) queues, reply queues, and
    exclusive or server-named (``amq.gen-...``) queues, which belong to one connection."""
    name = str(queue.get('name') or '')
    return name.startswith(('celeryev.', 'amq.gen-')) or name.endswith('.pidbox') or bool(queue.get('exclusive'))


def _snippet(body: bytes | None, limit: int = 200) -> str:
    text = (body or b'').decode('utf-8', 'replace').strip()
    return text[:limit] + ('...' if len(text) > limit else '')


def _redact(url: str) -> str:
    """The URL with any password replaced by ``**`` (for messages about a URL we could not use)."""
    return re.sub(r'^([^:/]*://[^:/@]*:)[^/]*@', r'\1**@', url)
