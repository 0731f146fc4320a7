"""What the service keeps in memory per project between requests: the round's prediction matrix and the
fitted belief, each with the store counters that say when it went stale.

Fitting is the expensive step (see :mod:`backend.belief`), so both are kept and compared against the
store's counters on every use; a mismatch means the store changed under them (a label, a task, a new
round, another label config) and they are rebuilt.
"""
from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np

from .belief import Belief, prediction_matrix
from .locks import ProjectLocks

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RoundMatrix:
    """The candidates' predictions over the tasks of one round.

    ``task_ids`` ``(n_tasks,)`` sorted ids of the tasks every candidate has a prediction for;
    ``predictions`` ``(n_tasks, n_models)`` class indices; ``in_round`` every task of the round
    (predicted or not), to tell which labels count.
    """

    matrix_revision: int
    round: int
    config: str | None
    task_ids: np.ndarray
    predictions: np.ndarray
    in_round: frozenset

    def current(self, matrix_revision: int, round_: int, config: str | None) -> bool:
        return (self.matrix_revision, self.round, self.config) == (matrix_revision, round_, config)


@dataclasses.dataclass(frozen=True)
class FittedBelief:
    """A belief and the store revision and label config it was fitted at."""

    revision: int
    config: str | None
    belief: Belief

    def current(self, revision: int, config: str | None) -> bool:
        return (self.revision, self.config) == (revision, config)


class BeliefCache:
    """Each project's fitted belief over its current round, refitted only when the store changed.

    Parameters
    ----------
    store : per-project state.
    configs : the projects' label configs (:class:`~backend.project_configs.ProjectConfigs`).
    require_pool : returns the loaded pool (or raises the 503 that says why there is none).
    fit : ``fit(project, matrix, choices, labels, round_, previous) -> Belief`` (the strategy and its
        settings bound in; see :func:`backend.belief.fit_belief`).
    version : ``version(project, labels, round_, task_ids) -> str``, the priority version without a fit
        (:func:`backend.belief.model_version`).
    """

    def __init__(self, store, configs, require_pool, fit, version):
        self.store, self.configs, self.require_pool = store, configs, require_pool
        self.fit, self.version = fit, version
        #: one lock per project: a slow project never makes another one wait
        self.locks = ProjectLocks()
        self._beliefs: dict[int, FittedBelief] = {}
        self._matrices: dict[int, RoundMatrix] = {}

    def belief_at(self, project: int) -> tuple[int, Belief]:
        """``(store revision, belief)``: the project's belief over its current round, refitted when its
        labels changed.

        Only the tasks of the current round (and their labels) count: a new
        round is a new selection.  The prediction matrix is cached separately
        and re-read from the store only when tasks, predictions or the round
        changed, so a new label costs one replay of the labels, not a read of
        every cached prediction.
        """
        self.require_pool()
        choices = self.configs.project_choices(project)
        with self.locks.hold(project):
            revision = self.store.revision(project)
            config = self.store.get_label_config(project)
            cached = self._beliefs.get(project)
            if cached and cached.current(revision, config):
                return revision, cached.belief
            # a stale belief is of use only as the fit's ``previous`` (its checkpoints); its live strategy,
            # as large as a checkpoint, is let go before the fit (a failed fit then replays from the start)
            self._beliefs.pop(project, None)
            previous = dataclasses.replace(cached.belief, strategy=None) if cached and cached.config == config \
                else None
            del cached
            round_ = self.store.current_round(project)
            matrix = self.round_matrix(project, choices, round_)
            labels = [x for x in self.store.labels(project) if x.task in matrix.in_round]
            belief = self.checked_draws(project, round_, self.fit(project, matrix, choices, labels, round_, previous))
            self._beliefs[project] = FittedBelief(revision, config, belief)
            return revision, belief

    def checked_draws(self, project: int, round_: int, belief: Belief) -> Belief:
        """The belief, with only the trivial bound when the round's queue was drawn by another rule.

        The first fit of a round keeps its rule (:attr:`Belief.draw_rule`) in the store.  A refit replays
        the labels with today's rule, so a label another rule drew (an upgrade that changed the draws, other
        settings) would be weighed by a probability it did not have: the certified bound would not hold.
        Such a round keeps its labels and P(best) but no bound (1.0) and no certified STOP; a new round
        (a new batch) gets one again.  Rounds started before rules were kept are not checked.
        """
        rule = belief.draw_rule
        if rule is None or belief.gap is None:
            return belief
        # read first: every refit passes here, and only a round's first fit needs the store's write lock
        kept = self.store.draw_rule(project, round_) or self.store.record_draw_rule(project, round_, rule, time.time())
        if kept == rule:
            return belief
        logger.warning("project %s round %s: its labels were drawn by %r, this process draws by %r: no certified "
                       "bound for this round", project, round_, kept, rule)
        return dataclasses.replace(belief, gap=np.ones_like(belief.gap), bound_void=(
            "no certified bound in this round: its first labels were drawn by another draw rule (an upgrade or "
            "changed settings); start a new round (import a new batch) for one"))

    def forget(self, project: int) -> None:
        """Drop the project's cached belief and matrix (after a rolled-back transaction: the
        store's revision counters went back, so a cache keyed by them could be stale)."""
        with self.locks.hold(project):
            self._beliefs.pop(project, None)
            self._matrices.pop(project, None)

    def round_matrix(self, project: int, choices, round_: int) -> RoundMatrix:
        """The round's prediction matrix, cached until its tasks, predictions or label config change."""
        pool = self.require_pool()
        with self.locks.hold(project):
            matrix_revision, config = self.store.matrix_revision(project), self.store.get_label_config(project)
            matrix = self._matrices.get(project)
            if not (matrix and matrix.current(matrix_revision, round_, config)):
                in_round = frozenset(self.store.round_tasks(project, round_))
                task_ids, rows = prediction_matrix(self.store.packed_predictions(project), pool.cache_keys, choices,
                                                   in_round)
                matrix = RoundMatrix(matrix_revision, round_, config, task_ids, rows, in_round)
                self._matrices[project] = matrix
            return matrix

    def label_summary(self, project: int) -> dict:
        """``{"labels", "model_version"}`` of the current round without fitting the strategy.

        The priority version depends on the labels and the set of scored tasks
        only (see :func:`backend.belief.model_version`), so the webhook can
        answer with it at once; with rq the fit happens in the worker, not in
        the request.
        """
        with self.locks.hold(project):
            cached = self._beliefs.get(project)
            if cached and cached.current(self.store.revision(project), self.store.get_label_config(project)):
                return {"labels": cached.belief.n_labels, "model_version": cached.belief.model_version}
        self.require_pool()
        round_ = self.store.current_round(project)
        matrix = self.round_matrix(project, self.configs.project_choices(project), round_)
        labels = [x for x in self.store.labels(project) if x.task in matrix.in_round]
        return {"labels": len(labels), "model_version": self.version(project, labels, round_, matrix.task_ids)}
