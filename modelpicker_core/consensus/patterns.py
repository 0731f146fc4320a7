"""The pool's agreement patterns: items grouped by their row of predictions.

Items with identical prediction rows are exchangeable in a random pool, so
every quantity the belief needs is per pattern (and per *slot*: a pattern's
distinct predicted classes), never per item.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse


class PoolPatterns:
    """The pool grouped into patterns of identical prediction rows.

    Parameters
    ----------
    predictions : ``(n_items, n_models)`` class indices.
    n_classes : size of the label space.
    bins : ``(n_items, n_models)`` confidence half (0/1) or None.

    Attributes
    ----------
    group_of : ``(n_items,)`` pattern of each item.
    rows : ``(n_groups, n_models)`` predicted class of each model in each pattern.
    annot : ``(n_groups, n_models)`` annotator index ``model * n_bins + bin``.
    size : ``(n_groups,)`` number of pool items of each pattern.
    slot_of : ``(n_groups, n_models)`` index of the (pattern, predicted class)
        slot each model's prediction falls into; slots are sorted by pattern
        then class, so a pattern's slots are contiguous from ``slot_start``.
    slot_group, slot_class : ``(n_slots,)`` pattern and class of each slot.
    slot_start : ``(n_groups + 1,)`` first slot of each pattern.
    n_slots_of : ``(n_groups,)`` number of distinct predicted classes.
    disagree : ``(n_groups,)`` True where the models do not all agree.
    model_slots : ``(n_models, n_slots)`` sparse, 1 where the model predicts the slot's class.
    slot_votes : ``(n_slots, n_annot * n_classes)`` sparse, 1 at (slot,
        annotator * n_classes + slot class): a slot's votes are ``slot_votes @ table.ravel()``.
    """

    def __init__(self, predictions: np.ndarray, n_classes: int, bins: np.ndarray | None):
        n_models = predictions.shape[1]
        self.n_bins = 1 if bins is None else 2
        key = predictions if bins is None else predictions * 2 + bins
        rows, group_of, size = np.unique(key, axis=0, return_inverse=True, return_counts=True)
        self.group_of = group_of.ravel().astype(np.int64)
        self.size = size.astype(np.int64)
        self.rows = rows // self.n_bins
        row_bins = rows % self.n_bins
        self.annot = np.arange(n_models)[None, :] * self.n_bins + row_bins
        n_groups = rows.shape[0]
        keys = (np.arange(n_groups, dtype=np.int64) * n_classes)[:, None] + self.rows
        slot_key, slot_of = np.unique(keys.ravel(), return_inverse=True)
        self.slot_of = slot_of.reshape(keys.shape)
        self.slot_group = slot_key // n_classes
        self.slot_class = slot_key % n_classes
        self.slot_start = np.searchsorted(self.slot_group, np.arange(n_groups + 1))
        self.n_slots_of = np.diff(self.slot_start)
        self.bins_of_group = row_bins
        self.disagree = self.n_slots_of > 1
        cells = self.slot_of.ravel()
        ones = np.ones(cells.size)
        # built as (n_models, n_slots) CSR so that ``model_slots @ v`` is a fast product
        self.model_slots = sparse.csr_matrix((ones, (np.tile(np.arange(n_models), n_groups), cells)),
                                             shape=(n_models, self.slot_group.size))
        self.slot_votes = sparse.csr_matrix(
            (ones, (cells, (self.annot * n_classes + self.rows).ravel())),
            shape=(self.slot_group.size, n_models * self.n_bins * n_classes))
        self._item_slot = None

    def subset(self, groups: np.ndarray) -> PatternSubset:
        """The slot structure of ``groups`` alone (for computations on a few patterns)."""
        lens = self.n_slots_of[groups]
        start = np.concatenate([[0], np.cumsum(lens)])
        slots = np.repeat(self.slot_start[groups] - start[:-1], lens) + np.arange(start[-1])
        return PatternSubset(groups, slots, np.repeat(np.arange(groups.size), lens), self.slot_class[slots],
                             start, lens)

    @property
    def item_slot(self) -> np.ndarray:
        """``(n_items, n_models)`` the slot of each item's prediction by each model, ``slot_of[group_of]``.

        Built on first use and kept (8 bytes a cell, like the pool): a per-slot quantity read at every item
        and model is then one gather instead of two (the guide's ``correct_probability``, once per label).
        """
        if self._item_slot is None:
            self._item_slot = self.slot_of[self.group_of]
        return self._item_slot

    @property
    def n_cells(self) -> int:
        """Number of (pattern, model) prediction cells: the cost unit of one pass over the pool."""
        return int(self.rows.size)

    @property
    def n_groups(self) -> int:
        return int(self.rows.shape[0])

    def slot_of_label(self, group: int, label: int) -> int:
        """Slot of class ``label`` in ``group``, or -1 when no model predicts it there."""
        lo, hi = self.slot_start[group], self.slot_start[group + 1]
        hits = np.flatnonzero(self.slot_class[lo:hi] == label)
        return int(lo + hits[0]) if hits.size else -1


class PatternSubset:
    """A few patterns' slots, renumbered from 0.

    Offers the attributes the tempered posterior reads (``slot_group``,
    ``slot_class``, ``slot_start``, ``n_slots_of``, ``n_groups``), so it can
    stand for :class:`PoolPatterns` there; ``groups`` and ``slots`` map back
    to the pool's pattern and slot indices.
    """

    def __init__(self, groups, slots, slot_group, slot_class, slot_start, n_slots_of):
        self.groups, self.slots = groups, slots
        self.slot_group, self.slot_class = slot_group, slot_class
        self.slot_start, self.n_slots_of = slot_start, n_slots_of

    @property
    def n_groups(self) -> int:
        return int(self.groups.size)


def confidence_halves(predictions: np.ndarray, probabilities: Any, n_classes: int) -> np.ndarray:
    """``(n_items, n_models)`` 1 where a model's confidence in its prediction is above its median.

    Splitting each model into two annotators by confidence lets the recall
    differ between its sure and unsure predictions.

    Parameters
    ----------
    predictions : ``(n_items, n_models)`` class indices.
    probabilities : ``(n_items, n_models, n_classes)`` class probabilities.
    """
    probs = np.asarray(probabilities, dtype=float)
    n_items, n_models = predictions.shape
    if probs.shape != (n_items, n_models, n_classes):
        raise ValueError(f"probabilities must be (n_items, n_models, n_classes) = "
                         f"{(n_items, n_models, n_classes)}, got {probs.shape}")
    if not np.all(np.isfinite(probs)):
        raise ValueError("probabilities must be finite")
    conf = np.take_along_axis(probs, predictions[:, :, None], axis=2)[:, :, 0]
    return (conf > np.median(conf, axis=0, keepdims=True)).astype(np.int64)
