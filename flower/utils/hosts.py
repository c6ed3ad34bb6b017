"""``--allowed_hosts``: which names in a request's ``Host`` header this server answers to (like Django's
``ALLOWED_HOSTS``), and the default when the option is not set.

Why: a dashboard bound to 127.0.0.1 without authentication is still readable by any web page its operator
visits, through DNS rebinding: the page's own name is re-pointed at 127.0.0.1, so the browser sends the
requests (same-origin, as far as it knows) to Flower with ``Host: attacker.example``. Refusing names that are
not ours stops that; the browser cannot forge the ``Host`` header.

Entries (comma-separated): ``*`` allows any name; ``.example.com`` allows ``example.com`` and every subdomain;
anything else is one exact name or IP address. Case and a trailing dot do not matter, ports are ignored (in
the header and in entries), IPv6 addresses are written in brackets (``[::1]``; a bare ``::1`` entry is read as
one too) and compared in their canonical form.

Default (:func:`allowed_hosts_for`): with no authentication (no ``--basic_auth``, no ``--auth``) and a
loopback ``--address`` (``127.x.x.x``, ``::1``, ``localhost``), only loopback names: ``localhost``, names
ending in ``.localhost``, any ``127.x.x.x`` and ``[::1]``. Otherwise any name: with authentication a rebinding
page gets nothing without the credentials, on all interfaces (``--address`` unset) the dashboard is reachable
by any name anyway, and a ``--unix_socket`` is reached through a proxy that sends the public name.

Plain Python (L0), used by option validation at start-up and by the application on the IOLoop thread.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterable

LOOPBACK_V4 = ipaddress.ip_network('127.0.0.0/8')
LOOPBACK_DESCRIPTION = 'localhost, *.localhost, 127.x.x.x and [::1]'
MAX_HOST_LENGTH = 255


def split_host(value: str | None) -> str | None:
    """The host part of a ``Host`` header or an entry, normalised (lower case, no port, no trailing dot, IPv6
    as ``[canonical]``); None when it is not a host at all (empty, a bad bracket, a bad port, odd characters)."""
    if value is None:
        return None
    value = value.strip().lower()
    if not value or len(value) > MAX_HOST_LENGTH + 7:
        return None
    if value.startswith('['):
        end = value.find(']')
        if end < 0 or not _port_ok(value[end + 1 :]):
            return None
        try:
            address = ipaddress.IPv6Address(value[1:end])
        except ValueError:
            return None
        return f'[{address.compressed}]'
    if value.count(':') > 1:  # a bare IPv6 address (never valid in a Host header, accepted in an entry)
        try:
            return f'[{ipaddress.IPv6Address(value).compressed}]'
        except ValueError:
            return None
    name, colon, port = value.partition(':')
    if colon and not _port_ok(':' + port):
        return None
    name = name[:-1] if name.endswith('.') else name
    if not name or len(name) > MAX_HOST_LENGTH or not all(c.isascii() and (c.isalnum() or c in '-._') for c in name):
        return None
    return name


def _port_ok(rest: str) -> bool:
    return rest == '' or (rest.startswith(':') and rest[1:].isascii() and rest[1:].isdigit() and len(rest) <= 6)


def _ipv4(name: str) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(name)
    except ValueError:
        return None


@dataclass(frozen=True)
class AllowedHosts:
    """A parsed allow-list. ``any_host``: everything passes; ``names``: exact names; ``domains``: a name equal
    to one of these or ending in ``.`` + one; ``loopback_addresses``: any 127.x.x.x (the loopback default)."""

    any_host: bool = False
    names: frozenset = frozenset()
    domains: tuple = ()
    loopback_addresses: bool = False
    description: str = ''

    @classmethod
    def parse(cls, entries: Iterable[str]) -> 'AllowedHosts':
        """``--allowed_hosts`` entries; raises ValueError naming the first entry that is not a host name."""
        names, domains, kept = set(), [], []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            kept.append(entry)
            if entry == '*':
                return ANY_HOST
            domain = entry.startswith('.')
            host = split_host(entry[1:] if domain else entry)
            if host is None or (domain and host.startswith('[')) or host.startswith('.'):
                raise ValueError(f'{entry!r} is not a host name, .domain, IP address or *')
            if domain:
                domains.append(host)
            else:
                names.add(host)
        if not kept:
            raise ValueError('the list is empty (use * to allow any name)')
        return cls(names=frozenset(names), domains=tuple(domains), description=', '.join(kept))

    def allows(self, host_header: str | None) -> bool:
        if self.any_host:
            return True
        host = split_host(host_header)
        if host is None:
            return False
        if host in self.names:
            return True
        if any(host == domain or host.endswith('.' + domain) for domain in self.domains):
            return True
        if self.loopback_addresses:
            address = _ipv4(host)
            return address is not None and address in LOOPBACK_V4
        return False


ANY_HOST = AllowedHosts(any_host=True, description='any name')
LOOPBACK_ONLY = AllowedHosts(
    names=frozenset({'localhost', '[::1]'}),
    domains=('localhost',),
    loopback_addresses=True,
    description=LOOPBACK_DESCRIPTION,
)


def is_loopback_address(address: str | None) -> bool:
    """Does ``--address`` bind loopback only? ``''`` (all interfaces) does not."""
    if not address:
        return False
    host = address.strip().lower().strip('[]')
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts_for(
    entries: Iterable[str] | None, address: str | None, unix_socket: str | None, authenticated: bool
) -> AllowedHosts:
    """The allow-list in force: ``--allowed_hosts`` when given, else the default described above."""
    entries = [entry for entry in (entries or ()) if entry and entry.strip()]
    if entries:
        return AllowedHosts.parse(entries)
    if not authenticated and not unix_socket and is_loopback_address(address):
        return LOOPBACK_ONLY
    return ANY_HOST
