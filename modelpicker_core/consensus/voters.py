"""The learned parts of layer 1: recall posterior, voter sets, and the evidence weighing the components.

A *component* is a (voter set, temperature) pair.  The voters are every
model, or only the ``k`` of highest estimated accuracy (among many
candidates the weak ones are wrong together on the hard items); the
temperature tempers the independence assumption that correlated models
break.  Each component is weighted by how well it predicted the labels seen
so far, each label predicted from its pattern's other labels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dawid_skene import ConsensusPrior, OtherClassRates, slot_terms, tempered
from .patterns import PoolPatterns
from .tally import LabelTally


@dataclass(frozen=True)
class RecallPosterior:
    """Posterior of the recalls (Beta ``hit``, ``miss`` ``(n_annot, K)``) or of the confusion
    rows (Dirichlet ``confusion`` ``(n_annot, K, K)``), and of the class prior (Dirichlet ``classes`` ``(K,)``).

    Each prior is centred on the consensus fit with ``prior_strength`` pseudo-items.
    """

    hit: np.ndarray | None
    miss: np.ndarray | None
    confusion: np.ndarray | None
    classes: np.ndarray

    @classmethod
    def of(cls, prior: ConsensusPrior, tally: LabelTally, strength: float) -> RecallPosterior:
        n_classes = prior.class_prior.size
        classes = 1.0 + strength * n_classes * prior.class_prior + tally.by_class
        if prior.full:
            return cls(None, None, 0.5 / n_classes + strength * prior.recall + tally.confusion, classes)
        hit = 1.0 + strength * prior.recall + tally.hit
        miss = 1.0 + strength * (1.0 - prior.recall) + tally.miss
        return cls(hit, miss, None, classes)

    def mean(self) -> tuple[np.ndarray, np.ndarray]:
        """Posterior-mean (recalls or confusion matrices, class prior)."""
        if self.confusion is not None:
            param = self.confusion / self.confusion.sum(axis=2, keepdims=True)
        else:
            param = self.hit / (self.hit + self.miss)
        return param, self.classes / self.classes.sum()

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One joint draw of (recalls or confusion matrices, class prior)."""
        if self.confusion is not None:
            param = rng.gamma(self.confusion)
            param /= param.sum(axis=2, keepdims=True)
        else:
            param = rng.beta(self.hit, self.miss)
        return param, rng.dirichlet(self.classes)


def voter_sets(param: np.ndarray, class_prior: np.ndarray, voter_counts: tuple[int, ...], n_models: int,
               n_bins: int) -> list[np.ndarray | None]:
    """The annotator masks ``(n_annot,)`` of ``voter_counts`` (None = every model).

    Models are ranked by the accuracy their posterior-mean recall ``param``
    implies, ``sum_c P(c) recall[c]`` (averaged over confidence halves).
    Counts not below ``n_models`` mean every model.
    """
    counts = sorted({k if 0 < k < n_models else 0 for k in voter_counts})
    if counts == [0]:
        return [None]
    recall = np.diagonal(param, axis1=1, axis2=2) if param.ndim == 3 else param         # (A, K)
    accuracy = (recall @ class_prior).reshape(n_models, n_bins).mean(axis=1)
    order = np.argsort(-accuracy, kind="stable")
    sets: list[np.ndarray | None] = []
    for k in counts:
        if k == 0:
            sets.append(None)
            continue
        chosen = np.zeros(n_models)
        chosen[order[:k]] = 1.0
        sets.append(np.repeat(chosen, n_bins))
    return sets


def component_evidence(pat: PoolPatterns, prior: ConsensusPrior, tally: LabelTally, param: np.ndarray,
                       class_prior: np.ndarray, sets: list, components: list, strength: float,
                       rates: OtherClassRates | None) -> np.ndarray:
    """``(n_components,)`` leave-one-out log evidence of each (voter set, temperature), on the labelled patterns."""
    groups = np.flatnonzero(tally.group > 0)
    if groups.size == 0:
        return np.zeros(len(components))
    sub = pat.subset(groups)
    terms = [slot_terms(pat, prior.error_freq, param, class_prior, sub, voters) for voters in sets]
    lab_slot = tally.slot[sub.slots]
    out = np.empty(len(components))
    for t, (v, tau) in enumerate(components):
        slot_p, other_p = tempered(terms[v], tau, sub, class_prior.size, rates)
        out[t] = leave_one_out(slot_p, other_p, sub.slot_group, lab_slot, tally.other[groups],
                               tally.group[groups], strength)
    return out


def leave_one_out(slot_p: np.ndarray, other_p: np.ndarray, slot_group: np.ndarray, lab_slot: np.ndarray,
                  lab_other: np.ndarray, lab_group: np.ndarray, strength: float) -> float:
    """Log predictive probability of the labels seen, each predicted from its pattern's other labels.

    ``slot_p``, ``slot_group``, ``lab_slot`` are per slot, ``other_p``,
    ``lab_other``, ``lab_group`` per pattern (of the pool or of a subset);
    a pattern's predictive is Dirichlet(``strength`` * posterior + labels).
    """
    total = 0.0
    labelled_slots = np.flatnonzero(lab_slot)
    if labelled_slots.size:
        g = slot_group[labelled_slots]
        n = lab_slot[labelled_slots]
        pred = (strength * slot_p[labelled_slots] + n - 1.0) / (strength + lab_group[g] - 1.0)
        total += float((n * np.log(np.maximum(pred, 1e-12))).sum())
    other = np.flatnonzero(lab_other)
    if other.size:
        n = lab_other[other]
        pred = (strength * other_p[other] + n - 1.0) / (strength + lab_group[other] - 1.0)
        total += float((n * np.log(np.maximum(pred, 1e-12))).sum())
    return total
