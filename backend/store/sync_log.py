"""The periodic sync's last outcome per project: when it ran, what it caught up that webhooks had missed."""
from __future__ import annotations

from .connection import StoreConnection


class SyncLogTables(StoreConnection):
    """The ``periodic_syncs``, ``sync_claims`` and ``task_listings`` tables of the store."""

    def claim_sync(self, project: int, now: float, period: float) -> bool:
        """True when this process is to run ``project``'s periodic sync now: no process has claimed it within
        the last ``period`` seconds.  The claim is made in the same transaction (under the store's write lock),
        so of the web processes sharing a store one syncs a project per period."""
        with self.transaction():
            row = self._query("SELECT claimed_at FROM sync_claims WHERE project = ?", (project,))
            if row and now - float(row[0][0]) < period:
                return False
            self._execute("INSERT INTO sync_claims (project, claimed_at) VALUES (?, ?) ON CONFLICT (project) "
                          "DO UPDATE SET claimed_at = excluded.claimed_at", (project, now))
            return True

    def task_listed_at(self, project: int) -> float | None:
        """When a process sharing the store last listed every task of ``project`` (None: never)."""
        row = self._query("SELECT listed_at FROM task_listings WHERE project = ?", (project,))
        return float(row[0][0]) if row else None

    def record_task_listing(self, project: int, now: float) -> None:
        """Keep that every task of ``project`` was listed at ``now``."""
        with self.transaction():
            self._execute("INSERT INTO task_listings (project, listed_at) VALUES (?, ?) ON CONFLICT (project) "
                          "DO UPDATE SET listed_at = excluded.listed_at", (project, now))

    def record_sync(self, project: int, now: float, caught_up: int, error: str | None) -> None:
        """Keep the outcome of one periodic sync: ``caught_up`` annotations changed or removed (0 when the
        webhooks had delivered everything), or the ``error`` that stopped it."""
        with self.transaction():
            self._execute(
                "INSERT INTO periodic_syncs (project, at, caught_up, error, last_caught_up_at, total_caught_up) "
                "VALUES (?, ?, ?, ?, CASE WHEN ? > 0 THEN ? END, ?) ON CONFLICT (project) DO UPDATE SET "
                "at = excluded.at, caught_up = excluded.caught_up, error = excluded.error, "
                "last_caught_up_at = COALESCE(excluded.last_caught_up_at, periodic_syncs.last_caught_up_at), "
                "total_caught_up = periodic_syncs.total_caught_up + excluded.total_caught_up",
                (project, now, caught_up, error, caught_up, now, caught_up))

    def sync_log(self) -> dict[int, dict]:
        """``{project: {"at", "caught_up", "error", "last_caught_up_at", "total_caught_up"}}``."""
        rows = self._query("SELECT project, at, caught_up, error, last_caught_up_at, total_caught_up "
                           "FROM periodic_syncs ORDER BY project")
        return {int(r[0]): {"at": float(r[1]), "caught_up": int(r[2]), "error": r[3],
                            "last_caught_up_at": None if r[4] is None else float(r[4]),
                            "total_caught_up": int(r[5])} for r in rows}
