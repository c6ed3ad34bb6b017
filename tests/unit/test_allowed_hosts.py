"""``--allowed_hosts`` without HTTP: how entries and Host headers are read, which names pass, the default for
each way of binding, and option validation."""

from __future__ import annotations

import pytest

from flower.options import OptionError, Options, validate
from flower.utils.hosts import ANY_HOST, LOOPBACK_ONLY, AllowedHosts, allowed_hosts_for, is_loopback_address, split_host


@pytest.mark.parametrize(
    'header, host',
    [
        ('localhost', 'localhost'),
        ('LocalHost:5555', 'localhost'),
        ('example.com.', 'example.com'),  # the fully qualified form
        ('127.0.0.1:80', '127.0.0.1'),
        ('[::1]', '[::1]'),
        ('[::1]:5555', '[::1]'),
        ('[0:0:0:0:0:0:0:1]:5555', '[::1]'),  # one address, one spelling
        ('::1', '[::1]'),  # a bare IPv6 entry
        ('', None),
        ('   ', None),
        ('[::1', None),
        ('[::1]x', None),
        ('[not-v6]', None),
        ('host:port', None),
        ('host:-1', None),
        ('host:1234567', None),
        ('evil.com/x', None),
        ('<script>', None),
        ('exämple.com', None),  # browsers send IDNA (xn--), never raw non-ASCII
        ('a' * 300, None),
        (None, None),
    ],
)
def test_split_host(header, host):
    assert split_host(header) == host


def test_entries_match_exact_names_domains_and_addresses_ignoring_case_ports_and_a_trailing_dot():
    allowed = AllowedHosts.parse(
        ['flower.example.com', '.corp.example', '10.0.0.5', '[2001:db8::1]', 'Mixed.Example:8080']
    )
    for host in (
        'flower.example.com',
        'FLOWER.example.com:443',
        'flower.example.com.',
        'corp.example',
        'a.corp.example',
        'a.b.corp.example:5555',
        '10.0.0.5:5555',
        '[2001:db8:0::1]:80',
        'mixed.example',
    ):
        assert allowed.allows(host), host
    for host in (
        'example.com',
        'evil-flower.example.com',
        'flower.example.com.evil.com',
        'xcorp.example',
        'corp.example.evil',
        '10.0.0.6',
        '[2001:db8::2]',
        'localhost',
        '127.0.0.1',
        '',
        None,
        'flower.example.com/x',
        '[2001:db8::1',
    ):
        assert not allowed.allows(host), host


def test_a_star_allows_anything_even_a_malformed_header():
    allowed = AllowedHosts.parse(['flower.example.com', '*'])
    assert allowed.any_host and allowed.allows('anything.at.all') and allowed.allows('')


@pytest.mark.parametrize(
    'host, allowed',
    [
        ('localhost', True),
        ('localhost:5555', True),
        ('LOCALHOST', True),
        ('127.0.0.1', True),
        ('127.0.0.1:5555', True),
        ('127.1.2.3', True),
        ('[::1]:5555', True),
        ('flower.localhost', True),
        ('a.b.localhost:80', True),
        ('localhost.evil.com', False),
        ('evil-localhost', False),
        ('128.0.0.1', False),
        ('0.0.0.0', False),
        ('10.0.0.1', False),
        ('2130706433', False),  # 127.0.0.1 written as one number is a name, not an address
        ('127.0.0.1.evil.com', False),
        ('[::2]', False),
        ('[::ffff:127.0.0.1]', False),
        ('rebind.example', False),
    ],
)
def test_the_loopback_default(host, allowed):
    assert LOOPBACK_ONLY.allows(host) is allowed


@pytest.mark.parametrize(
    'address, loopback',
    [
        ('127.0.0.1', True),
        ('127.0.1.1', True),
        ('::1', True),
        ('[::1]', True),
        ('localhost', True),
        ('LOCALHOST', True),
        ('', False),
        (None, False),
        ('0.0.0.0', False),
        ('::', False),
        ('10.1.2.3', False),
        ('flower.example.com', False),
    ],
)
def test_is_loopback_address(address, loopback):
    assert is_loopback_address(address) is loopback


@pytest.mark.parametrize(
    'entries, address, unix_socket, authenticated, expected',
    [
        ([], '127.0.0.1', '', False, LOOPBACK_ONLY),
        ([], 'localhost', '', False, LOOPBACK_ONLY),
        ([], '::1', '', False, LOOPBACK_ONLY),
        ([], '', '', False, ANY_HOST),  # all interfaces
        ([], '0.0.0.0', '', False, ANY_HOST),
        ([], '127.0.0.1', '', True, ANY_HOST),  # credentials protect it
        ([], '127.0.0.1', '/run/flower.sock', False, ANY_HOST),  # a proxy sends the public name
        (['*'], '127.0.0.1', '', False, ANY_HOST),
    ],
)
def test_the_default_depends_on_authentication_and_the_bound_address(
    entries, address, unix_socket, authenticated, expected
):
    assert allowed_hosts_for(entries, address, unix_socket, authenticated) == expected


def test_a_given_list_replaces_the_default_whatever_the_binding():
    allowed = allowed_hosts_for(['flower.example.com'], '127.0.0.1', '', False)
    assert allowed.allows('flower.example.com') and not allowed.allows('localhost')
    assert allowed.description == 'flower.example.com'


@pytest.mark.parametrize(
    'entries, complaint',
    [
        (['flower.example.com/'], "'flower.example.com/' is not a host name"),
        (['http://flower.example.com'], "'http://flower.example.com' is not a host name"),
        (['.'], "'.' is not a host name"),
        (['..example.com'], "'..example.com' is not a host name"),
        (['.[::1]'], "'.[::1]' is not a host name"),
        (['[::1'], "'[::1' is not a host name"),
        ([' ', ''], 'the list is empty'),
    ],
)
def test_bad_entries_are_refused_saying_which(entries, complaint):
    with pytest.raises(ValueError, match=complaint.replace('[', r'\[').replace('.', r'\.')):
        AllowedHosts.parse(entries)


def test_the_option_is_validated_at_start_up():
    validate(Options({'allowed_hosts': ['flower.example.com', '.example.org', '*']}))
    with pytest.raises(OptionError, match=r"Invalid '--allowed_hosts': 'https://x' is not a host name"):
        validate(Options({'allowed_hosts': ['https://x']}))
    assert Options().allowed_hosts == []


def test_a_refused_host_is_answered_in_the_error_format_of_the_route_it_asked_for():
    import tornado.web
    import tornado.websocket

    from flower.api import BaseApiHandler
    from flower.api.workers import ListWorkers
    from flower.views import BaseHandler
    from flower.views.live import LiveChannel
    from flower.views.monitor import Metrics
    from flower.views.security import RefuseHost, host_refusal
    from flower.views.tasks import TasksDataTable
    from flower.views.workers import WorkersView

    assert host_refusal(ListWorkers).__mro__[1:3] == (RefuseHost, BaseApiHandler)  # text, as the API answers
    assert host_refusal(TasksDataTable).__mro__[1:3] == (RefuseHost, TasksDataTable)
    assert host_refusal(Metrics).__mro__[1:3] == (RefuseHost, Metrics)  # text, as its other errors
    assert host_refusal(Metrics).error_format == 'text'
    for page in (WorkersView, LiveChannel, tornado.web.StaticFileHandler, None):
        refusal = host_refusal(page)
        assert refusal.__mro__[1:3] == (RefuseHost, BaseHandler), page  # the HTML error page
        assert not issubclass(refusal, (tornado.websocket.WebSocketHandler, tornado.web.StaticFileHandler))
    assert host_refusal(ListWorkers) is host_refusal(ListWorkers)  # one class per family
