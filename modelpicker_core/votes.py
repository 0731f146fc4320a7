"""Vectorised primitives every strategy shares: checked predictions, class votes, agreement, the pick.

Predictions are an ``(n_items, n_models)`` integer matrix of class indices.
The helpers here work on it block by block (one weighted ``bincount`` per
block over (item, class) keys), so they cost ``O(n_items * n_models)`` time
and ``O(block * (n_models + n_classes))`` memory whatever the number of items
or classes; no ``(n_items, n_classes)`` array is built unless asked for
(:func:`class_mass`, small inputs only).

The pick
--------
"Which model is best now" has one definition, :func:`pick`: the largest
``p_top`` (the probability of being *a* true best, ties counted), then the
largest ``p_best``, then the largest estimated accuracy, each compared within
``1e-12``; what is still tied goes to the lowest column, or, when a generator
is given, is drawn uniformly from it.  Every caller uses it:

* :meth:`Strategy.best() <modelpicker_core.base.Strategy.best>` passes the
  strategy's generator: the harness scores this pick, so tied models are
  named equally often (as the public ModelPicker and Model Selector
  evaluations do) instead of the lowest column always winning.  A tie draws
  from ``rng_``, so calling it changes later random choices.
* :attr:`Ranking.best <modelpicker_core.base.Ranking.best>` (what a person is
  shown: the ``pick`` command, the backend's rankings), the stopping rule and
  the backend's decider pass none: reading twice gives the same answer and
  draws nothing.
* :class:`~modelpicker_core.stopping.CertifiedStop` names the model of
  smallest certified gap instead (ties: largest P(best)): its guarantee is
  about that gap.

Every random tie-break among maxima (the pick above, the next item of
:meth:`Strategy.select <modelpicker_core.base.Strategy.select>`) goes through
:func:`argmax_seeded_ties`.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

#: items x models per block; keeps each block's keys (8 bytes each) in cache
BLOCK_ELEMENTS = 1 << 19
#: items x classes per block, for the per-block class-mass array
BLOCK_CLASS_ELEMENTS = 1 << 20
#: values within this of the maximum count as tied for it
TIE_TOLERANCE = 1e-12


def argmax_seeded_ties(values: Any, rng: np.random.Generator, tolerance: float = TIE_TOLERANCE) -> int:
    """Index of the largest of ``values`` ``(n,)``, ties (within ``tolerance``) broken uniformly with ``rng``.

    A single maximum draws nothing from ``rng``; several draw once
    (``rng.choice`` over the tied indices, in index order).  numpy's
    ``Generator.choice`` draws nothing for a one-element array either, so
    callers that used to call it unconditionally get the same stream.
    """
    v = np.asarray(values)
    top = np.flatnonzero(v >= v.max() - tolerance)
    return int(top[0]) if top.size == 1 else int(rng.choice(top))


def pick(p_top: Any, p_best: Any = None, accuracy: Any = None, rng: np.random.Generator | None = None,
         tolerance: float = TIE_TOLERANCE) -> int:
    """The model picked: largest ``p_top`` ``(n_models,)``, then ``p_best``, then ``accuracy`` (those given).

    Each key only breaks the ties (within ``tolerance``) the keys before it
    left.  What is still tied goes to the lowest column without ``rng``, or is
    drawn uniformly with it (:func:`argmax_seeded_ties`: one draw, none for a
    single model).
    """
    tied = np.arange(np.asarray(p_top).shape[0])
    for key in (p_top, p_best, accuracy):
        if key is not None:
            values = np.asarray(key, dtype=float)[tied]
            tied = tied[values >= values.max() - tolerance]
    if rng is None or tied.size == 1:
        return int(tied[0])
    return int(tied[argmax_seeded_ties(np.zeros(tied.size), rng, tolerance)])


def as_prediction_matrix(predictions: Any, n_models: int | None = None) -> np.ndarray:
    """Check and return predictions as a 2-D integer array ``(n_items, n_models)``.

    A single row ``(n_models,)`` is promoted to ``(1, n_models)``.
    """
    arr = np.asarray(predictions)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"predictions must be (n_items, n_models), got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError("predictions must hold integer class indices")
        arr = arr.astype(np.int64)
    if n_models is not None and arr.shape[1] != n_models:
        raise ValueError(f"predictions have {arr.shape[1]} models, strategy expects {n_models}")
    return arr


def check_predictions(predictions: Any, n_models: int, n_classes: int) -> np.ndarray:
    """``(n_items, n_models)`` integer class indices, checked to lie in ``0 .. n_classes-1``.

    Raises ``ValueError`` naming the problem (shape, non-integer values, or
    a class outside the label space).
    """
    preds = as_prediction_matrix(predictions, n_models)
    if preds.size:
        low, high = preds.min(), preds.max()
        if low < 0 or high >= n_classes:
            bad = low if low < 0 else high
            raise ValueError(f"predictions hold class {int(bad)}, outside the label space 0..{n_classes - 1}")
    return preds


def compact_predictions(predictions: Any, n_models: int, n_classes: int) -> np.ndarray:
    """Checked predictions in the smallest integer dtype that holds ``n_classes``.

    ``int16`` for up to 32,767 classes: an ``(n_items, n_models)`` matrix then
    takes a quarter of the memory of ``int64`` and scoring reads less.
    """
    preds = check_predictions(predictions, n_models, n_classes)
    dtype = np.int16 if n_classes <= np.iinfo(np.int16).max else np.int32
    return preds.astype(dtype, copy=False)


def compact_classes(predictions: np.ndarray) -> np.ndarray:
    """``(n_items, n_models)`` the same classes in the smallest of ``int8``, ``int16`` that holds them.

    For the per-step comparisons of whole pools (which models agree on which
    items): ``int8`` reads an eighth of the bytes of ``int64``, and every value,
    so every comparison and every key built from it, is the same.  Unchanged
    (no copy) when the values need more bits or already are ``int8``; costs a
    min/max pass and one cast otherwise.
    """
    preds = np.asarray(predictions)
    if preds.dtype == np.int8 or preds.size == 0 or not np.issubdtype(preds.dtype, np.integer):
        return preds
    if preds.view(np.dtype(f"u{preds.dtype.itemsize}")).max() <= np.iinfo(np.int8).max:   # 0..127 in one pass
        return preds.astype(np.int8)
    low, high = preds.min(), preds.max()
    for dtype in (np.int8, np.int16):
        if preds.dtype.itemsize > np.dtype(dtype).itemsize and np.iinfo(dtype).min <= low \
                and high <= np.iinfo(dtype).max:
            return preds.astype(dtype)
    return preds


def block_items(n_models: int, n_classes: int) -> int:
    """Items per block: bounded by :data:`BLOCK_ELEMENTS` and :data:`BLOCK_CLASS_ELEMENTS`."""
    return max(1, min(BLOCK_ELEMENTS // max(n_models, 1), BLOCK_CLASS_ELEMENTS // n_classes))


def class_mass_blocks(predictions: np.ndarray, weights: np.ndarray, n_classes: int,
                      at_predictions: bool = False, block: int | None = None) -> Iterator[tuple[slice, np.ndarray]]:
    """Weighted votes of the models for each class, block by block.

    Parameters
    ----------
    predictions : ``(n_items, n_models)`` checked integer classes.
    weights : ``(n_models,)`` weight of each model, or ``(n_sets, n_models)``
        several weight vectors summed over the same votes.
    n_classes : size of the label space.
    at_predictions : return, instead of every class, the mass of the class
        each model predicts: ``(n_block, n_models)`` entries
        ``m[j, f_i(x_j)]``.  Cheaper when ``n_classes > n_models``; a class
        predicted by several models then appears once per such model.
    block : items per block (default :func:`block_items`); each item's masses
        are the same whatever the blocks.

    Yields
    ------
    rows : slice of the items in the block.
    mass : ``(n_block, n_classes)`` array ``m[j, c] = sum_{i: f_i(x_j) = c} w_i``
        (``(n_block, n_models)`` with ``at_predictions``), or a stack of them,
        ``(n_sets, ...)``, for 2-D ``weights``.
    """
    n_items, n_models = predictions.shape
    weight_sets = np.atleast_2d(np.asarray(weights, dtype=float))
    size = min(block or block_items(n_models, n_classes), max(n_items, 1))
    tiled = [np.tile(w, size) for w in weight_sets]
    offsets = (np.arange(size, dtype=np.int64) * n_classes)[:, None]
    for start in range(0, n_items, size):
        block = predictions[start:start + size]
        n_block = block.shape[0]
        keys = block.astype(np.intp)   # item * n_classes + class (cast, then added in place: faster from int8)
        keys += offsets[:n_block]
        keys = keys.ravel()
        masses = []
        for t in tiled:
            mass = np.bincount(keys, weights=t[:keys.size], minlength=n_block * n_classes)
            masses.append(mass[keys].reshape(n_block, n_models) if at_predictions
                          else mass.reshape(n_block, n_classes))
        yield slice(start, start + n_block), (masses[0] if np.ndim(weights) == 1 else np.stack(masses))


def class_mass(predictions: np.ndarray, weights: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_items, n_classes)`` class masses at once (small inputs and tests only)."""
    out = np.zeros((predictions.shape[0], n_classes))
    for rows, mass in class_mass_blocks(predictions, weights, n_classes):
        out[rows] = mass
    return out


def all_agree(predictions: np.ndarray) -> np.ndarray:
    """``(n_items,)`` True where every model predicts the same class (block by block)."""
    n_items, n_models = predictions.shape
    size = max(1, BLOCK_ELEMENTS // max(n_models, 1))
    out = np.empty(n_items, dtype=bool)
    for start in range(0, n_items, size):
        block = predictions[start:start + size]
        out[start:start + block.shape[0]] = np.all(block == block[:, :1], axis=1)
    return out
