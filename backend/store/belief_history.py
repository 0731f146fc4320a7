"""The belief of each round after every refresh: P(best) and the certified bound per candidate, by label count.

The belief itself keeps only its last few states (``Belief.p_history``, for the
stopping rule's patience); this table is the round's whole history, which the
ranking page charts (:mod:`backend.pbest_chart`).  One row per refresh; a
refresh that changed nothing (same labels, same values as the round's latest
row) adds none.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence

from .connection import StoreConnection


def _floats(values: Iterable[float] | None, what: str, n: int) -> list[float | None] | None:
    """``values`` as a JSON-ready list of ``n`` floats (a non-finite value becomes None), or None."""
    if values is None:
        return None
    out = [None if v is None or not math.isfinite(float(v)) else float(v) for v in values]
    if len(out) != n:
        raise ValueError(f"belief history: {len(out)} {what} values for {n} candidates")
    return out


class BeliefHistoryTables(StoreConnection):
    """The ``belief_history`` table of the store."""

    def add_belief_history(self, project: int, round_: int, labels: int, candidates: Sequence[str],
                           p_best: Iterable[float], gap: Iterable[float] | None, now: float) -> bool:
        """Record the round's belief after a refresh: ``labels`` (labelled tasks the ranking uses),
        ``p_best`` and ``gap`` (certified bound, accuracy units; None when not computed) per candidate,
        in the order of ``candidates``.  Returns False (nothing added) when the round's latest row
        holds the same labels, candidates and values."""
        names = [str(c) for c in candidates]
        row = (int(labels), json.dumps(names), json.dumps(_floats(p_best, "P(best)", len(names))),
               json.dumps(_floats(gap, "gap", len(names))))
        with self.transaction():
            last = self._query("SELECT seq, labels, candidates, p_best, gap FROM belief_history "
                               "WHERE project = ? AND round = ? ORDER BY seq DESC LIMIT 1", (project, round_))
            if last and tuple(last[0][1:]) == row:
                return False
            seq = int(last[0][0]) + 1 if last else 1
            self._execute("INSERT INTO belief_history VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (project, round_, seq, *row, float(now)))
        return True

    def belief_history(self, project: int, round_: int) -> list[dict]:
        """``[{"seq", "labels", "candidates", "p_best", "gap", "recorded_at"}]`` of the round, oldest first
        (``gap`` None, or a list with None where not computed)."""
        rows = self._query("SELECT seq, labels, candidates, p_best, gap, recorded_at FROM belief_history "
                           "WHERE project = ? AND round = ? ORDER BY seq", (project, round_))
        return [{"seq": int(seq), "labels": int(n), "candidates": json.loads(names), "p_best": json.loads(p),
                 "gap": json.loads(gap), "recorded_at": float(t)} for seq, n, names, p, gap, t in rows]
