"""Parsing the broker URL the adapters are given (kombu's password-bearing ``as_uri``) into its parts.

Pure functions, no I/O; any thread may call them.

Why not ``urllib.parse.urlsplit``: its ``hostname`` lower-cases and does not percent-decode, and kombu writes
an IPv6 host as ``%3A%3A1`` and a vhost of ``/`` as a path of ``//``. The rules here are Flower's: host,
user and password are percent-decoded, ``[::1]`` is accepted, the vhost is the path without its first ``/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote

from flower.brokers.errors import BrokerConfigError


@dataclass(frozen=True)
class BrokerURL:
    scheme: str
    host: str | None
    port: int | None
    username: str | None
    password: str | None = field(repr=False)
    path: str  # raw, still percent-encoded, with its leading '/' ('' when the URL has none)
    query: dict[str, str]

    @property
    def vhost(self) -> str:
        """The path without its leading ``/``, percent-decoded (``amqp://h//`` -> ``/``, ``redis://h/3`` -> ``3``)."""
        return unquote(self.path[1:] if self.path.startswith('/') else self.path)

    def netloc(self, default_host: str = 'localhost', default_port: int | None = None) -> str:
        """``host:port`` for messages and derived URLs (IPv6 in brackets), never with credentials."""
        host = self.host or default_host
        if ':' in host:
            host = f'[{host}]'
        port = self.port or default_port
        return f'{host}:{port}' if port else host

    def redacted(self) -> str:
        """The URL for logs and error messages: the password is replaced by ``**``."""
        auth = ''
        if self.username or self.password:
            auth = quote(self.username or '', safe='') + (':**' if self.password else '') + '@'
        host = self.netloc(default_host='') if self.host or self.port else ''
        return f'{self.scheme}://{auth}{host}{self.path}'


def parse_broker_url(url: str) -> BrokerURL:
    """Split one broker URL. Raises :class:`BrokerConfigError` (without echoing a password) when it has no
    scheme or a port that is not a number."""
    scheme, sep, rest = url.partition('://')
    if not sep or not scheme:
        raise BrokerConfigError('Invalid broker URL: it must look like <transport>://[user:password@]host[:port]/...')
    rest, _, query_string = rest.partition('?')
    # The authority ends at the first '/': kombu percent-encodes '/' inside user names and passwords.
    authority, slash, path = rest.partition('/')
    userinfo, at, hostport = authority.rpartition('@')
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(':')
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    host, port = _split_host_port(hostport, scheme)
    return BrokerURL(
        scheme=scheme.lower(),
        host=host,
        port=port,
        username=username,
        password=password,
        path=slash + path,
        query=dict(parse_qsl(query_string, keep_blank_values=True)),
    )


def _split_host_port(hostport: str, scheme: str) -> tuple[str | None, int | None]:
    port_text = ''
    if hostport.startswith('['):  # [::1]:6379
        host, _, after = hostport[1:].partition(']')
        port_text = after[1:] if after.startswith(':') else ''
    elif hostport.count(':') == 1:
        host, _, port_text = hostport.partition(':')
    else:  # no port, or a bare IPv6 address without brackets (then no port can be told apart)
        host = hostport
    port = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise BrokerConfigError(
                f'Invalid broker URL: port {port_text!r} of the {scheme}:// URL is not a number between 1 and 65535'
            )
        port = int(port_text)
    return (unquote(host) or None), port
