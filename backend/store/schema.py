"""The SQLite store's tables, the column added to old store files, and the chunked ``IN (...)`` lists.

A table added later (``belief_history``, ``periodic_syncs``) needs no migration: :func:`create_tables`
runs at every open and creates the tables an older store file lacks.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

#: values per SQL ``IN (...)`` list (older SQLite builds allow 999 bound parameters per statement)
IN_LIST_SIZE = 500


def in_lists(values: Iterable[Any]) -> Iterator[tuple[list, str]]:
    """``(chunk, "?,?,...")`` pairs over ``values``, :data:`IN_LIST_SIZE` at a time, for ``... IN ({marks})``."""
    values = list(values)
    for i in range(0, len(values), IN_LIST_SIZE):
        chunk = values[i:i + IN_LIST_SIZE]
        yield chunk, ",".join("?" * len(chunk))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (project INTEGER PRIMARY KEY, label_config TEXT,
    revision INTEGER NOT NULL DEFAULT 0, matrix_revision INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tasks (project INTEGER, task INTEGER, data TEXT NOT NULL, PRIMARY KEY (project, task));
CREATE TABLE IF NOT EXISTS deleted_tasks (project INTEGER, task INTEGER, PRIMARY KEY (project, task));
CREATE TABLE IF NOT EXISTS predictions (project INTEGER, task INTEGER, candidate TEXT, choice TEXT NOT NULL,
    PRIMARY KEY (project, task, candidate));
CREATE TABLE IF NOT EXISTS annotations (project INTEGER, annotation INTEGER, task INTEGER NOT NULL, choice TEXT,
    version REAL, PRIMARY KEY (project, annotation));
CREATE TABLE IF NOT EXISTS deleted_annotations (project INTEGER, annotation INTEGER, PRIMARY KEY (project, annotation));
CREATE TABLE IF NOT EXISTS rounds (project INTEGER, round INTEGER, started_at REAL NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (project, round));
CREATE TABLE IF NOT EXISTS task_rounds (project INTEGER, task INTEGER, round INTEGER NOT NULL,
    PRIMARY KEY (project, task));
CREATE TABLE IF NOT EXISTS decisions (project INTEGER, round INTEGER, seq INTEGER, state TEXT NOT NULL,
    candidate TEXT NOT NULL, p_best REAL NOT NULL, labels INTEGER NOT NULL, reason TEXT NOT NULL,
    evidence TEXT NOT NULL, decided_at REAL NOT NULL, PRIMARY KEY (project, round, seq));
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, project INTEGER, kind TEXT NOT NULL, state TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL, started_at REAL,
    finished_at REAL, result TEXT, run_after REAL, enqueued_at REAL);
CREATE INDEX IF NOT EXISTS jobs_by_project ON jobs (project, created_at);
CREATE TABLE IF NOT EXISTS refresh_state (project INTEGER PRIMARY KEY, label_changes INTEGER NOT NULL DEFAULT 0,
    changes_at_refresh INTEGER NOT NULL DEFAULT 0, last_refresh_at REAL, pushed_version TEXT);
CREATE TABLE IF NOT EXISTS candidates_pushed (project INTEGER, task INTEGER, PRIMARY KEY (project, task));
CREATE TABLE IF NOT EXISTS prediction_errors (project INTEGER, task INTEGER, candidate TEXT, error TEXT NOT NULL,
    PRIMARY KEY (project, task, candidate));
CREATE TABLE IF NOT EXISTS hints (id INTEGER PRIMARY KEY AUTOINCREMENT, project INTEGER NOT NULL,
    action TEXT NOT NULL, tasks TEXT NOT NULL, annotations TEXT NOT NULL, config INTEGER NOT NULL DEFAULT 0,
    received_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS hints_by_project ON hints (project, id);
CREATE TABLE IF NOT EXISTS ranking_snapshots (project INTEGER PRIMARY KEY, key TEXT NOT NULL,
    revision INTEGER NOT NULL, body TEXT NOT NULL, computed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS task_reads (project INTEGER, task INTEGER, read_at REAL NOT NULL,
    PRIMARY KEY (project, task));
CREATE TABLE IF NOT EXISTS label_studio_status (id INTEGER PRIMARY KEY CHECK (id = 1), kind TEXT NOT NULL,
    message TEXT, since REAL NOT NULL, last_ok_at REAL);
CREATE TABLE IF NOT EXISTS belief_history (project INTEGER, round INTEGER, seq INTEGER, labels INTEGER NOT NULL,
    candidates TEXT NOT NULL, p_best TEXT NOT NULL, gap TEXT NOT NULL, recorded_at REAL NOT NULL,
    PRIMARY KEY (project, round, seq));
CREATE TABLE IF NOT EXISTS periodic_syncs (project INTEGER PRIMARY KEY, at REAL NOT NULL, caught_up INTEGER NOT NULL,
    error TEXT, last_caught_up_at REAL, total_caught_up INTEGER NOT NULL DEFAULT 0);
"""


def create_tables(db: sqlite3.Connection) -> None:
    """Create the tables and indexes a store file lacks (``CREATE ... IF NOT EXISTS`` keeps existing ones)."""
    db.executescript(_SCHEMA)


def migrate(db: sqlite3.Connection) -> None:
    """Add the columns added after a store file may have been created (old tables keep their old columns)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(jobs)").fetchall()}
    if "enqueued_at" not in columns:
        db.execute("ALTER TABLE jobs ADD COLUMN enqueued_at REAL")
    columns = {row[1] for row in db.execute("PRAGMA table_info(projects)").fetchall()}
    if "pool_revision" in columns:  # named for what it counts since: changes of the round matrix's inputs
        db.execute("ALTER TABLE projects RENAME COLUMN pool_revision TO matrix_revision")
