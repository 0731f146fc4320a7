"""Store files as versions before alembic left them, for the migration tests.

:data:`OLD_SCHEMA` is the store's SQL before alembic came in, verbatim
(``backend/store/schema.py`` then); :func:`make_oldest_store_file` writes a file as
the first versions did: ``jobs`` without ``enqueued_at``, ``projects`` with
``pool_revision`` (renamed ``matrix_revision`` since), no ``belief_history`` or
``periodic_syncs``, and no alembic version table, with a few rows.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

OLD_SCHEMA = """
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


def make_oldest_store_file(path: Path | str) -> None:
    """Write a store file in the oldest format (see the module) with one project, task, label, hint and job."""
    schema = OLD_SCHEMA[:OLD_SCHEMA.index("CREATE TABLE IF NOT EXISTS belief_history")]
    schema = schema.replace("matrix_revision INTEGER", "pool_revision INTEGER").replace(", enqueued_at REAL", "")
    with sqlite3.connect(path) as db:
        db.executescript(schema)
        db.execute("INSERT INTO projects (project, label_config, revision, pool_revision) VALUES (1, '<View/>', 7, 3)")
        db.execute("""INSERT INTO tasks VALUES (1, 5, '{"key": "k"}')""")
        db.execute("INSERT INTO annotations VALUES (1, 50, 5, 'zero', 100.0)")
        db.execute("INSERT INTO hints (project, action, tasks, annotations, config, received_at) "
                   "VALUES (1, 'ANNOTATION_CREATED', '[5]', '[50]', 0, 10.0)")
        db.execute("INSERT INTO jobs (id, project, kind, state, created_at) VALUES ('old', 1, 'confirm', 'queued', 5)")
    db.close()
