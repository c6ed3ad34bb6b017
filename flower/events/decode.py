"""Turning a kombu message envelope, as the Redis transport publishes it, into the event body.

The envelope is JSON (``{"body": ..., "content-type": ..., "properties": {"body_encoding": "base64"}}``);
the body is usually base64 of JSON (celery's default event serializer). JSON is decoded directly (the hot
path); any other content type goes through kombu's registry, limited to the ``accept`` list, so a pickled
payload is never unpickled unless the app's configuration accepts it.

Used on the IOLoop thread.
"""

from __future__ import annotations

import binascii
import json
from typing import Any

from kombu.exceptions import ContentDisallowed, DecodeError
from kombu.serialization import loads as kombu_loads

_JSON_TYPES = frozenset({'application/json', 'application/x-json'})

# json.loads checks the encoding of bytes and strips whitespace around the document on every call; event
# envelopes are UTF-8 JSON objects starting at the first byte, so the C scanner can be called directly.
# (JSONDecoder.__init__ sets ``scan_once``, an attribute typeshed's stub does not declare)
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _loads(data) -> Any:
    if isinstance(data, memoryview):
        text = str(data, 'utf-8')
    else:
        text = data.decode('utf-8') if isinstance(data, (bytes, bytearray)) else data
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return json.loads(text)  # leading whitespace or not JSON at all: let json say which
    if end != len(text) and text[end:].strip():
        raise ValueError('Extra data after the JSON document')
    return value


class UndecodableMessage(ValueError):
    """A message on the event channel that is not an event we can read."""


def decode_envelope(data: bytes, accept=None):
    """The event dict (or list of them) inside one published message."""
    try:
        envelope = _loads(data)
        body = envelope['body']
        properties = envelope.get('properties') or {}
        if properties.get('body_encoding') == 'base64':
            body = binascii.a2b_base64(body)
        content_type = envelope.get('content-type')
        if content_type in _JSON_TYPES:
            return _loads(body)
        return kombu_loads(body, content_type, envelope.get('content-encoding') or 'utf-8', accept=accept)
    # RecursionError: JSON nested deeper than the decoder's recursion limit
    except (
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        RecursionError,
        binascii.Error,
        DecodeError,
        ContentDisallowed,
    ) as exc:
        raise UndecodableMessage(str(exc)) from exc
