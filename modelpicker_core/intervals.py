"""Interval estimates for accuracies.

The Jeffreys interval (Beta(1/2, 1/2) prior) is used because it keeps sensible
coverage at the small label counts model selection works with and, unlike the
Wald interval, never leaves [0, 1] or collapses to a point at 0 or n correct.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import beta


def accuracy_interval(correct, n, level: float = 0.95):
    """Accuracy point estimate and equal-tailed Jeffreys interval.

    Parameters
    ----------
    correct : ``(n_models,)`` (possibly fractional) number of correct answers.
    n : number of labelled items (scalar or ``(n_models,)``).
    level : coverage of the interval.

    Returns
    -------
    accuracy, low, high : ``(n_models,)`` arrays. With ``n == 0`` the estimate
    is 0.5 and the interval is ``[0, 1]``.
    """
    correct = np.asarray(correct, dtype=float)
    n = np.broadcast_to(np.asarray(n, dtype=float), correct.shape)
    a = correct + 0.5
    b = n - correct + 0.5
    tail = (1.0 - level) / 2.0
    acc = np.where(n > 0, correct / np.maximum(n, 1e-300), 0.5)
    low = np.where(correct > 0, beta.ppf(tail, a, b), 0.0)
    high = np.where(correct < n, beta.isf(tail, a, b), 1.0)
    return acc, low, high
