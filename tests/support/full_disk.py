"""A really full ``--db`` for tests, without privileges: the writer thread's connection may not grow the file
(``PRAGMA max_page_count`` at its size when it connects), so SQLite answers SQLITE_FULL ("database or disk is
full") exactly as on a full disk. The file holds a ballast table; deleting its rows frees pages, which is
"space returning"."""

from __future__ import annotations

import sqlite3

from flower.persistence import writer as writer_module
from flower.persistence.database import open_database


def fill_with_ballast(path, size: int = 300_000) -> None:
    """Create our database at ``path`` holding ``size`` bytes that :func:`free_space` deletes."""
    opened = open_database(str(path))
    opened.connection.execute('CREATE TABLE ballast (data BLOB)')
    opened.connection.execute('INSERT INTO ballast VALUES (zeroblob(?))', (size,))
    opened.connection.close()


def cap_writer_at_its_current_size(monkeypatch) -> None:
    real_connect = writer_module.connect

    def capped(path):
        conn = real_connect(path)
        pages = conn.execute('PRAGMA page_count').fetchone()[0]
        conn.execute(f'PRAGMA max_page_count = {pages}')
        return conn

    monkeypatch.setattr(writer_module, 'connect', capped)


def free_space(path) -> None:
    """What an operator does: delete something (another connection, as the sqlite3 shell would)."""
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=10)
    try:
        conn.execute('DELETE FROM ballast')
    finally:
        conn.close()
