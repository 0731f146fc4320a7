"""Projects (label config, change counters) and the backend's last word from Label Studio."""
from __future__ import annotations

from .connection import StoreConnection


class ProjectTables(StoreConnection):
    """The ``projects`` and ``label_studio_status`` tables of the store."""

    # ------------------------------------------------------------------ projects
    def get_label_config(self, project: int) -> str | None:
        rows = self._query("SELECT label_config FROM projects WHERE project = ?", (project,))
        return rows[0][0] if rows else None

    def set_label_config(self, project: int, label_config: str) -> None:
        with self.transaction():
            if self.get_label_config(project) != label_config:
                self._bump(project)
                self._execute("UPDATE projects SET label_config = ? WHERE project = ?", (label_config, project))
                # a failure may have been "maps to no Choice" of the old config: retry under the new one
                self._execute("DELETE FROM prediction_errors WHERE project = ?", (project,))

    def projects(self) -> dict[int, str]:
        return {int(p): c for p, c in self._query(
            "SELECT project, label_config FROM projects WHERE label_config IS NOT NULL ORDER BY project")}

    def revision(self, project: int) -> int:
        rows = self._query("SELECT revision FROM projects WHERE project = ?", (project,))
        return int(rows[0][0]) if rows else 0

    def matrix_revision(self, project: int) -> int:
        rows = self._query("SELECT matrix_revision FROM projects WHERE project = ?", (project,))
        return int(rows[0][0]) if rows else 0

    # ------------------------------------------------------------- Label Studio
    def label_studio_status(self) -> dict | None:
        rows = self._query("SELECT kind, message, since, last_ok_at FROM label_studio_status WHERE id = 1")
        if not rows:
            return None
        kind, message, since, ok_at = rows[0]
        return {"kind": kind, "message": message, "since": since, "last_ok_at": ok_at}

    def set_label_studio_status(self, kind: str, message: str | None, now: float) -> dict | None:
        with self.transaction():  # read and write in one write transaction: two workers see one change
            previous = self.label_studio_status()
            self._execute(
                "INSERT INTO label_studio_status (id, kind, message, since, last_ok_at) VALUES (1, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET message = excluded.message, "
                "since = CASE WHEN label_studio_status.kind = excluded.kind THEN label_studio_status.since "
                "ELSE excluded.since END, kind = excluded.kind, "
                "last_ok_at = COALESCE(excluded.last_ok_at, label_studio_status.last_ok_at)",
                (kind, message, float(now), float(now) if kind == "ok" else None))
        return previous
