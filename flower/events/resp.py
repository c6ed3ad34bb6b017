"""An incremental parser for the Redis protocol frames of a pub/sub subscription.

The raw event stream (see :mod:`flower.events.redis_stream`) hands over whatever bytes the socket gave; this
parser turns them into the payloads of ``pmessage``/``message`` frames, keeping an incomplete frame for the
next chunk. ``pmessage`` frames (what kombu's PSUBSCRIBE produces) take a fast path of a few ``find`` calls
each; anything else (subscription confirmations, ``message`` frames, RESP3 pushes) goes through a general
reader. A frame that is not the Redis protocol raises :class:`ProtocolError`: the connection must be
dropped, since the stream can no longer be trusted.

Used on the IOLoop thread (one parser per connection, reset when the connection is replaced).
"""

from __future__ import annotations

_PMESSAGE_HEAD = b'*4\r\n$8\r\npmessage\r\n$'
_HEAD_LENGTH = len(_PMESSAGE_HEAD)
_CRLF = b'\r\n'


class ProtocolError(ValueError):
    """The bytes are not the Redis protocol."""


class PubSubFrames:
    def __init__(self):
        self.reset()

    def reset(self) -> None:
        """Forget any partial frame (the state of a new instance)."""
        self._rest = b''
        self._parts: list[bytes] = []  # chunks of a long frame, joined once enough has arrived
        self._parts_length = 0
        self._needed = 0

    @property
    def pending_bytes(self) -> int:
        return len(self._rest) + self._parts_length

    def feed(self, chunk: bytes) -> list:
        """Add bytes; return the payloads of every complete message frame, in order (bytes-like objects:
        memoryviews of the received data, or bytes)."""
        if self._needed:
            # a long frame is still arriving: collect without copying until it can be complete
            self._parts.append(chunk)
            self._parts_length += len(chunk)
            if len(self._rest) + self._parts_length < self._needed:
                return []
            chunk = b''.join(self._parts)
            self._parts, self._parts_length, self._needed = [], 0, 0
        buf = self._rest + chunk if self._rest else chunk
        payloads: list[bytes] = []
        pos = self._parse(buf, payloads)
        self._rest = buf[pos:]
        return payloads

    def _parse(self, buf: bytes, payloads: list) -> int:
        # payloads are zero-copy views into ``buf``: each message is copied once, when it is decoded
        view = memoryview(buf)
        append = payloads.append
        find = buf.find
        startswith = buf.startswith
        end = len(buf)
        pos = 0
        while pos < end:
            if startswith(_PMESSAGE_HEAD, pos):
                c = pos + _HEAD_LENGTH
                e = find(_CRLF, c)
                if e < 0:
                    break
                c = e + 4 + int(buf[c:e])  # skip the pattern
                e = find(_CRLF, c) if c < end else -1
                if e < 0:
                    break
                c = e + 4 + int(buf[c + 1 : e])  # skip the channel
                e = find(_CRLF, c) if c < end else -1
                if e < 0:
                    break
                start = e + 2
                stop = start + int(buf[c + 1 : e])
                if stop + 2 > end:
                    self._needed = stop + 2 - pos
                    break
                append(view[start:stop])
                pos = stop + 2
                continue
            next_pos = self._parse_other(buf, pos, payloads)
            if next_pos is None:
                break
            pos = next_pos
        return pos

    def _parse_other(self, buf: bytes, pos: int, payloads: list[bytes]) -> int | None:
        """One frame that is not a ``pmessage``: returns where the next one starts, or None if incomplete."""
        marker = buf[pos]
        eol = buf.find(_CRLF, pos)
        if eol < 0:
            return None
        if marker in (43, 45, 58):  # '+', '-', ':': a lone simple reply (PONG, an error): skip it
            return eol + 2
        if marker not in (42, 62):  # '*' array, '>' RESP3 push
            raise ProtocolError(f'unexpected byte {bytes([marker])!r} at a frame boundary')
        try:
            count = int(buf[pos + 1 : eol])
        except ValueError:
            raise ProtocolError('malformed array header') from None
        cursor = eol + 2
        items: list[bytes | None] = []
        for _ in range(count):
            line_end = buf.find(_CRLF, cursor)
            if line_end < 0:
                return None
            if buf[cursor] == 36:  # '$' bulk string
                start = line_end + 2
                stop = start + int(buf[cursor + 1 : line_end])
                if stop + 2 > len(buf):
                    return None
                items.append(buf[start:stop])
                cursor = stop + 2
            else:  # an integer or simple string inside a confirmation
                items.append(None)
                cursor = line_end + 2
        if items and items[0] == b'message' and len(items) == 3:
            payload = items[2]
        elif items and items[0] == b'pmessage' and len(items) == 4:
            payload = items[3]
        else:
            return cursor  # a confirmation (subscribe, pong...): no payload
        # a message's payload is a bulk string; an integer or simple string there is not Redis talking
        if payload is None:
            raise ProtocolError('a message frame without a bulk string payload')
        payloads.append(payload)
        return cursor
