"""Every row of every table of the backend's store, to show that a request changed nothing.

Sorted so row order does not matter.  Given a SQLite file, it is read through
a connection of its own (the store runs in WAL mode, so this sees exactly what
is committed); given a store, through the store's connection outside any
transaction (what is committed, on SQLite and PostgreSQL alike).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def snapshot_store(target: Any) -> dict[str, list[str]]:
    """``{table: sorted repr of its rows}`` for every table of ``target``: a SQLite file or an open store."""
    if isinstance(target, (str, Path)):
        with sqlite3.connect(target) as db:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            return {t: sorted(map(repr, db.execute(f'SELECT * FROM "{t}"').fetchall())) for t in tables}
    from backend.store import PostgresStore

    if isinstance(target, PostgresStore):
        sql = ("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
               "ORDER BY table_name")
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    tables = [r[0] for r in target._query(sql)]
    return {t: sorted(map(repr, target._query(f'SELECT * FROM "{t}"'))) for t in tables}
