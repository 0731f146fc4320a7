"""Labelling rounds and the decision history of each round."""
from __future__ import annotations

import json

from .connection import StoreConnection


class RoundTables(StoreConnection):
    """The ``rounds``, ``task_rounds``, ``round_draw_rules`` and ``decisions`` tables of the store."""

    # -------------------------------------------------------------------- rounds
    def current_round(self, project: int) -> int:
        """The project's current round (1 until a second round is started)."""
        rows = self._query("SELECT MAX(round) FROM rounds WHERE project = ?", (project,))
        return int(rows[0][0]) if rows and rows[0][0] is not None else 1

    def start_round(self, project: int, reason: str, now: float) -> int:
        """Open the next round; tasks stored from now on belong to it.  Returns its number."""
        with self.transaction():
            current = self.current_round(project)
            self._execute("INSERT INTO rounds VALUES (?, ?, ?, ?)", (project, current + 1, now, reason))
            self._bump(project, matrix=True)
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

    def record_draw_rule(self, project: int, round_: int, rule: str, now: float) -> str:
        """Keep ``rule`` as the draw rule of the round's queue unless one is kept already; returns the kept one."""
        with self.transaction():
            self._execute("INSERT INTO round_draw_rules (project, round, rule, recorded_at) VALUES (?, ?, ?, ?) "
                          "ON CONFLICT (project, round) DO NOTHING", (project, round_, rule, now))
            return self.draw_rule(project, round_)

    def draw_rule(self, project: int, round_: int) -> str | None:
        """The draw rule kept for the round's queue (None: the round pushed no queue yet)."""
        rows = self._query("SELECT rule FROM round_draw_rules WHERE project = ? AND round = ?", (project, round_))
        return rows[0][0] if rows else None

    # ----------------------------------------------------------------- decisions
    def add_decision(self, project: int, round_: int, record: dict) -> dict:
        """Append a decision record (``state``, ``candidate``, ``p_best``, ``labels``, ``reason``,
        ``evidence``, ``decided_at``) to the round's history; returns it with its ``seq``."""
        with self.transaction():
            seq = int(self._query("SELECT COALESCE(MAX(seq), 0) + 1 FROM decisions WHERE project = ? AND round = ?",
                                  (project, round_))[0][0])
            self._execute("INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
