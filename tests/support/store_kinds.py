"""The stores the backend tests run on: SQLite (a file under the test's tmp_path) and PostgreSQL.

On PostgreSQL each test gets schemas of its own in the session's throw-away
cluster (:mod:`tests.support.postgres_server`): ``DATABASE_URL`` carries
``options=-csearch_path=<schema>``, so the store, its alembic migration and
every later process (an rq worker built from the environment) see only that
schema.  A schema is much cheaper than a database (``CREATE DATABASE`` copies a
template: about 0.2 s each).  The schemas are dropped after the test, and any
session still connected to one (a store a test left open) is ended first, by
its ``application_name``.

``MODELPICKER_TEST_STORES`` (comma-separated, default ``sqlite,postgres``)
narrows the kinds; pytest's header says which ran.
"""
from __future__ import annotations

import itertools
import os
from urllib.parse import quote

KINDS = ("sqlite", "postgres")


def stores_under_test() -> tuple[str, ...]:
    """The store kinds this run covers (``MODELPICKER_TEST_STORES``); ValueError naming an unknown one."""
    raw = os.environ.get("MODELPICKER_TEST_STORES", ",".join(KINDS))
    kinds = tuple(k.strip() for k in raw.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"MODELPICKER_TEST_STORES must list some of {', '.join(KINDS)}, got {raw!r}")
    return kinds


_numbers = itertools.count(1)


class Schemas:
    """The PostgreSQL schemas of one test, each with a ``DATABASE_URL`` of its own (see the module)."""

    def __init__(self, server_url: str):
        self.server_url = server_url
        self.prefix = f"t{os.getpid()}_{next(_numbers)}"
        self.made: dict[str, str] = {}

    def url(self, name: str = "main") -> str:
        """``DATABASE_URL`` of the test's schema ``name`` (made empty on first use)."""
        if name not in self.made:
            schema = f"{self.prefix}_{len(self.made)}"
            with _admin(self.server_url) as db:
                db.execute(f'CREATE SCHEMA "{schema}"')
            options = quote(f"-csearch_path={schema}", safe="")
            self.made[name] = f"{self.server_url}?options={options}&application_name={schema}"
        return self.made[name]

    def drop(self) -> None:
        """End the sessions still on the test's schemas, then drop them."""
        if not self.made:
            return
        with _admin(self.server_url) as db:
            db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE %s "
                       "AND pid <> pg_backend_pid()", (self.prefix + "\\_%",))
            for i in range(len(self.made)):
                db.execute(f'DROP SCHEMA IF EXISTS "{self.prefix}_{i}" CASCADE')


def _admin(server_url: str):
    import psycopg

    return psycopg.connect(server_url, autocommit=True, connect_timeout=10)


def open_test_store(kind: str, tmp_path, schemas: Schemas | None, name: str = "s"):
    """A store of ``kind``: the SQLite file ``tmp_path/<name>.sqlite3``, or the test's PostgreSQL schema ``name``."""
    from backend.store import PostgresStore, SQLiteStore

    if kind == "sqlite":
        return SQLiteStore(tmp_path / f"{name}.sqlite3")
    return PostgresStore(schemas.url(name))
