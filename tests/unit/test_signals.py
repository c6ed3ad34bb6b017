"""Signal: the named subscriptions the composition root connects the runtime with (flower.utils.signals)."""

from __future__ import annotations

import logging

from flower.utils.signals import Signal


def test_emit_calls_every_subscriber_in_order_and_returns_what_they_returned():
    seen = []
    applied: Signal[[int]] = Signal('applied')
    applied.subscribe(lambda n: seen.append(('first', n)) or 'one')
    applied.subscribe(lambda n: seen.append(('second', n)) or 'two')
    assert applied.emit(3) == ['one', 'two']
    assert applied(4) == ['one', 'two']  # callable: it stands where one callback was expected
    assert seen == [('first', 3), ('second', 3), ('first', 4), ('second', 4)]


def test_a_failing_subscriber_is_logged_and_does_not_stop_the_others(caplog):
    seen = []
    signal: Signal[[str]] = Signal('Events.on_applied')

    def broken(value):
        raise ValueError('boom')

    signal.subscribe(broken)
    signal.subscribe(seen.append)
    with caplog.at_level(logging.ERROR, logger='flower.utils.signals'):
        assert signal.emit('x') == [None]
    assert seen == ['x']
    assert 'A subscriber of Events.on_applied failed' in caplog.text and 'boom' in caplog.text


def test_truth_length_and_unsubscribe():
    signal: Signal[[]] = Signal('s')
    assert not signal and len(signal) == 0  # an emitter on a hot path skips it while nobody listens

    def one():
        return 1

    assert signal.subscribe(one) is one
    assert signal and signal.subscribers == (one,)
    signal.unsubscribe(one)
    signal.unsubscribe(one)  # not there any more: ignored
    assert not signal and signal.emit() == []
    assert repr(signal) == '<Signal s (0 subscribers)>'


def test_a_subscriber_added_while_emitting_is_called_from_the_next_emit():
    seen = []
    signal: Signal[[]] = Signal('s')

    def adds():
        seen.append('adds')
        signal.subscribe(lambda: seen.append('late'))

    signal.subscribe(adds)
    signal.emit()
    assert seen == ['adds']
    signal.unsubscribe(adds)
    signal.emit()
    assert seen == ['adds', 'late']
