"""What the labels seen so far count, per pattern, slot, annotator and class."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .patterns import PoolPatterns


@dataclass
class LabelTally:
    """Label counts the belief is updated with (mutable: one :meth:`add` per label).

    Attributes
    ----------
    labelled : ``(n_items,)`` True for the pool items already labelled.
    unlabelled : ``(n_groups,)`` unlabelled items left in each pattern (float).
    slot : ``(n_slots,)`` labels equal to the slot's class.
    other : ``(n_groups,)`` labels of a class no model predicts on the pattern.
    group : ``(n_groups,)`` labels per pattern.
    hit, miss : ``(n_annot, n_classes)`` labels of each true class the
        annotator predicted right / wrong.
    by_class : ``(n_classes,)`` labels per class.
    confusion : ``(n_annot, n_classes, n_classes)`` labelled [true, predicted]
        counts, kept only for the full-confusion model (else None).
    """

    labelled: np.ndarray
    unlabelled: np.ndarray
    slot: np.ndarray
    other: np.ndarray
    group: np.ndarray
    hit: np.ndarray
    miss: np.ndarray
    by_class: np.ndarray
    confusion: np.ndarray | None

    @classmethod
    def empty(cls, pat: PoolPatterns, n_items: int, n_annot: int, n_classes: int,
              full_confusion: bool) -> LabelTally:
        """The tally of a pool without labels."""
        return cls(labelled=np.zeros(n_items, dtype=bool), unlabelled=pat.size.astype(float).copy(),
                   slot=np.zeros(pat.slot_group.shape[0]), other=np.zeros(pat.n_groups),
                   group=np.zeros(pat.n_groups), hit=np.zeros((n_annot, n_classes)),
                   miss=np.zeros((n_annot, n_classes)), by_class=np.zeros(n_classes),
                   confusion=np.zeros((n_annot, n_classes, n_classes)) if full_confusion else None)

    def add(self, pat: PoolPatterns, row: np.ndarray, label: int, item: int | None) -> None:
        """Count one label of ``row`` ``(n_models,)``; ``item`` None = a row outside the pool.

        A row outside the pool informs the recalls (as the low-confidence
        annotators when the pool has confidence halves) but no pattern.
        """
        if item is None:
            annot = np.arange(row.size) * pat.n_bins
        else:
            g = int(pat.group_of[item])
            annot = pat.annot[g]
            slot = pat.slot_of_label(g, label)
            if slot >= 0:
                self.slot[slot] += 1
            else:
                self.other[g] += 1
            self.group[g] += 1
            self.unlabelled[g] -= 1
            self.labelled[item] = True
        right = row == label
        if self.confusion is not None:
            np.add.at(self.confusion, (annot, label, row), 1.0)
        np.add.at(self.hit, (annot[right], label), 1.0)
        np.add.at(self.miss, (annot[~right], label), 1.0)
        self.by_class[label] += 1
