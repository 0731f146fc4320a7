"""The one small interface every selection strategy shares.

A strategy holds a belief about which of ``n_models`` pre-trained candidates is
best on the current batch of items, and uses it to say which unlabelled item's
label would be most useful next.  Every strategy:

* scores unlabelled items, vectorised over an ``(n_items, n_models)`` integer
  prediction matrix (:meth:`Strategy.score`; higher = label first);
* takes a label for an item (:meth:`Strategy.observe`), with the probability
  the item was queried with when the strategy is stochastic;
* reports its ranking (:meth:`Strategy.ranking`): per model P(best) or
  posterior weight, accuracy estimate with a 95% interval, labels used;
* saves and restores its whole state as plain JSON
  (:meth:`Strategy.get_state` / :func:`modelpicker_core.registry.from_state`).

Conventions, loosely after scikit-learn: :meth:`Strategy.get_params` returns
the constructor parameters (besides the shape), and what the labels and the
pool teach lives in attributes ending in ``_`` that :meth:`Strategy.reset`
creates and :meth:`Strategy.observe` / :meth:`Strategy.set_pool` update.
Unlike scikit-learn, a constructor validates its parameters and calls
:meth:`Strategy.reset`, so a strategy is ready as soon as it is built; a
parameter may be kept in another form than its argument (e.g. one validated
settings object); and a strategy may keep private caches and arrays derived
from that state (names starting with ``_``, e.g. ``Certified._belief_cache``),
which :meth:`Strategy.get_state` does not save and a restore rebuilds.
"""
from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar

import numpy as np

from .intervals import accuracy_interval
from .votes import argmax_seeded_ties, as_prediction_matrix, pick


@dataclasses.dataclass(frozen=True)
class Ranking:
    """What a strategy believes about the candidates, best first on request.

    All arrays have shape ``(n_models,)`` and are indexed by model (column of
    the prediction matrix), not by rank.

    Attributes
    ----------
    p_best : posterior probability (or posterior weight) that each model is best.
    accuracy : point estimate of each model's accuracy.
    accuracy_low, accuracy_high : the 95% interval of that estimate.
    labels : number of labels behind the estimate (same for every model).
    accuracy_basis : what the accuracy estimate is about, e.g. ``"labelled"``
        (accuracy on the labelled items) or ``"pool"`` (on the whole batch).
    p_top : probability that each model is *a* true best, ties counting for
        every tied model (so it may sum to more than 1): the probability that
        picking the model is right.  Equals ``p_best`` for strategies that do
        not model ties.
    """

    p_best: np.ndarray
    accuracy: np.ndarray
    accuracy_low: np.ndarray
    accuracy_high: np.ndarray
    labels: int
    accuracy_basis: str = "labelled"
    p_top: np.ndarray | None = None

    def __post_init__(self):
        if self.p_top is None:
            object.__setattr__(self, "p_top", self.p_best)

    @property
    def order(self) -> np.ndarray:
        """Model indices sorted best first (by P(a true best), then P(best), then accuracy)."""
        return np.lexsort((-self.accuracy, -self.p_best, -self.p_top))

    @property
    def best(self) -> int:
        """The pick (:func:`~modelpicker_core.votes.pick`) without a generator: ties go to the lowest column,
        nothing is drawn; rank 1 of :attr:`order` (which sorts by the same keys)."""
        return pick(self.p_top, self.p_best, self.accuracy)

    def to_records(self, names: list[str] | None = None) -> list[dict[str, Any]]:
        """One JSON-ready dict per model, best first, with its 1-based rank."""
        names = names or [str(i) for i in range(len(self.p_best))]
        return [
            {
                "rank": rank + 1,
                "model": names[i],
                "index": int(i),
                "p_best": float(self.p_best[i]),
                "p_top": float(self.p_top[i]),
                "accuracy": float(self.accuracy[i]),
                "accuracy_low": float(self.accuracy_low[i]),
                "accuracy_high": float(self.accuracy_high[i]),
                "labels": int(self.labels),
            }
            for rank, i in enumerate(self.order)
        ]


def candidate_indices(candidates: Any, n_items: int) -> np.ndarray:
    """Row indices allowed by ``candidates`` (None = all ``n_items``; a boolean mask or an index array).

    Raises ``ValueError`` when nothing is left to select from.
    """
    if candidates is None:
        idx = np.arange(n_items)
    else:
        cand = np.asarray(candidates)
        idx = np.flatnonzero(cand) if cand.dtype == bool else cand.astype(np.int64)
    if idx.size == 0:
        raise ValueError("no candidate item to select from")
    return idx


class Strategy(abc.ABC):
    """Base class of all selection strategies.

    Parameters
    ----------
    n_models : number of candidate models (columns of the prediction matrix).
    n_classes : size of the label space; classes are ``0 .. n_classes-1``.
    random_state : seed (int) or None; every random choice (tie breaks, coin
        flips) uses ``self.rng_``, whose state is part of the JSON state.
    """

    #: registry name, e.g. ``"modelpicker"``
    name: ClassVar[str] = ""
    #: True when the strategy queries stream items with a probability < 1
    stochastic: ClassVar[bool] = False

    def __init__(self, n_models: int, n_classes: int, random_state: int | None = None):
        if int(n_models) < 1:
            raise ValueError(f"n_models must be >= 1, got {n_models}")
        if int(n_classes) < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        self.n_models = int(n_models)
        self.n_classes = int(n_classes)
        self.random_state = random_state
        self.reset()

    # ----------------------------------------------------------------- params
    def get_params(self) -> dict[str, Any]:
        """Constructor parameters other than the shape, JSON-ready."""
        return {"random_state": self.random_state}

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget every label: back to the prior."""
        self.rng_ = np.random.default_rng(self.random_state)
        self.n_labels_ = 0
        self.correct_ = np.zeros(self.n_models)

    def _check_label(self, label: int) -> int:
        if isinstance(label, (bool, np.bool_)) or not float(label).is_integer():
            raise ValueError(f"label must be an integer class, got {label!r}")
        label = int(label)
        if not 0 <= label < self.n_classes:
            raise ValueError(f"label {label} is outside the label space 0..{self.n_classes - 1}")
        return label

    def _check_row(self, prediction_row: Any) -> np.ndarray:
        row = as_prediction_matrix(prediction_row, self.n_models)
        if row.shape[0] != 1:
            raise ValueError(f"observe takes one item's predictions (n_models,), got {row.shape}")
        row = row[0]
        if row.min() < 0 or row.max() >= self.n_classes:
            raise ValueError(f"predictions outside the label space 0..{self.n_classes - 1}")
        return row

    def observe(
        self,
        prediction_row: Any,
        label: int,
        query_probability: float = 1.0,
        item: int | None = None,
    ) -> None:
        """Take the true label of one item.

        Parameters
        ----------
        prediction_row : ``(n_models,)`` every model's predicted class for the item.
        label : the item's true class.
        query_probability : probability with which the item was queried; 1 for
            deterministic (pool) selection.  Stochastic strategies use it as an
            importance weight.
        item : the item's row in the pool given to :meth:`set_pool`, if any.
        """
        row = self._check_row(prediction_row)
        label = self._check_label(label)
        q = float(query_probability)
        if not 0.0 < q <= 1.0:
            raise ValueError(f"query_probability must be in (0, 1], got {query_probability}")
        self.n_labels_ += 1
        self.correct_ += row == label
        self._update(row, label, q, item)

    def set_pool(self, predictions: Any, probabilities: Any = None) -> None:  # noqa: B027  (optional hook, subclasses may skip it)
        """Tell the strategy the whole batch (labelled and not).

        Strategies whose belief uses the unlabelled items (consensus priors,
        pool-wide accuracy) override this; the default ignores it.
        ``predictions`` is ``(n_items, n_models)``; ``probabilities``, when given,
        is ``(n_items, n_models, n_classes)``.
        """

    @abc.abstractmethod
    def _update(self, row: np.ndarray, label: int, q: float, item: int | None) -> None:
        """Strategy-specific belief update for one checked observation."""

    # ---------------------------------------------------------------- scoring
    @abc.abstractmethod
    def score(self, predictions: Any, probabilities: Any = None) -> np.ndarray:
        """Informativeness of each unlabelled item under the current belief.

        ``predictions`` is ``(n_items, n_models)``; returns ``(n_items,)``
        floats, higher = more useful to label next.
        """

    def select(self, predictions: Any, probabilities: Any = None, candidates: Any = None) -> int:
        """Index (row of ``predictions``) of the item to label next.

        ``candidates`` is an optional boolean mask or index array restricting
        the choice (e.g. to the still-unlabelled rows).  Ties are broken at
        random with ``self.rng_``.
        """
        preds = as_prediction_matrix(predictions, self.n_models)
        idx = candidate_indices(candidates, preds.shape[0])
        probs = None if probabilities is None else np.asarray(probabilities)[idx]
        return int(idx[argmax_seeded_ties(self.score(preds[idx], probs), self.rng_)])

    # ---------------------------------------------------------------- belief
    @abc.abstractmethod
    def p_best(self) -> np.ndarray:
        """``(n_models,)`` posterior probability (or weight) of being best; sums to 1."""

    def p_top(self) -> np.ndarray:
        """``(n_models,)`` probability that each model is *a* true best (ties count for all).

        The default is :meth:`p_best`; strategies that model ties override it.
        """
        return self.p_best()

    def accuracy_estimate(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        """Accuracy of each model on the labelled items with a 95% Jeffreys interval.

        Returns ``(accuracy, low, high, basis)``, arrays of shape ``(n_models,)``.
        Strategies that model the unlabelled items too override this.
        """
        acc, low, high = accuracy_interval(self.correct_, self.n_labels_)
        return acc, low, high, "labelled"

    def ranking(self) -> Ranking:
        acc, low, high, basis = self.accuracy_estimate()
        return Ranking(self.p_best(), acc, low, high, int(self.n_labels_), basis, self.p_top())

    def best(self) -> int:
        """The pick (:func:`~modelpicker_core.votes.pick` of ``p_top()`` then ``p_best()``), the ties left
        drawn with ``self.rng_``: the harness scores this, so tied models are named equally often."""
        return pick(self.p_top(), self.p_best(), rng=self.rng_)

    # ------------------------------------------------------------------- JSON
    def get_state(self) -> dict[str, Any]:
        """The whole state as JSON-ready builtins; see :func:`registry.from_state`."""
        return {
            "strategy": self.name,
            "n_models": self.n_models,
            "n_classes": self.n_classes,
            "params": self.get_params(),
            "rng": self.rng_.bit_generator.state,
            "n_labels": int(self.n_labels_),
            "correct": self.correct_.tolist(),
            "learned": self._get_learned(),
        }

    def _get_learned(self) -> dict[str, Any]:
        """Strategy-specific learned state, as JSON-ready builtins."""
        return {}

    def _set_learned(self, learned: dict[str, Any]) -> None:  # noqa: B027  (optional hook, subclasses may skip it)
        """Inverse of :meth:`_get_learned`."""

    def _set_state(self, state: dict[str, Any]) -> None:
        self.rng_.bit_generator.state = state["rng"]
        self.n_labels_ = int(state["n_labels"])
        self.correct_ = np.asarray(state["correct"], dtype=float)
        self._set_learned(state["learned"])

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}(n_models={self.n_models}, n_classes={self.n_classes}, {params})"
