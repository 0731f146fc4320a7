""":class:`PostgresStore`: every table group of the store in a PostgreSQL database (``DATABASE_URL``).

Several backend processes (gunicorn workers, hosts) and rq workers share the
database, each with one connection (psycopg 3) per store, shared by its
threads behind a lock as SQLite's is.

Write transactions: the table groups read, decide in Python, then write (a
revision counter, the next ``seq`` of a round's decisions, a refresh's
claim of the label-change count, the stored version of an annotation, a
task's last read...).  SQLite makes that safe with ``BEGIN IMMEDIATE``: one
writer at a time, and it reads the latest commit.  Here every transaction takes
the same guarantee at its ``BEGIN``: ``pg_advisory_xact_lock`` on one key
(:data:`WRITE_LOCK_KEY`), held until ``COMMIT``/``ROLLBACK``, under READ
COMMITTED, where each statement reads what was committed before it started.
Writers run one at a time, each sees every earlier writer's commit, and no
read-modify-write loses an update, for any mix of processes and hosts.

Why not SERIALIZABLE with retries: a serialization failure can only be
handled by running the whole transaction again, but the store's transactions
are ``with store.transaction():`` blocks of the callers (the service groups
several writes, and Python decisions between them, into one), which a store
cannot replay; the failure would reach the caller as an error.  The lock costs
what SQLite's costs (writers wait for each other; reads never wait) and keeps
the two stores' semantics the same, which the tests check on both.

A connection lost (database restarted, network cut) fails the call that finds
it; the next transaction or read reconnects.  A read outside a transaction is
retried once on a fresh connection when its connection turned out broken.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import psycopg

from ..database_url import public_url, scrub
from .base import Store
from .connection import StoreConnection, StoreError, database_errors
from .migrate import upgrade_postgres
from .tables import StoreTables

#: key of the transaction-scoped advisory lock every write transaction holds (any bigint, this store's own)
WRITE_LOCK_KEY = 0x6D6F64656C00  # "model" 00
#: seconds to wait for a connection
CONNECT_TIMEOUT = 10


@lru_cache(maxsize=4096)
def to_psycopg(sql: str) -> str:
    """The store's SQL with psycopg's placeholders: ``?`` -> ``%s`` (a literal ``%`` doubled).

    The store's SQL never has ``?`` inside a string literal, so a plain replacement is exact."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresConnection(StoreConnection):
    """The PostgreSQL dialect of :class:`~backend.store.connection.StoreConnection` (see the module)."""

    #: the aggregate joining a group's strings with the ASCII record separator
    JOIN_RECORDS = "string_agg({}, chr(30))"
    UNIT_SEPARATOR = "chr(31)"

    def __init__(self, url: str):
        super().__init__()
        self._url = url
        self._db = self._connect()
        try:
            upgrade_postgres(self._raw_connect)
        except Exception as exc:  # psycopg's error, or SQLAlchemy's wrapper of it
            self._db.close()
            raise StoreError(f"cannot migrate the PostgreSQL database {public_url(url)}: "
                             f"{scrub(f'{type(exc).__name__}: {exc}', url)}") from None

    def _raw_connect(self) -> psycopg.Connection:
        return psycopg.connect(self._url, connect_timeout=CONNECT_TIMEOUT)

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to the PostgreSQL database {public_url(self._url)}: "
                             f"{scrub(exc, self._url)}") from None

    def _reconnect_if_broken(self) -> None:
        if self._depth == 0 and self._db.broken:
            self._db = self._connect()

    def _begin(self) -> None:
        self._reconnect_if_broken()
        try:
            self._db.execute("BEGIN")
        except psycopg.OperationalError:
            if not self._db.broken:
                raise
            self._db = self._connect()  # lost since its last use: nothing was done on it yet
            self._db.execute("BEGIN")
        try:
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
        except BaseException:
            self._rollback()
            raise

    def _commit(self) -> None:
        self._db.execute("COMMIT")

    def _rollback(self) -> None:
        if self._db.broken or self._db.closed:
            return  # the server ended the transaction with the connection
        self._db.execute("ROLLBACK")

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            self._reconnect_if_broken()
            return self._db.execute(to_psycopg(sql), tuple(params))

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        params = tuple(params)
        with self._lock:
            try:
                return self._execute(sql, params).fetchall()
            except psycopg.OperationalError:
                if self._depth or not self._db.broken:
                    raise
            return self._execute(sql, params).fetchall()  # a read, on a fresh connection

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock:
            self._reconnect_if_broken()
            self._db.cursor().executemany(to_psycopg(sql), [tuple(r) for r in rows])

    def _insert_id(self, sql: str, params: Sequence[Any], column: str = "id") -> int:
        return int(self._execute(f"{sql} RETURNING {column}", params).fetchone()[0])


class PostgresStore(PostgresConnection, StoreTables, Store):
    """:class:`Store` in a PostgreSQL database: the same tables, methods and transaction semantics as
    :class:`~backend.store.SQLiteStore` (see :mod:`backend.store.postgres`)."""

    def check(self) -> tuple[bool, str | None]:
        try:
            self._query("SELECT COUNT(*) FROM projects")
            read_only = self._query("SELECT current_setting('transaction_read_only')")[0][0] == "on"
        except database_errors() as exc:
            return False, scrub(f"{type(exc).__name__}: {exc}", self._url)
        if read_only:
            return False, f"{public_url(self._url)} is read-only (a standby, or default_transaction_read_only)"
        return True, None

    def describe(self) -> str:
        return public_url(self._url)

    @property
    def lock_url(self) -> str:
        """The URL (with its password) a cross-process lock connects with (:mod:`backend.project_lock`);
        never shown."""
        return self._url
