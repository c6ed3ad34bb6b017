"""Opening the ``--db`` file: deciding whether it is ours, moving aside what is not, creating the schema.

Rules owned here:

* A file that is not ours (an old Flower ``shelve`` file, another program's SQLite database, any other bytes)
  or a damaged one is never deleted or written to: it is renamed next to where it was, to
  ``<name>.<YYYYmmdd-HHMMSS>.foreign`` or ``<name>.<YYYYmmdd-HHMMSS>.corrupt`` (with its ``-wal``/``-shm``
  companions, so SQLite still finds them), the reason is logged, and a fresh database is created.
* A location that cannot hold a database (missing directory, a directory in the way, no write permission)
  is a :class:`PersistenceError` with a message saying what to fix: the server does not start rather than
  silently running without the history the user asked to keep.
* Connections use WAL journaling with ``synchronous=NORMAL``: a committed save survives the process being
  killed, and a reader (the ``sqlite3`` shell) never blocks the writer.

Called at start-up, before the IOLoop runs, by :mod:`flower.persistence.loader`; :func:`connect` also by the
writer thread for its own connection.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from flower.persistence.schema import APPLICATION_ID, CREATE_STATEMENTS, OUR_TABLES, SCHEMA_VERSION

logger = logging.getLogger(__name__)

SQLITE_HEADER = b'SQLite format 3\x00'
COMPANION_SUFFIXES = ('-wal', '-shm', '-journal')
# What dbm (behind Python's shelve, which Flower 2.1 uses) may create next to the --db name.
OLD_FLOWER_SUFFIXES = ('.db', '.dat', '.dir', '.bak', '.pag')
BUSY_TIMEOUT = 10.0  # seconds to wait for a lock held by another connection (an operator's shell)


class PersistenceError(RuntimeError):
    """The ``--db`` location cannot be used at all; the message says why and what to do."""


@dataclass
class Problem:
    kind: str  # 'foreign' or 'corrupt': also the suffix the file is moved aside with
    reason: str


@dataclass
class OpenResult:
    connection: sqlite3.Connection
    path: str
    created: bool  # a new, empty database (nothing to load)
    moved_to: str | None = None  # where a foreign or corrupt file went


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL journaling, crash-safe syncing."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT)
    mode = conn.execute('PRAGMA journal_mode=WAL').fetchone()[0]
    if str(mode).lower() != 'wal':
        # e.g. a file system without shared memory support; rollback journaling still keeps saves atomic
        logger.warning(
            'SQLite could not use WAL journaling for %s (got %r); saves stay atomic but readers may block them',
            path,
            mode,
        )
    conn.execute('PRAGMA synchronous=NORMAL')
    return conn


def open_database(given_path: str) -> OpenResult:
    """Open (or create) the database at ``given_path``, moving aside a file that is not a usable one of ours."""
    path = os.path.abspath(os.path.expanduser(given_path))
    check_location(given_path, path)
    note_old_flower_files(path)
    problem = inspect_file(path)
    moved_to = None
    if problem is not None:
        moved_to = move_aside(path, problem.kind)
        if problem.kind == 'corrupt':
            logger.error(
                'The --db file %s is damaged (%s). Moved it to %s (nothing was deleted; SQLite\'s '
                '".recover" command may get data back from it) and starting with an empty state.',
                path,
                problem.reason,
                moved_to,
            )
        else:
            logger.error(
                'The --db file %s is not a flower state database (%s). Moved it to %s (nothing was '
                'deleted) and starting with an empty state.',
                path,
                problem.reason,
                moved_to,
            )
    try:
        conn = _connect_new_or_existing(path)
        created = ensure_schema(conn)
    except sqlite3.Error as exc:
        raise PersistenceError(f'Cannot use --db={given_path} ({path}): {exc}') from exc
    return OpenResult(conn, path, created, moved_to)


def check_location(given_path: str, path: str) -> None:
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise PersistenceError(
            f'Cannot use --db={given_path}: the directory {directory} does not exist '
            '(create it, or point --db somewhere else)'
        )
    if os.path.isdir(path):
        raise PersistenceError(f'Cannot use --db={given_path}: {path} is a directory; --db names a file')
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PersistenceError(
            f'Cannot use --db={given_path}: the directory {directory} is not writable '
            '(SQLite keeps its -wal and -shm files next to the database)'
        )
    if os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
        raise PersistenceError(f'Cannot use --db={given_path}: {path} is not readable and writable by this user')


def note_old_flower_files(path: str) -> None:
    """Flower's shelve may have put its files next to the --db name (``flower.dat``, ``flower.db``, ...).
    They are not in our way and not read; say so once, so nobody wonders where the old history went."""
    found = [path + suffix for suffix in OLD_FLOWER_SUFFIXES if os.path.isfile(path + suffix)]
    if found:
        logger.warning(
            'Found files that look like an old Flower state (%s): they are not read (Flower\'s '
            'pickled shelve format) and are left as they are; this server keeps its state in the '
            'SQLite file %s',
            ', '.join(found),
            path,
        )


def inspect_file(path: str) -> Problem | None:
    """``None`` when ``path`` is absent, empty, an empty SQLite database or a healthy one of ours."""
    try:
        with open(path, 'rb') as handle:
            header = handle.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return None
    if not header:
        return None  # a zero-byte file holds no data; SQLite treats it as an empty database
    if header != SQLITE_HEADER:
        if SQLITE_HEADER.startswith(header):
            return Problem('corrupt', f'only {len(header)} bytes of an SQLite header')
        return Problem('foreign', 'not an SQLite database: ' + describe_foreign_bytes(header))
    try:
        # read-only: a foreign or damaged file is moved aside as it was found (a read-write connection would
        # fold a leftover -wal file into it on closing)
        conn = sqlite3.connect(
            Path(path).absolute().as_uri() + '?mode=ro', uri=True, isolation_level=None, timeout=BUSY_TIMEOUT
        )
    except sqlite3.Error as exc:
        return Problem('corrupt', str(exc))
    try:
        return _inspect_sqlite(conn)
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and 'locked' in str(exc):
            raise PersistenceError(
                f'The --db file {path} is locked by another process (another flower server using the same file?): {exc}'
            ) from exc
        return Problem('corrupt', str(exc))
    finally:
        conn.close()


def _inspect_sqlite(conn: sqlite3.Connection) -> Problem | None:
    # quick_check reads every page (O(size)) but skips the index-content cross-checks of integrity_check
    findings = [row[0] for row in conn.execute('PRAGMA quick_check(5)')]
    if findings != ['ok']:
        return Problem('corrupt', 'SQLite integrity check: ' + '; '.join(str(f) for f in findings))
    app_id = conn.execute('PRAGMA application_id').fetchone()[0]
    version = conn.execute('PRAGMA user_version').fetchone()[0]
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if app_id == APPLICATION_ID:
        if version > SCHEMA_VERSION:
            return Problem(
                'foreign',
                f'written by a newer version of flower (schema {version}; this version '
                f'reads schema {SCHEMA_VERSION} and older)',
            )
        if not OUR_TABLES <= tables:
            return Problem('corrupt', f'tables missing: {", ".join(sorted(OUR_TABLES - tables))}')
        return None
    if not tables and app_id == 0:
        return None  # an empty SQLite database: nothing to lose by making it ours
    if 'Dict' in tables:
        what = "an SQLite-backed shelve (Python 3.13's dbm.sqlite3, as an old Flower writes)"
    else:
        what = f'an SQLite database of another program (tables: {", ".join(sorted(tables)) or "none"})'
    return Problem('foreign', what)


def describe_foreign_bytes(header: bytes) -> str:
    # GNU dbm's magic numbers (0x13579ace old, ...acd 32-bit, ...acf 64-bit, ...ad0/ad1 with numsync), in
    # either byte order: Flower's default --db=flower is such a file on most Linux systems
    gdbm = {bytes([0x13, 0x57, 0x9A, last]) for last in (0xCD, 0xCE, 0xCF, 0xD0, 0xD1)}
    magic = {
        **{prefix: 'a GNU dbm file (an old Flower shelve)' for prefix in gdbm | {p[::-1] for p in gdbm}},
        b'\x00\x06\x15\x61': 'a Berkeley DB file (an old Flower shelve)',
        b'\x61\x15\x06\x00': 'a Berkeley DB file (an old Flower shelve)',
    }
    for prefix, name in magic.items():
        if header.startswith(prefix) or header[12:16] == prefix:
            return name
    if header[:1] == b'\x80':
        return 'Python pickle data (an old Flower shelve)'
    return f'starts with {header[:8]!r}'


def move_aside(path: str, kind: str, now: float | None = None) -> str:
    """Rename ``path`` (and its SQLite companions) to ``<path>.<YYYYmmdd-HHMMSS>.<kind>``; never overwrites."""
    stamp = time.strftime('%Y%m%d-%H%M%S', time.localtime(now))
    target = f'{path}.{stamp}.{kind}'
    counter = 1
    while any(os.path.lexists(target + suffix) for suffix in ('',) + COMPANION_SUFFIXES):
        counter += 1
        target = f'{path}.{stamp}-{counter}.{kind}'
    os.rename(path, target)
    for suffix in COMPANION_SUFFIXES:
        if os.path.lexists(path + suffix):
            os.rename(path + suffix, target + suffix)
    return target


def _connect_new_or_existing(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT)
    try:
        if conn.execute('SELECT count(*) FROM sqlite_master').fetchone()[0] == 0:
            # Only possible before the first table exists: lets a prune give pages back to the file system
            # (``PRAGMA incremental_vacuum``), so lowering --max_tasks shrinks the file.
            conn.execute('PRAGMA auto_vacuum=INCREMENTAL')
            conn.execute('VACUUM')  # makes the setting stick in a file that already has a header (WAL mode)
    finally:
        conn.close()
    return connect(path)


def ensure_schema(conn: sqlite3.Connection) -> bool:
    """Create the tables in an empty database (returns True), or check an existing one is current."""
    version = conn.execute('PRAGMA user_version').fetchone()[0]
    if version == SCHEMA_VERSION:
        return False
    if version == 0:
        conn.execute('BEGIN IMMEDIATE')
        try:
            for statement in CREATE_STATEMENTS:
                conn.execute(statement)
            conn.execute(f'PRAGMA application_id = {APPLICATION_ID}')
            conn.execute(f'PRAGMA user_version = {SCHEMA_VERSION}')
            conn.executemany(
                'INSERT INTO meta (key, value) VALUES (?, ?)',
                [('schema_version', SCHEMA_VERSION), ('created_at', time.time())],
            )
            conn.execute('COMMIT')
        except BaseException:
            conn.execute('ROLLBACK')
            raise
        return True
    # Older schema versions would be migrated here, one step at a time, each in its own transaction.
    raise sqlite3.DatabaseError(f'unknown schema version {version}')
