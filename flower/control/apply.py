"""Parsing the JSON body of apply, async-apply and send-task into arguments and ``apply_async`` options.

:func:`parse_apply_body` refuses anything Celery would choke on, so a client never causes a 500: every key
the body may carry is declared once, as an :class:`ApplyOption` with its check and its JSON schema
(:data:`APPLY_OPTION_SPECS`, and ``args``/``kwargs``/``timeout``); :func:`apply_body_schema` gives the API
document the same list (``flower.api.tasks``). Anything else is refused, and a bad value is
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


@dataclass(frozen=True)
class ApplyOption:
    """One key an apply body may carry, declared once: ``check`` converts and validates a value (raising
    :class:`InvalidInput` with the words for the client); ``schema`` is the same rule as JSON schema for the API
    document (``/api/openapi.json`` and docs/api.md are built from :data:`APPLY_OPTION_SPECS`)."""

    name: str
    check: Callable[[Any, str], Any]
    #: or a function giving it, for what is read when the document is built (the installed codecs)
    schema: dict | Callable[[], dict]
    description: str | None = None

    def json_schema(self) -> dict:
        schema = dict(self.schema() if callable(self.schema) else self.schema)
        if self.description:
            schema['description'] = self.description
        return schema


_SECONDS = {'type': 'number', 'minimum': -MAX_DELAY, 'maximum': MAX_DELAY}
_SECONDS_TEXT = {'type': 'string', 'pattern': SECONDS_TEXT_PATTERN}  # Flower takes "3" as 3
_TIME = {'type': 'string', 'pattern': strict.TIME_PATTERN}
# a name AMQP can carry and a log line can show (short_name checks exactly this; the API's NAME too)
NAME_SCHEMA = {
    'type': 'string',
    'minLength': 1,
    'maxLength': 255,
    'pattern': strict.NAME_PATTERN,
    'description': 'No control characters and no leading space; at most 255 ASCII characters, or 63 when it '
    'has others (AMQP names are at most 255 bytes).',
}
_POSITIVE_SECONDS = {'type': 'number', 'exclusiveMinimum': True, 'minimum': 0, 'maximum': MAX_DELAY}


def _codec_schema(kind: str) -> Callable[[], dict]:
    return lambda: {'type': 'string', 'enum': installed_codecs(kind)}


# The apply_async options a JSON body may carry, each with its check/converter. Anything else is refused:
# options such as ``link``, ``connection`` or ``router`` expect Python objects no JSON value can be.
APPLY_OPTION_SPECS: tuple[ApplyOption, ...] = (
    ApplyOption(
        'countdown',
        _delay,
        {'oneOf': [_SECONDS, _SECONDS_TEXT]},
        'Seconds to wait before running (a number, or its digits as text: `"3"`).',
    ),
    ApplyOption(
        'eta',
        _parse_datetime,
        {**_TIME, 'example': '2030-01-31 13:45:00.000000'},
        'When to run: `YYYY-MM-DD HH:MM:SS.ffffff` or ISO 8601.',
    ),
    ApplyOption(
        'expires',
        _expires,
        {'oneOf': [_SECONDS, _SECONDS_TEXT, _TIME]},
        'Seconds from now (a number, or its digits as text: `"60"`), or a time in the `eta` formats.',
    ),
    ApplyOption('task_id', _option_name, NAME_SCHEMA),
    ApplyOption('queue', _option_name, NAME_SCHEMA),
    ApplyOption('exchange', _option_name, NAME_SCHEMA),
    ApplyOption('routing_key', _option_name, NAME_SCHEMA),
    ApplyOption('priority', _priority, {'type': 'integer', 'minimum': 0, 'maximum': MAX_PRIORITY}),
    ApplyOption('serializer', _codec('serializer'), _codec_schema('serializer')),
    ApplyOption('compression', _codec('compression'), _codec_schema('compression')),
    ApplyOption(
        'headers',
        _headers,
        {'type': 'object', 'additionalProperties': True},
        "Custom message headers (not Celery's own, such as `id` or `task`).",
    ),
    ApplyOption('shadow', _option_name, NAME_SCHEMA),
    ApplyOption('time_limit', _positive_seconds, _POSITIVE_SECONDS),
    ApplyOption('soft_time_limit', _positive_seconds, _POSITIVE_SECONDS),
    ApplyOption('ignore_result', _boolean, {'type': 'boolean'}),
    ApplyOption('retry', _boolean, {'type': 'boolean'}, 'Retry publishing when the broker connection fails.'),
)
APPLY_OPTIONS: dict[str, Callable[[Any, str], Any]] = {option.name: option.check for option in APPLY_OPTION_SPECS}


def _args(value, name: str) -> list:
    if not isinstance(value, list):
        raise InvalidInput('Invalid args: args must be an array')
    return value


def _kwargs(value, name: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidInput('Invalid kwargs: kwargs must be an object')
    return value


def _wait(value, name: str) -> float | None:
    try:
        return wait_seconds(value)
    except InvalidInput:
        raise InvalidInput(f"Invalid timeout '{value}': expected a number of seconds from 0 to {MAX_WAIT:g}") from None


# The keys around the options: the call's arguments (checked by split_apply_body) and apply's wait for the
# result (``wait_option``, checked by parse_apply_body).
ARGS_SPEC = ApplyOption('args', _args, {'type': 'array', 'items': {}}, 'Positional arguments.')
KWARGS_SPEC = ApplyOption('kwargs', _kwargs, {'type': 'object', 'additionalProperties': True}, 'Keyword arguments.')
TIMEOUT_SPEC = ApplyOption(
    'timeout',
    _wait,
    {'type': 'number', 'minimum': 0, 'maximum': MAX_WAIT},
    f'Seconds to wait for the result (default {DEFAULT_APPLY_TIMEOUT:g}).',
)


def apply_body_schema(wait_option: bool = False) -> dict:
    """The JSON schema of an apply body: exactly the keys :func:`parse_apply_body` accepts, each nullable (null
    means "not given": no arguments, the task's default option)."""
    specs = (ARGS_SPEC, KWARGS_SPEC, *APPLY_OPTION_SPECS, *((TIMEOUT_SPEC,) if wait_option else ()))
    properties = {}
    for spec in specs:
        schema = spec.json_schema()
        properties[spec.name] = {
            **schema,
            'nullable': True,
            **({'enum': [*schema['enum'], None]} if 'enum' in schema else {}),
        }
    return {'type': 'object', 'properties': properties, 'additionalProperties': False}


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
    args = [] if args is None else ARGS_SPEC.check(args, 'args')
    kwargs = {} if kwargs is None else KWARGS_SPEC.check(kwargs, 'kwargs')
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
        timeout = DEFAULT_APPLY_TIMEOUT if raw is None else TIMEOUT_SPEC.check(raw, 'timeout')
    return ApplyRequest(args=args, kwargs=kwargs, options=apply_options(data, wait_option), timeout=timeout)
