"""Layer 1: the Dawid-Skene posterior of a pattern's class, and the label-free consensus fit.

An annotator ``a`` (a model, or a model's confidence half) has a recall
``theta[a, c] = P(f = c | y = c)`` and errors that follow its prediction
frequencies ``e[a, k]``: ``P(f = k | y = c) = (1 - theta[a, c]) e[a, k] / (1
- e[a, c])``; or, with ``full_confusion``, a whole confusion matrix
``[a, true, predicted]``.  The posterior of a pattern's class is computed per
*slot* (class some model predicts on the pattern) plus one "other" mass for
the classes no model predicts there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .patterns import PatternSubset, PoolPatterns

#: EM iterations of the label-free consensus fits
FIT_ITERATIONS = 10


def logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    """``log(sum(exp(x)))`` along ``axis``, shifted for stability (no scipy overhead on small arrays)."""
    top = np.max(x, axis=axis, keepdims=True)
    return (np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True)) + top).squeeze(axis)


@dataclass(frozen=True)
class ConsensusPrior:
    """What the label-free consensus fit found; the centre of the recall and class priors.

    Attributes
    ----------
    recall : ``(n_annot, n_classes)`` per-class recalls, or ``(n_annot,
        n_classes, n_classes)`` confusion matrices ``[a, true, predicted]``
        when ``full`` is True.
    class_prior : ``(n_classes,)``.
    error_freq : ``(n_annot, n_classes)`` smoothed prediction frequencies,
        how an annotator's errors are spread (per-class recall model only).
    """

    recall: np.ndarray
    class_prior: np.ndarray
    error_freq: np.ndarray

    @property
    def full(self) -> bool:
        return self.recall.ndim == 3


class SlotTerms(NamedTuple):
    """The temperature-free pieces of the Dawid-Skene log posterior.

    ``log_prior`` ``(n_classes,)``; ``base`` ``(n_groups or 1, n_classes)``
    the log-likelihood of every class as if no annotator voted for it;
    ``slot_log_prior``, ``slot_base``, ``votes`` ``(n_slots,)`` the same read
    at each slot's class, and the log-likelihood ratio its votes add.
    """

    log_prior: np.ndarray
    base: np.ndarray
    slot_log_prior: np.ndarray
    slot_base: np.ndarray
    votes: np.ndarray


@dataclass(frozen=True)
class OtherClassRates:
    """Posterior-mean rates at which a pattern's class is one no model predicts there.

    ``disagreement``: on patterns where the models disagree; ``unanimous``:
    on patterns where every model predicts the same class.
    """

    disagreement: float
    unanimous: float


def fit_consensus_prior(pat: PoolPatterns, n_models: int, n_classes: int, full: bool) -> ConsensusPrior:
    """The label-free EM fit of the pool's predictions (per-class recall or full confusion)."""
    n_annot = n_models * pat.n_bins
    error_freq = prediction_frequencies(pat, n_classes, n_annot)
    if full:
        recall, class_prior = fit_confusion(pat, n_models, n_classes, n_annot)
    else:
        recall, class_prior = fit_recall(pat, error_freq, n_models, n_classes, n_annot)
    return ConsensusPrior(recall, class_prior, error_freq)


def prediction_frequencies(pat: PoolPatterns, n_classes: int, n_annot: int) -> np.ndarray:
    """``(n_annot, n_classes)`` how often each annotator predicts each class (smoothed)."""
    keys = pat.annot * n_classes + pat.rows
    freq = np.bincount(keys.ravel(), weights=np.broadcast_to(pat.size[:, None], keys.shape).ravel(),
                       minlength=n_annot * n_classes).reshape(n_annot, n_classes)
    freq += 0.5
    return freq / freq.sum(axis=1, keepdims=True)


def fit_confusion(pat: PoolPatterns, n_models: int, n_classes: int, n_annot: int):
    """Full confusion matrices ``(n_annot, K, K)`` and class prior ``(K,)`` fitted by EM (no labels).

    Fitted on the disagreement patterns (all patterns if there are none).
    """
    K = n_classes
    weight = (pat.size * pat.disagree).astype(float)
    if weight.sum() == 0:
        weight = pat.size.astype(float)
    confusion = np.full((n_annot, K, K), 0.3 / max(K - 1, 1))
    confusion[:, np.arange(K), np.arange(K)] = 0.7
    class_prior = np.full(K, 1.0 / K)
    for _ in range(FIT_ITERATIONS):
        post = dense_posterior(pat, confusion, class_prior) * weight[:, None]           # (G, K)
        counts = np.full((n_annot * K, K), 0.5 / K)
        for i in range(n_models):
            np.add.at(counts, pat.annot[:, i] * K + pat.rows[:, i], post)
        counts = counts.reshape(n_annot, K, K).transpose(0, 2, 1)                       # [a, c, k]
        confusion = counts / counts.sum(axis=2, keepdims=True)
        class_mass = post.sum(axis=0)
        class_prior = (class_mass + 0.5) / (class_mass.sum() + 0.5 * K)
    return confusion, class_prior


def dense_posterior(pat: PoolPatterns, confusion: np.ndarray, class_prior: np.ndarray) -> np.ndarray:
    """``(n_groups, K)`` posterior of each pattern's class under full confusion matrices."""
    logits = np.log(class_prior)[None, :] + confusion_loglik(pat, confusion)
    logits -= logits.max(axis=1, keepdims=True)
    post = np.exp(logits)
    return post / post.sum(axis=1, keepdims=True)


def confusion_loglik(pat: PoolPatterns, confusion: np.ndarray, voters: np.ndarray | None = None) -> np.ndarray:
    """``(n_groups, K)``: ``sum_i log confusion[a_gi, c, f_gi]`` for every class ``c`` (voters only)."""
    log_conf = np.log(np.clip(confusion, 1e-9, 1.0)).transpose(0, 2, 1)                 # [a, k, c]
    if voters is not None:
        log_conf = log_conf * voters[:, None, None]
    return log_conf[pat.annot, pat.rows].sum(axis=1)


def fit_recall(pat: PoolPatterns, error_freq: np.ndarray, n_models: int, n_classes: int, n_annot: int):
    """Per-class recalls ``(n_annot, K)`` and class prior ``(K,)`` that explain the pool's predictions.

    EM without labels over every pool item.
    """
    weight = pat.size.astype(float)
    recall = np.full((n_annot, n_classes), 0.7)
    class_prior = np.full(n_classes, 1.0 / n_classes)
    for _ in range(FIT_ITERATIONS):
        terms = slot_terms(pat, error_freq, recall, class_prior)
        slot_p, other_p = tempered_joint(terms, 1.0, pat, n_classes)
        hit = np.bincount((pat.annot * n_classes + pat.rows).ravel(),
                          weights=(slot_p[pat.slot_of] * weight[:, None]).ravel(),
                          minlength=n_annot * n_classes).reshape(n_annot, n_classes)
        mass = class_mass(pat, slot_p, other_p, weight, class_prior, n_annot)
        recall = (hit + 0.5) / (mass + 1.0)
        mass_of_class = mass.reshape(n_models, pat.n_bins, n_classes)[0].sum(axis=0)
        class_prior = (mass_of_class + 0.5) / (mass_of_class.sum() + 0.5 * n_classes)
    return np.clip(recall, 0.01, 0.99), class_prior


def class_mass(pat: PoolPatterns, slot_p: np.ndarray, other_p: np.ndarray, weight: np.ndarray,
               class_prior: np.ndarray, n_annot: int) -> np.ndarray:
    """``(n_annot, n_classes)`` expected number of items of each class each annotator saw.

    ``slot_p`` ``(n_slots,)`` and ``other_p`` ``(n_groups,)`` are the
    posterior; ``weight`` ``(n_groups,)`` the items each pattern counts for.
    """
    n_classes = class_prior.size
    slot_w = slot_p * weight[pat.slot_group]
    if pat.n_bins == 1:
        total = np.bincount(pat.slot_class, weights=slot_w, minlength=n_classes)
        total = total + (other_p * weight).sum() * class_prior
        return np.broadcast_to(total, (n_annot, n_classes)).copy()
    mass = np.zeros((n_annot, n_classes))
    for i in range(pat.annot.shape[1]):
        a = pat.annot[pat.slot_group, i]
        np.add.at(mass, (a, pat.slot_class), slot_w)
        a_g = pat.annot[:, i]
        np.add.at(mass, a_g, (other_p * weight)[:, None] * class_prior[None, :])
    return mass


def slot_terms(pat: PoolPatterns, error_freq: np.ndarray, recall: np.ndarray, class_prior: np.ndarray,
               sub: PatternSubset | None = None, voters: np.ndarray | None = None) -> SlotTerms:
    """The :class:`SlotTerms` of ``pat`` (or of its patterns ``sub`` only).

    ``recall`` is ``(n_annot, K)`` per-class recalls, or ``(n_annot, K, K)``
    full confusion matrices ``[a, true, predicted]``; ``voters``
    ``(n_annot,)`` is 1 for the annotators listened to, 0 for the others
    (None = all).
    """
    if recall.ndim == 3:
        base = confusion_loglik(pat, recall, voters)                                    # (G, K)
        log_prior = np.log(class_prior)
        if sub is not None:
            base, pat = base[sub.groups], sub
        slot_base = base[pat.slot_group, pat.slot_class]
        return SlotTerms(log_prior, base, log_prior[pat.slot_class], slot_base, np.zeros_like(slot_base))
    recall = np.clip(recall, 1e-6, 1 - 1e-6)
    err = np.clip(error_freq, 1e-9, 1 - 1e-6)
    vote = np.log(recall) - np.log1p(-recall) - np.log(err) + np.log1p(-err)            # (n_annot, K)
    miss = np.log1p(-recall) - np.log1p(-err)                                           # (n_annot, K)
    if voters is not None:
        vote, miss = vote * voters[:, None], miss * voters[:, None]
    log_prior = np.log(class_prior)
    if pat.n_bins == 1:
        base = miss.sum(axis=0)[None, :]                                                # (1, K)
    else:
        lo = miss[0::2].sum(axis=0)
        delta = miss[1::2] - miss[0::2]                                                 # (M, K)
        base = lo[None, :] + pat.bins_of_group @ delta                                  # (G, K)
    if sub is not None:
        votes = pat.slot_votes[sub.slots] @ vote.ravel()
        base = base[sub.groups] if base.shape[0] > 1 else base
        pat = sub
    else:
        votes = pat.slot_votes @ vote.ravel()
    g = pat.slot_group
    row = g if base.shape[0] > 1 else np.zeros_like(g)
    return SlotTerms(log_prior, base, log_prior[pat.slot_class], base[row, pat.slot_class], votes)


def tempered_joint(terms: SlotTerms, tau: float, pat: PoolPatterns | PatternSubset, n_classes: int):
    """``(slot_p (n_slots,), other_p (n_groups,))``: the whole posterior tempered by ``tau``.

    ``other_p`` is the mass of every class no model predicts on the pattern.
    """
    g = pat.slot_group
    log_z = logsumexp(terms.log_prior[None, :] + tau * terms.base, axis=1)              # (G or 1,)
    slot_prior = terms.slot_log_prior + tau * terms.slot_base
    slot_log = slot_prior + tau * terms.votes
    lz = log_z if log_z.shape[0] > 1 else np.full(pat.n_groups, log_z[0])
    shift = np.maximum(lz, np.maximum.reduceat(slot_log, pat.slot_start[:-1]))
    slot_e = np.exp(slot_log - shift[g])
    covered = np.add.reduceat(np.exp(slot_prior - shift[g]), pat.slot_start[:-1])
    other = np.maximum(np.exp(lz - shift) - covered, 0.0)
    other[pat.n_slots_of >= n_classes] = 0.0
    norm = np.add.reduceat(slot_e, pat.slot_start[:-1]) + other
    return slot_e / norm[g], other / norm


def tempered(terms: SlotTerms, tau: float, pat: PoolPatterns | PatternSubset, n_classes: int,
             rates: OtherClassRates | None):
    """``(slot_p (n_slots,), other_p (n_groups,))`` at temperature ``tau``.

    With ``rates`` (the strategy's ``other_rate``), P(y is a class no model
    predicts) on a disagreement pattern is the rate learned from the labels
    (one rate for all such patterns) and only the split among the predicted
    classes is tempered: tempering spreads a pattern's mass over the ``K -
    n_slots`` unpredicted classes, which with many classes (1,000) swamps the
    predicted ones although the truth is one of them, while the untempered
    model (independent errors) all but rules out that every model missed,
    which correlated models do on the hard items.  On a unanimous pattern the
    same probability is the unanimous rate (learned likewise), so no joint
    posterior over all classes is needed.  Without ``rates``: :func:`tempered_joint`.
    """
    if rates is None:
        return tempered_joint(terms, tau, pat, n_classes)
    other_p = np.where(pat.n_slots_of > 1, np.where(pat.n_slots_of < n_classes, rates.disagreement, 0.0),
                       rates.unanimous)
    g = pat.slot_group
    slot_log = terms.slot_log_prior + tau * (terms.slot_base + terms.votes)
    slot_e = np.exp(slot_log - np.maximum.reduceat(slot_log, pat.slot_start[:-1])[g])
    share = slot_e / np.add.reduceat(slot_e, pat.slot_start[:-1])[g]
    return share * (1.0 - other_p)[g], other_p
