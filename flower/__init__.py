"""flower: a Celery monitoring web server, a drop-in replacement for Flower."""

VERSION = (3, 0, 0)
__version__ = "3.0.0a1"
