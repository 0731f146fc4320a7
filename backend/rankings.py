"""The /rankings answer: computed from the project's belief, kept in the store, served while fresh enough.

A reader never refits inside a web process when the rq worker is about to
write the next ranking: with rq, the kept ranking of an older store revision
is served (``"up_to_date": false``) for :data:`RANKING_STALE_SECONDS`, or up
to :data:`RANKING_MAX_STALE_SECONDS` while the project's hints or jobs are in
flight.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable

from .belief import Belief, ranking_records
from .decider import stopping_rule, strategy_params
from .timefmt import iso

#: with rq, /rankings serves the kept ranking of an older revision for this long (the worker's refresh
#: brings the next one) before computing one itself
RANKING_STALE_SECONDS = 10.0
#: ... and for up to this long while the project's hints or jobs are in flight
RANKING_MAX_STALE_SECONDS = 120.0


class RankingKeeper:
    """Computes, keeps and serves each project's ranking.

    Parameters
    ----------
    env : the service's shared environment, read at every call: ``store`` (the kept rankings live
        there), ``settings``, ``strategy`` and ``pool`` (what a kept ranking depends on besides the store),
        ``runner`` (only with rq does a worker bring the next ranking), ``clock()``.
    beliefs : ``belief_at(project) -> (revision, Belief)`` (:class:`~backend.belief_cache.BeliefCache`).
    live_decision : ``live_decision(project, belief) -> LiveDecision`` (:class:`~backend.decider.Decider`).
    prediction_errors : ``prediction_errors(project) -> list`` of tasks a candidate cannot predict.
    """

    def __init__(self, env, beliefs, live_decision: Callable, prediction_errors: Callable):
        self.env, self.beliefs = env, beliefs
        self.live_decision, self.prediction_errors = live_decision, prediction_errors

    def answer(self, project: int) -> dict:
        """The /rankings answer of a known project: the kept one when current or fresh enough, else a new one."""
        store = self.env.store
        now = self.env.clock()
        snapshot = store.ranking_snapshot(project, self.snapshot_key)
        if snapshot is not None:
            current = snapshot["revision"] == store.revision(project)
            if current or self.next_ranking_coming(project, now - snapshot["computed_at"]):
                if current:
                    return {**snapshot["body"], "up_to_date": True}
                return {**snapshot["body"], "up_to_date": False, "computed_at": iso(snapshot["computed_at"]),
                        "note": "labels changed since this ranking; the worker's refresh is computing the next"}
        return {**self.keep(project)[1], "up_to_date": True}

    def next_ranking_coming(self, project: int, age: float) -> bool:
        """Whether a reader may get a kept ranking ``age`` seconds old instead of refitting: with rq the
        worker's refresh after a label change writes the next one.  Younger than
        :data:`RANKING_STALE_SECONDS`, or while hints or jobs of the project are in flight and younger than
        :data:`RANKING_MAX_STALE_SECONDS` (past that the worker is taken as stuck or gone)."""
        if self.env.runner.kind != "rq":
            return False
        if age <= RANKING_STALE_SECONDS:
            return True
        if age > RANKING_MAX_STALE_SECONDS:
            return False
        since = self.env.clock() - RANKING_MAX_STALE_SECONDS
        return bool(self.env.store.pending_count(project) or self.env.store.jobs_in_flight(project, since))

    def keep(self, project: int, belief_at: tuple[int, Belief] | None = None) -> tuple[int, dict]:
        """Compute the /rankings answer of the project's current belief and keep it in the store."""
        env = self.env
        revision, belief = belief_at or self.beliefs.belief_at(project)
        body = {
            "project": project,
            "strategy": env.strategy,
            "labels": belief.n_labels,
            "labels_used": int((belief.labels >= 0).sum()),
            "tasks": int(belief.task_ids.size),
            "candidates": ranking_records(belief, env.pool.names),
            "model_version": belief.model_version,
            "round": env.store.current_round(project),
            "decision": self.live_decision(project, belief).to_dict(),
            # left out of the ranking and the stopping rule: a candidate cannot predict them
            "tasks_without_predictions": self.prediction_errors(project),
        }
        env.store.put_ranking_snapshot(project, self.snapshot_key, revision, body, env.clock())
        return revision, body

    @property
    def snapshot_key(self) -> str:
        """What a kept ranking depends on besides the store: the pool and the ranking and stopping settings."""
        env, s = self.env, self.env.settings
        parts = (env.pool.fingerprint, env.strategy, s.seed, s.patience, s.delta, s.epsilon, s.confidence,
                 s.label_budget, s.min_labels, repr(strategy_params(env.strategy, s)), stopping_rule(s).name)
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]
