"""Baseline selection strategies: random, disagreement, vote entropy.

Each is a plain measure over the unlabelled items (modAL style, vectorised
over an ``(n_items, n_models)`` prediction matrix) wrapped in a
:class:`~modelpicker_core.base.Strategy`.  None of them keeps a belief beyond
the counts of correct answers on the labelled items, so they share one
:meth:`~CountingStrategy.p_best`: the pick is the model with the most correct
labelled answers, ties at random.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import xlogy

from .base import Strategy
from .votes import all_agree, check_predictions, class_mass_blocks


def disagreement(predictions: np.ndarray) -> np.ndarray:
    """``(n_items,)`` 1.0 where the models' predictions differ, else 0.0.

    ``predictions`` is ``(n_items, n_models)`` integer classes.
    """
    return (~all_agree(predictions)).astype(float)


def vote_entropy(predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """Entropy (nats) of each item's vote distribution, QBC style.

    With ``v_c`` the fraction of models voting for class ``c``,
    ``H = -sum_c v_c log v_c`` (vote entropy, Dagan & Engelson 1995).
    ``predictions`` is ``(n_items, n_models)``; returns
    ``(n_items,)`` values in ``[0, log(min(n_models, n_classes))]``.
    """
    n_models = predictions.shape[1]
    out = np.empty(predictions.shape[0])
    uniform = np.full(n_models, 1.0 / n_models)
    many_classes = n_classes > n_models
    for rows, votes in class_mass_blocks(predictions, uniform, n_classes, at_predictions=many_classes):
        if many_classes:  # votes[j, i] = share of model i's class; sum_c v log v = sum_i log(v_i) / k
            out[rows] = -np.sum(np.log(votes), axis=1) / n_models
        else:
            out[rows] = -np.sum(xlogy(votes, votes), axis=1)
    return out


class CountingStrategy(Strategy):
    """A strategy whose only belief is the number of correct labelled answers.

    :meth:`p_best` spreads weight 1 uniformly over the models with the most
    correct answers on the labelled items (all models before any label).  It
    is a posterior *weight* in the sense of "which models are currently tied
    for best", not a calibrated probability that a model is best.
    """

    def _update(self, row: np.ndarray, label: int, q: float, item: int | None) -> None:
        """Nothing beyond the correct counts the base class keeps."""

    def p_best(self) -> np.ndarray:
        leaders = self.correct_ >= self.correct_.max()
        return leaders / leaders.sum()


class RandomSampling(CountingStrategy):
    """Label items uniformly at random.

    Every item scores 0, so :meth:`~modelpicker_core.base.Strategy.select`
    breaks the all-way tie uniformly with the strategy's generator.
    """

    name = "random"

    def score(self, predictions: Any, probabilities: Any = None) -> np.ndarray:
        preds = check_predictions(predictions, self.n_models, self.n_classes)
        return np.zeros(preds.shape[0])


class DisagreementSampling(CountingStrategy):
    """Label items uniformly at random among those on which the models disagree.

    Items where every model predicts the same class cannot separate the
    models; they score 0, the others 1.  When no candidate item has a
    disagreement, every item ties and the choice is uniform.
    """

    name = "disagreement"

    def score(self, predictions: Any, probabilities: Any = None) -> np.ndarray:
        preds = check_predictions(predictions, self.n_models, self.n_classes)
        return disagreement(preds)


class VoteEntropySampling(CountingStrategy):
    """Uncertainty sampling on the models' votes: highest vote entropy first.

    Query-by-committee with the candidates as the committee; see
    :func:`vote_entropy`.  Ties (e.g. all agreement items at 0) are broken at
    random.
    """

    name = "vote_entropy"

    def score(self, predictions: Any, probabilities: Any = None) -> np.ndarray:
        preds = check_predictions(predictions, self.n_models, self.n_classes)
        return vote_entropy(preds, self.n_classes)
