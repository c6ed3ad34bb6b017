"""What text of a task each search field looks at, in one place for the matcher and the engine.

Celery events carry ``args``, ``kwargs`` and ``result`` as repr strings, but a record restored from an old
state file or built by hand may hold real Python values (a ``kwargs`` dict, an ``args`` tuple): those are
searched through their ``repr``. A missing value (``None``) is no text at all, so it never matches, not even
a search for ``none``.

Case-insensitivity is ``str.casefold`` on both sides. Read on the IOLoop thread.
"""

from __future__ import annotations

# The fields a plain (unqualified) term searches, as the user sees them. The exception (``ValueError('no such
# user')``) is there because a failure is looked for by its error; the traceback only with ``traceback:``, as
# its file names and code lines would match nearly every word.
PLAIN_FIELDS = ('uuid', 'name', 'state', 'worker', 'args', 'kwargs', 'result', 'exception')


def text_of(value) -> str | None:
    if value is None or value.__class__ is str:
        return value
    if isinstance(value, str):
        return str(value)
    return repr(value)


def folded(value) -> str | None:
    """The case-folded text of a field value, or ``None`` when there is none."""
    text = text_of(value)
    return None if text is None else text.casefold()


def folded_present(value: object) -> str:
    """:func:`folded` of a value the caller has already found not to be ``None`` (so there is always text)."""
    return (str(value) if isinstance(value, str) else repr(value)).casefold()


def field_value(task, field: str):
    """The raw value of a search field; ``worker`` is the hostname of the task's worker."""
    if field == 'worker':
        worker = task.worker
        return None if worker is None else worker.hostname
    return getattr(task, field, None)


def is_caseless(needle: str) -> bool:
    """True when case-folding cannot change whether ``needle`` occurs in a text, so the engine may skip
    folding the haystacks: ASCII without letters (digits, punctuation) is never produced by folding another
    character, and folds to itself."""
    return needle.isascii() and not any(char.isalpha() for char in needle)
