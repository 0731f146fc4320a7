"""Records of the background jobs (refreshes, confirmations, ...) and what they wait for."""
from __future__ import annotations

import json
from typing import Any

from .connection import StoreConnection

#: job states, in the order a job goes through them
JOB_STATES = ("queued", "started", "finished", "failed")


class JobTables(StoreConnection):
    """The ``jobs`` table of the store."""

    def add_job(self, job_id: str, project: int | None, kind: str, now: float, run_after: float | None = None) -> None:
        """Record a queued job."""
        with self.transaction():
            self._execute("INSERT INTO jobs (id, project, kind, state, progress, message, created_at, run_after) "
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
                self._execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", (*params, job_id))

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

    def jobs_in_flight(self, project: int, since: float) -> int:
        """How many of the project's jobs created at or after ``since`` are queued or started."""
        return int(self._query("SELECT COUNT(*) FROM jobs WHERE project = ? AND state IN ('queued', 'started') "
                               "AND created_at >= ?", (project, since))[0][0])

    def mark_enqueued(self, job_id: str, now: float) -> None:
        """Record that the job is on the job queue (rq accepted it)."""
        with self.transaction():
            self._execute("UPDATE jobs SET enqueued_at = ? WHERE id = ?", (now, job_id))

    def unattended_hint_projects(self, older_than: float, kind: str = "confirm") -> list[int]:
        """Projects with a hint received before ``older_than`` and no job of ``kind`` queued or started since.

        Those hints wait for a job that will never come (a crash lost it); see :mod:`backend.hint_sweeper`.
        """
        rows = self._query(
            "SELECT DISTINCT h.project FROM hints h WHERE h.received_at < ? AND NOT EXISTS ("
            "SELECT 1 FROM jobs j WHERE j.project = h.project AND j.kind = ? AND j.state IN ('queued', 'started') "
            "AND j.created_at >= ?) ORDER BY h.project", (older_than, kind, older_than))
        return [int(r[0]) for r in rows]
