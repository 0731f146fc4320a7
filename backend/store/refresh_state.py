"""Bookkeeping of the queue write-back: label changes since the last refresh, the pushed version, pushed candidates."""
from __future__ import annotations

from collections.abc import Iterable

from .connection import StoreConnection


class RefreshTables(StoreConnection):
    """The ``refresh_state`` and ``candidates_pushed`` tables of the store."""

    def count_label_changes(self, project: int, n: int) -> None:
        """Add ``n`` label changes (created, updated or deleted annotations) to the project's counter."""
        if n:
            with self.transaction():
                self._execute("INSERT INTO refresh_state (project, label_changes) VALUES (?, ?) "
                                 "ON CONFLICT (project) DO UPDATE SET label_changes = refresh_state.label_changes + ?",
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
            self._execute("INSERT INTO refresh_state (project) VALUES (?) ON CONFLICT DO NOTHING", (project,))
            self._execute("UPDATE refresh_state SET changes_at_refresh = label_changes, last_refresh_at = ? "
                             "WHERE project = ?", (now, project))
            return int(self._query("SELECT changes_at_refresh FROM refresh_state WHERE project = ?",
                                   (project,))[0][0])

    def set_pushed_version(self, project: int, version: str | None) -> None:
        """Remember the priority version Label Studio's queue follows."""
        with self.transaction():
            self._execute("INSERT INTO refresh_state (project) VALUES (?) ON CONFLICT DO NOTHING", (project,))
            self._execute("UPDATE refresh_state SET pushed_version = ? WHERE project = ?", (version, project))

    def tasks_without_candidate_push(self, project: int) -> list[int]:
        """Stored tasks whose candidates' predictions were not yet written to Label Studio."""
        rows = self._query("SELECT t.task FROM tasks t LEFT JOIN candidates_pushed c ON c.project = t.project "
                           "AND c.task = t.task WHERE t.project = ? AND c.task IS NULL ORDER BY t.task", (project,))
        return [int(r[0]) for r in rows]

    def mark_candidates_pushed(self, project: int, task_ids: Iterable[int]) -> None:
        with self.transaction():
            self._executemany("INSERT INTO candidates_pushed VALUES (?, ?) ON CONFLICT DO NOTHING",
                                 [(project, t) for t in task_ids])
