"""Every row of every table of the backend's SQLite store, to show that a request changed nothing.

Read through a connection of its own (the store runs in WAL mode, so this sees
exactly what is committed), sorted so row order does not matter.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path


def snapshot_store(db_path: Path | str) -> dict[str, list[str]]:
    """``{table: sorted repr of its rows}`` for every table of the SQLite file ``db_path``."""
    with sqlite3.connect(db_path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(map(repr, db.execute(f'SELECT * FROM "{t}"').fetchall())) for t in tables}
