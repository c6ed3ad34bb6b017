"""Formatting helpers for templates (Flower's public ``flower.utils.template``): times, labels, counts.

Pure functions; safe on any thread. The output is plain text, which templates escape like any other value,
except :func:`task_link` and :func:`format_value`, which return HTML (escaped inside) for ``{% raw %}``, as
Flower's do. :func:`template_functions` is what every page's template namespace gets from here: Flower's
names, so a template written for Flower 2.2 finds the helpers it calls.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

import pytz
from humanize import naturaltime
from tornado.escape import xhtml_escape

from flower.utils import values

KEYWORDS_UP = ('ssl', 'uri', 'url', 'uuid', 'eta')
KEYWORDS_DOWN = ('args', 'kwargs')
UUID_REGEX = re.compile(r'^[\w]{8}(-[\w]{4}){3}-[\w]{12}$')
TIME_FORMAT = '%Y-%m-%d %H:%M:%S.%f %Z'


def _zone(tz):
    if tz is None or tz == '':
        return timezone.utc
    if isinstance(tz, str):
        try:
            return pytz.timezone(tz)
        except pytz.UnknownTimeZoneError:
            return timezone.utc
    return tz


UNKNOWN = 'unknown'


def _moment(time, tz) -> datetime | None:
    """The time ``time`` (seconds since the epoch) in ``tz``, or None for a value that is not a usable time."""
    seconds = values.number(time, 'a time')
    if seconds is None and isinstance(time, str):
        try:
            seconds = values.number(float(time), 'a time')
        except ValueError:
            values.unreadable('a time', time)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, _zone(tz))
    except (OverflowError, OSError, ValueError):
        values.unreadable('a time', time)
        return None


def format_time(time, tz=None) -> str:
    """A timestamp as ``YYYY-mm-dd HH:MM:SS.ffffff TZ`` in ``tz`` (a name or tzinfo; UTC by default);
    ``unknown`` for a value that is not a usable time."""
    moment = _moment(time, tz)
    return moment.strftime(TIME_FORMAT) if moment is not None else UNKNOWN


def humanize(obj, type=None, length=None):  # noqa: A002 - Flower's signature
    """Text for a value on a page.

    ``type='time[-<tz>]'`` formats a timestamp, ``'natural-time[-<tz>]'`` says "5 minutes ago" for the last
    day and the full time before that, ``'duration'`` formats seconds (:func:`format_duration`). Strings (other than UUIDs) become labels: ``-``/``_`` become spaces,
    ``ssl``/``uri``/``url``/``uuid``/``eta`` are upper-cased and the first letter is capitalised (except
    ``args``/``kwargs``). Lists of plain values are joined with commas. ``length`` cuts the text to that many
    characters, ending in `` ...``.
    """
    if obj is None:
        text = ''
    elif type == 'duration':
        text = format_duration(obj)
    elif type and type.startswith('time'):
        tz = type[len('time') :].lstrip('-') or None
        text = format_time(obj, tz)
    elif type and type.startswith('natural-time'):
        tz = type[len('natural-time') :].lstrip('-') or None
        moment = _moment(obj, tz)
        if moment is None:
            text = UNKNOWN
        else:
            delta = datetime.now(moment.tzinfo) - moment
            text = naturaltime(delta) if delta.days < 1 else format_time(obj, tz)
    elif isinstance(obj, str) and not UUID_REGEX.match(obj):
        text = obj.replace('-', ' ').replace('_', ' ')
        text = re.sub('|'.join(rf'\b{word}\b' for word in KEYWORDS_UP), lambda m: m.group(0).upper(), text)
        if text and text not in KEYWORDS_DOWN:
            text = text[0].upper() + text[1:]
    elif isinstance(obj, (list, tuple)) and all(isinstance(x, (int, float, str)) for x in obj):
        text = ', '.join(str(x) for x in obj)
    else:
        text = obj
    if length is not None and isinstance(text, str) and len(text) > length:
        text = text[: max(length - 4, 0)] + ' ...'
    return text


# -- values as people read them, with the exact value for a tooltip ------------------------------------------
# One formatter per kind of value, used by the first render and by the live updates alike.


def duration_text(seconds) -> str:
    """A duration as people read it: ``850 ms``, ``2.35 s``, ``3 min 12 s``, ``2 h 5 min``, ``3 d 4 h``."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds != seconds:
        return str(seconds)
    if seconds < 1:
        return f'{seconds * 1000:.{2 if seconds < 0.01 else 1}f} ms'
    if seconds < 60:
        return f'{seconds:.2f} s'
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f'{int(minutes)} min {round(rest)} s'
    hours, minutes = divmod(int(minutes), 60)
    if hours < 24:
        return f'{hours} h {minutes} min'
    return f'{hours // 24} d {hours % 24} h'


def timestamp_of(value) -> float | None:
    """Seconds since the epoch for a Unix time or an ISO 8601 text (as Celery reports ``eta``/``expires``);
    None for anything else. A naive ISO time is taken as UTC."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    return None


def time_shown(value, time_type: str = 'time') -> tuple[str, str]:
    """``(text, exact)`` for a time (Unix time or ISO text): the text in the page's time format (``time_type``,
    as :func:`humanize` takes it), and for the tooltip an ISO text as it was reported, or a Unix time as the
    full time to the microsecond (what "5 minutes ago" stands for) with the Unix time itself."""
    seconds = timestamp_of(value)
    if seconds is None:  # not a usable time (a bad value from an event or an old database): say so
        values.unreadable('a time', value)
        return UNKNOWN, str(value)
    if isinstance(value, str):
        exact = value
    else:
        zone = (
            time_type.split('-', 1)[1]
            if time_type.startswith('time-')
            else (time_type[len('natural-time-') :] if time_type.startswith('natural-time-') else None)
        )
        exact = f'{format_time(seconds, zone)} ({value})'
    return humanize(seconds, type=time_type), exact


def natural_time_key(value, now: float | None = None):
    """Something that changes whenever :func:`humanize`'s natural text for the time ``value`` may change, for a
    cache of rendered text: the whole seconds, minutes or hours since (or until) it, as coarse as the text is
    within a day; ``None`` beyond a day, where the text is the full time. Cheaper than the text itself (no
    time zone, no formatting)."""
    seconds = timestamp_of(value)
    if seconds is None:
        return None
    delta = (time.time() if now is None else now) - seconds
    span = abs(delta)
    if span < 60:
        return (delta < 0, int(span))
    if span < 3600:
        return (delta < 0, 60, int(span // 60))
    if span < 86400:
        return (delta < 0, 3600, int(span // 3600))
    return None


# rusage fields that are durations in seconds (the rest are counts or kilobytes)
SECONDS_STATS = frozenset({'utime', 'stime', 'uptime'})
KILOBYTE_STATS = frozenset({'maxrss', 'ixrss', 'idrss', 'isrss'})


def stat_shown(key: str, value) -> tuple[str, str | None]:
    """``(text, exact or None)`` for a number a worker reported about itself (``stats``/``rusage``): seconds as
    durations, kilobytes as sizes, other floats rounded; the exact value for the tooltip when the text differs."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ('—' if value is None else str(value)), None
    if key in SECONDS_STATS:
        text = duration_text(value)
        return text, f'{value} s'
    if key in KILOBYTE_STATS:
        text = f'{value / 1024:,.1f} MiB' if value >= 1024 else f'{value:,} KiB'
        return text, f'{value} KiB'
    if isinstance(value, float) and value != round(value, 2):
        return f'{value:,.2f}', str(value)
    return f'{value:,}', (str(value) if value >= 1000 else None)


# -- Flower 2.2's template helpers (its templates call them; ours may too) ----------------------------------------


def format_duration(seconds) -> str:
    """Seconds (a number or a numeric text) as :func:`duration_text` says them; ``unknown`` for anything else."""
    if isinstance(seconds, str):
        try:
            seconds = float(seconds)
        except ValueError:
            pass
    number = values.number(seconds, 'a duration')
    return duration_text(number) if number is not None else UNKNOWN


def format_count(value) -> str:
    """A count with thousands separators; nothing counted yet is ``0``, a value that is not a number ``unknown``."""
    if value is None:
        return '0'
    number = values.number(value, 'a count')
    return f'{int(number):,}' if number is not None else UNKNOWN


def format_value(value) -> str:
    """HTML for a value that may be missing: the escaped value, or a dash marked as missing."""
    if value is None:
        return '<span class="value-missing">—</span>'
    return xhtml_escape(str(value))


def task_link(url, uuid) -> str:
    """HTML: a link to a task's page, the task id as its text (both escaped)."""
    uuid = xhtml_escape(str(uuid))
    return f'<a class="task-link" href="{xhtml_escape(str(url))}" title="{uuid}">{uuid}</a>'


def time_type(natural_time: bool, timezone: str | None) -> str:
    """The ``humanize(type=...)`` for task times: ``time`` or ``natural-time``, in the Celery app's timezone
    when it has one (Flower's convention; Flower's ``tasks.html`` gets it as ``time``)."""
    kind = 'natural-time' if natural_time else 'time'
    return f'{kind}-{timezone}' if timezone else kind


def brand_title(title: bytes) -> str:
    """The page title in ``base.html``: ours name the page (``Workers``), Flower's templates name the page and
    the product (``Workers · Flower``); both end up as the latter. ``title`` is the rendered, already escaped
    ``title`` block (``{% apply %}`` hands it over as bytes)."""
    text = title.decode('utf-8') if isinstance(title, bytes) else str(title)
    text = text.strip()
    return text if text.endswith('Flower') else f'{text} · Flower'


def template_functions() -> dict:
    """The helpers every template gets by name: those Flower 2.2's ``render`` puts in every page's namespace
    (each function of its ``flower.utils.template``, ``naturaltime`` and ``timezone`` included), and ours."""
    return {
        'format_time': format_time,
        'format_duration': format_duration,
        'format_count': format_count,
        'format_value': format_value,
        'task_link': task_link,
        'humanize': humanize,
        'naturaltime': naturaltime,
        'timezone': pytz.timezone,
        'brand_title': brand_title,
    }
