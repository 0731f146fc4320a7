"""Consensus: a pool strategy with a calibrated P(best) on the pool.

The question the strategy answers is "which model has the highest accuracy on
*these* items (the pool)?".  A model's pool accuracy is

    acc_i = (correct_i on the labelled items + sum over unlabelled items j of
             1[f_i(x_j) = y_j]) / n_items,

so the only unknowns are the true classes ``y_j`` of the unlabelled items, and
P(best) is the posterior probability, over those classes, that model ``i``
attains the maximum of ``acc``.

Belief about the unlabelled classes (three layers)
--------------------------------------------------
1. *Dawid-Skene with per-class recall.*  Each model ``i`` (or, when class
   probabilities are given, each (model, confidence half) "annotator" ``a``)
   has a recall ``theta[a, c] = P(f = c | y = c)``; its errors follow its
   prediction frequencies ``e[a, k]``:
   ``P(f = k | y = c) = (1 - theta[a, c]) e[a, k] / (1 - e[a, c])`` for
   ``k != c``.  The recall posterior is Beta with a prior centred on the
   recall a label-free consensus EM fit finds on the pool's items (the
   full-confusion fit: on its disagreement items), with ``prior_strength``
   pseudo-items, plus the labelled counts; the class
   prior is a Dirichlet the same way.  Per-class recalls make the model robust
   to class imbalance: a minority class gets its own recall instead of being
   swamped by the majority's accuracy.
2. *Exchangeable patterns.*  Items with identical prediction rows are
   exchangeable in a random pool, so their classes are iid draws from one
   unknown distribution ``phi_g``.  ``phi_g ~ Dirichlet(group_strength * p_g +
   labelled counts of g)`` where ``p_g`` is layer 1's posterior.  This is what
   keeps P(best) calibrated when the models' errors are correlated (where
   layer 1 alone is overconfident): a pattern's labels override the model.
3. *Monte Carlo pool accuracies.*  ``n_samples`` joint draws of every
   unlabelled pattern's class counts (Dirichlet-multinomial) give draws of the
   pool accuracies of the *contenders* (models whose accuracy interval reaches
   the leader's); P(best) is the fraction of draws in which a model attains
   the maximum.  The draws use a generator seeded from the strategy's seed and
   the number of labels, so P(best) is a deterministic function of the state.

Two parts of layer 1 are learned from the labels rather than fixed.  The
*voters* (every model, or only the ``k`` of highest estimated accuracy: among
many candidates the weak ones are wrong together on the hard items) and the
temperature form one grid of components weighted by leave-one-out evidence.
The probability that a disagreement item's class is one no model predicts is
a single Beta rate, kept out of the tempering (which would spread mass over
every unpredicted class, 995 of them with 1,000 classes).

Selection
---------
Expected information gain about which model is best from labelling one item
``j`` of pattern ``g``:  ``I(best; y_j) = H(best) - sum_r P(y_j = r) H(best |
y_j = r)``, estimated from the same draws by replacing item ``j``'s sampled
class with each hypothesis ``r`` (and moving the pattern's other unlabelled
items by the posterior-mean shift a label of class ``r`` causes).  Only the
classes the contenders predict matter, and only the patterns on which the
contenders disagree carry information about the ranking (on the others all
contenders gain or lose the same count).  The exact gain is computed for the
``n_evaluated`` patterns of largest proxy
``sum_r q_r w_r (1 - w_r)`` (``w_r`` = P(best) mass of the contenders that
predict class ``r``, ``q_r`` its posterior probability); the proxy orders the
rest.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from .base import Strategy, as_prediction_matrix, candidate_indices

_EPS = 1e-9


def logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    """``log(sum(exp(x)))`` along ``axis``, shifted for stability (no scipy overhead on small arrays)."""
    top = np.max(x, axis=axis, keepdims=True)
    return (np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True)) + top).squeeze(axis)


def entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy (nats) along ``axis``; ``0 log 0 = 0``."""
    p = np.clip(p, 0.0, 1.0)
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=axis)


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
    slot_group, slot_class : ``(n_slots,)``.
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
        #: (n_models, n_slots) 1 where the model's prediction on the slot's pattern is the slot's class;
        #: stored transposed, (n_models, n_slots), so ``model_slots @ v`` is a fast CSR product
        self.model_slots = sparse.csr_matrix((ones, (np.tile(np.arange(n_models), n_groups), cells)),
                                             shape=(n_models, self.slot_group.size))
        #: (n_slots, n_annot * n_classes) 1 at (slot, annotator * K + slot class): votes = this @ table.ravel()
        self.slot_votes = sparse.csr_matrix(
            (ones, (cells, (self.annot * n_classes + self.rows).ravel())),
            shape=(self.slot_group.size, n_models * self.n_bins * n_classes))

    def subset(self, groups: np.ndarray) -> "PatternSubset":
        """The slot structure of ``groups`` alone (for computations on a few patterns)."""
        lens = self.n_slots_of[groups]
        start = np.concatenate([[0], np.cumsum(lens)])
        slots = np.repeat(self.slot_start[groups] - start[:-1], lens) + np.arange(start[-1])
        return PatternSubset(groups, slots, np.repeat(np.arange(groups.size), lens), self.slot_class[slots],
                             start, lens)

    @property
    def n_cells(self) -> int:
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
    """A few patterns' slots, renumbered; quacks like :class:`PoolPatterns` for :meth:`Consensus._tempered`."""

    def __init__(self, groups, slots, slot_group, slot_class, slot_start, n_slots_of):
        self.groups, self.slots = groups, slots
        self.slot_group, self.slot_class = slot_group, slot_class
        self.slot_start, self.n_slots_of = slot_start, n_slots_of

    @property
    def n_groups(self) -> int:
        return int(self.groups.size)


class Consensus(Strategy):
    """Consensus Dawid-Skene belief + expected information gain on P(best).

    Parameters
    ----------
    n_models, n_classes, random_state : see :class:`~modelpicker_core.base.Strategy`.
    n_samples : Monte Carlo draws of the pool accuracies per belief update.
    prior_strength : pseudo-items behind each consensus recall prior and the
        class prior (weak: labels dominate after a few).
    group_strength : Dirichlet concentration of a pattern's class distribution
        around the Dawid-Skene posterior; smaller = trust the model less.
    temperatures : grid of temperatures ``tau`` that multiply the Dawid-Skene
        log-likelihood (``tau < 1`` tempers the independence assumption, which
        correlated models break).  The belief is a mixture over the grid,
        weighted by how well each ``tau`` predicted the labels seen so far
        (leave-one-out within each pattern), so the amount of trust in the
        consensus is learned from the labels.
    other_rate : ``(a, b)`` Beta prior of the rate at which the class of a
        disagreement item is one no model predicts there (see
        :meth:`_tempered`), updated by the labels; None = no separate rate,
        the Dawid-Skene posterior tempered as a whole.
    voter_counts : which models' votes the Dawid-Skene posterior listens to:
        ``0`` = every model, ``k`` = the ``k`` models of highest estimated
        accuracy.  Like the temperature, the choice is a mixture weighted by
        the labels' leave-one-out evidence.  Why: among many candidates, the
        weak ones tend to be wrong together on the hard items (the very items
        that separate the leaders), so their votes outweigh the strong
        models' and the consensus is confidently wrong there; listening to
        the strongest models only is the simplest fix the labels can pick.
        Counts not below ``n_models`` are the same as ``0``.
    unanimous_rate : ``(a, b)`` Beta prior of the rate at which the class of
        a unanimous item (every model predicts the same class) is another
        one, updated by labels on such items.  Tempering would spread their
        mass over every other class (EmoContext's accuracy estimates came out
        18-20 points low after 20-50 labels); untempered Dawid-Skene all but rules the error
        out, although correlated models make it (3.5% of EmoContext's
        unanimous items).  The selection never asks for these items, so the
        prior (mean 2.5%) mostly stays; its uncertainty widens every
        accuracy interval alike and leaves P(best) alone.
    n_evaluated : patterns whose information gain is computed exactly; the
        cheap proxy ranks the rest.  ``"auto"``: 32 for up to 10 models, 128
        above.  With 100 models the proxy misses the best items (many-models,
        100 realisations, seed 1: mean identification over 50-200 labels
        0.85 with 32, 0.93 with 128), while with 8 models 128 was no better
        on EmoContext (200 realisations,
        mean identification over 30-70 labels: 0.90 with 32, 0.88 with 128):
        the more noisy Monte Carlo gains are compared, the more their maximum
        is chosen by the noise.
    gain_samples : Monte Carlo draws the information gain is computed from.
    max_contenders : most models kept in the Monte Carlo step.
    contender_z : z-score margin deciding which models can still be best.
    full_confusion : model each annotator's full confusion matrix (Dirichlet
        rows) instead of per-class recall with errors spread like its
        predictions; ``"auto"`` = when ``n_classes <= 10`` and the pool is small
        enough for it to stay fast.
    exact_limit : above ``n_samples * live patterns * contenders`` cells the
        Monte Carlo step draws the contenders' counts from their
        central-limit normal approximation instead of item by item.
    n_draws : joint draws of (recalls, class prior, temperature) from their
        posterior; each Monte Carlo sample uses one, so the shared uncertainty
        about the recalls (which moves every unlabelled item the same way)
        reaches P(best).  0 = posterior-mean recalls, mixture over temperatures.
        Fewer are used on big pools (:meth:`effective_draws`).

    Notes
    -----
    Call :meth:`set_pool` before scoring (``select`` takes the predictions it
    is given as the pool when no pool was set).  The state (JSON) holds the pool's
    predictions and confidence halves, so :func:`registry.from_state` rebuilds
    the identical strategy; class probabilities themselves are not stored.
    """

    name = "consensus"
    stochastic = False

    def __init__(self, n_models: int, n_classes: int, random_state: int | None = None,
                 n_samples: int = 512, prior_strength: float = 1.5, group_strength: float = 2.0,
                 temperatures: Any = (0.1, 0.2, 0.35, 0.5, 0.75, 1.0), other_rate: Any = (0.5, 9.5),
                 voter_counts: Any = (0, 25, 10), n_evaluated: Any = "auto", max_contenders: int = 16,
                 contender_z: float = 4.0, n_draws: int = 16, full_confusion: Any = False,
                 exact_limit: int = 4_000_000, unanimous_rate: Any = (0.5, 19.5), gain_samples: int = 256):
        self.n_samples = int(n_samples)
        self.gain_samples = int(gain_samples)
        self.prior_strength = float(prior_strength)
        self.group_strength = float(group_strength)
        self.temperatures = tuple(float(t) for t in np.atleast_1d(np.asarray(temperatures, dtype=float)))
        if not self.temperatures or min(self.temperatures) <= 0:
            raise ValueError(f"temperatures must be a non-empty list of positive numbers, got {temperatures!r}")
        counts = np.atleast_1d(np.asarray(voter_counts))
        if counts.size == 0 or counts.ndim != 1 or not np.all(np.mod(counts, 1) == 0) or np.any(counts < 0) \
                or any(0 < int(k) < 2 for k in counts):
            raise ValueError(f"voter_counts must be a non-empty list of 0 (every model) or integers >= 2, "
                             f"got {voter_counts!r}")
        if other_rate is not None:
            rate = np.asarray(other_rate, dtype=float)
            if rate.shape != (2,) or not np.all(np.isfinite(rate)) or not np.all(rate > 0):
                raise ValueError(f"other_rate must be null or two positive numbers (a, b), got {other_rate!r}")
            other_rate = (float(rate[0]), float(rate[1]))
        self.other_rate = other_rate
        rate = np.asarray(unanimous_rate, dtype=float)
        if rate.shape != (2,) or not np.all(np.isfinite(rate)) or not np.all(rate > 0):
            raise ValueError(f"unanimous_rate must be two positive numbers (a, b), got {unanimous_rate!r}")
        self.unanimous_rate = (float(rate[0]), float(rate[1]))
        self.voter_counts = tuple(dict.fromkeys(int(k) for k in counts))
        if n_evaluated == "auto":
            n_evaluated = 32 if n_models <= 10 else 128
        elif isinstance(n_evaluated, (str, bool)) or not isinstance(n_evaluated, (int, float, np.integer)) \
                or not float(n_evaluated).is_integer():
            raise ValueError(f"n_evaluated must be 'auto' or an integer >= 1, got {n_evaluated!r}")
        self.n_evaluated = int(n_evaluated)
        self.max_contenders = int(max_contenders)
        self.contender_z = float(contender_z)
        self.n_draws = int(n_draws)
        if full_confusion not in ("auto", True, False):
            raise ValueError(f"full_confusion must be 'auto', true or false, got {full_confusion!r}")
        self.full_confusion = full_confusion
        self.exact_limit = int(exact_limit)
        if self.n_draws < 0:
            raise ValueError(f"n_draws must be >= 0, got {n_draws}")
        for pname, value, low in (("n_samples", self.n_samples, 16), ("n_evaluated", self.n_evaluated, 1),
                                  ("gain_samples", self.gain_samples, 16),
                                  ("max_contenders", self.max_contenders, 2)):
            if value < low:
                raise ValueError(f"{pname} must be >= {low}, got {value}")
        for pname, value in (("prior_strength", self.prior_strength), ("group_strength", self.group_strength),
                             ("contender_z", self.contender_z)):
            if not value > 0:
                raise ValueError(f"{pname} must be > 0, got {value}")
        super().__init__(n_models, n_classes, random_state)

    def get_params(self) -> dict[str, Any]:
        return {**super().get_params(), "n_samples": self.n_samples, "prior_strength": self.prior_strength,
                "group_strength": self.group_strength, "temperatures": list(self.temperatures),
                "voter_counts": list(self.voter_counts), "other_rate": None if self.other_rate is None else list(self.other_rate),
                "n_evaluated": self.n_evaluated, "max_contenders": self.max_contenders,
                "contender_z": self.contender_z, "n_draws": self.n_draws,
                "full_confusion": self.full_confusion,
                "exact_limit": self.exact_limit, "gain_samples": self.gain_samples,
                "unanimous_rate": list(self.unanimous_rate)}

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        super().reset()
        self.sample_seed_ = int(self.rng_.integers(2**63 - 1))
        self.pool_ = None
        self.bins_ = None
        self.labelled_items_: list[int] = []
        self.labelled_labels_: list[int] = []
        self.extra_rows_: list[list[int]] = []
        self._cache = None
        self._patterns = None

    def set_pool(self, predictions: Any, probabilities: Any = None) -> None:
        """Take the batch ``(n_items, n_models)`` (and optional probabilities).

        Labels already observed are forgotten if the pool changes shape; with
        the same pool they are kept (the backend calls this on every job).
        """
        preds = as_prediction_matrix(predictions, self.n_models)
        if preds.shape[0] == 0:
            raise ValueError("the pool has no items")
        if preds.min() < 0 or preds.max() >= self.n_classes:
            raise ValueError(f"pool predictions outside the label space 0..{self.n_classes - 1}")
        bins = None
        if probabilities is not None:
            bins = confidence_halves(preds, probabilities, self.n_classes)
        same = (self.pool_ is not None and self.pool_.shape == preds.shape and np.array_equal(self.pool_, preds)
                and ((bins is None) == (self.bins_ is None)) and (bins is None or np.array_equal(bins, self.bins_)))
        if same:
            return
        if self.labelled_items_:
            raise ValueError("set_pool with a different pool after labels were observed; call reset() first")
        self._install_pool(preds, bins)

    def _install_pool(self, preds: np.ndarray, bins: np.ndarray | None) -> None:
        self.pool_ = preds.astype(np.int64)
        self.bins_ = None if bins is None else bins.astype(np.int64)
        pat = PoolPatterns(self.pool_, self.n_classes, self.bins_)
        self._patterns = pat
        n_annot = self.n_models * pat.n_bins
        self._labelled_mask = np.zeros(self.pool_.shape[0], dtype=bool)
        self._unlabelled = pat.size.astype(float).copy()
        self._lab_slot = np.zeros(pat.slot_group.shape[0])
        self._lab_other = np.zeros(pat.n_groups)
        self._lab_group = np.zeros(pat.n_groups)
        self._lab_hit = np.zeros((n_annot, self.n_classes))
        self._lab_miss = np.zeros((n_annot, self.n_classes))
        self._lab_class = np.zeros(self.n_classes)
        self._error_freq = self._prediction_frequencies(pat, n_annot)
        work = pat.n_groups * self.n_models * self.n_classes
        self._full = bool(self.full_confusion) if self.full_confusion != "auto" else (
            self.n_classes <= 10 and work <= 2_000_000)
        self._lab_conf = np.zeros((n_annot, self.n_classes, self.n_classes)) if self._full else None
        if self._full:
            self._prior_recall, self._prior_class = self._confusion_fit(pat, n_annot)
        else:
            self._prior_recall, self._prior_class = self._consensus_fit(pat, n_annot)
        self._row_index = None
        self._cache = None

    # ---------------------------------------------------------- consensus fit
    def _prediction_frequencies(self, pat: PoolPatterns, n_annot: int) -> np.ndarray:
        """``(n_annot, n_classes)`` how often each annotator predicts each class (smoothed)."""
        keys = pat.annot * self.n_classes + pat.rows
        freq = np.bincount(keys.ravel(), weights=np.broadcast_to(pat.size[:, None], keys.shape).ravel(),
                           minlength=n_annot * self.n_classes).reshape(n_annot, self.n_classes)
        freq += 0.5
        return freq / freq.sum(axis=1, keepdims=True)

    def _confusion_fit(self, pat: PoolPatterns, n_annot: int, iterations: int = 10):
        """Full confusion matrices ``(n_annot, K, K)`` and class prior fitted by EM (no labels)."""
        K = self.n_classes
        weight = (pat.size * pat.disagree).astype(float)
        if weight.sum() == 0:
            weight = pat.size.astype(float)
        confusion = np.full((n_annot, K, K), 0.3 / max(K - 1, 1))
        confusion[:, np.arange(K), np.arange(K)] = 0.7
        class_prior = np.full(K, 1.0 / K)
        for _ in range(iterations):
            post = self._dense_posterior(pat, confusion, class_prior) * weight[:, None]      # (G, K)
            counts = np.full((n_annot * K, K), 0.5 / K)
            for i in range(self.n_models):
                np.add.at(counts, pat.annot[:, i] * K + pat.rows[:, i], post)
            counts = counts.reshape(n_annot, K, K).transpose(0, 2, 1)                    # [a, c, k]
            confusion = counts / counts.sum(axis=2, keepdims=True)
            class_mass = post.sum(axis=0)
            class_prior = (class_mass + 0.5) / (class_mass.sum() + 0.5 * K)
        return confusion, class_prior

    def _dense_posterior(self, pat: PoolPatterns, confusion: np.ndarray, class_prior: np.ndarray,
                         tau: float = 1.0) -> np.ndarray:
        """``(n_groups, K)`` posterior of each pattern's class under full confusion matrices."""
        log_lik = self._confusion_loglik(pat, confusion)
        logits = np.log(class_prior)[None, :] + tau * log_lik
        logits -= logits.max(axis=1, keepdims=True)
        post = np.exp(logits)
        return post / post.sum(axis=1, keepdims=True)

    @staticmethod
    def _confusion_loglik(pat: PoolPatterns, confusion: np.ndarray, voters: np.ndarray | None = None) -> np.ndarray:
        """``(n_groups, K)``: ``sum_i log confusion[a_gi, c, f_gi]`` for every class ``c`` (voters only)."""
        log_conf = np.log(np.clip(confusion, 1e-9, 1.0)).transpose(0, 2, 1)                # [a, k, c]
        if voters is not None:
            log_conf = log_conf * voters[:, None, None]
        return log_conf[pat.annot, pat.rows].sum(axis=1)

    def _consensus_fit(self, pat: PoolPatterns, n_annot: int, iterations: int = 10):
        """Recall and class prior that explain the pool's predictions (EM without labels, every pool item)."""
        weight = pat.size.astype(float)
        recall = np.full((n_annot, self.n_classes), 0.7)
        class_prior = np.full(self.n_classes, 1.0 / self.n_classes)
        for _ in range(iterations):
            slot_p, other_p = self._slot_posterior(pat, recall, class_prior)
            hit = np.bincount((pat.annot * self.n_classes + pat.rows).ravel(),
                              weights=(slot_p[pat.slot_of] * weight[:, None]).ravel(),
                              minlength=n_annot * self.n_classes).reshape(n_annot, self.n_classes)
            mass = self._class_mass(pat, slot_p, other_p, weight, class_prior, n_annot)
            recall = (hit + 0.5) / (mass + 1.0)
            class_mass = mass.reshape(self.n_models, pat.n_bins, self.n_classes)[0].sum(axis=0)
            class_prior = (class_mass + 0.5) / (class_mass.sum() + 0.5 * self.n_classes)
        return np.clip(recall, 0.01, 0.99), class_prior

    def _class_mass(self, pat, slot_p, other_p, weight, class_prior, n_annot):
        """``(n_annot, n_classes)`` expected number of items of each class each annotator saw."""
        slot_w = slot_p * weight[pat.slot_group]
        if pat.n_bins == 1:
            total = np.bincount(pat.slot_class, weights=slot_w, minlength=self.n_classes)
            total = total + (other_p * weight).sum() * class_prior
            return np.broadcast_to(total, (n_annot, self.n_classes)).copy()
        mass = np.zeros((n_annot, self.n_classes))
        for i in range(self.n_models):
            a = pat.annot[pat.slot_group, i]
            np.add.at(mass, (a, pat.slot_class), slot_w)
            a_g = pat.annot[:, i]
            np.add.at(mass, a_g, (other_p * weight)[:, None] * class_prior[None, :])
        return mass

    def _slot_posterior(self, pat: PoolPatterns, recall: np.ndarray, class_prior: np.ndarray,
                        tau: float = 1.0):
        """Dawid-Skene posterior of each pattern's class over its slots and "other".

        Returns ``slot_p`` ``(n_slots,)`` = P(y = slot's class) and ``other_p``
        ``(n_groups,)`` = P(y is a class no model predicts on the pattern).
        """
        return self._tempered_joint(self._slot_terms(pat, recall, class_prior), tau, pat)

    def _slot_terms(self, pat: PoolPatterns, recall: np.ndarray, class_prior: np.ndarray, sub=None,
                    voters: np.ndarray | None = None):
        """The temperature-free pieces of the Dawid-Skene log posterior.

        ``recall`` is ``(n_annot, K)`` per-class recalls, or ``(n_annot, K, K)``
        full confusion matrices ``[a, true, predicted]``; ``voters``
        ``(n_annot,)`` is 1 for the annotators listened to, 0 for the others
        (None = all).
        """
        if recall.ndim == 3:
            base = self._confusion_loglik(pat, recall, voters)                         # (G, K)
            log_prior = np.log(class_prior)
            if sub is not None:
                base, pat = base[sub.groups], sub
            slot_base = base[pat.slot_group, pat.slot_class]
            return log_prior, base, log_prior[pat.slot_class], slot_base, np.zeros_like(slot_base)
        recall = np.clip(recall, 1e-6, 1 - 1e-6)
        err = np.clip(self._error_freq, 1e-9, 1 - 1e-6)
        vote = np.log(recall) - np.log1p(-recall) - np.log(err) + np.log1p(-err)   # (n_annot, K)
        miss = np.log1p(-recall) - np.log1p(-err)                                    # (n_annot, K)
        if voters is not None:
            vote, miss = vote * voters[:, None], miss * voters[:, None]
        log_prior = np.log(class_prior)
        if pat.n_bins == 1:
            base = miss.sum(axis=0)[None, :]                                          # (1, K)
        else:
            lo = miss[0::2].sum(axis=0)
            delta = miss[1::2] - miss[0::2]                                           # (M, K)
            base = lo[None, :] + pat.bins_of_group @ delta                            # (G, K)
        if sub is not None:
            votes = pat.slot_votes[sub.slots] @ vote.ravel()
            base = base[sub.groups] if base.shape[0] > 1 else base
            pat = sub
        else:
            votes = pat.slot_votes @ vote.ravel()
        g = pat.slot_group
        row = g if base.shape[0] > 1 else np.zeros_like(g)
        return log_prior, base, log_prior[pat.slot_class], base[row, pat.slot_class], votes

    def _tempered(self, terms, tau: float, pat: PoolPatterns):
        """``(slot_p (n_slots,), other_p (n_groups,))`` at temperature ``tau``.

        With ``other_rate`` set, P(y is a class no model predicts) on a
        disagreement pattern is the rate learned from the labels (one rate
        for all such patterns) and only the split among the predicted classes
        is tempered: tempering spreads a pattern's mass over the ``K -
        n_slots`` unpredicted classes, which with many classes (1,000) swamps
        the predicted ones although the truth is one of them, while the
        untempered model (independent errors) all but rules out that every
        model missed, which correlated models do on the hard items.  On a
        unanimous pattern the same probability is the ``unanimous_rate``
        (learned likewise), so no joint posterior over all classes is needed.
        """
        if self.other_rate is None:
            return self._tempered_joint(terms, tau, pat)
        other_p = np.where(pat.n_slots_of > 1, np.where(pat.n_slots_of < self.n_classes, self._other_mean, 0.0),
                           self._unanimous_mean)
        _, _, slot_log_prior, slot_base, votes = terms
        g = pat.slot_group
        slot_log = slot_log_prior + tau * (slot_base + votes)
        slot_e = np.exp(slot_log - np.maximum.reduceat(slot_log, pat.slot_start[:-1])[g])
        share = slot_e / np.add.reduceat(slot_e, pat.slot_start[:-1])[g]
        return share * (1.0 - other_p)[g], other_p

    def _tempered_joint(self, terms, tau: float, pat: PoolPatterns):
        log_prior, base, slot_log_prior, slot_base, votes = terms
        g = pat.slot_group
        log_z = logsumexp(log_prior[None, :] + tau * base, axis=1)                    # (G or 1,)
        slot_prior = slot_log_prior + tau * slot_base
        slot_log = slot_prior + tau * votes
        lz = log_z if log_z.shape[0] > 1 else np.full(pat.n_groups, log_z[0])
        shift = np.maximum(lz, np.maximum.reduceat(slot_log, pat.slot_start[:-1]))
        slot_e = np.exp(slot_log - shift[g])
        covered = np.add.reduceat(np.exp(slot_prior - shift[g]), pat.slot_start[:-1])
        other = np.maximum(np.exp(lz - shift) - covered, 0.0)
        other[pat.n_slots_of >= self.n_classes] = 0.0
        norm = np.add.reduceat(slot_e, pat.slot_start[:-1]) + other
        return slot_e / norm[g], other / norm

    # ------------------------------------------------------------- observing
    def observe(self, prediction_row: Any, label: int, query_probability: float = 1.0,
                item: int | None = None) -> None:
        row = self._check_row(prediction_row)
        if self.pool_ is None:
            raise ValueError("call set_pool before observing labels with the consensus strategy")
        if item is None:
            item = self._find_unlabelled(row)
        elif not 0 <= int(item) < self.pool_.shape[0]:
            raise ValueError(f"item {item} is not a row of the pool (0..{self.pool_.shape[0] - 1})")
        if item is not None:
            item = int(item)
            if self._labelled_mask[item]:
                raise ValueError(f"item {item} is already labelled")
            if not np.array_equal(self.pool_[item], row):
                raise ValueError(f"prediction row does not match pool item {item}")
        super().observe(row, label, query_probability, item)

    def _find_unlabelled(self, row: np.ndarray) -> int | None:
        hits = np.flatnonzero(np.all(self.pool_ == row[None, :], axis=1) & ~self._labelled_mask)
        return int(hits[0]) if hits.size else None

    def _update(self, row: np.ndarray, label: int, q: float, item: int | None) -> None:
        if self.pool_ is None:
            raise ValueError("call set_pool before observing labels")
        pat = self._patterns
        if item is None:
            annot = np.arange(self.n_models) * pat.n_bins
            self.extra_rows_.append(row.tolist())
        else:
            g = int(pat.group_of[item])
            annot = pat.annot[g]
            slot = pat.slot_of_label(g, label)
            if slot >= 0:
                self._lab_slot[slot] += 1
            else:
                self._lab_other[g] += 1
            self._lab_group[g] += 1
            self._unlabelled[g] -= 1
            self._labelled_mask[item] = True
        hit = row == label
        if self._lab_conf is not None:
            np.add.at(self._lab_conf, (annot, label, row), 1.0)
        np.add.at(self._lab_hit, (annot[hit], label), 1.0)
        np.add.at(self._lab_miss, (annot[~hit], label), 1.0)
        self._lab_class[label] += 1
        self.labelled_items_.append(-1 if item is None else int(item))
        self.labelled_labels_.append(int(label))
        self._cache = None

    # ---------------------------------------------------------------- belief
    def _belief(self) -> dict[str, Any]:
        if self.pool_ is None:
            raise ValueError("call set_pool before asking the consensus strategy for scores or P(best)")
        if self._cache is None:
            self._cache = self._compute_belief()
        return self._cache

    def _compute_belief(self) -> dict[str, Any]:
        pat = self._patterns
        s = self.prior_strength
        if not self._full:
            prior = self._prior_recall
            hit_a = 1.0 + s * prior + self._lab_hit
            miss_a = 1.0 + s * (1.0 - prior) + self._lab_miss
        class_a = 1.0 + s * self.n_classes * self._prior_class + self._lab_class
        a0 = self.group_strength
        conc = a0 + self._lab_group                                                     # (G,)
        m = self._unlabelled
        overdisp = m * (conc + m) / (conc + 1.0) * pat.disagree
        labelled_slots = np.flatnonzero(self._lab_slot)

        slot_m = m[pat.slot_group]
        slot_overdisp = overdisp[pat.slot_group]

        def component(tau, terms):
            slot_p, other_p = self._tempered(terms, tau, pat)
            slot_q = (a0 * slot_p + self._lab_slot) / conc[pat.slot_group]
            moments = pat.model_slots @ np.column_stack([slot_m * slot_q, slot_overdisp * slot_q * (1 - slot_q)])
            return slot_p, other_p, slot_q, self.correct_ + moments[:, 0], moments[:, 1]

        if self._full:
            conf_a = 0.5 / self.n_classes + s * self._prior_recall + self._lab_conf       # (A, K, K)
            mean_param = conf_a / conf_a.sum(axis=2, keepdims=True)
        else:
            mean_param = hit_a / (hit_a + miss_a)
        mean_prior = class_a / class_a.sum()
        if self.other_rate is not None:
            open_dis = (pat.n_slots_of > 1) & (pat.n_slots_of < self.n_classes)
            n_other = float(self._lab_other[open_dis].sum())
            n_open = float(self._lab_group[open_dis].sum())
            a, b_ = self.other_rate
            self._other_mean = (a + n_other) / (a + b_ + n_open)
            a, b_ = self._unanimous_posterior()
            self._unanimous_mean = a / (a + b_)
        voter_sets = self._voter_sets(mean_param, mean_prior)
        components = [(v, tau) for v in range(len(voter_sets)) for tau in self.temperatures]
        log_weight = np.zeros(len(components))
        slot_qs, means, second = [], [], []
        n_draws = self.effective_draws()
        if n_draws > 0:
            log_weight = self._component_evidence(mean_param, mean_prior, voter_sets, components)
        mean_terms = {}
        for c, (v, tau) in enumerate(components if n_draws == 0 else ()):
            if v not in mean_terms:
                mean_terms[v] = self._slot_terms(pat, mean_param, mean_prior, voters=voter_sets[v])
            slot_p, other_p, slot_q, mean_t, var_t = component(tau, mean_terms[v])
            log_weight[c] = self._leave_one_out(slot_p, other_p, labelled_slots)
            slot_qs.append(slot_q)
            means.append(mean_t)
            second.append(var_t + mean_t ** 2)
        weight = np.exp(log_weight - log_weight.max())
        weight /= weight.sum()
        model_weight = weight
        if n_draws > 0:
            draw_rng = np.random.default_rng([self.sample_seed_, int(self.n_labels_), 1])
            slot_qs, means, second = [], [], []
            for c in draw_rng.choice(len(components), size=n_draws, p=weight):
                if self._full:
                    recall = draw_rng.gamma(conf_a)
                    recall /= recall.sum(axis=2, keepdims=True)
                else:
                    recall = draw_rng.beta(hit_a, miss_a)
                class_prior = draw_rng.dirichlet(class_a)
                v, tau = components[c]
                terms = self._slot_terms(pat, recall, class_prior, voters=voter_sets[v])
                _, _, slot_q, mean_t, var_t = component(tau, terms)
                slot_qs.append(slot_q)
                means.append(mean_t)
                second.append(var_t + mean_t ** 2)
            weight = np.full(n_draws, 1.0 / n_draws)
        mean = weight @ np.array(means)
        var = np.maximum(weight @ np.array(second) - mean ** 2, 0.0)
        slot_qs = np.array(slot_qs)                                                      # (T, n_slots)
        n_total = self.n_labels_ + 0.0 + m.sum()
        belief = {"slot_qs": slot_qs, "comp_weight": weight, "components": components,
                  "voter_sets": voter_sets, "model_weight": model_weight,
                  "slot_q": weight @ slot_qs, "conc": conc,
                  "mean": mean, "var": var, "n_total": n_total}
        belief.update(self._monte_carlo(belief))
        return belief

    def _unanimous_posterior(self) -> tuple[float, float]:
        """Beta posterior ``(a, b)`` of the rate at which a unanimous pattern's class is not the predicted one."""
        unanimous = self._patterns.n_slots_of == 1
        a, b = self.unanimous_rate
        wrong = float(self._lab_other[unanimous].sum())
        return a + wrong, b + float(self._lab_group[unanimous].sum()) - wrong

    def effective_draws(self) -> int:
        """Posterior draws used for this pool: ``n_draws``, fewer on big pools to bound the step time.

        Each draw costs a pass over the ``n_groups * n_models`` prediction
        cells; above 31,250 cells the count falls as ``500,000 / cells`` (never
        below 2): 16 for EmoContext pools, 5 for 1,000 items x 100 models,
        2 for 10,000 distinct rows x 100 models.
        """
        if self.n_draws == 0:
            return 0
        cells = self._patterns.n_cells
        return int(min(self.n_draws, max(2, 500_000 // max(cells, 1))))

    def _voter_sets(self, param: np.ndarray, class_prior: np.ndarray) -> list[np.ndarray | None]:
        """The annotator masks ``(n_annot,)`` of :attr:`voter_counts` (None = every model).

        Models are ranked by the accuracy their current posterior-mean recall
        implies, ``sum_c P(c) recall[c]`` (averaged over confidence halves).
        """
        n_bins = self._patterns.n_bins
        counts = sorted({k if 0 < k < self.n_models else 0 for k in self.voter_counts})
        if counts == [0]:
            return [None]
        recall = np.diagonal(param, axis1=1, axis2=2) if param.ndim == 3 else param      # (A, K)
        accuracy = (recall @ class_prior).reshape(self.n_models, n_bins).mean(axis=1)
        order = np.argsort(-accuracy, kind="stable")
        sets: list[np.ndarray | None] = []
        for k in counts:
            if k == 0:
                sets.append(None)
                continue
            chosen = np.zeros(self.n_models)
            chosen[order[:k]] = 1.0
            sets.append(np.repeat(chosen, n_bins))
        return sets

    def _component_evidence(self, param: np.ndarray, class_prior: np.ndarray, voter_sets: list,
                            components: list) -> np.ndarray:
        """``(n_components,)`` leave-one-out log evidence of each (voters, temperature), on the labelled patterns."""
        pat = self._patterns
        groups = np.flatnonzero(self._lab_group > 0)
        if groups.size == 0:
            return np.zeros(len(components))
        sub = pat.subset(groups)
        terms = [self._slot_terms(pat, param, class_prior, sub, voters) for voters in voter_sets]
        lab_slot = self._lab_slot[sub.slots]
        out = np.empty(len(components))
        for t, (v, tau) in enumerate(components):
            slot_p, other_p = self._tempered(terms[v], tau, sub)
            out[t] = self._leave_one_out(slot_p, other_p, np.flatnonzero(lab_slot), sub, lab_slot,
                                         self._lab_other[groups], self._lab_group[groups])
        return out

    def _leave_one_out(self, slot_p, other_p, labelled_slots, pat=None, lab_slot=None, lab_other=None,
                       lab_group=None) -> float:
        """Log predictive probability of the labels seen, each predicted from its pattern's other labels."""
        pat = self._patterns if pat is None else pat
        lab_slot = self._lab_slot if lab_slot is None else lab_slot
        lab_other = self._lab_other if lab_other is None else lab_other
        lab_group = self._lab_group if lab_group is None else lab_group
        a0 = self.group_strength
        total = 0.0
        if labelled_slots.size:
            g = pat.slot_group[labelled_slots]
            n = lab_slot[labelled_slots]
            pred = (a0 * slot_p[labelled_slots] + n - 1.0) / (a0 + lab_group[g] - 1.0)
            total += float((n * np.log(np.maximum(pred, 1e-12))).sum())
        other = np.flatnonzero(lab_other)
        if other.size:
            n = lab_other[other]
            pred = (a0 * other_p[other] + n - 1.0) / (a0 + lab_group[other] - 1.0)
            total += float((n * np.log(np.maximum(pred, 1e-12))).sum())
        return total

    def _contenders(self, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
        sd = np.sqrt(var) + 0.5
        lower = mean - self.contender_z * sd
        order = np.argsort(-mean, kind="stable")
        keep = order[(mean + self.contender_z * sd)[order] >= lower.max()]
        if keep.size < 2:
            keep = order[:2]
        return keep[: self.max_contenders]

    def _monte_carlo(self, b: dict[str, Any]) -> dict[str, Any]:
        """Draws of the contenders' pool correct counts; P(best) from them."""
        pat = self._patterns
        cont = self._contenders(b["mean"], b["var"])
        n_cont = cont.size
        slots = pat.slot_of[:, cont]                                                     # (G, U)
        live = (self._unlabelled > 0) & np.any(slots != slots[:, :1], axis=1)
        groups = np.flatnonzero(live)
        rng = np.random.default_rng([self.sample_seed_, int(self.n_labels_)])
        S = self.n_samples
        counts = np.broadcast_to(self.correct_[cont], (S, n_cont)).copy()
        if n_cont == 1 or groups.size == 0:
            return self._summarise(cont, counts, groups, None, None, None, rng)
        gs = slots[groups]                                                               # (Gr, U)
        # category of contender u = first contender predicting the same slot
        cat = np.argmax(gs[:, :, None] == gs[:, None, :], axis=2)                        # (Gr, U)
        first = cat == np.arange(n_cont)[None, :]
        cat_ps = np.zeros((len(b["comp_weight"]), groups.size, n_cont + 1))
        cat_ps[:, :, :n_cont] = np.where(first[None], b["slot_qs"][:, gs], 0.0)
        cat_ps[:, :, n_cont] = np.maximum(1.0 - cat_ps[:, :, :n_cont].sum(axis=2), 0.0)
        cat_ps /= cat_ps.sum(axis=2, keepdims=True)
        cat_p = b["comp_weight"] @ cat_ps.reshape(cat_ps.shape[0], -1)
        cat_p = cat_p.reshape(groups.size, n_cont + 1)
        tau_of = rng.choice(cat_ps.shape[0], size=S, p=b["comp_weight"])         # (S,)
        m = self._unlabelled[groups].astype(np.int64)
        if S * groups.size * n_cont > self.exact_limit:
            counts = self._normal_counts(b, groups, cat, cat_ps, cat_p, m, tau_of, rng, counts)
            return self._summarise(cont, counts, groups, cat, cat_p, None, rng)
        single = m == 1
        one_item = None if single.all() else np.empty((S, groups.size), dtype=np.int8)
        if single.any():
            cum = np.cumsum(cat_ps[:, single], axis=2)                                  # (T, G1, R)
            u = rng.random((S, int(single.sum())))
            drawn = np.zeros(u.shape, dtype=np.int8)
            for t in range(cum.shape[0]):
                rows = np.flatnonzero(tau_of == t)
                if rows.size:
                    ut = u[rows]
                    acc = np.zeros(ut.shape, dtype=np.int8)
                    for r in range(n_cont):
                        acc += ut > cum[t, :, r]
                    drawn[rows] = acc
            if one_item is None:
                one_item = drawn
            else:
                one_item[:, np.flatnonzero(single)] = drawn
            cat_single = cat[single]
            for r in range(n_cont):
                member = (cat_single == r).astype(np.float32)                            # (G1, U)
                if member.any():
                    counts += (drawn == r).astype(np.float32) @ member
        multi = ~single
        if multi.any():
            alpha = b["conc"][groups[multi], None][None] * cat_ps[:, multi][tau_of]          # (S, Gm, R)
            phi = rng.gamma(alpha)
            phi /= np.maximum(phi.sum(axis=2, keepdims=True), 1e-300)
            phi[phi.sum(axis=2) == 0, -1] = 1.0
            draws = rng.multinomial(m[multi], phi)                                       # (S, Gm, U+1)
            counts += np.take_along_axis(draws, np.broadcast_to(cat[multi][None], (S,) + cat[multi].shape),
                                         axis=2).sum(axis=1)
            u = rng.random((S, int(multi.sum())))[:, :, None] * m[multi][None, :, None]
            one_item[:, np.flatnonzero(multi)] = np.minimum((u >= np.cumsum(draws, axis=2)).sum(axis=2), n_cont)
        return self._summarise(cont, counts, groups, cat, cat_p, one_item, rng)

    def _normal_counts(self, b, groups, cat, cat_ps, cat_p, m, tau_of, rng, counts) -> np.ndarray:
        """Central-limit draws of the contenders' counts, for pools too big to sample item by item.

        Per component ``t`` the mean is exact; the covariance, from the
        mixture's class probabilities, sums each live pattern's
        Dirichlet-multinomial covariance of "contender ``u`` is right".
        Draws are rounded to whole counts so ties keep their meaning.
        """
        n_comp, n_cont = cat_ps.shape[0], cat.shape[1]
        right_t = np.take_along_axis(cat_ps, np.broadcast_to(cat[None], (n_comp,) + cat.shape), axis=2)
        mean_t = counts[0][None, :] + np.einsum("g,tgu->tu", m.astype(float), right_t)   # (T, U)
        right = np.take_along_axis(cat_p, cat, axis=1)                                    # (G, U)
        conc = b["conc"][groups]
        overdisp = m * (conc + m) / (conc + 1.0)
        same = cat[:, :, None] == cat[:, None, :]                                         # (G, U, U)
        cov = np.einsum("g,guv,gu->uv", overdisp, same, right) - (right * overdisp[:, None]).T @ right
        cov = (cov + cov.T) / 2.0 + 1e-6 * np.eye(n_cont)
        vals, vecs = np.linalg.eigh(cov)
        root = vecs * np.sqrt(np.maximum(vals, 0.0))[None, :]
        z = rng.standard_normal((tau_of.size, n_cont))
        return np.round(mean_t[tau_of] + z @ root.T)

    def _summarise(self, cont, counts, groups, cat, cat_p, one_item, rng) -> dict[str, Any]:
        top = counts >= counts.max(axis=1, keepdims=True)                               # (S, U)
        p_top = np.zeros(self.n_models)
        p_top[cont] = top.mean(axis=0)
        p_split = np.zeros(self.n_models)
        p_split[cont] = (top / top.sum(axis=1, keepdims=True)).mean(axis=0)
        jitter = rng.random(counts.shape) * 1e-3
        return {"contenders": cont, "counts": counts, "groups": groups, "cat": cat, "cat_p": cat_p,
                "one_item": one_item, "jitter": jitter, "p_top": p_top, "p_split": p_split}

    def p_best(self) -> np.ndarray:
        """``(n_models,)`` posterior probability of being the pool's best; ties share."""
        if self.pool_ is None:
            return np.full(self.n_models, 1.0 / self.n_models)
        return self._belief()["p_split"].copy()

    def p_top(self) -> np.ndarray:
        """``(n_models,)`` posterior probability that each model is *a* true best (ties count for all).

        This is the probability that picking the model is right, the number a
        stopping rule should compare with its confidence.
        """
        if self.pool_ is None:
            return np.full(self.n_models, 1.0 / self.n_models)
        return self._belief()["p_top"].copy()

    def best(self) -> int:
        p = self.p_top() + 1e-9 * self.p_best()
        top = np.flatnonzero(p >= p.max() - 1e-12)
        return int(self.rng_.choice(top)) if top.size > 1 else int(top[0])

    def accuracy_estimate(self):
        """Pool accuracy of each model with a 95% interval (normal approximation)."""
        if self.pool_ is None:
            return super().accuracy_estimate()
        b = self._belief()
        n = max(b["n_total"], 1.0)
        var = b["var"]
        if self.other_rate is not None:   # the unanimous items' shared error rate moves every model together
            a, b_ = self._unanimous_posterior()
            m = float(self._unlabelled[self._patterns.n_slots_of == 1].sum())
            var = var + m * a * b_ * (a + b_ + m) / ((a + b_) ** 2 * (a + b_ + 1.0))
        half = 1.96 * np.sqrt(var)
        acc = b["mean"] / n
        return acc, np.clip((b["mean"] - half) / n, 0, 1), np.clip((b["mean"] + half) / n, 0, 1), "pool"

    def correct_probability(self) -> np.ndarray:
        """``(n_items, n_models)`` predictive probability that each model is right on each pool item.

        The class probability of an unlabelled item of a pattern (the slot
        posterior), read at each model's predicted class; the control variate
        of the certified stop (:mod:`modelpicker_core.certificate`).
        """
        pat = self._patterns
        slot_q = self._belief()["slot_q"]                                    # (n_slots,)
        return slot_q[pat.slot_of][pat.group_of]

    def label_probability(self, item: int, label: int) -> float:
        """Predictive probability that pool item ``item`` has class ``label``, before its label is seen."""
        pat = self._patterns
        g = int(pat.group_of[int(item)])
        slot_q = self._belief()["slot_q"]
        start, stop = pat.slot_start[g], pat.slot_start[g + 1]
        slot = pat.slot_of_label(g, int(label))
        if slot >= 0:
            return float(slot_q[slot])
        free = self.n_classes - (stop - start)
        return float(max(1.0 - slot_q[start:stop].sum(), 0.0) / max(free, 1))

    # ---------------------------------------------------------------- scoring
    def pattern_scores(self) -> np.ndarray:
        """``(n_groups,)`` informativeness of one more label from each pattern."""
        b = self._belief()
        pat = self._patterns
        scores = np.zeros(pat.n_groups)
        groups = b["groups"]
        if groups.size == 0 or b["cat"] is None:
            return scores
        cont, cat, cat_p = b["contenders"], b["cat"], b["cat_p"]
        n_cont = cont.size
        w_best = b["p_split"][cont]
        keys = (np.arange(groups.size)[:, None] * (n_cont + 1) + cat).ravel()
        mass = np.bincount(keys, weights=np.tile(w_best, groups.size),
                           minlength=groups.size * (n_cont + 1)).reshape(groups.size, n_cont + 1)
        m = self._unlabelled[groups]
        spread = 1.0 + (m - 1.0) / (b["conc"][groups] + 1.0)
        proxy = (cat_p * mass * (1.0 - mass)).sum(axis=1) * spread
        scores[groups] = 1e-6 * proxy / (1.0 + proxy)
        chosen = np.argsort(-proxy, kind="stable")[: self.n_evaluated]
        chosen = chosen[proxy[chosen] > 0]
        if chosen.size:
            scores[groups[chosen]] += self._information_gain(b, chosen)
        return scores

    def _information_gain(self, b: dict[str, Any], chosen: np.ndarray) -> np.ndarray:
        """``(len(chosen),)`` I(best; y_j) for one item of each chosen live pattern.

        Only the hypotheses a pattern can take (the classes its contenders
        predict, and "none of them") are evaluated: a few per pattern, not
        ``n_contenders + 1``.
        """
        cat, cat_p = b["cat"][chosen], b["cat_p"][chosen]                                # (C, U), (C, R)
        groups = b["groups"][chosen]
        n_chosen, n_cont = cat.shape
        present = np.zeros(cat_p.shape, dtype=bool)
        present[np.arange(n_chosen)[:, None], cat] = True
        present[:, n_cont] = True
        n_present = present.sum(axis=1)
        # hypotheses present first; padding repeats absent categories, which have probability 0 and no members
        hypotheses = np.argsort(~present, axis=1, kind="stable")                         # (C, R)
        order = np.argsort(n_present, kind="stable")                                     # chunks of similar width
        S = min(b["counts"].shape[0], self.gain_samples)
        base = (b["counts"] + b["jitter"])[:S]                                           # (S, U)
        shift = (self._unlabelled[groups] - 1.0) / (b["conc"][groups] + 1.0)            # (C,)
        gains = np.empty(n_chosen)
        own = None if b["one_item"] is None else b["one_item"][:S, chosen]               # (S, C)
        right = np.take_along_axis(cat_p, cat, axis=1)                                    # (C, U)
        lo = 0
        while lo < n_chosen:   # blocks of at most ~2 million (pattern, hypothesis, draw, contender) cells
            step = max(1, int(2_000_000 // (int(n_present[order[lo]]) * S * n_cont)))
            while step > 1 and n_present[order[min(lo + step, n_chosen) - 1]] * step * S * n_cont > 2_000_000:
                step //= 2
            idx = order[lo: lo + step]
            width = int(n_present[idx].max())
            c = idx.size
            hyp = hypotheses[idx, :width]                                                # (c, W)
            p_r = np.take_along_axis(cat_p[idx], hyp, axis=1)                            # (c, W)
            member = cat[idx][:, None, :] == hyp[:, :, None]                             # (c, W, U)
            if own is None:   # normal approximation: remove the item's expected contribution
                drop = right[idx][:, None, :]                                            # (c, 1, U)
            else:
                drop = own[:, idx].T[:, :, None] == cat[idx][:, None, :]                 # (c, S, U)
            move = member + shift[idx, None, None] * (member - right[idx][:, None, :])   # (c, W, U)
            value = (base[None] - drop)[:, None, :, :] + move[:, :, None, :]             # (c, W, S, U)
            winner = np.argmax(value, axis=3)                                            # (c, W, S)
            keys = (np.arange(c * width).reshape(c, width, 1) * n_cont + winner).ravel()
            cond = np.bincount(keys, minlength=c * width * n_cont).reshape(c, width, n_cont) / S
            marginal = np.einsum("cr,cru->cu", p_r, cond)
            gains[idx] = np.maximum(entropy(marginal) - (p_r * entropy(cond, axis=2)).sum(axis=1), 0.0)
            lo += step
        return gains

    def _groups_of_rows(self, preds: np.ndarray) -> np.ndarray:
        if preds.shape == self.pool_.shape and np.array_equal(preds, self.pool_):
            return self._patterns.group_of
        if self._row_index is None:
            rows = self._patterns.rows
            self._row_index = {}
            for g in range(rows.shape[0] - 1, -1, -1):
                self._row_index[rows[g].tobytes()] = g
        out = np.empty(preds.shape[0], dtype=np.int64)
        for j, r in enumerate(preds.astype(np.int64)):
            g = self._row_index.get(r.tobytes())
            if g is None:
                raise ValueError(f"row {j} of the predictions is not a pattern of the pool given to set_pool")
            out[j] = g
        return out

    def score(self, predictions: Any, probabilities: Any = None) -> np.ndarray:
        """``(n_items,)`` information gain of labelling each item (rows must be pool patterns)."""
        preds = as_prediction_matrix(predictions, self.n_models)
        if self.pool_ is None:
            raise ValueError("call set_pool before scoring with the consensus strategy")
        return self.pattern_scores()[self._groups_of_rows(preds)]

    def select(self, predictions: Any, probabilities: Any = None, candidates: Any = None) -> int:
        preds = as_prediction_matrix(predictions, self.n_models)
        if self.pool_ is None:
            self.set_pool(preds, probabilities)
        idx = candidate_indices(candidates, preds.shape[0])
        scores = self.pattern_scores()[self._groups_of_rows(preds)[idx]]
        top = np.flatnonzero(scores >= scores.max() - 1e-12)
        return int(idx[self.rng_.choice(top)])

    # ------------------------------------------------------------------- JSON
    def _get_learned(self) -> dict[str, Any]:
        return {
            "sample_seed": self.sample_seed_,
            "pool": None if self.pool_ is None else self.pool_.tolist(),
            "bins": None if self.bins_ is None else self.bins_.tolist(),
            "labelled_items": list(self.labelled_items_),
            "labelled_labels": list(self.labelled_labels_),
            "extra_rows": [list(r) for r in self.extra_rows_],
        }

    def _set_learned(self, learned: dict[str, Any]) -> None:
        n_labels, correct = self.n_labels_, self.correct_.copy()
        self.sample_seed_ = int(learned["sample_seed"])
        self.labelled_items_, self.labelled_labels_ = [], []
        if learned["pool"] is not None:
            bins = None if learned["bins"] is None else np.asarray(learned["bins"], dtype=np.int64)
            self._install_pool(np.asarray(learned["pool"], dtype=np.int64), bins)
            extra = iter(learned.get("extra_rows", []))
            for item, label in zip(learned["labelled_items"], learned["labelled_labels"]):
                it = None if item < 0 else int(item)
                row = self.pool_[it] if it is not None else np.asarray(next(extra), dtype=np.int64)
                self._update(row, int(label), 1.0, it)
        self.n_labels_, self.correct_ = n_labels, correct


def confidence_halves(predictions: np.ndarray, probabilities: Any, n_classes: int) -> np.ndarray:
    """``(n_items, n_models)`` 1 where a model's confidence in its prediction is above its median.

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
