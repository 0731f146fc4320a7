"""What the labelled items tell the certified belief: each model's (weighted) count of correct labelled answers.

:class:`~modelpicker_core.certified.Certified` weighs candidate ``h`` by ``gamma ** correct_h``.  With
``evidence="counts"`` (the default) ``correct_h`` is the raw number of labelled items ``h`` got right: its
accuracy on the *drawn* items, which the guided draws concentrate on contested ones.  With ``evidence="ipw"``
each labelled item ``i`` counts with an importance weight from the probability ``q_i`` it was drawn with
(recorded by the draw), so ``correct_h`` estimates ``n_labels`` times ``h``'s accuracy on the *batch*
(Hansen-Hurwitz / self-normalised inverse-probability weighting)::

    r_i = q_i ** -power,   w_i = min(r_i / mean_j r_j, clip),   correct_h = sum_i w_i 1[h right on i]

``power = 1`` and no ``clip`` is plain self-normalised IPW (the weights sum to the label count); ``power < 1``
tempers the weights toward the raw counts (``power = 0``), and ``clip`` caps one label's weight (the capped
weights are not renormalised, so a few heavy labels count for less than ``n_labels``).  Only the belief reads
these weights: the draws' recorded probabilities and the certificate do not depend on them.

:func:`labels_only_predictive` is the labels-only belief's predictive of the next label (the H0 of learned
trust in the guide, ``Certified(prior_trust="learned")``).
"""
from __future__ import annotations

import numpy as np

#: what ``correct_h`` counts: raw labelled correct answers, or importance-weighted ones
EVIDENCE = ("counts", "ipw")


def label_weights(q: np.ndarray, power: float = 1.0, clip: float | None = None) -> np.ndarray:
    """``(n_labels,)`` importance weights of the labelled items, mean 1 before the ``clip`` cap.

    ``q``: ``(n_labels,)`` the probability each label was drawn with, NaN for a label the strategy did not
    draw (an annotator took another task): its weight is the mean raw weight of the drawn ones (neutral, 1
    before the cap).  No drawn label: every weight 1.
    """
    q = np.asarray(q, dtype=float)
    drawn = ~np.isnan(q)
    if not drawn.any():
        return np.ones(q.size)
    raw = np.empty(q.size)
    # in log space: q can be 1e-6 and power 1, the ratio r_i / mean r must not overflow
    log_raw = -float(power) * np.log(q[drawn])
    raw[drawn] = np.exp(log_raw - log_raw.max())
    raw[~drawn] = raw[drawn].mean()
    weights = raw / raw.mean()
    return weights if clip is None else np.minimum(weights, float(clip))


def weighted_correct(rows: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(n_models,)`` ``sum_i weights[i] * 1[rows[i, h] == labels[i]]``.

    ``rows``: ``(n_labels, n_models)`` the labelled items' predictions; ``labels``, ``weights``: ``(n_labels,)``.
    """
    return np.asarray(weights, dtype=float) @ (np.asarray(rows) == np.asarray(labels)[:, None])


def labels_only_predictive(row: np.ndarray, correct: np.ndarray, n_labels: int, gamma: float,
                           n_classes: int) -> np.ndarray:
    """``(n_classes,)`` the labels-only belief's predictive of the next label on an item predicted as ``row``.

    ``row``, ``correct``: ``(n_models,)``.  The candidates weighted by the labels-only belief ``gamma ** correct``,
    each right with its smoothed labelled accuracy ``(correct + 1) / (n_labels + 2)`` and otherwise uniform over
    the other classes.
    """
    logits = np.log(gamma) * correct
    w = np.exp(logits - logits.max())
    w /= w.sum()
    acc = (correct + 1.0) / (n_labels + 2.0)
    wrong = w * (1.0 - acc) / (n_classes - 1)
    pred = np.full(n_classes, wrong.sum())
    np.add.at(pred, row, w * acc - wrong)
    return pred
