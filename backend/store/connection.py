"""The SQLite connection every part of :class:`~backend.store.SQLiteStore` works through.

One connection shared by the server's threads behind a lock, transactions
that nest, and the project's change counters.
"""
from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .schema import create_tables, in_lists, migrate


class SQLiteConnection:
    """One SQLite file (stdlib ``sqlite3``, WAL mode, synchronous commits) and the plumbing on it.

    The table groups of :class:`~backend.store.SQLiteStore` (tasks, labels,
    hints, mirroring, rounds, jobs, refresh state, ranking snapshots) derive
    from this class and are combined there; their methods call each other
    through ``self``.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        create_tables(self._db)
        self._migrate()

    def _migrate(self) -> None:
        """Columns added after a store file may have been created (``CREATE TABLE IF NOT EXISTS`` keeps old tables)."""
        with self._lock:
            migrate(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("COMMIT")

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    def _bump(self, project: int, matrix: bool = False) -> None:
        """Count a change; ``matrix`` when what a round's prediction matrix is built from changed (tasks,
        their predictions, the round), not only labels."""
        step = 1 if matrix else 0
        self._db.execute("INSERT INTO projects (project, revision, matrix_revision) VALUES (?, 1, ?) "
                         "ON CONFLICT (project) DO UPDATE SET revision = revision + 1, "
                         "matrix_revision = matrix_revision + ?", (project, step, step))

    def _select_ids(self, sql: str, project: int, ids: Iterable[int]) -> set[int]:
        """The ints of the first column of ``sql`` (``project = ?`` then ``IN ({marks})``) over ``ids``, chunked."""
        out = set()
        for chunk, marks in in_lists(sorted(set(ids))):
            out |= {int(r[0]) for r in self._query(sql.format(marks=marks), [project, *chunk])}
        return out
