"""ModelPicker (Karimi et al., AISTATS 2021), exactly as published.

Notation of the paper, for ``k`` models and the ``t``-th streamed item
(``t = 1, 2, ...``):

* learning rate ``eta_t = eta_0 / sqrt(t)``, ``eta_0 = sqrt(ln(k) / 2)``;
* posterior ``w_i ∝ exp(-eta_t * L_i)`` with ``L`` the importance-weighted
  cumulative 0/1 loss of the items before ``t`` (``L = 0`` at the start, so
  ``w`` is uniform);
* query probability: ``u_t = 0`` when all models agree on the item, else
  ``l_c = sum_i w_i 1[f_i(x_t) != c]`` and
  ``u_t = min(1, max(C * max_c l_c (1 - l_c), eta_t))``;
* on a query with label ``y``: ``L_i += 1[f_i(x_t) != y] / u_t``;
* the pick is ``argmax_i w_i``, ties broken at random.

Checked against the public code
-------------------------------
``DS3Lab/online-active-model-selection``, ``src/methods/model_picker.py``
(the code behind the paper's figures) does exactly this:

* ``t`` runs over every streamed item, queried or not, starting at 1, and
  the learning rate is recomputed from ``eta_0`` at each item
  (``eta_0 / sqrt(t)``), not compounded;
* the posterior used for item ``t`` is computed *before* that item's label,
  from the losses of items ``1 .. t-1`` and the current ``eta_t``, shifted by
  ``min(L)`` for numerical stability (which does not change it);
* ``u_t`` is the tuning constant times ``max_c l_c (1 - l_c)`` with the
  maximum over the whole label space, capped at 1; on items where the
  models disagree it is then floored at the current ``eta_t`` (and capped at
  1 again); on items where every model agrees it is 0;
* the loss update divides by the final (floored, capped) ``u_t``;
* the evaluation (``src/evaluation/evaluation_pipeline/evaluate_realizations.py``)
  names the model of largest posterior, ties at random.

One deliberate difference: that evaluation reads the posterior logged at the
start of the last streamed item, so a label taken on the very last item is
not in its pick.  :meth:`ModelPicker.p_best` here is the posterior after
every label taken so far (``w_{n+1}``); the two agree unless the last item was
queried.  Because ``argmax exp(-eta L) = argmin L`` for any ``eta > 0``, the
pick does not depend on the learning rate at all.

``easeml/modelpicker`` (``modelpicker.py`` and ``modelpicker/modelpicker.py``,
the interactive tool) differs from the paper and is *not* followed: it
divides the learning rate by ``sqrt(t)`` cumulatively
(``eta_t = eta_{t-1} / sqrt(t)``, so it collapses after a few items), has no
floor, and its scaling constant is fixed at 1.

``t`` counts streamed items, queried or not, so the caller reports every item
it streams past with :meth:`ModelPicker.advance` (the harness and
:meth:`ModelPicker.stream_step` do).

Vectorisation
-------------
Scoring is done in blocks of items with one weighted ``bincount`` per block
over (item, class) keys (:func:`~modelpicker_core.votes.class_mass_blocks`),
so it costs ``O(n_items * n_models)`` time and ``O(block * (n_models +
n_classes))`` memory whatever the number of items or classes; no
``(n_items, n_classes)`` array is ever built.  The maximum over
classes only needs the classes some model predicts: ``l_c (1 - l_c) =
m_c (1 - m_c)`` with ``m_c = 1 - l_c`` the posterior mass of the models
predicting ``c``, and a class no model predicts has ``m_c = 0``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import Strategy

# The shared vectorised helpers live in .votes; they are re-exported here for
# the modules that import them from this one (the consensus package among them).
from .votes import (
    BLOCK_CLASS_ELEMENTS,
    BLOCK_ELEMENTS,
    all_agree,
    block_items,
    check_predictions,
    class_mass,
    class_mass_blocks,
    compact_predictions,
)

__all__ = [
    "BLOCK_CLASS_ELEMENTS", "BLOCK_ELEMENTS", "ModelPicker", "agreement", "all_agree", "block_items",
    "check_predictions", "class_mass", "class_mass_blocks", "compact_predictions", "max_disagreement",
]


def max_disagreement(predictions: np.ndarray, weights: np.ndarray, n_classes: int) -> np.ndarray:
    """``max_c l_c (1 - l_c)`` for each item, with ``l_c = 1 - m_c``.

    ``predictions`` is ``(n_items, n_models)``, checked; ``weights`` sum to 1.
    Returns ``(n_items,)`` values in ``[0, 1/4]``.  With more classes than
    models the maximum is taken over the predicted classes only (the others
    have ``m_c = 0``), which is the same number for less work.
    """
    out = np.empty(predictions.shape[0])
    many_classes = n_classes > predictions.shape[1]
    for rows, mass in class_mass_blocks(predictions, weights, n_classes, at_predictions=many_classes):
        out[rows] = np.max(mass * (1.0 - mass), axis=1)
    return out


def agreement(predictions: np.ndarray, disagreement: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(n_items,)`` True where every model predicts the same class.

    Reads it from ``disagreement = max_disagreement(predictions, weights, C)``
    when every weight is at least ``1e-9``, which saves a pass over the
    predictions: if the models disagree on an item, some class holds a mass
    ``m`` with ``w_min <= m <= 1 - w_min``, so ``m (1 - m) >= w_min / 2``
    (``w_min <= 1/2`` for two or more models); if they agree, one class holds
    all the mass and the value is 0 up to rounding (``~1e-15``), far below
    the threshold ``w_min / 4``.  With a smaller weight (a posterior that has
    all but ruled out some model) it compares the predictions directly.
    """
    w_min = float(np.min(weights))
    if w_min >= 1e-9:
        return disagreement < w_min / 4.0
    return all_agree(predictions)


class ModelPicker(Strategy):
    """The ModelPicker strategy, stream and pool form.

    Parameters
    ----------
    n_models, n_classes, random_state : see :class:`~modelpicker_core.base.Strategy`.
    scaling : the constant ``C`` that multiplies the query probability and so
        sets how many labels a stream run spends (the harness calibrates it to
        a budget, as the public experiment code tunes it per budget).
    floor : apply the public code's floor ``u_t >= eta_t`` (default True).

    Stream form
        :meth:`stream_step` flips one coin per streamed item with probability
        :meth:`query_probability`; a queried item's loss is divided by the
        probability it was queried with, which keeps ``L`` an unbiased
        estimate of the cumulative loss over the whole stream.

    Pool form
        :meth:`score` ranks unlabelled items by ``max_c l_c (1 - l_c)`` (the
        query probability before scaling, floor and cap; items where every
        model agrees score 0) and the caller labels the top item.  That choice
        is deterministic, not a coin flip, so there is no sampling probability
        to correct for: the pool form passes ``query_probability=1`` and ``L``
        is the plain number of mistakes on the labelled items.  Dividing by
        ``u`` there would weight each label by an arbitrary score (the most
        informative items, with the largest ``u``, would count least) and
        make the posterior depend on the scaling constant ``C``, which has no
        meaning in the pool.  ``t`` is the number of labels taken plus one.

    Attributes
    ----------
    loss_ : ``(n_models,)`` importance-weighted cumulative loss ``L``.
    t_ : 1-based index of the next streamed item.
    """

    name = "modelpicker"
    stochastic = True

    def __init__(self, n_models: int, n_classes: int, random_state: int | None = None,
                 scaling: float = 1.0, floor: bool = True):
        self.scaling = float(scaling)
        self.floor = bool(floor)
        if not self.scaling > 0 or not np.isfinite(self.scaling):
            raise ValueError(f"scaling must be a finite number > 0, got {scaling}")
        super().__init__(n_models, n_classes, random_state)

    def get_params(self) -> dict[str, Any]:
        return {**super().get_params(), "scaling": self.scaling, "floor": self.floor}

    def reset(self) -> None:
        super().reset()
        self.loss_ = np.zeros(self.n_models)
        self.t_ = 1

    # ------------------------------------------------------------ quantities
    @property
    def eta0(self) -> float:
        """``sqrt(ln(k) / 2)``; 1 for a single model, where ``ln(k) = 0``."""
        return float(np.sqrt(np.log(self.n_models) / 2.0)) if self.n_models > 1 else 1.0

    def eta(self, t: int | None = None) -> float:
        """Learning rate ``eta_0 / sqrt(t)`` for the ``t``-th item (default: the next one)."""
        return self.eta0 / np.sqrt(self.t_ if t is None else t)

    def posterior(self, t: int | None = None) -> np.ndarray:
        """``(n_models,)`` weights ``exp(-eta_t L) / Z``, shifted by ``min(L)`` for stability."""
        w = np.exp(-self.eta(t) * (self.loss_ - self.loss_.min()))
        return w / w.sum()

    def p_best(self) -> np.ndarray:
        return self.posterior()

    def query_probability(self, predictions: Any) -> np.ndarray:
        """``(n_items,)`` query probability ``u_t`` of each item at the current ``t``."""
        preds = check_predictions(predictions, self.n_models, self.n_classes)
        w = self.posterior()
        disagreement = max_disagreement(preds, w, self.n_classes)
        u = self.scaling * disagreement
        if self.floor:
            u = np.maximum(u, self.eta())
        u = np.minimum(u, 1.0)
        u[agreement(preds, disagreement, w)] = 0.0
        return u

    def score(self, predictions: Any, probabilities: Any = None) -> np.ndarray:
        """Pool form: ``(n_items,)`` ``max_c l_c (1 - l_c)``; 0 where all models agree."""
        preds = check_predictions(predictions, self.n_models, self.n_classes)
        w = self.posterior()
        score = max_disagreement(preds, w, self.n_classes)
        score[agreement(preds, score, w)] = 0.0  # exactly 0, not a rounding residue of m (1 - m)
        return score

    # --------------------------------------------------------------- updates
    def advance(self, n_items: int = 1) -> None:
        """Count ``n_items`` streamed items that were not queried."""
        n_items = int(n_items)
        if n_items < 0:
            raise ValueError(f"advance takes a number of items >= 0, got {n_items}")
        self.t_ += n_items

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
