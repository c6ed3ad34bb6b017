"""The one error a bad search query raises, worded as Flower words it.

:class:`QuerySyntaxError` carries the problem (``message``) and the character offset in the query where it was
found (``position``); ``str(exc)`` is ``"<message> at position <N>."``, which ``/api/tasks`` returns verbatim in
its 400 body. Plain data: it is raised and read on the IOLoop thread like everything else in
:mod:`flower.search`.
"""

from __future__ import annotations


class QuerySyntaxError(ValueError):
    """A search query that cannot be parsed. ``position`` counts characters from 0."""

    def __init__(self, message: str, position: int):
        self.message = message
        self.position = position
        super().__init__(f'{message} at position {position}.')

    def __reduce__(self):
        # ``self.args`` holds the formatted text only; rebuild from the two parts instead
        return self.__class__, (self.message, self.position)
