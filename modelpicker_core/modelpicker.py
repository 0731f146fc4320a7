"""ModelPicker (Karimi et al., AISTATS 2021), exactly as published.

Notation of the paper, for ``k`` models and the ``t``-th streamed item
(``t = 1, 2, ...``):

* learning rate ``eta_t = eta_0 / sqrt(t)``, ``eta_0 = sqrt(ln(k) / 2)``;
* posterior ``w_i ∝ exp(-eta_t * L_i)`` with ``L`` the importance-weighted
  cumulative 0/1 loss (``L = 0`` at the start, so ``w`` is uniform);
* query probability: ``u_t = 0`` when all models agree on the item, else
  ``l_c = sum_i w_i 1[f_i(x_t) != c]`` and
  ``u_t = min(1, max(C * max_c l_c (1 - l_c), eta_t))`` (the public experiment
  code floors ``u_t`` at ``eta_t``);
* on a query with label ``y``: ``L_i += 1[f_i(x_t) != y] / u_t``;
* the pick is ``argmax_i w_i``, ties broken at random.

``t`` counts streamed items, queried or not, so the caller reports every item
it streams past with :meth:`ModelPicker.advance` (the harness and
:meth:`ModelPicker.stream_step` do).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import Strategy, as_prediction_matrix


def class_mass(predictions: np.ndarray, weights: np.ndarray, n_classes: int) -> np.ndarray:
    """Posterior mass of the models predicting each class.

    Parameters
    ----------
    predictions : ``(n_items, n_models)`` integer classes.
    weights : ``(n_models,)`` posterior weights summing to 1.
    n_classes : size of the label space.

    Returns
    -------
    ``(n_items, n_classes)`` array ``m[j, c] = sum_{i: f_i(x_j) = c} w_i``.
    Built with one ``bincount`` over flattened (item, class) keys, so it costs
    ``O(n_items * n_models)`` time and ``O(n_items * n_classes)`` memory.
    """
    n_items, n_models = predictions.shape
    keys = predictions + (np.arange(n_items, dtype=np.int64) * n_classes)[:, None]
    return np.bincount(
        keys.ravel(), weights=np.broadcast_to(weights, predictions.shape).ravel(),
        minlength=n_items * n_classes,
    ).reshape(n_items, n_classes)


def max_disagreement(predictions: np.ndarray, weights: np.ndarray, n_classes: int) -> np.ndarray:
    """``max_c l_c (1 - l_c)`` for each item, with ``l_c = 1 - m_c``.

    ``l_c (1 - l_c) = m_c (1 - m_c)`` and a class no model predicts has
    ``m_c = 0``, so the maximum over all classes equals the maximum over the
    predicted ones.  Returns ``(n_items,)`` values in ``[0, 1/4]``.
    """
    m = class_mass(predictions, weights, n_classes)
    return np.max(m * (1.0 - m), axis=1)


class ModelPicker(Strategy):
    """The ModelPicker strategy, stream and pool form.

    Parameters
    ----------
    n_models, n_classes, random_state : see :class:`~modelpicker_core.base.Strategy`.
    scaling : the constant ``C`` that multiplies the query probability and so
        sets how many labels a stream run spends (the harness calibrates it to
        a budget).
    floor : apply the public code's floor ``u_t >= eta_t`` (default True).

    Stream form
        :meth:`stream_step` flips one coin per streamed item with probability
        :meth:`query_probability`; a queried item's loss is divided by the
        probability it was queried with, which keeps ``L`` an unbiased
        estimate of the cumulative loss over the whole stream.

    Pool form
        :meth:`score` ranks unlabelled items by their query probability and
        the caller labels the top item.  That choice is deterministic, not a
        coin flip, so there is no sampling probability to correct for:
        the pool form passes ``query_probability=1`` and ``L`` is the plain
        number of mistakes on the labelled items.  Dividing by ``u`` there
        would weight each label by an arbitrary score (the most informative
        items, with the largest ``u``, would count least) and make the
        posterior depend on the scaling constant ``C``, which has no meaning in
        the pool.  ``t`` is the number of labels taken plus one.
    """

    name = "modelpicker"
    stochastic = True

    def __init__(self, n_models: int, n_classes: int, random_state: int | None = None,
                 scaling: float = 1.0, floor: bool = True):
        self.scaling = float(scaling)
        self.floor = bool(floor)
        if self.scaling <= 0:
            raise ValueError(f"scaling must be > 0, got {scaling}")
        super().__init__(n_models, n_classes, random_state)

    def get_params(self) -> dict[str, Any]:
        return {**super().get_params(), "scaling": self.scaling, "floor": self.floor}

    def reset(self) -> None:
        super().reset()
        self.loss_ = np.zeros(self.n_models)
        self.t_ = 1  # index of the next streamed item (1-based)

    # ------------------------------------------------------------ quantities
    @property
    def eta0(self) -> float:
        return float(np.sqrt(np.log(self.n_models) / 2.0)) if self.n_models > 1 else 1.0

    def eta(self, t: int | None = None) -> float:
        """Learning rate ``eta_0 / sqrt(t)`` for the ``t``-th item."""
        return self.eta0 / np.sqrt(self.t_ if t is None else t)

    def posterior(self, t: int | None = None) -> np.ndarray:
        """``(n_models,)`` weights ``exp(-eta_t L) / Z`` (shifted for stability)."""
        logits = -self.eta(t) * (self.loss_ - self.loss_.min())
        w = np.exp(logits)
        return w / w.sum()

    def p_best(self) -> np.ndarray:
        return self.posterior()

    def query_probability(self, predictions: Any) -> np.ndarray:
        """``(n_items,)`` query probability ``u_t`` of each item at the current ``t``."""
        preds = as_prediction_matrix(predictions, self.n_models)
        w = self.posterior()
        u = self.scaling * max_disagreement(preds, w, self.n_classes)
        agree = np.all(preds == preds[:, :1], axis=1)
        if self.floor:
            u = np.maximum(u, self.eta())
        u = np.minimum(u, 1.0)
        u[agree] = 0.0
        return u

    def score(self, predictions: Any, probabilities: Any = None) -> np.ndarray:
        """Pool form: informativeness = the query probability (before the floor and cap)."""
        preds = as_prediction_matrix(predictions, self.n_models)
        return max_disagreement(preds, self.posterior(), self.n_classes)

    # --------------------------------------------------------------- updates
    def advance(self, n_items: int = 1) -> None:
        """Count ``n_items`` streamed items that were not queried."""
        self.t_ += int(n_items)

    def _update(self, row: np.ndarray, label: int, q: float, item: int | None) -> None:
        self.loss_ += (row != label) / q
        self.t_ += 1

    def stream_step(self, prediction_row: Any, oracle) -> tuple[bool, float]:
        """Process one streamed item: flip the coin, maybe ask ``oracle()``.

        ``oracle`` is a zero-argument callable returning the item's label; it
        is called only on a query.  Returns ``(queried, u_t)``.
        """
        row = self._check_row(prediction_row)
        u = float(self.query_probability(row[None, :])[0])
        if u > 0.0 and self.rng_.random() < u:
            self.observe(row, oracle(), query_probability=u)
            return True, u
        self.advance()
        return False, u

    # ------------------------------------------------------------------ JSON
    def _get_learned(self) -> dict[str, Any]:
        return {"loss": self.loss_.tolist(), "t": int(self.t_)}

    def _set_learned(self, learned: dict[str, Any]) -> None:
        self.loss_ = np.asarray(learned["loss"], dtype=float)
        self.t_ = int(learned["t"])
