"""Per-project state: label config, tasks, cached candidate predictions, labels.

:class:`Store` is the interface the service uses; :class:`SQLiteStore` keeps
everything in one SQLite file under ``MODEL_DIR`` (WAL journal, synchronous
commits), so a label acknowledged with HTTP 200 survives a kill of the process.
A Redis-backed store would implement the same methods.

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
"""
from __future__ import annotations

import abc
import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .records import AnnotationVersion, Label

__all__ = ["AnnotationVersion", "IN_LIST_SIZE", "JOB_STATES", "Label", "SQLiteStore", "Store", "in_lists"]


class Store(abc.ABC):
    """What the service needs from a state store; every method is per project.

    Rounds, decisions, job records, recorded prediction failures and the
    refresh bookkeeping of the queue write-back are, so far, only implemented
    by :class:`SQLiteStore`.
    """

    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager:
        """Group several writes so they commit together or not at all."""

    @abc.abstractmethod
    def get_label_config(self, project: int) -> str | None:
        """The last label config seen for the project; None for an unknown project."""

    @abc.abstractmethod
    def set_label_config(self, project: int, label_config: str) -> None: ...

    @abc.abstractmethod
    def projects(self) -> dict[int, str]:
        """Every project with a stored label config: ``project -> label config``."""

    @abc.abstractmethod
    def upsert_tasks(self, project: int, tasks: Iterable[tuple[int, dict]]) -> list[int]:
        """Store task data; returns the ids stored (deleted tasks are refused)."""

    @abc.abstractmethod
    def delete_tasks(self, project: int, task_ids: Iterable[int]) -> None:
        """Remove tasks, their predictions and labels, and remember them as deleted."""

    @abc.abstractmethod
    def task_data(self, project: int, task_ids: Iterable[int]) -> dict[int, dict]: ...

    @abc.abstractmethod
    def tasks_without_predictions(self, project: int, candidates: list[str],
                                  task_ids: Iterable[int] | None = None) -> list[int]:
        """Stored tasks (of ``task_ids``, or all) lacking a cached prediction of at least one candidate."""

    @abc.abstractmethod
    def save_predictions(self, project: int, rows: Iterable[tuple[int, str, str]]) -> None:
        """Cache ``(task, candidate, choice)`` rows."""

    @abc.abstractmethod
    def predictions(self, project: int, task_ids: Iterable[int] | None = None) -> dict[int, dict[str, str]]:
        """``task -> candidate -> Choice value`` for the cached predictions (of ``task_ids``, or all)."""

    @abc.abstractmethod
    def apply_annotations(self, project: int, versions: Iterable[AnnotationVersion]) -> int:
        """Store annotation states (see the module docstring); returns how many changed."""

    @abc.abstractmethod
    def delete_annotations(self, project: int, annotation_ids: Iterable[int]) -> int: ...

    @abc.abstractmethod
    def labels(self, project: int) -> list[Label]:
        """Every stored label (annotations with a Choice), by annotation id."""

    @abc.abstractmethod
    def revision(self, project: int) -> int:
        """A counter that grows with every change of the project's state."""

    @abc.abstractmethod
    def pool_revision(self, project: int) -> int:
        """A counter that grows with every change of the project's tasks or cached predictions."""

    @abc.abstractmethod
    def label_studio_status(self) -> dict | None:
        """``{"kind", "message", "since", "last_ok_at"}`` of the backend's last call to Label Studio, or None."""

    @abc.abstractmethod
    def set_label_studio_status(self, kind: str, message: str | None, now: float) -> None:
        """Record the outcome of a call (``kind`` ``"ok"`` or a failure kind); ``since`` changes with the kind."""

    @abc.abstractmethod
    def check(self) -> tuple[bool, str | None]:
        """``(usable, error message)``."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the state lives, for /health."""


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
    revision INTEGER NOT NULL DEFAULT 0, pool_revision INTEGER NOT NULL DEFAULT 0);
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
"""
def _order(version: float | None, task: int, choice: str | None) -> tuple:
    """The key that orders two delivered states of one annotation (payload mode).

    A later ``updated_at`` wins; a state with ``updated_at`` wins over one
    without; equal (or missing) ones are decided by the canonical JSON of the
    state, so every delivery order of the same set ends in the same state.
    """
    return (version is not None, version or 0.0, json.dumps([task, choice], sort_keys=True))


#: job states, in the order a job goes through them
JOB_STATES = ("queued", "started", "finished", "failed")


class SQLiteStore(Store):
    """:class:`Store` in one SQLite file (stdlib ``sqlite3``, WAL mode).

    One connection shared by the server's threads behind a lock; other
    processes (rq workers) open their own and SQLite serialises the writers.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Columns added after a store file may have been created (``CREATE TABLE IF NOT EXISTS`` keeps old tables)."""
        with self._lock:
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)").fetchall()}
            if "enqueued_at" not in columns:
                self._db.execute("ALTER TABLE jobs ADD COLUMN enqueued_at REAL")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ plumbing
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

    def _bump(self, project: int, pool: bool = False) -> None:
        """Count a change; ``pool`` when tasks or predictions changed (not only labels)."""
        step = 1 if pool else 0
        self._db.execute("INSERT INTO projects (project, revision, pool_revision) VALUES (?, 1, ?) "
                         "ON CONFLICT (project) DO UPDATE SET revision = revision + 1, "
                         "pool_revision = pool_revision + ?", (project, step, step))

    # ------------------------------------------------------------------ projects
    def get_label_config(self, project: int) -> str | None:
        rows = self._query("SELECT label_config FROM projects WHERE project = ?", (project,))
        return rows[0][0] if rows else None

    def set_label_config(self, project: int, label_config: str) -> None:
        with self.transaction():
            if self.get_label_config(project) != label_config:
                self._bump(project)
                self._db.execute("UPDATE projects SET label_config = ? WHERE project = ?", (label_config, project))
                # a failure may have been "maps to no Choice" of the old config: retry under the new one
                self._db.execute("DELETE FROM prediction_errors WHERE project = ?", (project,))

    def projects(self) -> dict[int, str]:
        return {int(p): c for p, c in self._query(
            "SELECT project, label_config FROM projects WHERE label_config IS NOT NULL ORDER BY project")}

    def revision(self, project: int) -> int:
        rows = self._query("SELECT revision FROM projects WHERE project = ?", (project,))
        return int(rows[0][0]) if rows else 0

    def pool_revision(self, project: int) -> int:
        rows = self._query("SELECT pool_revision FROM projects WHERE project = ?", (project,))
        return int(rows[0][0]) if rows else 0

    # --------------------------------------------------------------------- tasks
    def upsert_tasks(self, project: int, tasks: Iterable[tuple[int, dict]]) -> list[int]:
        stored = []
        with self.transaction():
            for task, data in tasks:
                if self._query("SELECT 1 FROM deleted_tasks WHERE project = ? AND task = ?", (project, task)):
                    continue
                text = json.dumps(data, sort_keys=True)
                old = self._query("SELECT data FROM tasks WHERE project = ? AND task = ?", (project, task))
                if not old or old[0][0] != text:
                    if old:  # new data: the cached predictions (and failures) were made from the old one
                        for table in ("predictions", "prediction_errors"):
                            self._db.execute(f"DELETE FROM {table} WHERE project = ? AND task = ?", (project, task))
                    self._db.execute("INSERT OR REPLACE INTO tasks VALUES (?, ?, ?)", (project, task, text))
                    self._db.execute("INSERT OR IGNORE INTO task_rounds VALUES (?, ?, ?)",
                                     (project, task, self.current_round(project)))
                    self._bump(project, pool=True)
                stored.append(task)
        return stored

    def delete_tasks(self, project: int, task_ids: Iterable[int]) -> None:
        with self.transaction():
            for task in task_ids:
                for table in ("tasks", "predictions", "annotations", "task_rounds", "candidates_pushed",
                              "prediction_errors"):
                    self._db.execute(f"DELETE FROM {table} WHERE project = ? AND task = ?", (project, task))
                self._db.execute("INSERT OR IGNORE INTO deleted_tasks VALUES (?, ?)", (project, task))
            self._bump(project, pool=True)

    def task_data(self, project: int, task_ids: Iterable[int]) -> dict[int, dict]:
        out = {}
        for chunk, marks in in_lists(task_ids):
            for task, data in self._query(f"SELECT task, data FROM tasks WHERE project = ? AND task IN ({marks})",
                                          [project, *chunk]):
                out[int(task)] = json.loads(data)
        return out

    # --------------------------------------------------------------- predictions
    def tasks_without_predictions(self, project: int, candidates: list[str],
                                  task_ids: Iterable[int] | None = None) -> list[int]:
        marks = ",".join("?" * len(candidates))
        sql = (f"SELECT t.task FROM tasks t LEFT JOIN predictions p ON p.project = t.project AND p.task = t.task "
               f"AND p.candidate IN ({marks}) WHERE t.project = ? {{only}} GROUP BY t.task "
               f"HAVING COUNT(p.candidate) < ? ORDER BY t.task")
        if task_ids is None:
            return [int(r[0]) for r in self._query(sql.format(only=""), [*candidates, project, len(candidates)])]
        out = []
        for chunk, marks in in_lists(sorted(set(task_ids))):
            only = f"AND t.task IN ({marks})"
            out += [int(r[0]) for r in self._query(sql.format(only=only),
                                                   [*candidates, project, *chunk, len(candidates)])]
        return out

    def save_predictions(self, project: int, rows: Iterable[tuple[int, str, str]]) -> None:
        with self.transaction():
            for task, candidate, choice in rows:
                if not self._query("SELECT 1 FROM tasks WHERE project = ? AND task = ?", (project, task)):
                    continue  # the task was deleted meanwhile
                self._db.execute("INSERT OR REPLACE INTO predictions VALUES (?, ?, ?, ?)",
                                 (project, task, candidate, choice))
            self._bump(project, pool=True)

    def save_prediction_errors(self, project: int, rows: Iterable[tuple[int, str, str]]) -> None:
        """Remember ``(task, candidate, error message)``: that candidate cannot predict that task's data.

        Kept until the task's data changes (:meth:`upsert_tasks`) or
        :meth:`clear_prediction_errors`; refreshes skip such tasks instead of failing on them.
        """
        with self.transaction():
            changed = False
            for task, candidate, error in rows:
                if self._query("SELECT 1 FROM tasks WHERE project = ? AND task = ?", (project, task)):
                    self._db.execute("INSERT OR REPLACE INTO prediction_errors VALUES (?, ?, ?, ?)",
                                     (project, task, candidate, error))
                    changed = True
            if changed:  # the ranking leaves such tasks out
                self._bump(project)

    def clear_prediction_errors(self, project: int, task_ids: Iterable[int]) -> None:
        """Forget recorded failures of these tasks, so the next computation retries them."""
        with self.transaction():
            removed = 0
            for chunk, marks in in_lists(task_ids):
                removed += self._db.execute(f"DELETE FROM prediction_errors WHERE project = ? "
                                            f"AND task IN ({marks})", [project, *chunk]).rowcount
            if removed:
                self._bump(project)

    def prediction_errors(self, project: int, candidates: list[str] | None = None) -> list[dict]:
        """Recorded failures ``[{"task", "candidate", "error"}]`` (of ``candidates`` cache keys, or all), by task."""
        rows = self._query("SELECT task, candidate, error FROM prediction_errors WHERE project = ? "
                           "ORDER BY task, candidate", (project,))
        return [{"task": int(t), "candidate": c, "error": e} for t, c, e in rows
                if candidates is None or c in candidates]

    def predictions(self, project: int, task_ids: Iterable[int] | None = None) -> dict[int, dict[str, str]]:
        out: dict[int, dict[str, str]] = {}
        if task_ids is None:
            rows = self._query("SELECT task, candidate, choice FROM predictions WHERE project = ?", (project,))
        else:
            rows = []
            for chunk, marks in in_lists(task_ids):
                rows += self._query(f"SELECT task, candidate, choice FROM predictions WHERE project = ? "
                                    f"AND task IN ({marks})", [project, *chunk])
        for task, candidate, choice in rows:
            out.setdefault(int(task), {})[candidate] = choice
        return out

    # -------------------------------------------------------------------- labels
    def apply_annotations(self, project: int, versions: Iterable[AnnotationVersion]) -> int:
        changed = 0
        with self.transaction():
            for v in versions:
                if self._query("SELECT 1 FROM deleted_annotations WHERE project = ? AND annotation = ?",
                               (project, v.annotation)) or \
                        self._query("SELECT 1 FROM deleted_tasks WHERE project = ? AND task = ?", (project, v.task)):
                    continue
                old = self._query("SELECT task, choice, version FROM annotations WHERE project = ? AND annotation = ?",
                                  (project, v.annotation))
                if old:
                    task, choice, version = old[0]
                    if (task, choice, version) == (v.task, v.choice, v.version):
                        continue  # the same delivery again
                    if _order(v.version, v.task, v.choice) < _order(version, task, choice):
                        continue  # stale, or the loser of the tie-break: the stored state stays
                self._db.execute("INSERT OR REPLACE INTO annotations VALUES (?, ?, ?, ?, ?)",
                                 (project, v.annotation, v.task, v.choice, v.version))
                changed += 1
            if changed:
                self._bump(project)
        return changed

    def delete_annotations(self, project: int, annotation_ids: Iterable[int]) -> int:
        removed = 0
        with self.transaction():
            for annotation in annotation_ids:
                cur = self._db.execute("DELETE FROM annotations WHERE project = ? AND annotation = ?",
                                       (project, annotation))
                removed += cur.rowcount
                self._db.execute("INSERT OR IGNORE INTO deleted_annotations VALUES (?, ?)", (project, annotation))
            if removed:
                self._bump(project)
        return removed

    def annotation_ids(self, project: int) -> set[int]:
        """Ids of every stored annotation of the project (with or without a Choice)."""
        return {int(r[0]) for r in self._query("SELECT annotation FROM annotations WHERE project = ?", (project,))}

    def labels(self, project: int) -> list[Label]:
        rows = self._query("SELECT annotation, task, choice FROM annotations "
                           "WHERE project = ? AND choice IS NOT NULL ORDER BY annotation", (project,))
        return [Label(int(a), int(t), c) for a, t, c in rows]

    # --------------------------------------------------------------- hints
    def add_hint(self, project: int, action: str, tasks: Iterable[int], annotations: Iterable[int],
                 config: bool, now: float) -> int:
        """Record (and commit) that a webhook named these tasks/annotations; returns the hint id.

        One row per webhook whatever the number of ids, so the webhook's
        write is one short insert.
        """
        with self.transaction():
            cur = self._db.execute("INSERT INTO hints (project, action, tasks, annotations, config, received_at) "
                                   "VALUES (?, ?, ?, ?, ?, ?)",
                                   (project, action, json.dumps(sorted(set(tasks))),
                                    json.dumps(sorted(set(annotations))), int(bool(config)), float(now)))
            return int(cur.lastrowid)

    def pending_hints(self, project: int, limit: int | None = None) -> list[dict]:
        """The project's unconfirmed hints, oldest first: ``{"id", "action", "tasks", "annotations", "config",
        "received_at"}``."""
        rows = self._query("SELECT id, action, tasks, annotations, config, received_at FROM hints "
                           "WHERE project = ? ORDER BY id" + ("" if limit is None else f" LIMIT {int(limit)}"),
                           (project,))
        return [{"id": int(i), "action": a, "tasks": json.loads(t), "annotations": json.loads(n),
                 "config": bool(c), "received_at": r} for i, a, t, n, c, r in rows]

    def pending_count(self, project: int | None = None) -> int:
        """How many hints wait for confirmation (of one project, or of all)."""
        if project is None:
            return int(self._query("SELECT COUNT(*) FROM hints")[0][0])
        return int(self._query("SELECT COUNT(*) FROM hints WHERE project = ?", (project,))[0][0])

    def hint_projects(self) -> list[int]:
        """Projects with pending hints."""
        return [int(r[0]) for r in self._query("SELECT DISTINCT project FROM hints ORDER BY project")]

    def remove_hints(self, ids: Iterable[int]) -> None:
        """Forget confirmed hints (inside the transaction that stored their confirmation)."""
        with self.transaction():
            for chunk, marks in in_lists(ids):
                self._db.execute(f"DELETE FROM hints WHERE id IN ({marks})", chunk)

    def tasks_of_annotations(self, project: int, annotation_ids: Iterable[int]) -> set[int]:
        """Tasks of the stored annotations among ``annotation_ids`` (ids never stored name no task)."""
        out = set()
        for chunk, marks in in_lists(sorted(set(annotation_ids))):
            out |= {int(r[0]) for r in self._query(
                f"SELECT task FROM annotations WHERE project = ? AND annotation IN ({marks})", [project, *chunk])}
        return out

    def stored_task_ids(self, project: int, task_ids: Iterable[int]) -> set[int]:
        """Those of ``task_ids`` the store holds."""
        out = set()
        for chunk, marks in in_lists(sorted(set(task_ids))):
            out |= {int(r[0]) for r in self._query(
                f"SELECT task FROM tasks WHERE project = ? AND task IN ({marks})", [project, *chunk])}
        return out

    def tasks_with_annotations(self, project: int) -> set[int]:
        """Tasks that have at least one stored annotation."""
        return {int(r[0]) for r in self._query("SELECT DISTINCT task FROM annotations WHERE project = ?",
                                              (project,))}

    def mirror_tasks(self, project: int, present: dict[int, tuple[dict, list[AnnotationVersion]]],
                     gone: Iterable[int], read_at: float, tombstones: bool = False) -> dict:
        """Make the stored tasks equal to what Label Studio answered for them (confirmation mode).

        ``present``: ``task -> (data, annotation states)`` as read from Label
        Studio; ``gone``: tasks Label Studio does not have.  For a present task
        the data is stored, its annotations become exactly those given (others
        of the task removed), and tombstones of them are cleared (Label Studio
        has them, so they exist).  A gone task is removed with its labels and
        predictions, without a tombstone (Label Studio never reuses an id, so
        none is needed, and a later import is never blocked).  A read older
        than the last stored read of a task (``read_at``, the time the read
        started) changes nothing for that task, so two overlapping
        confirmations cannot leave the older answer.

        ``tombstones`` (payload mode's ``/sync`` only): removed annotations and
        tasks are also remembered as deleted, so a late payload delivery of
        them, which nothing confirms, cannot bring them back.

        Returns ``{"changed", "removed", "tasks_removed", "stored"}``:
        annotation states written, annotations removed, tasks removed, ids of
        present tasks whose data was stored.
        """
        changed = removed = tasks_removed = 0
        stored: list[int] = []
        with self.transaction():
            def fresh(task: int) -> bool:
                rows = self._query("SELECT read_at FROM task_reads WHERE project = ? AND task = ?", (project, task))
                if rows and rows[0][0] > read_at:
                    return False
                self._db.execute("INSERT OR REPLACE INTO task_reads VALUES (?, ?, ?)", (project, task, read_at))
                return True

            for task in sorted(set(gone)):
                held = self._query("SELECT 1 FROM tasks WHERE project = ? AND task = ? UNION ALL SELECT 1 FROM "
                                   "annotations WHERE project = ? AND task = ? LIMIT 1", (project, task, project, task))
                if not held and not tombstones:
                    continue  # neither the store nor Label Studio has it: nothing to do, nothing written
                if not fresh(task):
                    continue
                removed += int(self._query("SELECT COUNT(*) FROM annotations WHERE project = ? AND task = ? "
                                           "AND choice IS NOT NULL", (project, task))[0][0])
                if tombstones:
                    self._db.execute("INSERT OR IGNORE INTO deleted_tasks VALUES (?, ?)", (project, task))
                    self._db.execute("INSERT OR IGNORE INTO deleted_annotations SELECT project, annotation "
                                     "FROM annotations WHERE project = ? AND task = ?", (project, task))
                if self._query("SELECT 1 FROM tasks WHERE project = ? AND task = ?", (project, task)):
                    tasks_removed += 1
                    for table in ("tasks", "predictions", "annotations", "task_rounds", "candidates_pushed",
                                  "prediction_errors"):
                        self._db.execute(f"DELETE FROM {table} WHERE project = ? AND task = ?", (project, task))
                    self._bump(project, pool=True)
                else:
                    self._db.execute("DELETE FROM annotations WHERE project = ? AND task = ?", (project, task))
            for task in sorted(present):
                if not fresh(task):
                    continue
                data, versions = present[task]
                self._db.execute("DELETE FROM deleted_tasks WHERE project = ? AND task = ?", (project, task))
                if self.upsert_tasks(project, [(task, data)]):
                    stored.append(task)
                keep = {v.annotation for v in versions}
                for annotation, choice in self._query("SELECT annotation, choice FROM annotations "
                                                      "WHERE project = ? AND task = ?", (project, task)):
                    if annotation not in keep:
                        self._db.execute("DELETE FROM annotations WHERE project = ? AND annotation = ?",
                                         (project, annotation))
                        if tombstones:
                            self._db.execute("INSERT OR IGNORE INTO deleted_annotations VALUES (?, ?)",
                                             (project, annotation))
                        removed += choice is not None
                        self._bump(project)
                for v in versions:
                    self._db.execute("DELETE FROM deleted_annotations WHERE project = ? AND annotation = ?",
                                     (project, v.annotation))
                    old = self._query("SELECT task, choice, version FROM annotations WHERE project = ? "
                                      "AND annotation = ?", (project, v.annotation))
                    if old and tuple(old[0]) == (v.task, v.choice, v.version):
                        continue
                    self._db.execute("INSERT OR REPLACE INTO annotations VALUES (?, ?, ?, ?, ?)",
                                     (project, v.annotation, v.task, v.choice, v.version))
                    changed += 1
                    self._bump(project)
        return {"changed": changed, "removed": removed, "tasks_removed": tasks_removed, "stored": stored}

    # -------------------------------------------------------------------- rounds
    def current_round(self, project: int) -> int:
        """The project's current round (1 until a second round is started)."""
        rows = self._query("SELECT MAX(round) FROM rounds WHERE project = ?", (project,))
        return int(rows[0][0]) if rows and rows[0][0] is not None else 1

    def start_round(self, project: int, reason: str, now: float) -> int:
        """Open the next round; tasks stored from now on belong to it.  Returns its number."""
        with self.transaction():
            current = self.current_round(project)
            self._db.execute("INSERT INTO rounds VALUES (?, ?, ?, ?)", (project, current + 1, now, reason))
            self._bump(project, pool=True)
        return current + 1

    def rounds(self, project: int) -> list[dict]:
        """``[{"round", "started_at", "reason"}]`` of every started round, oldest first (round 1 implied)."""
        rows = self._query("SELECT round, started_at, reason FROM rounds WHERE project = ? ORDER BY round",
                           (project,))
        out = [{"round": int(r), "started_at": t, "reason": why} for r, t, why in rows]
        if not out or out[0]["round"] != 1:
            out.insert(0, {"round": 1, "started_at": None, "reason": "first round"})
        return out

    def round_tasks(self, project: int, round_: int) -> list[int]:
        """Ids of the stored tasks of one round, sorted (tasks stored before rounds existed are round 1)."""
        rows = self._query("SELECT t.task FROM tasks t LEFT JOIN task_rounds r ON r.project = t.project "
                           "AND r.task = t.task WHERE t.project = ? AND COALESCE(r.round, 1) = ? ORDER BY t.task",
                           (project, round_))
        return [int(r[0]) for r in rows]

    def new_task_ids(self, project: int, task_ids: Iterable[int]) -> list[int]:
        """Those of ``task_ids`` that are neither stored nor deleted."""
        out = []
        for task in task_ids:
            if not self._query("SELECT 1 FROM tasks WHERE project = ? AND task = ? UNION ALL "
                               "SELECT 1 FROM deleted_tasks WHERE project = ? AND task = ?",
                               (project, task, project, task)):
                out.append(task)
        return out

    # ----------------------------------------------------------------- decisions
    def add_decision(self, project: int, round_: int, record: dict) -> dict:
        """Append a decision record (``state``, ``candidate``, ``p_best``, ``labels``, ``reason``,
        ``evidence``, ``decided_at``) to the round's history; returns it with its ``seq``."""
        with self.transaction():
            seq = int(self._query("SELECT COALESCE(MAX(seq), 0) + 1 FROM decisions WHERE project = ? AND round = ?",
                                  (project, round_))[0][0])
            self._db.execute("INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (project, round_, seq, record["state"], record["candidate"], float(record["p_best"]),
                              int(record["labels"]), record["reason"], json.dumps(record["evidence"]),
                              float(record["decided_at"])))
        return {**record, "round": round_, "seq": seq}

    def decisions(self, project: int, round_: int | None = None) -> list[dict]:
        """Decision records of the project (or one round), oldest first."""
        sql = ("SELECT round, seq, state, candidate, p_best, labels, reason, evidence, decided_at FROM decisions "
               "WHERE project = ?" + ("" if round_ is None else " AND round = ?") + " ORDER BY round, seq")
        rows = self._query(sql, (project,) if round_ is None else (project, round_))
        return [{"round": int(r), "seq": int(q), "state": st, "candidate": c, "p_best": p, "labels": int(n),
                 "reason": why, "evidence": json.loads(ev), "decided_at": t}
                for r, q, st, c, p, n, why, ev, t in rows]

    # ---------------------------------------------------------------------- jobs
    def add_job(self, job_id: str, project: int | None, kind: str, now: float, run_after: float | None = None) -> None:
        """Record a queued job."""
        with self.transaction():
            self._db.execute("INSERT INTO jobs (id, project, kind, state, progress, message, created_at, run_after) "
                             "VALUES (?, ?, ?, 'queued', 0, '', ?, ?)", (job_id, project, kind, now, run_after))

    def update_job(self, job_id: str, now: float, state: str | None = None, progress: float | None = None,
                   message: str | None = None, result: Any = None) -> None:
        """Move a job on: state (stamping started/finished times), progress in [0, 1], message, result."""
        if state is not None and state not in JOB_STATES:
            raise ValueError(f"unknown job state {state!r}")
        sets, params = [], []
        if state is not None:
            sets.append("state = ?")
            params.append(state)
            if state == "started":
                sets.append("started_at = ?")
                params.append(now)
            if state in ("finished", "failed"):
                sets.append("finished_at = ?")
                params.append(now)
        if progress is not None:
            sets.append("progress = ?")
            params.append(min(max(float(progress), 0.0), 1.0))
        if message is not None:
            sets.append("message = ?")
            params.append(str(message))
        if result is not None:
            sets.append("result = ?")
            params.append(json.dumps(result))
        if sets:
            with self.transaction():
                self._db.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", (*params, job_id))

    def jobs(self, project: int, limit: int = 50) -> list[dict]:
        """The project's latest ``limit`` job records, newest first."""
        rows = self._query("SELECT id, kind, state, progress, message, created_at, started_at, finished_at, result, "
                           "run_after FROM jobs WHERE project = ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
                           (project, limit))
        return [{"id": i, "project": project, "kind": k, "state": st, "progress": pr, "message": m,
                 "created_at": c, "started_at": s0, "finished_at": f, "run_after": ra,
                 "result": None if r is None else json.loads(r)}
                for i, k, st, pr, m, c, s0, f, r, ra in rows]

    def waiting_job(self, project: int, kind: str, since: float) -> str | None:
        """Id of a job of ``kind`` queued at or after ``since``, known to be on the job queue
        (:meth:`mark_enqueued`) and not started yet, or None.

        A record whose enqueueing was never confirmed (the process died between the commit and the
        enqueue) is not "waiting": nothing would ever run it.
        """
        rows = self._query("SELECT id FROM jobs WHERE project = ? AND kind = ? AND state = 'queued' "
                           "AND enqueued_at IS NOT NULL AND created_at >= ? ORDER BY created_at LIMIT 1",
                           (project, kind, since))
        return rows[0][0] if rows else None

    # ------------------------------------------------------------- ranking snapshots
    def put_ranking_snapshot(self, project: int, key: str, revision: int, body: dict, now: float) -> None:
        """Keep the /rankings answer computed at ``revision`` under ``key`` (pool and settings it depends on);
        an older revision of the same key never replaces a newer one."""
        with self.transaction():
            rows = self._query("SELECT key, revision FROM ranking_snapshots WHERE project = ?", (project,))
            if rows and rows[0][0] == key and int(rows[0][1]) > revision:
                return
            self._db.execute("INSERT OR REPLACE INTO ranking_snapshots VALUES (?, ?, ?, ?, ?)",
                             (project, key, revision, json.dumps(body), now))

    def ranking_snapshot(self, project: int, key: str) -> dict | None:
        """``{"revision", "body", "computed_at"}`` of the project's kept ranking under ``key``, or None."""
        rows = self._query("SELECT revision, body, computed_at FROM ranking_snapshots WHERE project = ? AND key = ?",
                           (project, key))
        if not rows:
            return None
        return {"revision": int(rows[0][0]), "body": json.loads(rows[0][1]), "computed_at": float(rows[0][2])}

    def jobs_in_flight(self, project: int, since: float) -> int:
        """How many of the project's jobs created at or after ``since`` are queued or started."""
        return int(self._query("SELECT COUNT(*) FROM jobs WHERE project = ? AND state IN ('queued', 'started') "
                               "AND created_at >= ?", (project, since))[0][0])

    def mark_enqueued(self, job_id: str, now: float) -> None:
        """Record that the job is on the job queue (rq accepted it)."""
        with self.transaction():
            self._db.execute("UPDATE jobs SET enqueued_at = ? WHERE id = ?", (now, job_id))

    def unattended_hint_projects(self, older_than: float, kind: str = "confirm") -> list[int]:
        """Projects with a hint received before ``older_than`` and no job of ``kind`` queued or started since.

        Those hints wait for a job that will never come (a crash lost it); see :mod:`backend.hint_sweeper`.
        """
        rows = self._query(
            "SELECT DISTINCT h.project FROM hints h WHERE h.received_at < ? AND NOT EXISTS ("
            "SELECT 1 FROM jobs j WHERE j.project = h.project AND j.kind = ? AND j.state IN ('queued', 'started') "
            "AND j.created_at >= ?) ORDER BY h.project", (older_than, kind, older_than))
        return [int(r[0]) for r in rows]

    # ------------------------------------------------------------- refresh state
    def count_label_changes(self, project: int, n: int) -> None:
        """Add ``n`` label changes (created, updated or deleted annotations) to the project's counter."""
        if n:
            with self.transaction():
                self._db.execute("INSERT INTO refresh_state (project, label_changes) VALUES (?, ?) "
                                 "ON CONFLICT (project) DO UPDATE SET label_changes = label_changes + ?",
                                 (project, n, n))

    def refresh_state(self, project: int) -> dict:
        """``{"label_changes", "changes_at_refresh", "last_refresh_at", "pushed_version"}``."""
        rows = self._query("SELECT label_changes, changes_at_refresh, last_refresh_at, pushed_version "
                           "FROM refresh_state WHERE project = ?", (project,))
        if not rows:
            return {"label_changes": 0, "changes_at_refresh": 0, "last_refresh_at": None, "pushed_version": None}
        changes, at, last, version = rows[0]
        return {"label_changes": int(changes), "changes_at_refresh": int(at), "last_refresh_at": last,
                "pushed_version": version}

    def mark_refresh_started(self, project: int, now: float) -> int:
        """A refresh starts reading the labels now; returns the label-change count it covers."""
        with self.transaction():
            self._db.execute("INSERT OR IGNORE INTO refresh_state (project) VALUES (?)", (project,))
            self._db.execute("UPDATE refresh_state SET changes_at_refresh = label_changes, last_refresh_at = ? "
                             "WHERE project = ?", (now, project))
            return int(self._query("SELECT changes_at_refresh FROM refresh_state WHERE project = ?",
                                   (project,))[0][0])

    def set_pushed_version(self, project: int, version: str | None) -> None:
        """Remember the priority version Label Studio's queue follows."""
        with self.transaction():
            self._db.execute("INSERT OR IGNORE INTO refresh_state (project) VALUES (?)", (project,))
            self._db.execute("UPDATE refresh_state SET pushed_version = ? WHERE project = ?", (version, project))

    def tasks_without_candidate_push(self, project: int) -> list[int]:
        """Stored tasks whose candidates' predictions were not yet written to Label Studio."""
        rows = self._query("SELECT t.task FROM tasks t LEFT JOIN candidates_pushed c ON c.project = t.project "
                           "AND c.task = t.task WHERE t.project = ? AND c.task IS NULL ORDER BY t.task", (project,))
        return [int(r[0]) for r in rows]

    def mark_candidates_pushed(self, project: int, task_ids: Iterable[int]) -> None:
        with self.transaction():
            self._db.executemany("INSERT OR IGNORE INTO candidates_pushed VALUES (?, ?)",
                                 [(project, t) for t in task_ids])

    # -------------------------------------------------------------------- health
    # ------------------------------------------------------------- Label Studio
    def label_studio_status(self) -> dict | None:
        rows = self._query("SELECT kind, message, since, last_ok_at FROM label_studio_status WHERE id = 1")
        if not rows:
            return None
        kind, message, since, ok_at = rows[0]
        return {"kind": kind, "message": message, "since": since, "last_ok_at": ok_at}

    def set_label_studio_status(self, kind: str, message: str | None, now: float) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO label_studio_status (id, kind, message, since, last_ok_at) VALUES (1, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET message = excluded.message, "
                "since = CASE WHEN label_studio_status.kind = excluded.kind THEN label_studio_status.since "
                "ELSE excluded.since END, kind = excluded.kind, "
                "last_ok_at = COALESCE(excluded.last_ok_at, label_studio_status.last_ok_at)",
                (kind, message, float(now), float(now) if kind == "ok" else None))

    def check(self) -> tuple[bool, str | None]:
        try:
            self._query("SELECT COUNT(*) FROM projects")
        except sqlite3.Error as exc:
            return False, f"{type(exc).__name__}: {exc}"
        # no write here: a write would wait for another process's lock, and /health must answer fast
        if not os.access(self.path, os.W_OK) or not os.access(self.path.parent, os.W_OK):
            return False, f"{self.path} is not writable"
        return True, None

    def describe(self) -> str:
        return str(self.path)
