"""Everything that comes from Celery events: the receiving thread and the state built from it.

Public names kept from Flower: :class:`Events` (the receiving thread; ``on_enable_events()`` is its periodic
"ask every worker to send events"), :class:`EventsState` (the state; ``state.metrics`` its metrics),
:class:`PrometheusMetrics` (the class of ``state.metrics``: families with prometheus_client's ``labels()``,
see :mod:`flower.metrics`) and :func:`get_prometheus_metrics` (the metrics ``/metrics`` shows).
"""

from flower.events.receiver import Events
from flower.events.state import EventsState
from flower.metrics import PrometheusMetrics, get_prometheus_metrics

__all__ = ['Events', 'EventsState', 'PrometheusMetrics', 'get_prometheus_metrics']
