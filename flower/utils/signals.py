"""Named subscriptions: how the parts of the runtime are connected (see :mod:`flower.runtime`).

A :class:`Signal` is a point where a part says "this happened" (``events.on_applied``, ``state.on_node_join``,
``events.on_reconnect``) and other parts subscribe to it (``events.on_applied.subscribe(live.on_events_applied)``).
The part that emits knows nothing of who listens; the composition root (:func:`flower.runtime.build_runtime`)
makes the subscriptions, so the wiring is written down in one place and a part can be tested alone.

Which thread touches a signal is the emitter's: ``emit`` calls every subscriber on the caller's thread, in
the order they subscribed. One subscriber's failure is logged and does not keep the others from being
called, nor reaches the emitter (the events keep being applied whatever a listener does).
"""

from __future__ import annotations

import logging
from typing import Callable, Generic, ParamSpec

logger = logging.getLogger(__name__)

P = ParamSpec('P')


class Signal(Generic[P]):
    """Subscribers to one named occurrence, called with the arguments given to :meth:`emit`.

    A signal is callable (calling it emits), so it can stand where a single callback was expected (celery's
    ``State.on_node_join``); it is false while nobody subscribed, so an emitter on a hot path can skip building
    its arguments (``if self.on_node_join: ...``)."""

    __slots__ = ('name', '_subscribers')

    def __init__(self, name: str):
        self.name = name
        # a tuple, replaced on change: a subscriber added while the signal is emitted is called from the next emit
        self._subscribers: tuple[Callable[P, object], ...] = ()

    def subscribe(self, subscriber: Callable[P, object]) -> Callable[P, object]:
        """Call ``subscriber`` on every emit from now on; returns it (usable as a decorator)."""
        self._subscribers = (*self._subscribers, subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Callable[P, object]) -> None:
        """Stop calling ``subscriber`` (a subscriber that is not there is ignored)."""
        self._subscribers = tuple(s for s in self._subscribers if s != subscriber)

    @property
    def subscribers(self) -> tuple[Callable[P, object], ...]:
        return self._subscribers

    def emit(self, *args: P.args, **kwargs: P.kwargs) -> list[object]:
        """Call every subscriber; returns what each returned (an awaitable, say), leaving out the ones that
        raised (logged with the signal's name)."""
        results = []
        for subscriber in self._subscribers:
            try:
                results.append(subscriber(*args, **kwargs))
            except Exception:
                logger.exception('A subscriber of %s failed: %r', self.name, subscriber)
        return results

    __call__ = emit

    def __bool__(self) -> bool:
        return bool(self._subscribers)

    def __len__(self) -> int:
        return len(self._subscribers)

    def __repr__(self) -> str:
        return f'<Signal {self.name} ({len(self._subscribers)} subscribers)>'
