"""What ``--persistent`` does with a ``--db`` file that is not a healthy one of ours: foreign files (an old
Flower shelve, another program's SQLite database, random bytes) and damaged ones are moved aside under a
timestamped name, byte for byte, with a log message; a location that cannot hold a database is an error."""

from __future__ import annotations

import dbm.dumb
import logging
import os
import pickle
import re
import shelve
import sqlite3

import pytest

from flower.events.state import EventsState
from flower.persistence import PersistenceError, StateSaver
from flower.persistence.database import move_aside, open_database
from flower.persistence.schema import APPLICATION_ID, SCHEMA_VERSION
from tests.support.events import task_events

MOVED = re.compile(r'\.\d{8}-\d{6}(-\d+)?\.(corrupt|foreign)$')


def load(path):
    state = EventsState(max_tasks_in_memory=100)
    saver = StateSaver(state, str(path))
    saver.load()
    return state, saver


def is_ours(path) -> bool:
    conn = sqlite3.connect(str(path))
    try:
        return (
            conn.execute('PRAGMA application_id').fetchone()[0] == APPLICATION_ID
            and conn.execute('PRAGMA user_version').fetchone()[0] == SCHEMA_VERSION
            and conn.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'
        )
    finally:
        conn.close()


def moved_files(directory, kind):
    return sorted(p for p in directory.iterdir() if MOVED.search(p.name) and p.name.endswith(kind))


def assert_moved_aside(path, kind, original: bytes, caplog, reason: str):
    state, saver = load(path)
    assert len(state.tasks) == 0
    moved = moved_files(path.parent, '.' + kind)
    assert len(moved) == 1, list(path.parent.iterdir())
    assert moved[0].name.startswith(path.name + '.')
    assert moved[0].read_bytes() == original
    assert saver.moved_to == str(moved[0])
    assert is_ours(path)
    message = caplog.text
    assert str(path) in message and str(moved[0]) in message and 'nothing was deleted' in message
    assert reason in message
    return moved[0]


def test_random_bytes_are_moved_aside_as_foreign(tmp_path, caplog):
    path = tmp_path / 'flower'
    original = os.urandom(5000)
    path.write_bytes(original)
    with caplog.at_level(logging.ERROR, logger='flower.persistence'):
        assert_moved_aside(path, 'foreign', original, caplog, 'not an SQLite database')


def test_an_old_flower_shelve_file_is_moved_aside_as_foreign(tmp_path, caplog):
    base = tmp_path / 'flower'
    # what Flower 2.1 writes: the pickled state under 'events' and the counters under 'counter'
    with shelve.Shelf(dbm.dumb.open(str(base), 'c'), protocol=pickle.HIGHEST_PROTOCOL) as shelf:
        shelf['events'] = {'tasks': {'abc': {'state': 'SUCCESS'}}}
        shelf['counter'] = {'worker1@host': {'task-succeeded': 1}}
    data_file = tmp_path / 'flower.dat'
    original = data_file.read_bytes()
    with caplog.at_level(logging.ERROR, logger='flower.persistence'):
        assert_moved_aside(data_file, 'foreign', original, caplog, 'old Flower shelve')
    assert (tmp_path / 'flower.dir').exists()


@pytest.mark.parametrize('magic', [0x13579ACD, 0x13579ACE, 0x13579ACF, 0x13579AD0, 0x13579AD1])
@pytest.mark.parametrize('order', ['little', 'big'])
def test_a_gnu_dbm_file_at_flowers_default_name_is_named_as_an_old_flower_shelve(tmp_path, caplog, magic, order):
    """Flower's default --db=flower is a GNU dbm file on most Linux systems (gdbm is not installed here, so its
    header is written by hand: the magic number in the machine's byte order, then the rest of the header)."""
    path = tmp_path / 'flower'
    original = magic.to_bytes(4, order) + os.urandom(4092)
    path.write_bytes(original)
    with caplog.at_level(logging.ERROR, logger='flower.persistence'):
        assert_moved_aside(path, 'foreign', original, caplog, 'a GNU dbm file (an old Flower shelve)')


def test_old_flower_shelve_files_next_to_the_name_are_left_alone_and_mentioned(tmp_path, caplog):
    base = tmp_path / 'flower'
    with shelve.Shelf(dbm.dumb.open(str(base), 'c')) as shelf:
        shelf['counter'] = {'worker1@host': {'task-succeeded': 1}}
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with caplog.at_level(logging.WARNING, logger='flower.persistence'):
        load(base)
    assert 'old Flower state' in caplog.text and 'flower.dat' in caplog.text
    for name, content in before.items():
        assert (tmp_path / name).read_bytes() == content
    assert is_ours(base)


@pytest.mark.parametrize(
    'tables, reason',
    [
        (['CREATE TABLE Dict (key BLOB UNIQUE NOT NULL, value BLOB NOT NULL)'], "Python 3.13's dbm.sqlite3"),
        (['CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)'], 'another program (tables: invoices)'),
    ],
)
def test_an_sqlite_database_of_someone_else_is_moved_aside_as_foreign(tmp_path, caplog, tables, reason):
    path = tmp_path / 'flower'
    conn = sqlite3.connect(str(path))
    for statement in tables:
        conn.execute(statement)
    conn.commit()
    conn.close()
    original = path.read_bytes()
    with caplog.at_level(logging.ERROR, logger='flower.persistence'):
        assert_moved_aside(path, 'foreign', original, caplog, reason)


def test_a_foreign_database_with_a_leftover_wal_is_moved_aside_untouched(tmp_path, caplog):
    """Its writer died before a checkpoint: the data sits in the -wal file. Looking at the database must not
    fold that into the main file (a read-write connection does so on closing): both move aside as found."""
    import subprocess
    import sys

    path = tmp_path / 'flower'
    subprocess.run(
        [
            sys.executable,
            '-c',
            (
                'import os, sqlite3\n'
                f'conn = sqlite3.connect({str(path)!r}, isolation_level=None)\n'
                'conn.execute("PRAGMA journal_mode=WAL"); conn.execute("PRAGMA wal_autocheckpoint=0")\n'
                'conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")\n'
                'conn.execute("INSERT INTO invoices VALUES (1, 9.5)")\n'
                'os._exit(0)\n'
            ),
        ],
        check=True,
    )
    wal = tmp_path / 'flower-wal'
    original, original_wal = path.read_bytes(), wal.read_bytes()
    assert original_wal  # the table and the row are only in the WAL
    with caplog.at_level(logging.ERROR, logger='flower.persistence'):
        moved = assert_moved_aside(path, 'foreign', original, caplog, 'another program (tables: invoices)')
    assert (tmp_path / (moved.name + '-wal')).read_bytes() == original_wal
    conn = sqlite3.connect(str(moved))
    try:
        assert conn.execute('SELECT * FROM invoices').fetchall() == [(1, 9.5)]  # nothing was lost either
    finally:
        conn.close()


def test_a_file_from_a_newer_schema_is_moved_aside_not_overwritten(tmp_path, caplog):
    path = tmp_path / 'flower'
    load(path)
    conn = sqlite3.connect(str(path))
    conn.execute(f'PRAGMA user_version = {SCHEMA_VERSION + 1}')
    conn.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    conn.close()
    original = path.read_bytes()
    with caplog.at_level(logging.ERROR, logger='flower.persistence'):
        assert_moved_aside(path, 'foreign', original, caplog, f'schema {SCHEMA_VERSION + 1}')


def _saved_database(path, tasks=300):
    state, saver = load(path)
    saver.start()
    for _ in range(tasks):
        for item in task_events(args=repr('y' * 500)):
            state.event(item)
    saver.close()
    conn = sqlite3.connect(str(path))
    conn.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    conn.close()


def test_a_damaged_database_of_ours_is_moved_aside_as_corrupt(tmp_path, caplog):
    path = tmp_path / 'flower'
    _saved_database(path)
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 20 * page
    data[5 * page : 15 * page] = os.urandom(10 * page)  # a run of garbage over table and index pages
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR, logger='flower.persistence'):
        assert_moved_aside(path, 'corrupt', bytes(data), caplog, 'damaged')
    assert '.recover' in caplog.text


def test_a_truncated_database_is_moved_aside_as_corrupt(tmp_path, caplog):
    path = tmp_path / 'flower'
    _saved_database(path, tasks=50)
    original = path.read_bytes()[:10]
    path.write_bytes(original)
    with caplog.at_level(logging.ERROR, logger='flower.persistence'):
        assert_moved_aside(path, 'corrupt', original, caplog, 'SQLite header')


def test_moving_aside_takes_the_wal_along_and_never_overwrites(tmp_path):
    path = tmp_path / 'flower'
    path.write_bytes(b'first')
    (tmp_path / 'flower-wal').write_bytes(b'its wal')
    first = move_aside(str(path), 'corrupt', now=1_700_000_000)
    path.write_bytes(b'second')
    second = move_aside(str(path), 'corrupt', now=1_700_000_000)
    assert first != second and MOVED.search(first) and MOVED.search(second)
    assert open(first, 'rb').read() == b'first' and open(first + '-wal', 'rb').read() == b'its wal'
    assert open(second, 'rb').read() == b'second'
    assert not path.exists() and not (tmp_path / 'flower-wal').exists()


def test_an_empty_file_or_empty_sqlite_database_is_simply_used(tmp_path):
    empty = tmp_path / 'empty'
    empty.write_bytes(b'')
    blank = tmp_path / 'blank'
    sqlite3.connect(str(blank)).execute('PRAGMA user_version').fetchall()
    for path in (empty, blank):
        result = open_database(str(path))
        result.connection.close()
        assert result.created and result.moved_to is None and is_ours(path)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(('-wal', '-shm'))) == ['blank', 'empty']


def test_a_location_that_cannot_hold_a_database_is_a_clear_error(tmp_path):
    with pytest.raises(PersistenceError, match=r'the directory .*missing.* does not exist'):
        load(tmp_path / 'missing' / 'flower')
    assert not (tmp_path / 'missing').exists()
    (tmp_path / 'adir').mkdir()
    with pytest.raises(PersistenceError, match='is a directory'):
        load(tmp_path / 'adir')
    assert list((tmp_path / 'adir').iterdir()) == []
