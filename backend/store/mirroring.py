"""Stored tasks made equal to what Label Studio answered for them (confirmation mode, and payload mode's /sync)."""
from __future__ import annotations

from collections.abc import Iterable

from ..records import AnnotationVersion
from .connection import StoreConnection


class MirrorTables(StoreConnection):
    """:meth:`mirror_tasks` and the ``task_reads`` table of the store.

    Stores data through :meth:`~backend.store.tasks.TaskTables.upsert_tasks`
    and removes tasks as :meth:`~backend.store.tasks.TaskTables.delete_tasks` does.
    """

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
            for task in sorted(set(gone)):
                if not self._holds(project, task) and not tombstones:
                    continue  # neither the store nor Label Studio has it: nothing to do, nothing written
                if self._fresh_read(project, task, read_at):
                    labels_gone, task_gone = self._mirror_gone(project, task, tombstones)
                    removed += labels_gone
                    tasks_removed += task_gone
            for task in sorted(present):
                if not self._fresh_read(project, task, read_at):
                    continue
                data, versions = present[task]
                self._execute("DELETE FROM deleted_tasks WHERE project = ? AND task = ?", (project, task))
                if self.upsert_tasks(project, [(task, data)]):
                    stored.append(task)
                removed += self._drop_other_annotations(project, task, {v.annotation for v in versions}, tombstones)
                changed += self._write_versions(project, versions)
        return {"changed": changed, "removed": removed, "tasks_removed": tasks_removed, "stored": stored}

    def _holds(self, project: int, task: int) -> bool:
        """Whether the store has the task or an annotation of it."""
        return bool(self._query("SELECT 1 FROM tasks WHERE project = ? AND task = ? UNION ALL SELECT 1 FROM "
                                "annotations WHERE project = ? AND task = ? LIMIT 1", (project, task, project, task)))

    def _fresh_read(self, project: int, task: int, read_at: float) -> bool:
        """Record a read of the task started at ``read_at``; False (nothing recorded) when a later read is stored."""
        rows = self._query("SELECT read_at FROM task_reads WHERE project = ? AND task = ?", (project, task))
        if rows and rows[0][0] > read_at:
            return False
        self._replace("task_reads", (project, task, read_at))
        return True

    def _mirror_gone(self, project: int, task: int, tombstones: bool) -> tuple[int, int]:
        """Remove a task Label Studio does not have; returns ``(labels removed, tasks removed)``."""
        removed = int(self._query("SELECT COUNT(*) FROM annotations WHERE project = ? AND task = ? "
                                  "AND choice IS NOT NULL", (project, task))[0][0])
        if tombstones:
            self._execute("INSERT INTO deleted_tasks VALUES (?, ?) ON CONFLICT DO NOTHING", (project, task))
            self._execute("INSERT INTO deleted_annotations SELECT project, annotation FROM annotations "
                          "WHERE project = ? AND task = ? ON CONFLICT DO NOTHING", (project, task))
        if self._query("SELECT 1 FROM tasks WHERE project = ? AND task = ?", (project, task)):
            self._drop_task_rows(project, task)
            self._bump(project, matrix=True)
            return removed, 1
        self._execute("DELETE FROM annotations WHERE project = ? AND task = ?", (project, task))
        return removed, 0

    def _drop_other_annotations(self, project: int, task: int, keep: set[int], tombstones: bool) -> int:
        """Remove the task's stored annotations not in ``keep``; returns how many of them had a Choice."""
        removed = 0
        for annotation, choice in self._query("SELECT annotation, choice FROM annotations "
                                              "WHERE project = ? AND task = ?", (project, task)):
            if annotation not in keep:
                self._execute("DELETE FROM annotations WHERE project = ? AND annotation = ?",
                                 (project, annotation))
                if tombstones:
                    self._execute("INSERT INTO deleted_annotations VALUES (?, ?) ON CONFLICT DO NOTHING",
                                     (project, annotation))
                removed += choice is not None
                self._bump(project)
        return removed

    def _write_versions(self, project: int, versions: Iterable[AnnotationVersion]) -> int:
        """Store the annotation states as given (clearing their tombstones); returns how many changed."""
        changed = 0
        for v in versions:
            self._execute("DELETE FROM deleted_annotations WHERE project = ? AND annotation = ?",
                             (project, v.annotation))
            old = self._query("SELECT task, choice, version FROM annotations WHERE project = ? "
                              "AND annotation = ?", (project, v.annotation))
            if old and tuple(old[0]) == (v.task, v.choice, v.version):
                continue
            self._replace("annotations", (project, v.annotation, v.task, v.choice, v.version))
            changed += 1
            self._bump(project)
        return changed
