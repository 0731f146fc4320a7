"""The connection every part of the store works through, whatever the database.

:class:`StoreConnection` holds what the table groups need: one connection
shared by the server's threads behind a lock, transactions that nest, the
project's change counters, and three helpers that keep the groups' SQL
portable.  The SQL the groups write is the common ground of SQLite and
PostgreSQL: ``?`` placeholders (translated for psycopg by
:class:`~backend.store.postgres.PostgresConnection`), ``INSERT ... ON CONFLICT``
instead of SQLite's ``INSERT OR REPLACE``/``OR IGNORE``, columns of the row
being updated qualified by their table inside ``DO UPDATE`` (PostgreSQL calls
a bare name ambiguous), no ``IN ()`` with an empty list.  A dialect, here
:class:`~backend.store.sqlite.SQLiteConnection` or
:class:`~backend.store.postgres.PostgresConnection`, supplies the connection,
``BEGIN``/``COMMIT`` and statement execution.
"""
from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from typing import Any

from .schema import in_lists

#: the columns of the tables whose rows are written whole (``INSERT OR REPLACE`` in SQLite's words), key first
REPLACED_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "tasks": (("project", "task"), ("data",)),
    "predictions": (("project", "task", "candidate"), ("choice",)),
    "prediction_errors": (("project", "task", "candidate"), ("error",)),
    "annotations": (("project", "annotation"), ("task", "choice", "version")),
    "ranking_snapshots": (("project",), ("key", "revision", "body", "computed_at")),
    "task_reads": (("project", "task"), ("read_at",)),
}


class StoreError(RuntimeError):
    """The store cannot be opened (the message names why, with no password)."""


@cache
def replace_sql(table: str) -> str:
    """``INSERT`` of a whole row of ``table`` that replaces the row with the same key (both dialects)."""
    key, rest = REPLACED_TABLES[table]
    columns = (*key, *rest)
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in rest))


def database_errors() -> tuple[type[BaseException], ...]:
    """The exception classes a store's database calls raise (SQLite's and psycopg's)."""
    import psycopg

    return (sqlite3.Error, psycopg.Error, StoreError)


class StoreConnection:
    """A database connection and the plumbing on it, shared by the table groups.

    The table groups of the store (tasks, labels, hints, mirroring, rounds,
    jobs, refresh state, ranking snapshots, ...) derive from this class and
    are combined with a dialect in :class:`~backend.store.SQLiteStore` and
    :class:`~backend.store.PostgresStore`; their methods call each other
    through ``self``.

    :meth:`transaction` is the one way to write: a write transaction holds the
    database's write lock from its ``BEGIN`` to its end (SQLite's ``BEGIN
    IMMEDIATE``; a transaction-scoped advisory lock on PostgreSQL), so the
    reads a transaction makes before it writes see every committed write and
    nothing else writes until it ends: no read-modify-write loses an update.
    """

    _db: Any
    #: SQL of the dialect: an aggregate joining a group's strings with the ASCII record separator (30), ``{}``
    #: the expression, and the ASCII unit separator (31) as an expression
    JOIN_RECORDS: str = ""
    UNIT_SEPARATOR: str = ""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0

    # ------------------------------------------------------------ the dialect
    def _begin(self) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _rollback(self) -> None:
        raise NotImplementedError

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns its cursor (``rowcount``, ``fetchall``)."""
        raise NotImplementedError

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _insert_id(self, sql: str, params: Sequence[Any], column: str = "id") -> int:
        """Run an ``INSERT`` of one row into a table whose ``column`` numbers rows; returns the row's number."""
        raise NotImplementedError

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---------------------------------------------------------- transactions
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._begin()
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._rollback()
                raise
            self._depth -= 1
            if self._depth == 0:
                self._commit()

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._execute(sql, tuple(params)).fetchall()

    # ------------------------------------------------------------ portable SQL
    def _replace(self, table: str, row: Sequence[Any]) -> None:
        """Write a whole row of ``table`` (columns in :data:`REPLACED_TABLES` order), over the row with its key."""
        self._execute(replace_sql(table), row)

    def _bump(self, project: int, matrix: bool = False) -> None:
        """Count a change; ``matrix`` when what a round's prediction matrix is built from changed (tasks,
        their predictions, the round), not only labels."""
        step = 1 if matrix else 0
        self._execute("INSERT INTO projects (project, revision, matrix_revision) VALUES (?, 1, ?) "
                      "ON CONFLICT (project) DO UPDATE SET revision = projects.revision + 1, "
                      "matrix_revision = projects.matrix_revision + ?", (project, step, step))

    def _select_ids(self, sql: str, project: int, ids: Iterable[int]) -> set[int]:
        """The ints of the first column of ``sql`` (``project = ?`` then ``IN ({marks})``) over ``ids``, chunked."""
        out = set()
        for chunk, marks in in_lists(sorted(set(ids))):
            out |= {int(r[0]) for r in self._query(sql.format(marks=marks), [project, *chunk])}
        return out
