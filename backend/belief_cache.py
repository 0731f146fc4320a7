"""What the service keeps in memory per project between requests: the round's prediction matrix and the
fitted belief, each with the store counters that say when it went stale.

Fitting is the expensive step (see :mod:`backend.belief`), so both are kept and compared against the
store's counters on every use; a mismatch means the store changed under them (a label, a task, a new
round, another label config) and they are rebuilt.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .belief import Belief


@dataclasses.dataclass(frozen=True)
class RoundMatrix:
    """The candidates' predictions over the tasks of one round.

    ``task_ids`` ``(n_tasks,)`` sorted ids of the tasks every candidate has a prediction for;
    ``predictions`` ``(n_tasks, n_models)`` class indices; ``in_round`` every task of the round
    (predicted or not), to tell which labels count.
    """

    pool_revision: int
    round: int
    config: str | None
    task_ids: np.ndarray
    predictions: np.ndarray
    in_round: frozenset

    def current(self, pool_revision: int, round_: int, config: str | None) -> bool:
        return (self.pool_revision, self.round, self.config) == (pool_revision, round_, config)


@dataclasses.dataclass(frozen=True)
class FittedBelief:
    """A belief and the store revision and label config it was fitted at."""

    revision: int
    config: str | None
    belief: Belief

    def current(self, revision: int, config: str | None) -> bool:
        return (self.revision, self.config) == (revision, config)
