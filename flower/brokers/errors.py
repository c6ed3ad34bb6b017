"""The errors a queue-length adapter raises, one family so callers catch one thing.

The web layer maps them to answers in one place: :class:`UnsupportedBroker` is "not supported" (Flower 2.2
answers 404 with its message), :class:`BrokerConfigError` is a start-up or configuration mistake, and the
rest of :class:`BrokerError` means the broker (or its management API) could not tell us the lengths now.

Every message is written for an operator and never contains a password.
"""

from __future__ import annotations


class BrokerError(Exception):
    """Queue lengths could not be read; ``str(error)`` says why, in words an operator can act on."""


class BrokerUnreachable(BrokerError):
    """The broker (or its management API) did not answer: refused, timed out, name not resolved."""


class BrokerConfigError(BrokerError, ValueError):
    """The broker URL or an option is wrong (bad db number, malformed ``--broker_api``, missing
    ``master_name``). Also a ValueError, which is what Flower raised for these."""


class UnsupportedBroker(BrokerError, NotImplementedError):
    """No queue-length adapter for this transport. Also a NotImplementedError, which is what Flower's
    ``Broker`` factory raised, so code written against Flower keeps catching it."""

    def __init__(self, transport: str):
        self.transport = transport
        super().__init__(f"'{transport}' broker is not supported")
