"""The kept /rankings answer of each project, under the key of the pool and settings it was computed with."""
from __future__ import annotations

import json

from .connection import StoreConnection


class RankingSnapshotTables(StoreConnection):
    """The ``ranking_snapshots`` table of the store."""

    def put_ranking_snapshot(self, project: int, key: str, revision: int, body: dict, now: float) -> None:
        """Keep the /rankings answer computed at ``revision`` under ``key`` (pool and settings it depends on);
        an older revision of the same key never replaces a newer one."""
        with self.transaction():
            rows = self._query("SELECT key, revision FROM ranking_snapshots WHERE project = ?", (project,))
            if rows and rows[0][0] == key and int(rows[0][1]) > revision:
                return
            self._replace("ranking_snapshots", (project, key, revision, json.dumps(body), now))

    def ranking_snapshot(self, project: int, key: str) -> dict | None:
        """``{"revision", "body", "computed_at"}`` of the project's kept ranking under ``key``, or None."""
        rows = self._query("SELECT revision, body, computed_at FROM ranking_snapshots WHERE project = ? AND key = ?",
                           (project, key))
        if not rows:
            return None
        return {"revision": int(rows[0][0]), "body": json.loads(rows[0][1]), "computed_at": float(rows[0][2])}
