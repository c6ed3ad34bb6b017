"""The raw Redis event stream: frames split at any byte boundary, mixed reply types, long frames, garbage;
and kombu envelopes decoded with the accept list respected."""

from __future__ import annotations

import base64
import json
import pickle

import pytest

from flower.events.decode import UndecodableMessage, decode_envelope
from flower.events.resp import ProtocolError, PubSubFrames
from tests.support.publish import envelope


def pmessage(payload: bytes, channel=b'/0.celeryev/task.received', pattern=b'/0.celeryev/*') -> bytes:
    return b'*4\r\n$8\r\npmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n' % (
        len(pattern),
        pattern,
        len(channel),
        channel,
        len(payload),
        payload,
    )


def message(payload: bytes, channel=b'/0.celeryev') -> bytes:
    return b'*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n' % (len(channel), channel, len(payload), payload)


CONFIRM = b'*3\r\n$10\r\npsubscribe\r\n$13\r\n/0.celeryev/*\r\n:1\r\n'
PUSH_CONFIRM = b'>3\r\n$10\r\npsubscribe\r\n$13\r\n/0.celeryev/*\r\n:1\r\n'


def test_every_split_point_gives_the_same_payloads():
    payloads = [b'{"a": 1}', b'x' * 300, b'', b'\r\n inside \r\n', b'{"b": 2}']
    stream = (
        CONFIRM
        + pmessage(payloads[0])
        + b'+PONG\r\n'
        + pmessage(payloads[1])
        + message(payloads[2])
        + PUSH_CONFIRM
        + pmessage(payloads[3])
        + b':5\r\n'
        + message(payloads[4])
    )
    for split in range(1, len(stream)):
        parser = PubSubFrames()
        got = parser.feed(stream[:split]) + parser.feed(stream[split:])
        assert got == payloads, split
        assert parser.pending_bytes == 0


def test_byte_by_byte_and_long_frames():
    big = b'y' * 5_000_000
    stream = pmessage(b'first') + pmessage(big) + pmessage(b'last')
    parser = PubSubFrames()
    got = []
    for i in range(0, 400):
        got += parser.feed(stream[i : i + 1])
    chunk = 65536
    for i in range(400, len(stream), chunk):
        got += parser.feed(stream[i : i + chunk])
    assert got == [b'first', big, b'last']


def test_garbage_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        PubSubFrames().feed(b'HTTP/1.1 200 OK\r\n')


def test_a_message_whose_payload_is_not_a_bulk_string_is_a_protocol_error():
    # a subscription confirmation ends in an integer, which is fine; a message's payload never is
    assert PubSubFrames().feed(b'*3\r\n$9\r\nsubscribe\r\n$6\r\nevents\r\n:1\r\n') == []
    with pytest.raises(ProtocolError, match='bulk string'):
        PubSubFrames().feed(b'*3\r\n$7\r\nmessage\r\n$6\r\nevents\r\n:1\r\n')
    with pytest.raises(ProtocolError, match='bulk string'):
        PubSubFrames().feed(b'>4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$6\r\nevents\r\n+OK\r\n')  # a RESP3 push


def test_envelope_json_and_base64_bodies():
    event = {'type': 'task-received', 'uuid': 'u', 'hostname': 'w@h', 'args': "('é', '\\u2603')"}
    assert decode_envelope(envelope(event)) == event
    multi = json.loads(envelope(event))
    multi['body'] = base64.b64encode(json.dumps([event, event]).encode()).decode()
    assert decode_envelope(json.dumps(multi).encode()) == [event, event]
    plain = json.loads(envelope(event))
    plain['body'] = json.dumps(event)
    plain['properties'].pop('body_encoding')
    assert decode_envelope(json.dumps(plain).encode()) == event


def test_pickle_bodies_only_when_accepted():
    env = json.loads(envelope({'type': 'x'}))
    env['content-type'] = 'application/x-python-serialize'
    env['content-encoding'] = 'binary'
    env['body'] = base64.b64encode(pickle.dumps({'type': 'task-received'})).decode()
    data = json.dumps(env).encode()
    with pytest.raises(UndecodableMessage):
        decode_envelope(data, accept={'application/json'})
    assert decode_envelope(data, accept={'application/x-python-serialize'}) == {'type': 'task-received'}


@pytest.mark.parametrize(
    'data',
    [
        b'not json',
        b'{"no": "body"}',
        b'{"body": "%%%", "properties": {"body_encoding": "base64"}, "content-type": "application/json"}',
        b'[1, 2]',
        b'{"body": "e30=", "content-type": "application/json"} trailing',
    ],
)
def test_malformed_envelopes_are_undecodable(data):
    with pytest.raises(UndecodableMessage):
        decode_envelope(data)
