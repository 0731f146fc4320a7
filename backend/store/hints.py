"""Confirmation mode's hints: the webhooks' notes of which tasks and annotations to read back from Label Studio."""
from __future__ import annotations

import json
from collections.abc import Iterable

from .connection import StoreConnection
from .schema import in_lists


class HintTables(StoreConnection):
    """The ``hints`` table of the store (see :mod:`backend.confirm`)."""

    def add_hint(self, project: int, action: str, tasks: Iterable[int], annotations: Iterable[int],
                 config: bool, now: float) -> int:
        """Record (and commit) that a webhook named these tasks/annotations; returns the hint id.

        One row per webhook whatever the number of ids, so the webhook's
        write is one short insert.
        """
        with self.transaction():
            return self._insert_id("INSERT INTO hints (project, action, tasks, annotations, config, received_at) "
                                   "VALUES (?, ?, ?, ?, ?, ?)",
                                   (project, action, json.dumps(sorted(set(tasks))),
                                    json.dumps(sorted(set(annotations))), int(bool(config)), float(now)))

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
                self._execute(f"DELETE FROM hints WHERE id IN ({marks})", chunk)
