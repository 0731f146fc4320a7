"""Which item to label next, drawn with a known probability (the certified stop needs it).

A deterministic "most informative first" order makes the labelled items a
biased sample; drawing the next item from a recorded distribution ``q`` keeps
every estimate of :mod:`.certificate` unbiased, whatever the belief behind
``q`` got wrong.  ``q`` mixes three parts over the *open* items (unlabelled
items on which at least two candidates disagree; the others cannot change any
accuracy gap):

* ``exploration``: uniform over the open items, so every item that can move
  a gap has a probability of at least ``exploration / n_open`` (the bound's
  worst-case weight);
* ``guided``: the belief's most informative item (or several items, each
  with its own share): fast identification when the belief is right;
* the rest: proportional to the residual spread a label would remove from the
  pairs the stop waits for (the leader against each rival it is not yet
  certified against), ``sqrt(v_a + v_b - (v_a - v_b)^2 + floor)`` summed over
  those rivals on the items where the two disagree (Zrnic and Candes 2024:
  sampling in proportion to the residual's standard deviation minimises the
  estimate's variance).  The ``floor`` keeps items the belief is sure of (and
  may be wrong about) in play.
"""
from __future__ import annotations

import numpy as np

from .votes import compact_classes


def open_items(predictions: np.ndarray, unlabelled: np.ndarray) -> np.ndarray:
    """``(n_items,)`` bool: unlabelled and at least two candidates disagree (compared in ``int8`` when the
    classes fit, :func:`~modelpicker_core.votes.compact_classes`: the same answer from an eighth of the bytes)."""
    rows = compact_classes(predictions)
    return unlabelled & np.any(rows != rows[:, :1], axis=1)


def residual_spread(predictions: np.ndarray, guess: np.ndarray, leader: int, rivals: np.ndarray,
                    floor: float) -> np.ndarray:
    """``(n_items,)`` sum over ``rivals`` of the residual sd of ``x = 1[leader right] - 1[rival right]``.

    ``predictions`` and ``guess`` are ``(n_items, n_models)``; items where the
    leader and a rival agree add nothing for that rival.
    """
    if rivals.size == 0:
        return np.zeros(predictions.shape[0])
    v_a = guess[:, leader][:, None]                                   # (n, 1)
    v_b = guess[:, rivals]                                            # (n, R), a copy
    differ = predictions[:, rivals] != predictions[:, leader][:, None]
    var = v_a + v_b   # then, in place (the same operations, fewer temporaries): - (v_a - v_b) ** 2, clip, sqrt
    np.subtract(v_a, v_b, out=v_b)
    v_b **= 2
    var -= v_b
    np.clip(var, 0.0, None, out=var)
    var += floor
    np.sqrt(var, out=var)
    var *= differ
    return np.sum(var, axis=1)


def live_columns(predictions: np.ndarray, guess: np.ndarray, live: np.ndarray, leader: int,
                 rivals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The live rows' predictions and guesses of the leader (column 0) and the rivals (columns 1..).

    ``(n_live, 1 + n_rivals)`` each: the residual part reads nothing else, so the ``(n_items, n_models)``
    arrays are not copied whole (``residual_spread(rows, guess, 0, 1..n_rivals)`` is the same number as
    ``residual_spread`` of the full live rows with ``leader`` and ``rivals``).
    """
    idx = np.flatnonzero(live)
    cols = np.concatenate([[leader], rivals]).astype(np.intp)
    return predictions[:, cols][idx], guess[:, cols][idx]   # columns first: a sixth of the time of [idx, cols]


def sampling_distribution(predictions: np.ndarray, unlabelled: np.ndarray, guess: np.ndarray, leader: int,
                          rivals: np.ndarray, guided_item, exploration: float = 0.2,
                          guided: float = 0.4, floor: float = 0.1) -> np.ndarray:
    """``(n_items,)`` the distribution the next label is drawn from; 0 on labelled and unanimous items.

    Parameters
    ----------
    predictions : ``(n_items, n_models)`` classes.
    unlabelled : ``(n_items,)`` bool.
    guess : ``(n_items, n_models)`` belief's probability that each model is right.
    leader : the model the stop would name now.
    rivals : models the leader is not yet certified against.
    guided_item : the belief's most informative item, or None; or a sequence of
        ``(item, share)`` pairs (then ``guided`` is ignored and the shares,
        summing to at most ``1 - exploration``, are used).
    exploration, guided : shares of the uniform and guided parts (the rest is the residual part).
    floor : added to each residual variance (:func:`residual_spread`).

    Returns all zeros when no item is open (nothing left can change a gap).
    """
    if not 0.0 < exploration <= 1.0 or not 0.0 <= guided <= 1.0 - exploration:
        raise ValueError(f"need 0 < exploration <= 1 and 0 <= guided <= 1 - exploration, got {exploration}, {guided}")
    rows = compact_classes(predictions)
    live = open_items(rows, unlabelled)
    q = np.zeros(predictions.shape[0])
    n_open = int(live.sum())
    if n_open == 0:
        return q
    q[live] = exploration / n_open
    rest = 1.0 - exploration
    if guided_item is None:
        parts = []
    elif np.ndim(guided_item) == 0:
        parts = [(int(guided_item), float(guided))]
    else:
        parts = [(int(i), float(w)) for i, w in guided_item]
        if sum(w for _, w in parts) > 1.0 - exploration + 1e-12 or any(w < 0 for _, w in parts):
            raise ValueError("guided shares must be >= 0 and sum to at most 1 - exploration")
    for item, share in parts:
        if live[item] and share > 0:
            q[item] += share
            rest -= share
    spread = np.zeros_like(q)
    (live_rows, live_guess), others = live_columns(rows, guess, live, leader, rivals), np.arange(1, np.size(rivals) + 1)
    spread[live] = residual_spread(live_rows, live_guess, 0, others, floor)
    rest = max(rest, 0.0)
    if spread.sum() > 0:
        q += rest * spread / spread.sum()
    else:
        q[live] += rest / n_open
    return q / q.sum()
