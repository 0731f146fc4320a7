"""Selection: expected information gain about which model is best, per pattern.

``I(best; y_j) = H(best) - sum_r P(y_j = r) H(best | y_j = r)`` for one item
``j`` of a live pattern, estimated from the Monte Carlo draws by replacing
item ``j``'s drawn category with each hypothesis ``r`` (and moving the
pattern's other unlabelled items by the posterior-mean shift a label of
category ``r`` causes).  The exact gain is computed for the patterns of
largest proxy ``sum_r q_r w_r (1 - w_r)``; the proxy orders the rest.
"""
from __future__ import annotations

import numpy as np

from .monte_carlo import PoolDraws

#: most (pattern, hypothesis, draw, contender) cells evaluated at once
BLOCK_CELLS = 2_000_000


def entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy (nats) along ``axis``; ``0 log 0 = 0``."""
    p = np.clip(p, 0.0, 1.0)
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=axis)


def pattern_scores(draws: PoolDraws, concentration: np.ndarray, unlabelled: np.ndarray, n_groups: int,
                   n_evaluated: int, gain_samples: int) -> np.ndarray:
    """``(n_groups,)`` informativeness of one more label from each pattern.

    ``concentration`` and ``unlabelled`` are ``(n_groups,)``.  Patterns that
    are not live score 0; live ones score a tiny increasing function of the
    proxy (which keeps them ordered), plus the exact gain for the
    ``n_evaluated`` of largest proxy.
    """
    scores = np.zeros(n_groups)
    groups = draws.groups
    if groups.size == 0 or draws.categories is None:
        return scores
    category, category_p = draws.categories, draws.category_p
    n_cont = draws.contenders.size
    w_best = draws.p_best[draws.contenders]
    keys = (np.arange(groups.size)[:, None] * (n_cont + 1) + category).ravel()
    mass = np.bincount(keys, weights=np.tile(w_best, groups.size),
                       minlength=groups.size * (n_cont + 1)).reshape(groups.size, n_cont + 1)
    n_left = unlabelled[groups]
    spread = 1.0 + (n_left - 1.0) / (concentration[groups] + 1.0)
    proxy = (category_p * mass * (1.0 - mass)).sum(axis=1) * spread
    scores[groups] = 1e-6 * proxy / (1.0 + proxy)
    chosen = np.argsort(-proxy, kind="stable")[:n_evaluated]
    chosen = chosen[proxy[chosen] > 0]
    if chosen.size:
        scores[groups[chosen]] += information_gain(draws, concentration, unlabelled, chosen, gain_samples)
    return scores


def information_gain(draws: PoolDraws, concentration: np.ndarray, unlabelled: np.ndarray, chosen: np.ndarray,
                     gain_samples: int) -> np.ndarray:
    """``(len(chosen),)`` I(best; y_j) for one item of each chosen live pattern (indices into ``draws.groups``).

    Only the hypotheses a pattern can take (the categories its contenders
    predict, and "none of them") are evaluated: a few per pattern, not
    ``n_contenders + 1``.  Patterns are processed in blocks of similar width.
    """
    category, category_p = draws.categories[chosen], draws.category_p[chosen]           # (C, U), (C, R)
    groups = draws.groups[chosen]
    n_chosen, n_cont = category.shape
    present = np.zeros(category_p.shape, dtype=bool)
    present[np.arange(n_chosen)[:, None], category] = True
    present[:, n_cont] = True
    n_present = present.sum(axis=1)
    # hypotheses present first; padding repeats absent categories, which have probability 0 and no members
    hypotheses = np.argsort(~present, axis=1, kind="stable")                            # (C, R)
    order = np.argsort(n_present, kind="stable")
    n_samples = min(draws.counts.shape[0], gain_samples)
    base = (draws.counts + draws.jitter)[:n_samples]                                    # (S, U)
    shift = (unlabelled[groups] - 1.0) / (concentration[groups] + 1.0)                  # (C,)
    own = None if draws.one_item is None else draws.one_item[:n_samples, chosen]        # (S, C)
    right = np.take_along_axis(category_p, category, axis=1)                            # (C, U)
    gains = np.empty(n_chosen)
    for idx in _blocks(n_present, order, n_samples * n_cont):
        width = int(n_present[idx].max())
        gains[idx] = _block_gain(category[idx], category_p[idx], hypotheses[idx, :width], right[idx],
                                 None if own is None else own[:, idx], shift[idx], base)
    return gains


def _blocks(n_present: np.ndarray, order: np.ndarray, cells_per_hypothesis: int):
    """Consecutive slices of ``order`` of at most about :data:`BLOCK_CELLS` cells each."""
    n_chosen = order.size
    lo = 0
    while lo < n_chosen:
        step = max(1, int(BLOCK_CELLS // (int(n_present[order[lo]]) * cells_per_hypothesis)))
        while step > 1 and n_present[order[min(lo + step, n_chosen) - 1]] * step * cells_per_hypothesis \
                > BLOCK_CELLS:
            step //= 2
        yield order[lo: lo + step]
        lo += step


def _block_gain(category: np.ndarray, category_p: np.ndarray, hyp: np.ndarray, right: np.ndarray,
                own: np.ndarray | None, shift: np.ndarray, base: np.ndarray) -> np.ndarray:
    """``(c,)`` gains of a block of ``c`` patterns with hypotheses ``hyp`` ``(c, W)``.

    ``own`` ``(S, c)`` is the drawn category of the item to be labelled (None
    under the normal approximation: its expected contribution ``right`` ``(c,
    U)`` is removed instead); ``base`` ``(S, U)`` the jittered drawn counts.
    """
    c, width = hyp.shape
    n_samples, n_cont = base.shape
    p_r = np.take_along_axis(category_p, hyp, axis=1)                                   # (c, W)
    member = category[:, None, :] == hyp[:, :, None]                                    # (c, W, U)
    if own is None:
        drop = right[:, None, :]                                                        # (c, 1, U)
    else:
        drop = own.T[:, :, None] == category[:, None, :]                                # (c, S, U)
    move = member + shift[:, None, None] * (member - right[:, None, :])                 # (c, W, U)
    value = (base[None] - drop)[:, None, :, :] + move[:, :, None, :]                    # (c, W, S, U)
    winner = np.argmax(value, axis=3)                                                   # (c, W, S)
    keys = (np.arange(c * width).reshape(c, width, 1) * n_cont + winner).ravel()
    cond = np.bincount(keys, minlength=c * width * n_cont).reshape(c, width, n_cont) / n_samples
    marginal = np.einsum("cr,cru->cu", p_r, cond)
    return np.maximum(entropy(marginal) - (p_r * entropy(cond, axis=2)).sum(axis=1), 0.0)
