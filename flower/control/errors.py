"""The errors of changing the cluster: each says, in words for the client, why what was asked cannot be done.

Every error of :mod:`flower.control` is a :class:`ControlError` carrying its ``message``; the web layer
(``flower.views.error_status``) gives each class its HTTP status, noted in its docstring. Plain exception classes: any
thread may raise them, none keeps state.
"""

from __future__ import annotations


class ControlError(Exception):
    """Something the client asked for cannot be done; ``message`` says why, in words for the client."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(ControlError):
    """A parameter or body that cannot be used (HTTP 400)."""


class UnknownWorker(ControlError):
    """No such worker (HTTP 404)."""

    def __init__(self, name: str):
        super().__init__(f"Unknown worker '{name}'")
        self.name = name


class UnknownTask(ControlError):
    """No such task name or task id (HTTP 404)."""

    def __init__(self, name: str):
        super().__init__(f"Unknown task '{name}'")
        self.name = name


class CommandFailed(ControlError):
    """The worker refused the command or did not answer (HTTP 403, as Flower)."""


class PoolLimitReached(ControlError):
    """The pool change would take the worker's pool past a limit given its current size (HTTP 409)."""


class NotRetryable(ControlError):
    """The task cannot be re-sent as it was (HTTP 409)."""


class NoResultBackend(ControlError):
    """The operation needs a result backend and none is configured (HTTP 503)."""

    def __init__(self):
        super().__init__('No result backend is configured')


class InvalidOption(InvalidInput, ValueError):
    """A bad value in an apply body. Also a ``ValueError``, which is what code written for Flower catches around
    ``normalize_options``; uncaught it is still our 400."""
