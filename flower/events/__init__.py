"""Everything that comes from Celery events: the receiving thread and the state built from it.

Public names kept from Flower: :class:`Events` (the receiving thread) and :class:`EventsState` (the state).
"""

from flower.events.receiver import Events
from flower.events.state import EventsState

__all__ = ['Events', 'EventsState']
