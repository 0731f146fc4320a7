"""Schema migrations of the store: alembic, run at every open, on SQLite and PostgreSQL alike.

The revisions live in ``backend/store/migrations/versions/`` (inside the
package, so an installed package and the Docker image carry them); ``0001`` is
the baseline, which also brings store files made before alembic to its schema.
SQLAlchemy serves alembic only: the store keeps its own ``sqlite3`` or psycopg
connection.

:func:`upgrade_sqlite` and :func:`upgrade_postgres` bring a database to the
newest revision under a lock, so processes that open the same fresh database
at once (gunicorn workers, rq workers, hosts) neither fail nor migrate twice:
the whole upgrade is one transaction that starts with SQLite's ``BEGIN
IMMEDIATE`` (the file's write lock) or takes a PostgreSQL advisory lock; the
second process waits, then finds the version table at the newest revision and
does nothing.  DDL is transactional on both, so a failed upgrade leaves the
database as it was.

A new revision: ``python -m backend.store revision "what changes"`` writes a
file in ``versions/``; its ``upgrade()`` must run on both databases.
``python -m backend.store current`` prints a database's revision
(``DATABASE_URL``, or the SQLite file under ``MODEL_DIR``), migrating it first.
"""
from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

# alembic names each of its plugins at INFO on every start of every process; its migration lines stay
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

#: the alembic environment and its revisions
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: key of the PostgreSQL advisory lock held while migrating (any bigint; not the write lock's)
MIGRATION_LOCK_KEY = 0x6D6F64656C01  # "model" 01


def alembic_config(connection: Any = None):
    """An alembic ``Config`` for the store's revisions (no ini file), running on ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(connection: Any) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), "head")


def upgrade_sqlite(path: str | Path) -> None:
    """Bring the SQLite file ``path`` to the newest revision, inside one ``BEGIN IMMEDIATE`` transaction."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    engine = create_engine("sqlite://", poolclass=NullPool,
                           creator=lambda: sqlite3.connect(str(path), timeout=30, isolation_level=None))

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection):  # the file's write lock from the first statement on
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with engine.begin() as connection:
            _upgrade(connection)
    finally:
        engine.dispose()


def upgrade_postgres(connect) -> None:
    """Bring a PostgreSQL database to the newest revision, holding :data:`MIGRATION_LOCK_KEY` throughout.

    ``connect()`` returns a new psycopg connection to it (so no URL, and no password, reaches SQLAlchemy).
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine("postgresql+psycopg://", poolclass=NullPool, creator=connect)
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            _upgrade(connection)
    finally:
        engine.dispose()
