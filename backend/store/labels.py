"""Annotation states and the labels they give, in payload mode (see :mod:`backend.store`)."""
from __future__ import annotations

import json
from collections.abc import Iterable

from ..records import AnnotationVersion, Label
from .connection import StoreConnection


def _order(version: float | None, task: int, choice: str | None) -> tuple:
    """The key that orders two delivered states of one annotation (payload mode).

    A later ``updated_at`` wins; a state with ``updated_at`` wins over one
    without; equal (or missing) ones are decided by the canonical JSON of the
    state, so every delivery order of the same set ends in the same state.
    """
    return (version is not None, version or 0.0, json.dumps([task, choice], sort_keys=True))


class LabelTables(StoreConnection):
    """The ``annotations`` and ``deleted_annotations`` tables of the store."""

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
                self._replace("annotations", (project, v.annotation, v.task, v.choice, v.version))
                changed += 1
            if changed:
                self._bump(project)
        return changed

    def delete_annotations(self, project: int, annotation_ids: Iterable[int]) -> int:
        removed = 0
        with self.transaction():
            for annotation in annotation_ids:
                cur = self._execute("DELETE FROM annotations WHERE project = ? AND annotation = ?",
                                       (project, annotation))
                removed += cur.rowcount
                self._execute("INSERT INTO deleted_annotations VALUES (?, ?) ON CONFLICT DO NOTHING",
                              (project, annotation))
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

    def tasks_of_annotations(self, project: int, annotation_ids: Iterable[int]) -> set[int]:
        """Tasks of the stored annotations among ``annotation_ids`` (ids never stored name no task)."""
        return self._select_ids("SELECT task FROM annotations WHERE project = ? AND annotation IN ({marks})",
                                project, annotation_ids)

    def tasks_with_annotations(self, project: int) -> set[int]:
        """Tasks that have at least one stored annotation."""
        return {int(r[0]) for r in self._query("SELECT DISTINCT task FROM annotations WHERE project = ?",
                                              (project,))}
