"""Per-project state: label config, tasks, cached candidate predictions, labels.

:class:`Store` (:mod:`~backend.store.base`) is the interface the service uses;
:class:`SQLiteStore` (:mod:`~backend.store.sqlite`) keeps everything in one
SQLite file under ``MODEL_DIR`` (WAL journal, synchronous commits), so a label
acknowledged with HTTP 200 survives a kill of the process.  A Redis-backed
store would implement the same methods.  The values it stores and returns,
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
:meth:`SQLiteStore.add_hint` records, and :meth:`SQLiteStore.mirror_tasks`
makes the stored tasks equal to what Label Studio answered: no payload value,
tombstone or ``updated_at`` from a caller decides anything there.

Layout: :mod:`~backend.store.schema` (tables, migration of old files, chunked
``IN`` lists), :mod:`~backend.store.connection` (connection, transactions,
change counters), then one module per group of tables, combined into
:class:`SQLiteStore` in :mod:`~backend.store.sqlite`: :mod:`~backend.store.tasks`
(tasks, cached predictions, prediction failures), :mod:`~backend.store.labels`,
:mod:`~backend.store.hints`, :mod:`~backend.store.mirroring`,
:mod:`~backend.store.rounds` (rounds, decisions), :mod:`~backend.store.jobs`,
:mod:`~backend.store.refresh_state` (queue write-back bookkeeping) and
:mod:`~backend.store.ranking_snapshots`.
"""
from __future__ import annotations

from ..records import AnnotationVersion, Label
from .base import Store
from .jobs import JOB_STATES
from .schema import IN_LIST_SIZE, in_lists
from .sqlite import SQLiteStore

__all__ = ["AnnotationVersion", "IN_LIST_SIZE", "JOB_STATES", "Label", "SQLiteStore", "Store", "in_lists"]
