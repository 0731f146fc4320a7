"""A stop with a guarantee: anytime-valid bounds on every pairwise accuracy gap on the batch.

The claim a certified stop makes about the batch of ``N`` items (the pool)
and ``K`` candidates with batch accuracies ``A_1 .. A_K``::

    A_a >= max_b A_b - epsilon      with probability >= 1 - delta,

over the randomness of *our* choice of which item to label next only: for
any fixed batch, any candidates, and at whatever label count the rule stops.
No prior and no model of how the candidates err enters the claim.

How (one function per step, all vectorised over the ``(K, K)`` pairs)
----------------------------------------------------------------------
``tau[a, b] = N (A_a - A_b)`` is a sum of ``x_i = 1[a right] - 1[b right]``
over the items where ``a`` and ``b`` disagree.  After some labels it splits
into ``S`` (the labelled part, known exactly) and ``T`` (the unlabelled part,
at most ``m`` items, so ``|T| <= m``): the *deterministic* bound
``tau >= S - m`` holds whatever chose the labels, and becomes exact once
every disagreement is labelled (a finite population).

When the next item ``i`` is *drawn* from a distribution ``q`` over the
unlabelled items that we choose and record (:mod:`.sampling`), with a guess
``g_j = v[j, a] - v[j, b]`` of ``x_j`` (``v[j, m]``: a belief's probability
that model ``m`` is right on item ``j``, fixed before the draw)::

    Z = S + sum_{j unlabelled} g_j + (x_i - g_i) / q_i

has conditional mean exactly ``tau`` (inverse probability weighting with the
guess as a control variate: the prediction-powered / active-inference
estimate of Zrnic and Candes 2024).  ``Z - tau >= -c`` with the predictable
``c = m - sum g + 2 / min q``, so ``xi = (Z - tau) / c >= -1`` and, by Fan et
al.'s inequality ``log(1 + l xi) >= l xi - psi(l) xi^2`` (``l`` in [0, 1),
``psi(l) = -log(1 - l) - l``), the process

    M_t(tau) = prod_s exp(l_s xi_s - psi(l_s) xi_s^2)

is a nonnegative supermartingale at the true ``tau`` (Waudby-Smith and Ramdas
2024, predictable plug-in empirical Bernstein).  By Ville's inequality the
values of ``tau`` at which ``M_t`` ever exceeds ``1 / alpha`` are rejected,
with probability at most ``alpha`` of ever rejecting the truth.  ``log M_t``
is a concave quadratic in ``tau``, so the rejected set at each label is one
interval and four running sums per pair hold it.

One-sided lower bounds per ordered pair at ``alpha = delta / (K - 1)``: a
wrong claim about ``a`` needs the bound of the single pair ``(a, b*)`` (``b*``
a true best) to fail, and there are ``K - 1`` such pairs, so the bound
:meth:`GapCertificate.gap` reports for *every* model holds simultaneously
with probability ``>= 1 - delta``.

Labels that were not drawn by us (an annotator took another task, a label
replayed from before) are still exact knowledge: they move ``S`` and ``m``
only.  Whether a served task gets labelled must not depend on its answer
(an annotator skipping the hard ones would bias the draws).

Why not a library: ``confseq`` and ``expectation`` (PyPI) offer confidence
sequences for bounded i.i.d. or without-replacement draws of one list of
numbers; here each step draws from a new, data-dependent distribution with
inverse-probability weights and a control variate, and ``K (K - 1)`` bounds
share every draw, which those APIs do not cover.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

#: largest bet (the ``l`` above); the bound stays valid for any value in [0, 1)
BET_CAP = 0.5
#: variance of ``xi`` assumed before any draw (only the bets' size depends on it, never validity)
PRIOR_VARIANCE = 0.01


def psi(bet: np.ndarray) -> np.ndarray:
    """``-log(1 - l) - l``, the variance price of a bet ``l`` in [0, 1) (Fan et al. 2015)."""
    return -np.log1p(-bet) - bet


@dataclasses.dataclass(frozen=True)
class Draw:
    """How one label was drawn, everything fixed before the label was seen.

    Attributes
    ----------
    q : probability the drawn item had, in (0, 1].
    q_min : smallest probability any item that can change a pairwise gap had
        (every item on which two candidates disagree); 0 is not allowed.
    guess : ``(K,)`` the belief's probability that each model is right on the
        drawn item (``v[i, :]``), in [0, 1].
    guess_total : ``(K,)`` the same probabilities summed over every unlabelled
        item, the drawn one included (``sum_j v[j, :]``).
    """

    q: float
    q_min: float
    guess: np.ndarray
    guess_total: np.ndarray


class GapCertificate:
    """Anytime-valid lower bounds on ``N (A_a - A_b)`` for every ordered pair of candidates.

    Parameters
    ----------
    predictions : ``(N, K)`` class of each candidate on each batch item.
    delta : the guarantee's error probability, in (0, 1).
    bet_cap : largest bet, in (0, 1).

    Attributes (after construction; all ``(K, K)`` counts indexed ``[a, b]``)
    ----------
    known : ``S``, the labelled part of ``tau[a, b]``.
    remaining : ``m``, unlabelled items on which ``a`` and ``b`` disagree.
    lower : the certified lower bound on ``tau[a, b]`` (an integer count).
    sampled : labels that were drawn by us and moved the statistical bound.
    """

    def __init__(self, predictions: Any, delta: float = 0.05, bet_cap: float = BET_CAP):
        preds = np.asarray(predictions)
        if preds.ndim != 2 or preds.shape[1] < 1:
            raise ValueError(f"predictions must be (n_items, n_models), got shape {preds.shape}")
        if not 0.0 < float(delta) < 1.0:
            raise ValueError(f"delta must be in (0, 1), got {delta}")
        if not 0.0 < float(bet_cap) < 1.0:
            raise ValueError(f"bet_cap must be in (0, 1), got {bet_cap}")
        self.predictions = preds
        self.delta = float(delta)
        self.bet_cap = float(bet_cap)
        n, k = preds.shape
        self.n_items, self.n_models = n, k
        #: log(1 / alpha) of each one-sided pairwise bound
        self.log_level = float(np.log(max(k - 1, 1) / self.delta))
        self.unlabelled = np.ones(n, dtype=bool)
        self.known = np.zeros((k, k))
        self.remaining = disagreement_counts(preds)
        self.lower = -self.remaining.copy()
        self.sampled = 0
        # running sums of the quadratic log M(tau) = -W tau^2 + B tau + C, and of the bets' plug-ins
        self._w = np.zeros((k, k))
        self._wz = np.zeros((k, k))
        self._wz2 = np.zeros((k, k))
        self._b = np.zeros((k, k))
        self._bz = np.zeros((k, k))
        self._mean = np.zeros((k, k))
        self._sq = np.zeros((k, k))

    # ------------------------------------------------------------ one label
    def observe(self, item: int, label: int, draw: Draw | None = None) -> None:
        """Take the true ``label`` of batch item ``item``; ``draw`` when we drew it (else exact part only)."""
        item = int(item)
        if not 0 <= item < self.n_items:
            raise ValueError(f"item {item} is outside the batch 0..{self.n_items - 1}")
        if not self.unlabelled[item]:
            raise ValueError(f"item {item} is already labelled")
        row = self.predictions[item]
        right = (row == int(label)).astype(float)                        # (K,)
        x = right[:, None] - right[None, :]                              # (K, K)
        if draw is not None:
            self._bet(x, draw)
        self.known += x
        self.remaining -= row[:, None] != row[None, :]
        self.unlabelled[item] = False
        self._reject()

    def _bet(self, x: np.ndarray, draw: Draw) -> None:
        if not 0.0 < draw.q <= 1.0 or not 0.0 < draw.q_min <= draw.q + 1e-12:
            raise ValueError(f"draw probabilities must satisfy 0 < q_min <= q <= 1, got q={draw.q}, q_min={draw.q_min}")
        guess = np.asarray(draw.guess, dtype=float)
        total = np.asarray(draw.guess_total, dtype=float)
        g = guess[:, None] - guess[None, :]                              # (K, K) guess of x
        g_total = total[:, None] - total[None, :]                        # (K, K) sum of guesses over the unlabelled
        z = self.known + g_total + (x - g) / draw.q                      # (K, K) unbiased for tau
        scale = np.maximum(self.remaining - g_total + 2.0 / draw.q_min, 1e-12)   # Z - tau >= -scale
        n = self.sampled + 1
        variance = PRIOR_VARIANCE + self._sq / n / scale ** 2             # plug-in variance of xi (predictable)
        bet = np.minimum(self.bet_cap, np.sqrt(2.0 * self.log_level / (variance * n * np.log1p(n))))
        np.fill_diagonal(bet, 0.0)
        beta, weight = bet / scale, psi(bet) / scale ** 2
        self._b += beta
        self._bz += beta * z
        self._w += weight
        self._wz += weight * z
        self._wz2 += weight * z * z
        self._sq += (z - self._mean) ** 2 * (self.sampled > 0)
        self._mean += (z - self._mean) / n
        self.sampled = n

    def _reject(self) -> None:
        """Raise ``lower`` to the exact bound, and past the interval of ``tau`` where ``log M >= log(1 / alpha)``."""
        w, b = self._w, 2.0 * self._wz - self._b
        c = self._bz - self._wz2 - self.log_level
        disc = b * b + 4.0 * w * c
        ok = (w > 0) & (disc >= 0)
        root = np.sqrt(np.where(ok, disc, 0.0))
        safe_w = np.where(ok, 2.0 * w, 1.0)
        low, high = (b - root) / safe_w, (b + root) / safe_w
        candidate = np.maximum(self.lower, self.known - self.remaining)
        inside = ok & (low <= candidate) & (candidate <= high)
        self.lower = np.where(inside, np.floor(high) + 1.0, candidate)

    # -------------------------------------------------------------- reading
    def gap(self) -> np.ndarray:
        """``(K,)`` certified bound: model ``a`` is at most ``gap[a]`` (accuracy, 0..1) below the best.

        Holds for every model at once with probability ``>= 1 - delta``.
        """
        lower = self.lower.copy()
        np.fill_diagonal(lower, np.inf)
        worst = lower.min(axis=1) if self.n_models > 1 else np.zeros(1)
        return np.clip(-worst / self.n_items, 0.0, 1.0) + 0.0   # + 0.0: no "-0.0" on display

    def exact(self) -> bool:
        """True when every disagreement is labelled (the bounds are the exact gaps)."""
        return not np.any(self.remaining)

    def get_state(self) -> dict[str, Any]:
        """Counters for display: sampled labels and the exactness flag."""
        return {"sampled": int(self.sampled), "exact": self.exact(), "delta": self.delta}


def disagreement_counts(predictions: np.ndarray, block: int = 4096) -> np.ndarray:
    """``(K, K)`` number of items on which each pair of models disagrees; blocks bound the memory."""
    n, k = predictions.shape
    out = np.zeros((k, k))
    for start in range(0, n, block):
        p = predictions[start:start + block]
        out += np.sum(p[:, :, None] != p[:, None, :], axis=0)
    return out
