"""Everything that comes from Celery events: the receiving thread and the state built from it.

Public names kept from Flower: :class:`Events` (the receiving thread; ``on_enable_events()`` is its periodic
"ask every worker to send events"), :class:`EventsState` (the state; ``state.metrics`` its metrics),
:class:`PrometheusMetrics` (the class of ``state.metrics``: families with prometheus_client's ``labels()``,
see :mod:`flower.metrics`) and :func:`get_prometheus_metrics` (the metrics ``/metrics`` shows).
"""

import logging

# Flower's module global, for code that imports or patches it (patch with options.mockable())
from tornado.options import options  # noqa: F401

from flower.events.receiver import Events
from flower.events.state import EventsState
from flower import metrics as _metrics
from flower.metrics import PrometheusMetrics, get_prometheus_metrics

__all__ = [
    'Events',
    'EventsState',
    'PrometheusMetrics',
    'get_prometheus_metrics',
    'TaskSearchEngine',
    'PROMETHEUS_METRICS',
]

logger = logging.getLogger(__name__)


def __getattr__(name):
    # Flower's module globals, looked up when asked: ``TaskSearchEngine`` (Flower's flower.utils.search, an
    # adapter over the domain that imports this package, so it cannot be imported up front) and
    # ``PROMETHEUS_METRICS`` (``None`` until metrics exist, then the ones get_prometheus_metrics() answers)
    if name == 'TaskSearchEngine':
        from flower.utils.search import TaskSearchEngine

        return TaskSearchEngine
    if name == 'PROMETHEUS_METRICS':
        latest = _metrics._latest() if _metrics._latest is not None else None
        return latest or _metrics._made_here
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
