"""Parsing the JSON body of apply, async-apply and send-task into arguments and ``apply_async`` options.

:func:`parse_apply_body` refuses anything Celery would choke on, so a client never causes a 500: every option
has its check in :data:`APPLY_OPTIONS`, anything else is refused, and a bad value is
:class:`~flower.control.errors.InvalidOption` (a 400 that is also a ``ValueError``). Serializers and
compressions are accepted only when kombu can encode with them here (:func:`codec_works`). Pure functions,
called on the IOLoop thread (kombu's codec check encodes an empty value, in memory).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from flower.control.checks import MAX_DELAY, MAX_WAIT, short_name, wait_seconds
from flower.control.errors import InvalidInput, InvalidOption
from flower.utils import strict

DEFAULT_APPLY_TIMEOUT = 30.0  # seconds /api/task/apply waits for a result unless told otherwise
MAX_PRIORITY = 255


@dataclass
class ApplyRequest:
    """What a client asked apply/async-apply/send-task to publish."""

    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    timeout: float | None = None  # apply only: how long to wait for the result


def _parse_datetime(value, name: str) -> datetime:
    """Flower's ``2024-01-31 13:45:00.000000`` or ISO 8601 (``T``, an optional ``Z``/``+HH:MM`` offset), a real
    date of the calendar (:data:`flower.utils.strict.TIME_PATTERN`)."""
    try:
        return strict.parse_time(value, name)
    except strict.InvalidValue:
        raise InvalidInput(
            f"Invalid option '{name}': expected a real date and time like 2024-01-31 13:45:00.000000 "
            'or 2024-01-31T13:45:00+01:00'
        ) from None


# A number of seconds written as text (``"60"``, ``"2.5"``, ``"-1"``), which Flower accepts for ``countdown`` and
# ``expires``: decimal digits only, at most 8 before the point (under MAX_DELAY whatever they are), so that the
# text accepted is exactly the text the API document's pattern describes.
SECONDS_TEXT_PATTERN = r'^-?[0-9]{1,8}(\.[0-9]{1,6})?$'
SECONDS_TEXT_WORDS = 'as a number, or as text of up to 8 digits and 6 decimals like "60" or "2.5"'


def seconds_text(value) -> float | None:
    """``value`` as seconds when it is a string of :data:`SECONDS_TEXT_PATTERN`, else None."""
    if isinstance(value, str) and re.fullmatch(SECONDS_TEXT_PATTERN[1:-1], value):
        return float(value)
    return None


def _seconds(value, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or abs(value) > MAX_DELAY
    ):
        raise InvalidInput(f"Invalid option '{name}': expected a number of seconds up to {MAX_DELAY:g}")
    return float(value)


def _delay(value, name: str) -> float:
    """``countdown`` and the seconds of ``expires``: a number, or its digits as text (as Flower takes them)."""
    from_text = seconds_text(value)
    if from_text is not None:
        return from_text
    if isinstance(value, str):
        raise InvalidInput(
            f"Invalid option '{name}': expected a number of seconds up to {MAX_DELAY:g} ({SECONDS_TEXT_WORDS})"
        )
    return _seconds(value, name)


def _positive_seconds(value, name: str) -> float:
    seconds = _seconds(value, name)
    if seconds <= 0:
        raise InvalidInput(f"Invalid option '{name}': expected a number of seconds greater than 0")
    return seconds


def _option_name(value, name: str) -> str:
    try:
        return short_name(value, f"option '{name}'")
    except InvalidInput as exc:
        raise InvalidInput(exc.message) from None


def _priority(value, name: str) -> int:
    try:
        return strict.whole_number(value, name, 0, MAX_PRIORITY)
    except strict.InvalidValue:
        raise InvalidInput(f"Invalid option '{name}': expected a whole number from 0 to {MAX_PRIORITY}") from None


def _boolean(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"Invalid option '{name}': expected true or false")
    return value


# The headers of Celery's task message protocol: a custom header of the same name would replace them.
PROTOCOL_HEADERS = frozenset(
    {
        'lang',
        'task',
        'id',
        'shadow',
        'eta',
        'expires',
        'group',
        'group_index',
        'retries',
        'timelimit',
        'root_id',
        'parent_id',
        'argsrepr',
        'kwargsrepr',
        'origin',
        'ignore_result',
        'replaced_task_nesting',
        'stamped_headers',
        'stamps',
    }
)


def _headers(value, name: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidInput(f"Invalid option '{name}': expected an object")
    clashes = sorted(PROTOCOL_HEADERS & set(value))
    if clashes:
        raise InvalidInput(f"Invalid option '{name}': {', '.join(clashes)} would replace Celery's own message headers")
    return value


CODEC_CANDIDATES = {
    'serializer': ('json', 'msgpack', 'pickle', 'yaml'),
    'compression': ('brotli', 'bzip2', 'gzip', 'lzma', 'zlib', 'zstd'),
}


def codec_works(kind: str, name: str) -> bool:
    """Whether kombu can encode with serializer/compression ``name`` here (some need extra packages)."""
    try:
        if kind == 'serializer':
            from kombu.serialization import dumps

            dumps({}, serializer=name)
        else:
            from kombu.compression import compress

            compress(b'', name)
        return True
    except Exception:  # noqa: BLE001 - kombu raises several kinds for unknown or uninstalled codecs
        return False


def installed_codecs(kind: str) -> list[str]:
    return [name for name in CODEC_CANDIDATES[kind] if codec_works(kind, name)]


def _codec(kind: str):
    def check(value, name: str) -> str:
        if not isinstance(value, str) or not codec_works(kind, value):
            raise InvalidInput(f"Invalid option '{name}': '{value}' is not an installed {kind}")
        return value

    return check


def _expires(value, name: str):
    if isinstance(value, str) and seconds_text(value) is None:
        try:
            return strict.parse_time(value, name)
        except strict.InvalidValue:
            raise InvalidInput(
                f"Invalid option '{name}': expected a number of seconds ({SECONDS_TEXT_WORDS}) or "
                'a real date and time like 2024-01-31 13:45:00.000000 or 2024-01-31T13:45:00+01:00'
            ) from None
    return _delay(value, name)


# The apply_async options a JSON body may carry, each with its check/converter. Anything else is refused:
# options such as ``link``, ``connection`` or ``router`` expect Python objects no JSON value can be.
APPLY_OPTIONS: dict[str, Callable[[Any, str], Any]] = {
    'countdown': _delay,
    'eta': _parse_datetime,
    'expires': _expires,
    'task_id': _option_name,
    'queue': _option_name,
    'exchange': _option_name,
    'routing_key': _option_name,
    'priority': _priority,
    'serializer': _codec('serializer'),
    'compression': _codec('compression'),
    'headers': _headers,
    'shadow': _option_name,
    'time_limit': _positive_seconds,
    'soft_time_limit': _positive_seconds,
    'ignore_result': _boolean,
    'retry': _boolean,
}


def split_apply_body(body: bytes | str | None) -> tuple[list, dict, dict]:
    """``(args, kwargs, rest)`` of a JSON apply body ``{"args": [...], "kwargs": {...}, <options>}``: the body
    decoded and its shape checked, the other keys left as the client wrote them. An empty body means no
    arguments."""
    if isinstance(body, bytes):
        try:
            body = body.decode('utf-8')
        except UnicodeDecodeError:
            raise InvalidInput('Invalid JSON body: not UTF-8 text') from None
    if body is None or not body.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise InvalidInput(f'Invalid JSON body: {exc}') from None
    if not isinstance(data, dict):
        raise InvalidInput('Invalid options: the body must be a JSON object')
    data = dict(data)
    args = data.pop('args', None)
    kwargs = data.pop('kwargs', None)
    if args is None:
        args = []
    if not isinstance(args, list):
        raise InvalidInput('Invalid args: args must be an array')
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        raise InvalidInput('Invalid kwargs: kwargs must be an object')
    return args, kwargs, data


def apply_options(data: dict, wait_option: bool = False) -> dict:
    """The ``apply_async`` options of ``data`` (keys other than args/kwargs, and ``timeout`` when
    ``wait_option``), each checked and converted; a null value is left out. Raises :class:`InvalidOption`."""
    options = {}
    for key, value in data.items():
        if wait_option and key == 'timeout':
            continue
        check = APPLY_OPTIONS.get(key)
        if check is None:
            raise InvalidOption(
                f"Unknown option '{key}': use args, kwargs{', timeout' if wait_option else ''} "
                f"or one of {', '.join(sorted(APPLY_OPTIONS))}"
            )
        if value is None:
            continue
        try:
            options[key] = check(value, key)
        except InvalidInput as exc:
            raise InvalidOption(exc.message) from None
    return options


def parse_apply_body(body: bytes | str | None, wait_option: bool = False) -> ApplyRequest:
    """The JSON body of apply/async-apply/send-task: ``{"args": [...], "kwargs": {...}, <options>}``.

    An empty body means no arguments. With ``wait_option`` (apply) the ``timeout`` key is how long to wait for
    the result (default :data:`DEFAULT_APPLY_TIMEOUT`); it is not an ``apply_async`` option."""
    args, kwargs, data = split_apply_body(body)
    timeout = None
    if wait_option:
        raw = data.get('timeout')
        if raw is None:
            timeout = DEFAULT_APPLY_TIMEOUT
        else:
            try:
                timeout = wait_seconds(raw)
            except InvalidInput:
                raise InvalidInput(
                    f"Invalid timeout '{raw}': expected a number of seconds from 0 to {MAX_WAIT:g}"
                ) from None
    return ApplyRequest(args=args, kwargs=kwargs, options=apply_options(data, wait_option), timeout=timeout)
