"""Flower 2.2's module name for its catch-all 404 handler, kept importable: ``flower.views.error.NotFoundErrorHandler``.

The handler lives in :mod:`flower.views.not_found`; how errors are written is :mod:`flower.views.error_render`'s,
which status and words an exception becomes :mod:`flower.views.error_status`'s.
"""

from __future__ import annotations

from flower.views.not_found import NotFoundErrorHandler

__all__ = ['NotFoundErrorHandler']
