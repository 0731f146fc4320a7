""":class:`StoreTables`: every table group of the store, on whichever connection a dialect supplies."""
from __future__ import annotations

from .belief_history import BeliefHistoryTables
from .hints import HintTables
from .jobs import JobTables
from .labels import LabelTables
from .mirroring import MirrorTables
from .projects import ProjectTables
from .ranking_snapshots import RankingSnapshotTables
from .refresh_state import RefreshTables
from .rounds import RoundTables
from .sync_log import SyncLogTables
from .tasks import TaskTables


class StoreTables(ProjectTables, TaskTables, LabelTables, HintTables, MirrorTables, RoundTables, JobTables,
                  RefreshTables, RankingSnapshotTables, BeliefHistoryTables, SyncLogTables):
    """The methods of :class:`~backend.store.base.Store` that read and write tables: one copy of the SQL,
    run by :class:`~backend.store.SQLiteStore` and :class:`~backend.store.PostgresStore`."""

    def schema_revision(self) -> str | None:
        """The alembic revision the database is at (None before the first migration)."""
        rows = self._query("SELECT version_num FROM alembic_version")
        return rows[0][0] if rows else None
