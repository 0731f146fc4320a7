"""Per-project state: label config, tasks, cached candidate predictions, labels.

:class:`Store` (:mod:`~backend.store.base`) is the interface the service uses;
:class:`SQLiteStore` (:mod:`~backend.store.sqlite`) keeps everything in one
SQLite file under ``MODEL_DIR`` (WAL journal, synchronous commits), so a label
acknowledged with HTTP 200 survives a kill of the process;
:class:`PostgresStore` (:mod:`~backend.store.postgres`) keeps the same tables
in the PostgreSQL database of ``DATABASE_URL``, shared by several backend
processes, hosts and rq workers.  :func:`open_store` opens the one the settings
name.  The values they store and return,
:class:`AnnotationVersion` and :class:`Label`, live in :mod:`backend.records`.

Labels are kept per annotation, with the annotation's ``updated_at`` as its
version.  That makes every webhook delivery idempotent and order-independent:

* a delivery older than the stored version of its annotation is ignored
  (a late ``ANNOTATION_CREATED`` cannot undo an ``ANNOTATION_UPDATED``);
* a cancelled or empty annotation is stored as "no label", so it removes an
  earlier label of the same annotation and is not resurrected by a late one;
* deleted annotations and tasks leave a tombstone, so a late create after the
  delete stores nothing (Label Studio never reuses ids);
* two deliveries of one annotation with equal ``updated_at``, or without one,
  are ordered by a deterministic tie-break (the canonical JSON of the state), so
  the outcome does not depend on the delivery order.

That is *payload mode*, trusted payloads.  In *confirmation mode* (Label
Studio's API configured, see :mod:`backend.confirm`) webhooks only leave
:meth:`Store.add_hint` records, and :meth:`Store.mirror_tasks`
makes the stored tasks equal to what Label Studio answered: no payload value,
tombstone or ``updated_at`` from a caller decides anything there.

Layout: :mod:`~backend.store.migrate` with ``migrations/`` (alembic: the tables,
created and migrated at every open, old store files included),
:mod:`~backend.store.schema` (chunked ``IN`` lists),
:mod:`~backend.store.connection` (transactions, change counters, the SQL both
databases accept), the dialects :mod:`~backend.store.sqlite` and
:mod:`~backend.store.postgres`, then one module per group of tables, combined
in :mod:`~backend.store.tables`: :mod:`~backend.store.projects`, :mod:`~backend.store.tasks`
(tasks, cached predictions, prediction failures), :mod:`~backend.store.labels`,
:mod:`~backend.store.hints`, :mod:`~backend.store.mirroring`,
:mod:`~backend.store.rounds` (rounds, decisions), :mod:`~backend.store.jobs`,
:mod:`~backend.store.refresh_state` (queue write-back bookkeeping) and
:mod:`~backend.store.ranking_snapshots`, :mod:`~backend.store.belief_history`
and :mod:`~backend.store.sync_log`.  The SQL of each group is written once
and runs on both databases.
"""
from __future__ import annotations

from ..records import AnnotationVersion, Label
from .base import Store
from .connection import StoreError, database_errors
from .jobs import JOB_STATES
from .postgres import PostgresStore
from .schema import IN_LIST_SIZE, in_lists
from .sqlite import SQLiteStore


def open_store(database_url: str | None, sqlite_path) -> Store:
    """The store the settings name: PostgreSQL at ``database_url`` when set, else the SQLite file ``sqlite_path``.

    Opening migrates the database to the newest schema; :class:`StoreError` when it cannot be opened.
    """
    if database_url:
        return PostgresStore(database_url)
    return SQLiteStore(sqlite_path)


__all__ = ["AnnotationVersion", "IN_LIST_SIZE", "JOB_STATES", "Label", "PostgresStore", "SQLiteStore", "Store",
           "StoreError", "database_errors", "in_lists", "open_store"]
