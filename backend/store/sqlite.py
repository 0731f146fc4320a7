""":class:`SQLiteStore`: every table group of the store on one SQLite file."""
from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .base import Store
from .connection import StoreConnection, database_errors
from .migrate import upgrade_sqlite
from .tables import StoreTables

#: how long an open waits for other processes switching a fresh file to WAL (the connection's busy timeout)
OPEN_TIMEOUT_SECONDS = 30.0


def _enter_wal_mode(db: sqlite3.Connection) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another connection holds the file.

    Switching a fresh file to WAL needs its exclusive lock, and SQLite answers
    "database is locked" at once, without its busy handler, when waiting could
    deadlock (another process opening the same fresh file, or migrating it).
    """
    deadline = time.monotonic() + OPEN_TIMEOUT_SECONDS
    pause = 0.01
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


class SQLiteConnection(StoreConnection):
    """The SQLite dialect of :class:`~backend.store.connection.StoreConnection`: one file (stdlib ``sqlite3``,
    WAL mode, synchronous commits).

    Other processes (rq workers) open their own connection; SQLite serialises
    the writers: a transaction begins with ``BEGIN IMMEDIATE``, which takes the
    file's write lock (waiting up to 30 s for another writer).
    """

    #: the aggregate joining a group's strings with the ASCII record separator
    JOIN_RECORDS = "group_concat({}, char(30))"
    UNIT_SEPARATOR = "char(31)"

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        _enter_wal_mode(self._db)
        self._db.execute("PRAGMA synchronous=FULL")
        upgrade_sqlite(self.path)

    def _begin(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        self._db.execute("COMMIT")

    def _rollback(self) -> None:
        self._db.execute("ROLLBACK")

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            return self._db.execute(sql, tuple(params))

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock:
            self._db.executemany(sql, rows)

    def _insert_id(self, sql: str, params: Sequence[Any], column: str = "id") -> int:
        return int(self._execute(sql, params).lastrowid)


class SQLiteStore(SQLiteConnection, StoreTables, Store):
    """:class:`Store` in one SQLite file (stdlib ``sqlite3``, WAL mode).

    One connection shared by the server's threads behind a lock; other
    processes (rq workers) open their own and SQLite serialises the writers.
    The methods live with their tables, one module per group (see
    :mod:`backend.store`); the plumbing is in :mod:`~backend.store.connection`.
    """

    def check(self) -> tuple[bool, str | None]:
        try:
            self._query("SELECT COUNT(*) FROM projects")
        except database_errors() as exc:
            return False, f"{type(exc).__name__}: {exc}"
        # no write here: a write would wait for another process's lock, and /health must answer fast
        if not os.access(self.path, os.W_OK) or not os.access(self.path.parent, os.W_OK):
            return False, f"{self.path} is not writable"
        return True, None

    def describe(self) -> str:
        return str(self.path)
